"""Connector configs, task configs and target states: the :class:`ConfigBackingStore` role (Kafka
Connect's ``ConfigBackingStore``), its snapshot :class:`ClusterConfigState`, and the standalone
implementations — :class:`MemoryConfigBackingStore` (Kafka's ``MemoryConfigBackingStore``) and
:class:`FileConfigBackingStore` (``config.storage.file.filename``). A cluster's store is
:class:`connect.runtime.distributed.config_store.KafkaConfigBackingStore`.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from connect.runtime.models import ConnectorTaskId
from connect.runtime.worker_task import TargetState

log = logging.getLogger("connect.config")


@dataclass(frozen=True)
class ClusterConfigState:
    """An immutable snapshot of a config store (Kafka's ClusterConfigState)."""

    offset: int  # position of the last change applied (config-topic offset; -1: nothing yet)
    connector_configs: Mapping[str, Mapping[str, str]]
    target_states: Mapping[str, TargetState]
    task_configs: Mapping[ConnectorTaskId, Mapping[str, str]]  # committed task configs only
    task_counts: Mapping[str, int]
    inconsistent_connectors: frozenset[str] = field(default=frozenset())

    def connectors(self) -> list[str]:
        return sorted(self.connector_configs)

    def contains(self, connector: str) -> bool:
        return connector in self.connector_configs

    def target_state(self, connector: str) -> TargetState:
        return self.target_states.get(connector, TargetState.STARTED)

    def task_count(self, connector: str) -> int:
        return self.task_counts.get(connector, 0)

    def tasks(self, connector: str) -> list[ConnectorTaskId]:
        """Committed tasks of a connector; none while its task configs are inconsistent."""
        if connector in self.inconsistent_connectors or connector not in self.connector_configs:
            return []
        return [ConnectorTaskId(connector, i) for i in range(self.task_counts.get(connector, 0))]

    def task_config(self, task: ConnectorTaskId) -> Mapping[str, str] | None:
        return self.task_configs.get(task)


EMPTY = ClusterConfigState(-1, {}, {}, {}, {})


class ConfigTables:
    """The state a config store's snapshots are taken from; the owning store guards it with its lock.
    Inner dicts are replaced, never mutated, so snapshots share them safely."""

    def __init__(self) -> None:
        self.offset = -1
        self.connector_configs: dict[str, dict[str, str]] = {}
        self.target_states: dict[str, TargetState] = {}
        self.task_configs: dict[ConnectorTaskId, dict[str, str]] = {}
        self.task_counts: dict[str, int] = {}
        self.inconsistent: set[str] = set()  # task configs incomplete (compacted topic)

    def snapshot(self) -> ClusterConfigState:
        return ClusterConfigState(
            offset=self.offset,
            connector_configs=dict(self.connector_configs),
            target_states=dict(self.target_states),
            task_configs=dict(self.task_configs),
            task_counts=dict(self.task_counts),
            inconsistent_connectors=frozenset(self.inconsistent),
        )

    def put_connector(self, name: str, config: Mapping[str, str], target: TargetState | None) -> None:
        if target is not None:
            self.target_states[name] = target
        self.target_states.setdefault(name, TargetState.STARTED)
        self.connector_configs[name] = {str(k): str(v) for k, v in config.items()}

    def remove_connector(self, name: str) -> None:
        self.connector_configs.pop(name, None)
        self.target_states.pop(name, None)
        self._drop_tasks(name)

    def _drop_tasks(self, name: str) -> None:
        self.task_counts.pop(name, None)
        self.inconsistent.discard(name)
        for t in [t for t in self.task_configs if t.connector == name]:
            del self.task_configs[t]

    def put_tasks(self, name: str, configs: Sequence[Mapping[str, str]]) -> list[ConnectorTaskId]:
        """Replace the task configs of ``name``; returns the tasks now configured."""
        self._drop_tasks(name)
        updated = [ConnectorTaskId(name, i) for i in range(len(configs))]
        for t, conf in zip(updated, configs, strict=True):
            self.task_configs[t] = {str(k): str(v) for k, v in conf.items()}
        self.task_counts[name] = len(configs)
        return updated


class ConfigUpdateListener(Protocol):
    """Hears of every change of a :class:`ConfigBackingStore` (Kafka's ``UpdateListener``).

    Called after the change is visible in ``snapshot()``, never for what ``start()`` loaded, and never
    with a store lock held; on the writer's thread for a memory store, on the log's consumer thread for
    the topic store (where it must be quick: hand off to the herder thread).
    """

    def on_connector_config_update(self, connector: str) -> None: ...  # put or removed

    def on_task_config_update(self, tasks: Collection[ConnectorTaskId]) -> None: ...

    def on_connector_target_state_change(self, connector: str) -> None: ...

    def on_restart_request(self, connector: str, include_tasks: bool, only_failed: bool) -> None: ...


class ConfigBackingStore(abc.ABC):
    """Connector configs, task configs and target states of every connector (Kafka's ``ConfigBackingStore``).

    Callers: the herder (its control paths on REST threads and, in distributed mode, its herder thread);
    reads are :meth:`snapshot` only, an immutable :class:`ClusterConfigState` safe to use from any thread.

    Writes are synchronous: when a ``put_*``/``remove_*`` returns, the change is durable (for a shared
    store: acknowledged by the broker) and visible in this store's next snapshot. Changes apply in the
    order they were written, and task configs of a connector are replaced as a whole (a connector never
    shows part of an old and part of a new generation). Writes of other workers (shared stores) become
    visible asynchronously, in log order; :meth:`refresh` waits for all written so far. The
    :class:`ConfigUpdateListener` given to the store hears about every change (see its contract).

    Configs are stored as given (raw strings, config-provider references unresolved).
    """

    def start(self) -> None:  # noqa: B027 - optional
        """Load the stored configs (blocking); the listener is not called for them."""

    def stop(self) -> None:  # noqa: B027 - optional
        """Release resources (blocking)."""

    def refresh(self, timeout: float = 30.0) -> None:  # noqa: B027 - optional
        """Make every change written so far, by any worker, visible in ``snapshot()`` (no-op in memory)."""

    @abc.abstractmethod
    def snapshot(self) -> ClusterConfigState: ...

    @abc.abstractmethod
    def put_connector_config(
        self, name: str, config: Mapping[str, str], target: TargetState | None = None
    ) -> None:
        """Create or update a connector; ``target`` (e.g. created STOPPED or PAUSED) is written first.
        Without ``target`` a new connector is STARTED and an existing one keeps its target state."""

    @abc.abstractmethod
    def remove_connector_config(self, name: str) -> None:
        """Delete the connector with its target state and task configs."""

    @abc.abstractmethod
    def put_task_configs(self, name: str, configs: Sequence[Mapping[str, str]]) -> None:
        """Replace the task configs of ``name`` by ``configs`` (tasks 0..N-1), all visible together."""

    @abc.abstractmethod
    def put_target_state(self, name: str, target: TargetState) -> None: ...

    @abc.abstractmethod
    def put_restart_request(self, name: str, include_tasks: bool, only_failed: bool) -> None:
        """Ask the worker(s) running ``name`` to restart it: only the listener hears of it."""


_Notify = Callable[[], None]  # a listener call prepared under the lock, made after releasing it


class MemoryConfigBackingStore(ConfigBackingStore):
    """Configs in memory (standalone mode without ``config.storage.file.filename``); the listener, if
    any, is called on the writer's thread."""

    def __init__(self, listener: ConfigUpdateListener | None = None) -> None:
        self._listener = listener
        self._lock = threading.Lock()
        self._tables = ConfigTables()

    def snapshot(self) -> ClusterConfigState:
        with self._lock:
            return self._tables.snapshot()

    def _change(self, apply: Callable[[], _Notify | None]) -> None:
        """Apply one change under the lock, persist, then tell the listener (outside the lock)."""
        with self._lock:
            notify = apply()
            self._tables.offset += 1
            self._persist()
        if notify is not None and self._listener is not None:
            notify()

    def _persist(self) -> None:
        """Hook for durable subclasses (called under the lock after every change)."""

    def put_connector_config(
        self, name: str, config: Mapping[str, str], target: TargetState | None = None
    ) -> None:
        def apply() -> _Notify:
            self._tables.put_connector(name, config, target)
            return lambda: self._notify().on_connector_config_update(name)

        self._change(apply)

    def remove_connector_config(self, name: str) -> None:
        def apply() -> _Notify:
            self._tables.remove_connector(name)
            return lambda: self._notify().on_connector_config_update(name)

        self._change(apply)

    def put_task_configs(self, name: str, configs: Sequence[Mapping[str, str]]) -> None:
        def apply() -> _Notify:
            updated = self._tables.put_tasks(name, configs)
            return lambda: self._notify().on_task_config_update(updated)

        self._change(apply)

    def put_target_state(self, name: str, target: TargetState) -> None:
        def apply() -> _Notify:
            self._tables.target_states[name] = target
            return lambda: self._notify().on_connector_target_state_change(name)

        self._change(apply)

    def put_restart_request(self, name: str, include_tasks: bool, only_failed: bool) -> None:
        self._change(lambda: lambda: self._notify().on_restart_request(name, include_tasks, only_failed))

    def _notify(self) -> ConfigUpdateListener:
        assert self._listener is not None
        return self._listener


class FileConfigBackingStore(MemoryConfigBackingStore):
    """Standalone mode with ``config.storage.file.filename``: connector configs and target states in one
    JSON file ``{name: {"config": {...}, "target": "STARTED"|"PAUSED"|"STOPPED"}}``, rewritten atomically
    (tmp + fsync + rename) on every change. Task configs are not kept: the herder regenerates them
    when it starts the connectors again."""

    def __init__(self, path: Path, listener: ConfigUpdateListener | None = None) -> None:
        super().__init__(listener)
        self.path = path
        self._written: dict[str, dict[str, object]] | None = None

    def start(self) -> None:
        if not self.path.exists():
            return
        stored = json.loads(self.path.read_text())
        with self._lock:
            for name, entry in stored.items():
                self._tables.put_connector(name, entry["config"], TargetState(entry.get("target", "STARTED")))
            self._written = stored
        log.info("loaded %d connector config(s) from %s", len(stored), self.path)

    def _persist(self) -> None:
        tables = self._tables
        data: dict[str, dict[str, object]] = {
            n: {"config": c, "target": tables.target_states.get(n, TargetState.STARTED).value}
            for n, c in tables.connector_configs.items()
        }
        if data == self._written:  # task configs and restart requests are not kept
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w") as f:
            json.dump(data, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
        self._written = data
