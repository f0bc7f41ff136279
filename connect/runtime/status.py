"""Connector and task status (Kafka's StatusBackingStore), fed by the worker's status callbacks.

Thread-safe: callbacks arrive on task threads and herder threads; REST reads from its threads.
Distributed mode subclasses this to also publish statuses to the status topic.

Task progress (``TaskContext.report_progress``, rate-limited by the worker's ProgressPublisher) arrives
through :meth:`MemoryStatusStore.on_task_progress`. The store remembers the latest value of each task
running on this worker and attaches it to every status it writes for that task, so a task that failed
or stopped still shows how far it got; the entry is dropped once the task's final status (FAILED or
UNASSIGNED) is written, and a restarted task clears it first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from connect.runtime.models import AbstractState, ConnectorTaskId, TaskState

UNASSIGNED, RUNNING, PAUSED, STOPPED, FAILED, RESTARTING = (
    "UNASSIGNED",
    "RUNNING",
    "PAUSED",
    "STOPPED",
    "FAILED",
    "RESTARTING",
)


@dataclass
class _Status:
    state: str
    worker_id: str
    trace: str | None = None
    generation: int = 0
    progress: dict[str, Any] | None = None


class MemoryStatusStore:
    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self._lock = threading.Lock()
        self._connectors: dict[str, _Status] = {}
        self._tasks: dict[ConnectorTaskId, _Status] = {}
        self._topics: dict[str, set[str]] = {}
        self._progress: dict[ConnectorTaskId, dict[str, Any]] = {}  # of this worker's tasks

    # -- writes ------------------------------------------------------------------------------------

    def put_connector(self, name: str, state: str, trace: str | None = None) -> None:
        with self._lock:
            self._connectors[name] = _Status(state, self.worker_id, trace)

    def put_task(self, task: ConnectorTaskId, state: str, trace: str | None = None) -> None:
        with self._lock:
            self._tasks[task] = _Status(state, self.worker_id, trace, progress=self._progress.get(task))

    def forget_connector(self, name: str) -> None:
        with self._lock:
            self._connectors.pop(name, None)
            for t in [t for t in self._tasks if t.connector == name]:
                del self._tasks[t]
            for t in [t for t in self._progress if t.connector == name]:
                del self._progress[t]
            self._topics.pop(name, None)

    def forget_task(self, task: ConnectorTaskId) -> None:
        with self._lock:
            self._tasks.pop(task, None)
            self._progress.pop(task, None)

    def _set_progress(self, task: ConnectorTaskId, progress: dict[str, Any] | None) -> _Status | None:
        """Remember ``progress`` (caller holds the lock); returns the task's status to publish when it
        changed, i.e. when this worker wrote the task's current status (else the value waits for the
        task's next status write)."""
        if progress is None:
            self._progress.pop(task, None)
        else:
            self._progress[task] = progress
        st = self._tasks.get(task)
        if st is None or st.worker_id != self.worker_id or st.progress == progress:
            return None
        st.progress = progress
        return st

    # StatusListener -----------------------------------------------------------------------------

    def on_connector_running(self, connector: str) -> None:
        self.put_connector(connector, RUNNING)

    def on_connector_paused(self, connector: str) -> None:
        self.put_connector(connector, PAUSED)

    def on_connector_stopped(self, connector: str) -> None:
        self.put_connector(connector, STOPPED)

    def on_connector_failed(self, connector: str, trace: str) -> None:
        self.put_connector(connector, FAILED, trace)

    def on_connector_shutdown(self, connector: str) -> None:
        with self._lock:
            st = self._connectors.get(connector)
            if st is not None and st.state not in (FAILED, STOPPED):
                st.state = UNASSIGNED

    def on_task_running(self, task: ConnectorTaskId) -> None:
        self.put_task(task, RUNNING)

    def on_task_paused(self, task: ConnectorTaskId) -> None:
        self.put_task(task, PAUSED)

    def on_task_failed(self, task: ConnectorTaskId, trace: str) -> None:
        self.put_task(task, FAILED, trace)
        with self._lock:
            self._progress.pop(task, None)

    def on_task_shutdown(self, task: ConnectorTaskId) -> None:
        with self._lock:
            st = self._tasks.get(task)
            if st is not None and st.state != FAILED:
                st.state = UNASSIGNED
            self._progress.pop(task, None)

    def on_task_progress(self, task: ConnectorTaskId, progress: dict[str, Any] | None) -> None:
        with self._lock:
            self._set_progress(task, progress)

    def on_topic_used(self, connector: str, topic: str) -> None:
        with self._lock:
            self._topics.setdefault(connector, set()).add(topic)

    # -- reads -------------------------------------------------------------------------------------

    def connector(self, name: str) -> AbstractState:
        with self._lock:
            st = self._connectors.get(name)
        if st is None:
            return AbstractState(UNASSIGNED, self.worker_id)
        return AbstractState(st.state, st.worker_id, st.trace)

    def tasks(self, name: str, count: int) -> list[TaskState]:
        with self._lock:
            out = []
            for i in range(count):
                st = self._tasks.get(ConnectorTaskId(name, i))
                if st is None:
                    out.append(TaskState(UNASSIGNED, self.worker_id, None, i))
                else:
                    out.append(TaskState(st.state, st.worker_id, st.trace, i, st.progress))
            return out

    def task(self, task: ConnectorTaskId) -> TaskState | None:
        with self._lock:
            st = self._tasks.get(task)
            if st is None:
                return None
            return TaskState(st.state, st.worker_id, st.trace, task.task, st.progress)

    def topics(self, name: str) -> list[str]:
        with self._lock:
            return sorted(self._topics.get(name, ()))

    def reset_topics(self, name: str) -> None:
        with self._lock:
            self._topics.pop(name, None)
