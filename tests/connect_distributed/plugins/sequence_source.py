"""SequenceSource: a test-only source connector with many tasks, loaded through ``plugin.path``.

Task ``i`` of connector ``c`` writes ``"c/i/n"`` for n = 0, 1, 2, ... (one number every ``interval.ms``)
to ``topic``, with source partition ``{"task": i}`` and offset ``{"seq": n}``: after a restart it
continues from the committed offset, so the output of every task must be gap-free (at-least-once).

Every task start and stop appends one JSON line (``event``, ``task``, ``pid``, ``seq``, ``time``) to
``events.file`` (shared by all worker processes of a test, appends of short lines are atomic), so a
test can tell which process runs which task and whether a task was restarted.
"""

from __future__ import annotations

import json
import os
import threading
import time

from connect.api import ConfigDef, NonEmptyString, Range, SourceConnector, SourceRecord, SourceTask

CONFIG = (
    ConfigDef()
    .define("topic", "string", importance="high", doc="Output topic.", validator=NonEmptyString())
    .define("events.file", "string", importance="high", doc="Where task starts/stops are recorded.")
    .define(
        "interval.ms", "long", 50, "medium", "Milliseconds between two numbers.", validator=Range.at_least(1)
    )
)


class SequenceSourceConnector(SourceConnector):
    """``tasks.max`` tasks, each with its own sequence."""

    aliases = ("SequenceSource",)

    def __init__(self) -> None:
        self._props: dict[str, str] = {}

    def version(self) -> str:
        return "1.0"

    def config(self) -> ConfigDef:
        return CONFIG

    def start(self, props: dict[str, str]) -> None:
        CONFIG.parse(props)
        self._props = dict(props)

    def task_class(self) -> type[SourceTask]:
        return SequenceSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{**self._props, "task.index": str(i)} for i in range(max_tasks)]

    def stop(self) -> None:
        pass


class SequenceSourceTask(SourceTask):
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._name = ""
        self._index = 0
        self._topic = ""
        self._events = ""
        self._interval = 0.05
        self._next = 0
        self._due = 0.0

    def version(self) -> str:
        return "1.0"

    def _record(self, event: str) -> None:
        line = json.dumps(
            {
                "event": event,
                "task": f"{self._name}-{self._index}",
                "pid": os.getpid(),
                "seq": self._next,  # at a start: the first number this run writes
                "time": time.time(),
            }
        )
        with open(self._events, "a") as f:
            f.write(line + "\n")

    def start(self, props: dict[str, str]) -> None:
        values = CONFIG.parse({k: v for k, v in props.items() if k in CONFIG})
        self._name = props["name"]
        self._index = int(props["task.index"])
        self._topic = values["topic"]
        self._events = values["events.file"]
        self._interval = values["interval.ms"] / 1000
        stored = self.context.offset_storage_reader().offset({"task": self._index})
        self._next = 0 if stored is None else int(stored["seq"]) + 1
        self._due = time.monotonic()
        self._record("start")

    def poll(self) -> list[SourceRecord] | None:
        wait = self._due - time.monotonic()
        if wait > 0 and self._stop.wait(min(wait, 0.2)):
            return None
        if time.monotonic() < self._due:
            return None
        self._due += self._interval
        n = self._next
        self._next += 1
        return [
            SourceRecord(
                {"task": self._index}, {"seq": n}, self._topic, value=f"{self._name}/{self._index}/{n}"
            )
        ]

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._record("stop")
