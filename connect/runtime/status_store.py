"""Connector, task and topic statuses: the :class:`StatusBackingStore` role (Kafka Connect's
``StatusBackingStore``) and its in-memory implementation (standalone mode; Kafka's
``MemoryStatusBackingStore``). The topic-backed store of a cluster is
:class:`connect.runtime.distributed.status_store.KafkaStatusBackingStore`.

A store only keeps statuses. *Who* writes what is the herder's business: the herder is the worker's
status listener (it receives the connector and task callbacks — RUNNING, PAUSED, FAILED, shutdown,
progress — as Kafka's ``AbstractHerder`` implements ``ConnectorStatus.Listener`` and
``TaskStatus.Listener``) and turns each callback into a :class:`Status` it writes here (see
:class:`connect.runtime.herder_base.HerderBase`).
"""

from __future__ import annotations

import abc
import threading
from dataclasses import dataclass
from typing import Any

from connect.runtime.models import ConnectorTaskId

UNASSIGNED, RUNNING, PAUSED, STOPPED, FAILED, RESTARTING = (
    "UNASSIGNED",
    "RUNNING",
    "PAUSED",
    "STOPPED",
    "FAILED",
    "RESTARTING",
)


@dataclass(frozen=True)
class Departure:
    """Why a connector or task is UNASSIGNED in distributed mode: ``worker_id`` (the status's worker) left
    the group at ``left_at`` and the leader holds its work for it until ``reassign_at``
    (``scheduled.rebalance.max.delay.ms``), when it goes to another worker unless the worker came back.
    Both times are in milliseconds since the epoch (the leader's clock when it noticed the departure)."""

    left_at: int
    reassign_at: int


@dataclass(frozen=True)
class Status:
    """One connector or task status (Kafka's ``AbstractStatus`` without its id: stores key it).

    ``generation`` is the group generation of the writer (0 in standalone mode); ``progress`` what the
    task last reported (``TaskContext.report_progress``), None for connectors and tasks without any;
    ``departure`` is set only on the UNASSIGNED status the group leader writes for the work of a worker
    that left the group, while that work waits to be reassigned.
    """

    state: str
    worker_id: str
    trace: str | None = None
    generation: int = 0
    progress: dict[str, Any] | None = None
    departure: Departure | None = None


def can_write_safely(stored: Status | None, new: Status) -> bool:
    """Kafka's ``CacheEntry.canWriteSafely``: a *safe* write (``put_*(…, safe=True)``) replaces the stored
    status only if there is none, it was written by the same worker, or by an older-or-equal
    generation — a worker that lost its work in a rebalance cannot overwrite the new owner's status."""
    return stored is None or stored.worker_id == new.worker_id or stored.generation <= new.generation


