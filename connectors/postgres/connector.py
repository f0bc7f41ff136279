"""PostgresSource: the connector (configuration, pre-flight checks, one task).

A replication slot is one ordered stream, so the connector always runs one task, like Debezium's.
``start()`` checks what would otherwise fail later with an obscure error — the credentials, that
``wal_level`` is ``logical``, that tables named in ``table.include.list`` exist, that the slot is not
another database's — and raises a :class:`~connect.api.errors.ConnectException` saying what to fix, so
``GET /connectors/{name}/status`` shows the connector FAILED with that message. ``validate()`` (and so
``POST /connectors``) checks the fields only and never connects: the state of the database is reported
by the running connector, where an operator looks for it.
"""

from __future__ import annotations

from connect.api.config import ConfigDef
from connect.api.connector import SourceConnector
from connect.api.task import SourceTask
from connectors.postgres import catalog
from connectors.postgres.config import CONFIG, parse_settings
from connectors.postgres.task import VERSION, PostgresSourceTask


class PostgresSource(SourceConnector):
    """Change data capture from PostgreSQL (logical replication, pgoutput) with Debezium's events."""

    aliases = ("io.debezium.connector.postgresql.PostgresConnector", "PostgresConnector")

    def __init__(self) -> None:
        self._props: dict[str, str] = {}

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return CONFIG

    def start(self, props: dict[str, str]) -> None:
        settings = parse_settings(props)
        catalog.preflight(settings)
        self._props = dict(props)

    def task_class(self) -> type[SourceTask]:
        return PostgresSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props)]  # one replication slot = one ordered stream = one task

    def stop(self) -> None:
        pass
