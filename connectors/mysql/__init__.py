"""MySqlSource: change data capture from MySQL and MariaDB binlogs (ROW format), emitting
Debezium-compatible change events. Uses ``connect.api`` only, like any third-party plugin.

Modules: :mod:`~connectors.mysql.config` (keys), :mod:`~connectors.mysql.connector` (the connector,
validation, pre-flight checks), :mod:`~connectors.mysql.task` (snapshot + streaming, offsets),
:mod:`~connectors.mysql.binlog` (the binlog reader thread), :mod:`~connectors.mysql.snapshot`,
:mod:`~connectors.mysql.events` (Debezium envelopes), :mod:`~connectors.mysql.types` (type mapping),
:mod:`~connectors.mysql.ddl` (table definitions and DDL), :mod:`~connectors.mysql.history` (schema
history), :mod:`~connectors.mysql.catalog`.
"""

from connectors.mysql.connector import MySqlSource
from connectors.mysql.task import VERSION, MySqlSourceTask

__all__ = ["VERSION", "MySqlSource", "MySqlSourceTask"]