class StatusBackingStore(abc.ABC):
    """Where connector, task and topic statuses are kept (Kafka Connect's ``StatusBackingStore``).

    Callers: the herder, from its status-listener callbacks (task threads, connector and herder threads,
    progress timers) and from its own control paths (RESTARTING, forgetting a deleted connector); REST
    threads read through the herder. Every method is thread-safe and quick: a write never waits for I/O
    (a durable store publishes in the background; :meth:`flush` waits for that).

    Ordering: writes of one caller are applied in call order and a read on the same store sees them at
    once. Writes made by other workers (shared stores) become visible in the order the shared log holds
    them; :meth:`refresh` waits until everything written so far is visible. (A shared store applies
    its own records again as it reads them back, so it may briefly show an earlier write of its own;
    after ``flush()`` and ``refresh()`` it shows the last one.) The herder serializes the writes of one
    task itself (status callbacks and progress), so the store needs no compare-and-set beyond *safe*
    writes.

    Safe writes (``safe=True``, used for FAILED and UNASSIGNED, which a worker writes while its work is
    shutting down) are dropped when :func:`can_write_safely` says the stored status is newer.
    """

    def start(self) -> None:  # noqa: B027 - optional
        """Load existing statuses (blocking); called once before any other method."""

    def stop(self) -> None:  # noqa: B027 - optional
        """Release resources; writes after this are dropped (logged), reads still answer."""

    def flush(self, timeout: float | None = None) -> None:  # noqa: B027 - optional
        """Wait until every write made so far is durable (no-op for a memory store)."""

    def refresh(self, timeout: float | None = None) -> None:  # noqa: B027 - optional
        """Wait until every status written so far, by any worker, is visible here (no-op in memory)."""

    # -- writes --------------------------------------------------------------------------------------

    @abc.abstractmethod
    def put_connector(self, name: str, status: Status, *, safe: bool = False) -> None: ...

    @abc.abstractmethod
    def put_task(self, task: ConnectorTaskId, status: Status, *, safe: bool = False) -> None: ...

    @abc.abstractmethod
    def forget_connector(self, name: str) -> None:
        """Delete the connector's status, its tasks' statuses and its active topics (deleted connector)."""

    @abc.abstractmethod
    def forget_task(self, task: ConnectorTaskId) -> None:
        """Delete one task's status (the task no longer exists or is being regenerated)."""

    @abc.abstractmethod
    def put_topic(self, connector: str, topic: str, task: int = 0) -> None:
        """Record that ``connector`` used ``topic`` (KIP-558 active topics); idempotent."""

    @abc.abstractmethod
    def reset_topics(self, connector: str) -> None:
        """Forget every active topic of ``connector``."""

    # -- reads ---------------------------------------------------------------------------------------

    @abc.abstractmethod
    def connector_status(self, name: str) -> Status | None: ...

    @abc.abstractmethod
    def task_status(self, task: ConnectorTaskId) -> Status | None: ...

    @abc.abstractmethod
    def task_statuses(self, connector: str) -> dict[int, Status]:
        """Every stored task status of ``connector``, by task number."""

    @abc.abstractmethod
    def topics(self, connector: str) -> list[str]:
        """The connector's active topics, sorted."""


class MemoryStatusBackingStore(StatusBackingStore):
    """Statuses in dicts under one lock: standalone mode's store and the local replica of the topic store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connectors: dict[str, Status] = {}
        self._tasks: dict[ConnectorTaskId, Status] = {}
        self._topics: dict[str, set[str]] = {}

    # -- writes ----------------------------------------------------------------------------------------

    def _put(self, table: dict[Any, Status], key: Any, status: Status, safe: bool) -> bool:
        """Apply a write (False: a safe write was dropped)."""
        with self._lock:
            if safe and not can_write_safely(table.get(key), status):
                return False
            table[key] = status
            return True

    def put_connector(self, name: str, status: Status, *, safe: bool = False) -> None:
        self._put(self._connectors, name, status, safe)

    def put_task(self, task: ConnectorTaskId, status: Status, *, safe: bool = False) -> None:
        self._put(self._tasks, task, status, safe)

    def _forget_connector(self, name: str) -> tuple[list[ConnectorTaskId], list[str]]:
        """Forget the connector; returns its forgotten tasks and topics."""
        with self._lock:
            self._connectors.pop(name, None)
            tasks = [t for t in self._tasks if t.connector == name]
            for t in tasks:
                del self._tasks[t]
            return tasks, sorted(self._topics.pop(name, ()))

    def forget_connector(self, name: str) -> None:
        self._forget_connector(name)

    def forget_task(self, task: ConnectorTaskId) -> None:
        with self._lock:
            self._tasks.pop(task, None)

    def _add_topic(self, connector: str, topic: str) -> bool:
        """Add an active topic; False if it was known."""
        with self._lock:
            known = self._topics.setdefault(connector, set())
            if topic in known:
                return False
            known.add(topic)
            return True

    def put_topic(self, connector: str, topic: str, task: int = 0) -> None:
        self._add_topic(connector, topic)

    def _reset_topics(self, connector: str) -> list[str]:
        with self._lock:
            return sorted(self._topics.pop(connector, ()))

    def reset_topics(self, connector: str) -> None:
        self._reset_topics(connector)

    # -- reads -----------------------------------------------------------------------------------------

    def connector_status(self, name: str) -> Status | None:
        with self._lock:
            return self._connectors.get(name)

    def task_status(self, task: ConnectorTaskId) -> Status | None:
        with self._lock:
            return self._tasks.get(task)

    def task_statuses(self, connector: str) -> dict[int, Status]:
        with self._lock:
            return {t.task: st for t, st in self._tasks.items() if t.connector == connector}

    def topics(self, connector: str) -> list[str]:
        with self._lock:
            return sorted(self._topics.get(connector, ()))
