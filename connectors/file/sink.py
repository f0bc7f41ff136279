"""FileStreamSink: appends each record's value as one line to a file (or stdout).

``flush()`` flushes and fsyncs the file, so consumer offsets are committed only for lines that are
on disk (at-least-once: after a crash some lines may appear twice, none go missing).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Mapping
from typing import IO

from connect.api.config import ConfigDef
from connect.api.connector import SinkConnector
from connect.api.records import SinkRecord, TopicPartition
from connect.api.task import SinkTask

VERSION = "0.1.0"
CONFIG = ConfigDef().define(
    "file", "string", None, "high", "Destination filename. If not specified, the standard output is used."
)


class FileStreamSinkConnector(SinkConnector):
    aliases = (
        "FileStreamSink",
        "FileStreamSinkConnector",
        "org.apache.kafka.connect.file.FileStreamSinkConnector",
    )

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
        return FileStreamSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props)]  # one output file: one task

    def stop(self) -> None:
        pass


class FileStreamSinkTask(SinkTask):
    def __init__(self) -> None:
        self._out: IO[str] | None = None
        self._owned = False

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        filename = CONFIG.parse(props)["file"]
        if filename:
            # A missing directory is created (the README's quick start writes under /tmp/headrace-demo/);
            # Kafka's sink fails with NoSuchFileException there.
            os.makedirs(os.path.dirname(os.path.abspath(filename)), exist_ok=True)
            self._out = open(filename, "a", encoding="utf-8")  # noqa: SIM115 - lives until stop()
            self._owned = True
        else:
            self._out = sys.stdout

    def put(self, records: list[SinkRecord]) -> None:
        assert self._out is not None
        self._out.write("".join(f"{r.value}\n" for r in records))
        self._out.flush()  # lines reach the file at once (as Kafka's sink); flush() also fsyncs

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        if self._out is not None:
            self._out.flush()
            if self._owned:
                os.fsync(self._out.fileno())

    def close(self, partitions: Collection[TopicPartition]) -> None:
        pass

    def stop(self) -> None:
        if self._out is not None and self._owned:
            self._out.flush()
            self._out.close()
            self._out = None
