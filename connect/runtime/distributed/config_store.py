"""Connector configs, task configs, target states and restart requests in the config topic
(Kafka Connect's ``KafkaConfigBackingStore``, same keys and schemaless JSON values).

On the topic (one partition, compacted), keys are UTF-8 strings, values JSON:

=================================  =====================================================================
``connector-<name>``               ``{"properties": {...}}``; a tombstone deletes the connector
``task-<name>-<n>``                ``{"properties": {...}}``, applied only by the following commit
``commit-<name>``                  ``{"tasks": N}``: tasks 0..N-1 written since the last commit become
                                   visible together; an incomplete set (compaction) is ignored and the
                                   connector is marked inconsistent until the next complete commit
``target-state-<name>``            ``{"state": "STARTED"|"PAUSED", "state.v2": "STARTED"|"PAUSED"|"STOPPED"}``
``restart-connector-<name>``       ``{"include-tasks": bool, "only-failed": bool}``
=================================  =====================================================================

Threads: writes (``put_*``, ``remove_*``) run on the caller's thread (the herder's), are acknowledged by
the broker one record at a time (as Kafka's store does) and are followed by ``refresh()`` so the writer
sees its own write. The log's consumer thread applies records and, once ``start()`` has read the topic
to the end, calls the :class:`ConfigUpdateListener` (never during the initial read: the herder takes a
``snapshot()`` after ``start()``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from connect.api.errors import ConnectException
from connect.runtime.clients import internal_client_config
from connect.runtime.config_store import (
    ClusterConfigState,
    ConfigBackingStore,
    ConfigTables,
    ConfigUpdateListener,
)
from connect.runtime.distributed.kafka_log import json_bytes, store_log
from connect.runtime.models import ConnectorTaskId
from connect.runtime.worker_task import TargetState

if TYPE_CHECKING:
    from connect.runtime.worker_config import WorkerConfig

log = logging.getLogger("connect.distributed.config")

_Notify = Callable[[], None]  # a listener call prepared under the lock, made after releasing it

CONNECTOR_PREFIX = "connector-"
TASK_PREFIX = "task-"
COMMIT_TASKS_PREFIX = "commit-"
TARGET_STATE_PREFIX = "target-state-"
RESTART_PREFIX = "restart-connector-"


def connector_key(name: str) -> str:
    return CONNECTOR_PREFIX + name


def task_key(task: ConnectorTaskId) -> str:
    return f"{TASK_PREFIX}{task.connector}-{task.task}"


def commit_key(name: str) -> str:
    return COMMIT_TASKS_PREFIX + name


def target_state_key(name: str) -> str:
    return TARGET_STATE_PREFIX + name


def restart_key(name: str) -> str:
    return RESTART_PREFIX + name


def target_state_value(target: TargetState) -> dict[str, str]:
    """Kafka's format: ``state`` stays readable by pre-3.5 workers (which know no STOPPED)."""
    legacy = "PAUSED" if target is TargetState.STOPPED else target.value
    return {"state": legacy, "state.v2": target.value}


