"""ParquetSink, the connector: validates the configuration and hands every task the same config
(the runtime's consumer group spreads the topic partitions over the tasks)."""

from __future__ import annotations

from collections.abc import Mapping

from connect.api import Config, ConfigDef, ConfigException, SinkConnector, SinkTask
from connectors.parquet.config import CONFIG, SinkSettings
from connectors.parquet.task import VERSION, ParquetSinkTask

__all__ = ["ParquetSink"]


class ParquetSink(SinkConnector):
    """Writes topics as exactly-once Parquet files to file://, s3:// or hdfs:// stores."""

    aliases = ("ParquetSink", "ParquetSinkConnector")

    def __init__(self) -> None:
        self._props: dict[str, str] = {}

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return CONFIG

    def validate(self, configs: Mapping[str, str]) -> Config:
        result = super().validate(configs)
        if not result.error_count:
            try:
                SinkSettings.parse(configs)
            except ConfigException as exc:  # cross-field rules (e.g. field partitioner without fields)
                for value in result.config_values:
                    if value.name == exc.name:
                        value.add_error_message(exc.reason or str(exc))
        return result

    def start(self, props: dict[str, str]) -> None:
        SinkSettings.parse(props)
        self._props = dict(props)

    def task_class(self) -> type[SinkTask]:
        return ParquetSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props) for _ in range(max(1, max_tasks))]

    def stop(self) -> None:
        pass
