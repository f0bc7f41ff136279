"""MySqlSource: the connector (configuration, validation that tries the connection, pre-flight checks,
one task).

The binlog is one ordered stream, so the connector always runs one task, like Debezium's.
``validate()`` (and so ``POST /connectors``) tries to connect: a wrong password is reported on
``database.password`` and an unreachable server on ``database.hostname``, so the request is answered
with 400 as Debezium's would be. ``start()`` checks what would otherwise fail later — ``binlog_format``
not ROW, ``binlog_row_image`` not FULL, missing REPLICATION SLAVE / CLIENT privileges — and raises a
:class:`~connect.api.errors.ConnectException` saying what to fix, so the status shows FAILED with it.
"""

from __future__ import annotations

from collections.abc import Mapping

from connect.api.config import Config, ConfigDef
from connect.api.connector import SourceConnector
from connect.api.errors import ConfigException
from connect.api.task import SourceTask
from connectors.mysql import catalog
from connectors.mysql.config import CONFIG, history_problems, parse_settings
from connectors.mysql.task import VERSION, MySqlSourceTask


class MySqlSource(SourceConnector):
    """Change data capture from MySQL and MariaDB binlogs (ROW format) with Debezium's events."""

    aliases = (
        "io.debezium.connector.mysql.MySqlConnector",
        "io.debezium.connector.mariadb.MariaDbConnector",
        "MySqlConnector",
        "MariaDbConnector",
    )

    def __init__(self) -> None:
        self._props: dict[str, str] = {}

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return CONFIG

    def validate(self, configs: Mapping[str, str]) -> Config:
        result = super().validate(configs)
        if result.error_count:
            return result
        values = {v.name: v for v in result.config_values}
        parsed = {v.name: v.value for v in result.config_values}
        for key, message in history_problems(parsed).items():
            values[key].add_error_message(message)
        if result.error_count:
            return result
        try:
            settings = parse_settings(dict(configs))
        except ConfigException:
            return result
        try:
            conn = catalog.connect(settings)
        except catalog.CredentialsError as exc:
            values["database.password"].add_error_message(str(exc))
        except catalog.UnreachableError as exc:
            values["database.hostname"].add_error_message(str(exc))
        else:
            conn.close()
        return result

    def start(self, props: dict[str, str]) -> None:
        settings = parse_settings(props)
        catalog.preflight(settings)
        self._props = dict(props)

    def task_class(self) -> type[SourceTask]:
        return MySqlSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props)]  # one binlog = one ordered stream = one task

    def stop(self) -> None:
        pass
