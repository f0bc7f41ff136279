"""UppercaseFileSink: a single-file drop-in plugin — a sink connector that appends each record's value,
upper-cased, as one line to a file.

Drop-in plugins need no packaging: the worker imports every ``*.py`` file (and package directory) in
its ``plugin.path`` (default: ``./plugins``) at start-up and registers the connectors, transformations,
predicates and converters *defined* in it. Use the class name, the full name
(``headrace_plugins.uppercase_sink.UppercaseFileSinkConnector``) or an alias from ``aliases``::

    {"name": "shout", "config": {"connector.class": "UppercaseFileSink", "topics": "lines",
                                 "file": "/tmp/headrace-demo/shouted.txt"}}

Like any plugin it imports only ``connect.api``. ``flush()`` fsyncs the file, so the runtime commits
consumer offsets only for lines that are on disk (at-least-once: after a crash a line may appear twice,
never go missing).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import IO

from connect.api import ConfigDef, NonEmptyString, SinkConnector, SinkRecord, SinkTask, TopicPartition

VERSION = "0.1.0"

CONFIG = (
    ConfigDef()
    .define(
        "file",
        "string",
        importance="high",
        doc="The file to append the upper-cased values to (created if missing).",
        validator=NonEmptyString(),
    )
    .define("null.text", "string", "", "low", "The line written for a record whose value is null.")
)


class UppercaseFileSinkConnector(SinkConnector):
    """Appends record values, upper-cased, to a file (one task: one file)."""

    aliases = ("UppercaseFileSink",)

    def __init__(self) -> None:
        self._props: dict[str, str] = {}

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return CONFIG

    def start(self, props: dict[str, str]) -> None:
        CONFIG.parse(props)
        self._props = dict(props)

    def task_class(self) -> type[SinkTask]:
        return UppercaseFileSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props)]

    def stop(self) -> None:
        pass


class UppercaseFileSinkTask(SinkTask):
    def __init__(self) -> None:
        self._out: IO[str] | None = None
        self._null = ""

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        values = CONFIG.parse(props)
        self._null = values["null.text"]
        self._out = open(values["file"], "a", encoding="utf-8")  # noqa: SIM115 - kept open until stop()

    def put(self, records: list[SinkRecord]) -> None:
        if not records:
            return
        assert self._out is not None, "put() before start()"
        self._out.write(
            "".join(f"{self._null if r.value is None else str(r.value).upper()}\n" for r in records)
        )
        self._out.flush()  # lines reach the file at once (as FileStreamSink); flush() also fsyncs

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        if self._out is not None:
            self._out.flush()
            os.fsync(self._out.fileno())

    def close(self, partitions: Collection[TopicPartition]) -> None:
        pass  # one file for every partition: nothing per partition to release

    def stop(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
            out.close()
