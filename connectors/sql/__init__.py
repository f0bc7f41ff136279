"""SqlSource and SqlSink: tables in and out of relational databases through SQLAlchemy, with the
configuration of Confluent's JDBC connectors.

See :mod:`connectors.sql.config` (keys), :mod:`connectors.sql.sink` (writes, upserts, DDL, deletes,
offsets), :mod:`connectors.sql.source` (query modes and offsets) and :mod:`connectors.sql.dialect`
(connections and per-database differences).
"""

from connectors.sql.sink import VERSION, SqlSink, SqlSinkTask
from connectors.sql.source import SqlSource, SqlSourceTask

__all__ = ["VERSION", "SqlSink", "SqlSinkTask", "SqlSource", "SqlSourceTask"]
