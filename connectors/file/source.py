"""FileStreamSource: tails a text file (or stdin) and emits each complete line as a STRING record.

Offsets are ``{"position": <byte offset after the line>}`` under the partition ``{"filename": <file>}``,
exactly as Kafka's FileStreamSourceConnector stores them, so a restarted task resumes after the last
line whose record the broker acknowledged. Only ``connect.api`` is used.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import IO, Any

from connect.api.config import ConfigDef, NonEmptyString, Range
from connect.api.connector import SourceConnector
from connect.api.data import Schema
from connect.api.errors import ConnectException
from connect.api.records import SourceRecord
from connect.api.task import SourceTask

log = logging.getLogger("connectors.file")

VERSION = "0.1.0"
CONFIG = (
    ConfigDef()
    .define("file", "string", None, "high", "Source filename. If not specified, the standard input is used.")
    .define(
        "topic", "string", importance="high", doc="The topic to publish data to.", validator=NonEmptyString()
    )
    .define(
        "batch.size",
        "int",
        2000,
        "low",
        "The maximum number of records the task polls at once.",
        validator=Range.at_least(1),
    )
)


class FileStreamSourceConnector(SourceConnector):
    aliases = (
        "FileStreamSource",
        "FileStreamSourceConnector",
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
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

    def task_class(self) -> type[SourceTask]:
        return FileStreamSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props)]  # one file, one task

    def stop(self) -> None:
        pass


class FileStreamSourceTask(SourceTask):
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._file: IO[bytes] | None = None
        self._filename: str | None = None
        self._topic = ""
        self._batch = 2000
        self._position = 0
        self._pending = b""
        self._lines: list[bytes] = []
        self._lock = threading.Lock()

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        values = CONFIG.parse(props)
        self._filename = values["file"] or None
        self._topic = values["topic"]
        self._batch = values["batch.size"]
        if self._filename is None:
            self._file = sys.stdin.buffer
            return
        stored = self.context.offset_storage_reader().offset({"filename": self._filename})
        if stored is not None:
            position = stored.get("position")
            if not isinstance(position, int):
                raise ConnectException(f"Offset position is the incorrect type: {type(position).__name__}")
            self._position = position
            log.info("Resuming %s at byte %d", self._filename, position)

    def _open(self) -> bool:
        assert self._filename is not None
        try:
            f = open(self._filename, "rb")  # noqa: SIM115 - kept open across polls
        except FileNotFoundError:
            return False
        size = os.fstat(f.fileno()).st_size
        if self._position > size:
            log.warning(
                "%s is shorter than the stored position %d; starting from the beginning",
                self._filename,
                self._position,
            )
            self._position = 0
        f.seek(self._position)
        self._file = f
        return True

    def poll(self) -> list[SourceRecord] | None:
        with self._lock:
            if self._stop.is_set():
                return None
            if not self._lines:
                if self._file is None and not self._open():
                    self._stop.wait(0.5)
                    return None
                assert self._file is not None
                chunk = (
                    self._file.read1(1 << 20) if hasattr(self._file, "read1") else self._file.read(1 << 16)
                )
                if not chunk:
                    self._stop.wait(0.1)
                    return None
                lines = (self._pending + chunk).split(b"\n")
                self._pending = lines.pop()
                self._lines = lines
            batch, self._lines = self._lines[: self._batch], self._lines[self._batch :]
        records: list[SourceRecord] = []
        partition = {"filename": self._filename}
        position = self._position
        for raw in batch:
            position += len(raw) + 1
            line = raw[:-1] if raw.endswith(b"\r") else raw
            records.append(
                SourceRecord(
                    partition,
                    {"position": position},
                    self._topic,
                    None,
                    None,
                    None,
                    Schema.STRING_SCHEMA,
                    line.decode("utf-8", errors="replace"),
                )
            )
        self._position = position
        return records or None

    def stop(self) -> None:
        """Signal; the file is closed once a poll() in progress has returned (never blocks long)."""
        self._stop.set()
        if self._lock.acquire(timeout=1):
            try:
                self._close_file()
            finally:
                self._lock.release()

    def _close_file(self) -> None:
        f: Any = self._file
        self._file = None
        if f is not None and f is not getattr(sys.stdin, "buffer", None):
            f.close()

    def commit(self) -> None:
        pass
