"""ElasticsearchSink, the connector: validates the configuration (including a round trip to the
cluster with the given credentials) and hands every task the same config."""

from __future__ import annotations

from collections.abc import Mapping

from connect.api import Config, ConfigDef, ConfigException, SinkConnector, SinkTask
from connectors.elasticsearch.client import check_connection
from connectors.elasticsearch.config import CONFIG, EsSettings
from connectors.elasticsearch.task import VERSION, ElasticsearchSinkTask

__all__ = ["ElasticsearchSink"]


class ElasticsearchSink(SinkConnector):
    """Indexes topics into Elasticsearch with the bulk API (Confluent's connector's configuration)."""

    aliases = (
        "ElasticsearchSink",
        "ElasticsearchSinkConnector",
        "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector",
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
        try:
            settings = EsSettings.parse(configs)
        except ConfigException as exc:  # cross-field rules
            self._error(result, exc.name or "connection.url", exc.reason or str(exc))
            return result
        problem = check_connection(settings)
        if problem is not None:
            key = (
                "connection.password" if "credentials" in problem and settings.username else "connection.url"
            )
            self._error(result, key, problem)
        return result

    @staticmethod
    def _error(result: Config, name: str, message: str) -> None:
        for value in result.config_values:
            if value.name == name:
                value.add_error_message(message)
                return

    def start(self, props: dict[str, str]) -> None:
        EsSettings.parse(props)
        self._props = dict(props)

    def task_class(self) -> type[SinkTask]:
        return ElasticsearchSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props) for _ in range(max(1, max_tasks))]

    def stop(self) -> None:
        pass