class KafkaConfigBackingStore(ConfigBackingStore):
    """The config topic as a :class:`~connect.runtime.config_store.ConfigBackingStore` (see the module
    docstring); ``snapshot()`` reads the local replica."""

    def __init__(
        self,
        topic: str,
        client_config: Mapping[str, str],
        listener: ConfigUpdateListener,
        *,
        replication_factor: int = 1,
        client_id: str = "",
    ) -> None:
        self.topic = topic
        self._listener = listener
        self._log = store_log(
            topic,
            client_config,
            self._on_record,
            store="configs",
            client_id=client_id,
            partitions=1,
            replication_factor=replication_factor,
        )
        self._lock = threading.Lock()
        self._started = False
        self._tables = ConfigTables()  # the local replica
        self._deferred: dict[str, dict[int, dict[str, str]]] = {}  # task configs awaiting their commit

    @classmethod
    def for_worker(
        cls, worker: WorkerConfig, listener: ConfigUpdateListener, *, client_id: str = ""
    ) -> KafkaConfigBackingStore:
        """The store a distributed worker configures: ``config.storage.topic`` and
        ``config.storage.replication.factor`` (-1: the broker's default)."""
        return cls(
            worker.get("config.storage.topic"),
            internal_client_config(worker),
            listener,
            replication_factor=int(worker.get("config.storage.replication.factor")),
            client_id=client_id,
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Create the topic if needed and read it to the end (blocking). Listeners fire afterwards."""
        self._log.start(timeout)
        if len(self._log.partitions) != 1:
            self._log.stop()
            raise ConnectException(
                f"config topic {self.topic} has {len(self._log.partitions)} partitions; it must have exactly "
                "one (the order of config records matters)"
            )
        with self._lock:
            self._started = True
            n = len(self._tables.connector_configs)
        log.info("config store on %s started: %d connector(s)", self.topic, n)

    def stop(self) -> None:
        self._log.stop()

    # -- reads -------------------------------------------------------------------------------------

    def snapshot(self) -> ClusterConfigState:
        with self._lock:
            return self._tables.snapshot()

    def refresh(self, timeout: float = 30.0) -> None:
        """Read the topic to its current end (writes of every worker become visible)."""
        self._log.read_to_end(timeout)

    # -- writes (synchronous: broker-acked, then read back) ----------------------------------------

    def put_connector_config(
        self, name: str, config: Mapping[str, str], target: TargetState | None = None
    ) -> None:
        """Create or update a connector; ``target`` (e.g. created STOPPED or PAUSED) is written first."""
        if target is not None:
            self._write(target_state_key(name), json_bytes(target_state_value(target)))
        self._write(connector_key(name), json_bytes({"properties": {k: str(v) for k, v in config.items()}}))

    def remove_connector_config(self, name: str) -> None:
        """Tombstones for the connector and its target state (its task configs go with it)."""
        self._write(connector_key(name), None)
        self._write(target_state_key(name), None)

    def put_task_configs(self, name: str, configs: Sequence[Mapping[str, str]]) -> None:
        """Write task configs 0..N-1, then the commit record that makes them visible together."""
        self.refresh()  # as Kafka: catch up before writing a new generation of task configs
        for i, conf in enumerate(configs):
            value = json_bytes({"properties": {k: str(v) for k, v in conf.items()}})
            self._write(task_key(ConnectorTaskId(name, i)), value, refresh=False)
        self._write(commit_key(name), json_bytes({"tasks": len(configs)}))

    def put_target_state(self, name: str, target: TargetState) -> None:
        self._write(target_state_key(name), json_bytes(target_state_value(target)))

    def put_restart_request(self, name: str, include_tasks: bool, only_failed: bool) -> None:
        self._write(
            restart_key(name), json_bytes({"include-tasks": include_tasks, "only-failed": only_failed})
        )

    def _write(self, key: str, value: bytes | None, *, refresh: bool = True) -> None:
        acked = self._log.send_sync(key.encode(), value, 0)
        if refresh:
            self._log.read_to_end(at_least=acked)

    # -- applying records (log consumer thread) ----------------------------------------------------

    def _on_record(self, partition: int, offset: int, raw_key: bytes | None, raw_value: bytes | None) -> None:
        try:
            key = (raw_key or b"").decode()
            value = None if raw_value is None else json.loads(raw_value)
        except (UnicodeDecodeError, ValueError) as exc:
            log.error("config topic %s: skipping unreadable record at offset %d: %s", self.topic, offset, exc)
            return
        if value is not None and not isinstance(value, dict):
            log.error(
                "config topic %s: skipping non-object value at offset %d (key %s)", self.topic, offset, key
            )
            return
        notify: _Notify | None = None
        with self._lock:
            self._tables.offset = offset
            if key.startswith(CONNECTOR_PREFIX):
                notify = self._apply_connector(key[len(CONNECTOR_PREFIX) :], value)
            elif key.startswith(TASK_PREFIX):
                self._apply_task(key, value)
            elif key.startswith(COMMIT_TASKS_PREFIX):
                notify = self._apply_commit(key[len(COMMIT_TASKS_PREFIX) :], value)
            elif key.startswith(TARGET_STATE_PREFIX):
                notify = self._apply_target_state(key[len(TARGET_STATE_PREFIX) :], value)
            elif key.startswith(RESTART_PREFIX):
                notify = self._restart_request(key[len(RESTART_PREFIX) :], value)
            else:  # session-key, task-count-record-, logger-cluster-...: features Headrace does not use
                log.debug("config topic %s: ignoring record %s", self.topic, key)
            started = self._started
        if notify is not None and started:
            try:
                notify()
            except Exception:
                log.exception("config update listener failed on %s", key)

    def _apply_connector(self, name: str, value: dict[str, Any] | None) -> _Notify | None:
        if value is None:
            self._tables.remove_connector(name)
            self._deferred.pop(name, None)
            log.info("connector %s removed", name)
        else:
            props = value.get("properties")
            if not isinstance(props, dict):
                log.error("config topic %s: connector %s record has no properties; ignored", self.topic, name)
                return None
            self._tables.put_connector(name, props, None)
        return lambda: self._listener.on_connector_config_update(name)

    def _apply_task(self, key: str, value: dict[str, Any] | None) -> None:
        connector, sep, index = key[len(TASK_PREFIX) :].rpartition("-")
        if not sep or not connector or not index.isdigit():
            log.error("config topic %s: bad task key %s; ignored", self.topic, key)
            return
        props = None if value is None else value.get("properties")
        if not isinstance(props, dict):
            log.error("config topic %s: task record %s without properties; ignored", self.topic, key)
            return
        self._deferred.setdefault(connector, {})[int(index)] = {str(k): str(v) for k, v in props.items()}

    def _apply_commit(self, name: str, value: dict[str, Any] | None) -> _Notify | None:
        count = None if value is None else value.get("tasks")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            log.error("config topic %s: commit record for %s without a task count; ignored", self.topic, name)
            return None
        deferred = self._deferred.pop(name, {})
        if any(i not in deferred for i in range(count)):
            # Compaction removed some task records of this generation: wait for a complete set.
            log.warning(
                "connector %s: incomplete task configs for %d task(s) (have %s); waiting for new ones",
                name,
                count,
                sorted(deferred),
            )
            self._tables.inconsistent.add(name)
            self._tables.task_counts[name] = count
            return lambda: self._listener.on_task_config_update([])
        updated = self._tables.put_tasks(name, [deferred[i] for i in range(count)])
        return lambda: self._listener.on_task_config_update(updated)

    def _apply_target_state(self, name: str, value: dict[str, Any] | None) -> _Notify | None:
        if value is None:  # the connector's own tombstone notifies
            self._tables.target_states.pop(name, None)
            return None
        raw = value.get("state.v2", value.get("state"))
        try:
            state = TargetState(raw)
        except ValueError:
            log.error(
                "config topic %s: connector %s: unknown target state %r; ignored", self.topic, name, raw
            )
            return None
        self._tables.target_states[name] = state
        return lambda: self._listener.on_connector_target_state_change(name)

    def _restart_request(self, name: str, value: dict[str, Any] | None) -> _Notify | None:
        if value is None:
            return None
        include_tasks = bool(value.get("include-tasks", False))
        only_failed = bool(value.get("only-failed", False))
        return lambda: self._listener.on_restart_request(name, include_tasks, only_failed)
