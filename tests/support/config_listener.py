"""A ConfigUpdateListener for store tests: records every call (memory stores call it on the writer's
thread, the topic store on its consumer thread) and waits for an expected one."""

from __future__ import annotations

import threading
from collections.abc import Collection

from connect.runtime.models import ConnectorTaskId

WAIT = 20.0


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []
        self._cond = threading.Condition()

    def _add(self, *event: object) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def on_connector_config_update(self, connector: str) -> None:
        self._add("connector", connector)

    def on_task_config_update(self, tasks: Collection[ConnectorTaskId]) -> None:
        self._add("tasks", tuple(sorted(tasks, key=lambda t: (t.connector, t.task))))

    def on_connector_target_state_change(self, connector: str) -> None:
        self._add("target", connector)

    def on_restart_request(self, connector: str, include_tasks: bool, only_failed: bool) -> None:
        self._add("restart", connector, include_tasks, only_failed)

    def wait_for(self, *event: object) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: event in self.events, WAIT):
                raise AssertionError(f"listener never got {event}; got {self.events}")
