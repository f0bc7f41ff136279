"""PostgresSource: the connector (configuration, connection checks, one task).

A replication slot is one ordered stream, so the connector always runs one task, like Debezium's.

``validate()`` (and so ``POST``/``PUT /connectors`` and ``PUT /connector-plugins/…/config/validate``)
checks the fields and then, as Debezium does, tries the connection (at most
:data:`~connectors.postgres.catalog.VALIDATE_TIMEOUT_S`): a wrong password is reported on
``database.password``, an unreachable server on ``database.hostname``/``database.port``, a missing
database on ``database.dbname``, a missing user on ``database.user`` and ``wal_level`` other than
``logical`` on ``database.hostname`` — so a config that cannot work is refused with 400 at once. The
connection is tried only when every field is valid. The runtime resolves config provider references
(``${env:…}``, ``${file:…}``) before calling ``validate()``, as Kafka does; a reference it could not
resolve is left alone here (no connection is tried with it).

``start()`` checks again, plus what the running connector needs — that tables named in
``table.include.list`` exist, that the slot is not another database's — and raises a
:class:`~connect.api.errors.ConnectException` saying what to fix, so problems that appear after
creation (the database goes away, a table is dropped) show as FAILED in
``GET /connectors/{name}/status`` with that message.
"""

from __future__ import annotations

from collections.abc import Mapping

from connect.api.config import Config, ConfigDef
from connect.api.connector import SourceConnector
from connect.api.task import SourceTask
from connectors.postgres import catalog
from connectors.postgres.config import CONFIG, CONNECTION_KEYS, parse_settings
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

    def validate(self, configs: Mapping[str, str]) -> Config:
        """Per-field checks, then the connection (see the module doc); never raises for bad values."""
        result = super().validate(configs)
        if result.error_count or any("${" in str(configs.get(key, "")) for key in CONNECTION_KEYS):
            return result
        by_name = {cv.name: cv for cv in result.config_values}
        for key, message in catalog.check_connection(parse_settings(dict(configs))):
            by_name[key].add_error_message(message)
        return result

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
