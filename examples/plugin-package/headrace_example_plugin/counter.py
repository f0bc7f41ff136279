"""CounterSource: emits 0, 1, 2, ... to a topic, one number every ``interval.ms``.

Each record's offset is ``{"value": n}`` under the partition ``{"counter": <topic>}``. The runtime
stores the offset once the broker acknowledged the record and hands it back after a restart, so a
restarted task continues with ``n + 1``: no number is skipped, and none is repeated unless the worker
died between the broker's acknowledgement and the offset commit (at-least-once).
"""

from __future__ import annotations

import threading
import time

from connect.api import (
    ConfigDef,
    ConnectException,
    NonEmptyString,
    Range,
    Schema,
    SourceConnector,
    SourceRecord,
    SourceTask,
)

VERSION = "0.1.0"

CONFIG = (
    ConfigDef()
    .define(
        "topic", "string", importance="high", doc="The topic to write numbers to.", validator=NonEmptyString()
    )
    .define("start", "long", 0, "medium", "The first number when there is no committed offset yet.")
    .define(
        "interval.ms",
        "long",
        1000,
        "medium",
        "Milliseconds between two numbers; 0 emits them as fast as the worker takes them.",
        validator=Range.at_least(0),
    )
    .define(
        "batch.size",
        "int",
        100,
        "low",
        "The most numbers one poll() returns.",
        validator=Range.at_least(1),
    )
)

_MAX_WAIT = 0.5  # poll() blocks at most this long, so stop() is noticed quickly


class CounterSourceConnector(SourceConnector):
    """Counts upwards into a topic. One task: a second one would only repeat the same numbers."""

    aliases = ("CounterSource", "CounterSourceConnector")

    def __init__(self) -> None:
        self._props: dict[str, str] = {}

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return CONFIG

    def start(self, props: dict[str, str]) -> None:
        CONFIG.parse(props)  # fail fast on a bad configuration
        self._props = dict(props)

    def task_class(self) -> type[SourceTask]:
        return CounterSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props)]

    def stop(self) -> None:
        pass


class CounterSourceTask(SourceTask):
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._topic = ""
        self._next = 0
        self._interval = 1.0
        self._batch = 100
        self._due = 0.0

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        values = CONFIG.parse(props)
        self._topic = values["topic"]
        self._interval = values["interval.ms"] / 1000
        self._batch = values["batch.size"]
        stored = self.context.offset_storage_reader().offset(self._partition())
        if stored is None:
            self._next = values["start"]
        else:
            last = stored.get("value")
            if not isinstance(last, int):
                raise ConnectException(f"Committed offset {stored!r} has no integer 'value'")
            self._next = last + 1
        self._due = time.monotonic()

    def _partition(self) -> dict[str, str]:
        return {"counter": self._topic}

    def poll(self) -> list[SourceRecord] | None:
        wait = self._due - time.monotonic()
        if wait > 0 and self._stop.wait(min(wait, _MAX_WAIT)):
            return None
        now = time.monotonic()
        if now < self._due:
            return None
        if self._interval > 0:
            count = min(self._batch, int((now - self._due) / self._interval) + 1)
            self._due += count * self._interval
        else:
            count = self._batch
        partition = self._partition()
        timestamp = int(time.time() * 1000)
        records = [
            SourceRecord(
                partition,
                {"value": n},
                self._topic,
                value_schema=Schema.INT64_SCHEMA,
                value=n,
                timestamp=timestamp,
            )
            for n in range(self._next, self._next + count)
        ]
        self._next += count
        return records

    def stop(self) -> None:
        self._stop.set()
