"""PostgresSource: change data capture from PostgreSQL by logical replication (pgoutput), emitting
Debezium-compatible change events. Uses ``connect.api`` only, like any third-party plugin.

Modules: :mod:`~connectors.postgres.config` (keys), :mod:`~connectors.postgres.connector` (the
connector and its pre-flight checks), :mod:`~connectors.postgres.task` (snapshot + streaming, offsets),
:mod:`~connectors.postgres.pgoutput` (protocol decoder), :mod:`~connectors.postgres.replication`
(the replication connection), :mod:`~connectors.postgres.snapshot`, :mod:`~connectors.postgres.events`
(Debezium envelopes), :mod:`~connectors.postgres.types` (type mapping), :mod:`~connectors.postgres.catalog`.
"""

from connectors.postgres.connector import PostgresSource
from connectors.postgres.task import VERSION, PostgresSourceTask

__all__ = ["VERSION", "PostgresSource", "PostgresSourceTask"]
