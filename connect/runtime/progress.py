"""Task progress: from ``TaskContext.report_progress`` to the status store, rate-limited, and to /metrics.

One :class:`ProgressPublisher` per :class:`~connect.runtime.worker_task.WorkerTask`. The order of calls:

1. ``reset()`` — task thread, when the task (re)starts: clears what a previous run of the task reported;
2. ``report(value)`` — ANY thread, any number of times (the task context forwards to it): the latest
   value wins; it is published at once if the last publication is at least ``interval`` seconds old,
   otherwise a one-shot timer thread publishes the then-latest value when the interval has passed;
3. ``close()`` — task thread, when the task ends (before its final status is written): publishes a value
   still pending, and ignores later reports; ``close(flush=False)`` (herder thread, a cancelled task)
   drops it instead.

Publications go to ``publish(task_id, value)`` (the status listener's ``on_task_progress``), one at a
time under a lock, so the store sees values in the order they were reported.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connect.api.progress import check_progress
from connect.runtime.models import ConnectorTaskId

log = logging.getLogger("connect.worker")

PUBLISH_INTERVAL_S = 1.0

Publish = Callable[[ConnectorTaskId, dict[str, Any] | None], None]


class ProgressPublisher:
    def __init__(
        self,
        task_id: ConnectorTaskId,
        publish: Publish,
        interval: float = PUBLISH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._task_id = task_id
        self._publish = publish
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, Any] | None = None
        self._has_pending = False
        self._next = 0.0  # the first report is published at once
        self._timer: threading.Timer | None = None
        self._closed = False
        self.published = 0

    def report(self, progress: Mapping[str, Any] | None) -> None:
        """Any thread. Validates and copies ``progress`` (TypeError/ValueError to the caller)."""
        value = check_progress(progress)
        with self._lock:
            if self._closed:
                return
            self._pending, self._has_pending = value, True
            delay = self._next - self._clock()
            if delay <= 0:
                self._flush_locked()
            elif self._timer is None:
                self._timer = threading.Timer(delay, self._on_timer)
                self._timer.name = f"progress-{self._task_id}"
                self._timer.daemon = True
                self._timer.start()

    def reset(self) -> None:
        """Task thread, at (re)start: clear the published progress; reports are accepted again."""
        with self._lock:
            self._cancel_timer()
            self._closed = False
            self._pending, self._has_pending = None, True
            self._flush_locked()
            self._next = 0.0  # the new run's first report is published at once

    def close(self, flush: bool = True) -> None:
        """The task ended: publish the pending value (unless ``flush`` is False); ignore later reports."""
        with self._lock:
            self._cancel_timer()
            if flush:
                self._flush_locked()
            self._closed = True
            self._has_pending = False

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if not self._closed:
                self._flush_locked()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _flush_locked(self) -> None:
        if not self._has_pending:
            return
        value, self._pending, self._has_pending = self._pending, None, False
        self._next = self._clock() + self._interval
        try:
            self._publish(self._task_id, value)
            self.published += 1
        except Exception:  # bookkeeping must never fail the reporting thread
            log.exception("Task %s: could not publish its progress", self._task_id)


# --- Prometheus ----------------------------------------------------------------------------------------

_NOT_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def progress_gauges(tasks: Iterable[tuple[ConnectorTaskId, Mapping[str, Any] | None]]) -> list[str]:
    """Prometheus text lines: each finite numeric top-level field ``f`` of each task's progress as the
    gauge ``headrace_connect_task_progress_<f>{connector, task}`` (booleans, strings and nested values are
    left out; ``f`` with characters other than ``[a-zA-Z0-9_]`` replaced by ``_``)."""
    by_metric: dict[str, list[str]] = {}
    for tid, progress in tasks:
        for field, value in (progress or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            metric = "headrace_connect_task_progress_" + _NOT_METRIC_CHARS.sub("_", field)
            labels = f'connector="{_label(tid.connector)}",task="{tid.task}"'
            by_metric.setdefault(metric, []).append(f"{metric}{{{labels}}} {value}")
    out: list[str] = []
    for metric, lines in sorted(by_metric.items()):
        out += [f"# TYPE {metric} gauge", *lines]
    return out
