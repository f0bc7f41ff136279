"""Common machinery of WorkerSourceTask and WorkerSinkTask: thread, target state, status callbacks.

Threading contract:
- ``run()`` is the body of the task's own thread (started by :class:`Worker`); every plugin call
  (initialize, start, poll/put, commit, stop-side cleanup) happens there, except ``Task.stop()``.
- ``stop()`` and ``transition_to()`` are called from herder threads: they only set flags, call the
  plugin's ``stop()`` (which must only signal) and wake the loop; ``await_stop()`` joins with a timeout.
"""

from __future__ import annotations

import enum
import logging
import threading
import traceback
from typing import Any, Protocol

from connect.runtime.models import ConnectorTaskId
from connect.runtime.progress import ProgressPublisher

log = logging.getLogger("connect.worker")


class TargetState(enum.Enum):
    STARTED = "STARTED"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"


class TaskStatusListener(Protocol):
    """Receives state changes; implemented by the herder's status store. Called on the task thread."""

    def on_task_running(self, task: ConnectorTaskId) -> None: ...

    def on_task_paused(self, task: ConnectorTaskId) -> None: ...

    def on_task_failed(self, task: ConnectorTaskId, trace: str) -> None: ...

    def on_task_shutdown(self, task: ConnectorTaskId) -> None: ...

    def on_topic_used(self, connector: str, topic: str) -> None: ...

    def on_task_progress(self, task: ConnectorTaskId, progress: dict[str, Any] | None) -> None:
        """The task's latest reported progress (None: cleared); any thread, at most ~1/s per task."""
        ...


def format_trace(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class WorkerTask:
    """Base class: subclasses implement ``initialize_and_start()``, ``execute()`` and ``close()``."""

    def __init__(self, task_id: ConnectorTaskId, listener: TaskStatusListener, target: TargetState) -> None:
        self.id = task_id
        self.listener = listener
        self._target = target
        self._stopping = threading.Event()
        self._state_changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self.failed: BaseException | None = None
        self.cancelled = False
        self.progress = ProgressPublisher(task_id, listener.on_task_progress)

    # -- called from herder threads --------------------------------------------------------------

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"task-{self.id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Signal the task to stop (does not wait)."""
        self._stopping.set()
        with self._state_changed:
            self._state_changed.notify_all()
        self.signal_plugin_stop()

    def await_stop(self, timeout: float) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def cancel(self) -> None:
        """The task did not stop in time: it may keep running but must not commit anything further."""
        self.cancelled = True
        self.progress.close(flush=False)

    def transition_to(self, target: TargetState) -> None:
        with self._state_changed:
            self._target = target
            self._state_changed.notify_all()

    @property
    def target(self) -> TargetState:
        return self._target

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- task thread -------------------------------------------------------------------------------

    def run(self) -> None:
        self.progress.reset()  # what an earlier run of this task reported is obsolete
        try:
            self.initialize_and_start()
            if not self.stopping:
                if self._target == TargetState.PAUSED:
                    self.listener.on_task_paused(self.id)
                else:
                    self.listener.on_task_running(self.id)
                self.execute()
        except BaseException as exc:  # any plugin error fails the task, never the worker
            self.failed = exc
            log.error(
                "Task %s threw an uncaught and unrecoverable exception. Task is being killed and will "
                "not recover until manually restarted: %s: %s",
                self.id,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
        finally:
            try:
                self.close()
            except Exception:
                log.exception("Task %s failed to close cleanly", self.id)
            self.progress.close()  # the last value reported, before the final state
            if self.failed is not None:
                self.listener.on_task_failed(self.id, format_trace(self.failed))
            else:
                self.listener.on_task_shutdown(self.id)

    def await_unpause(self) -> bool:
        """Block while the target state is PAUSED; returns False if the task is stopping."""
        with self._state_changed:
            while self._target == TargetState.PAUSED and not self.stopping:
                self._state_changed.wait(0.5)
        return not self.stopping

    def wait_for_change(self, timeout: float) -> None:
        with self._state_changed:
            self._state_changed.wait(timeout)

    def metrics(self) -> dict[str, int]:
        """Counters for GET /metrics, read from other threads (plain int reads: no lock needed)."""
        return {}

    # -- subclass hooks --------------------------------------------------------------------------

    def signal_plugin_stop(self) -> None:
        raise NotImplementedError

    def initialize_and_start(self) -> None:
        raise NotImplementedError

    def execute(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
