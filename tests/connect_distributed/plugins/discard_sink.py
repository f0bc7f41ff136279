"""DiscardSink: a test-only sink connector with ``tasks.max`` tasks that drop what they receive, loaded
through ``plugin.path``. What matters is the consumer group ``connect-<name>`` behind it: a committed
offset means a task consumed the records before it."""

from __future__ import annotations

from connect.api import ConfigDef, SinkConnector, SinkRecord, SinkTask

CONFIG = ConfigDef()


class DiscardSinkConnector(SinkConnector):
    aliases = ("DiscardSink",)

    def version(self) -> str:
        return "1.0"

    def config(self) -> ConfigDef:
        return CONFIG

    def start(self, props: dict[str, str]) -> None:
        self._props = dict(props)

    def task_class(self) -> type[SinkTask]:
        return DiscardSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props) for _ in range(max_tasks)]

    def stop(self) -> None:
        pass


class DiscardSinkTask(SinkTask):
    def version(self) -> str:
        return "1.0"

    def start(self, props: dict[str, str]) -> None:
        pass

    def put(self, records: list[SinkRecord]) -> None:
        pass

    def stop(self) -> None:
        pass
