"""Connector, task and topic statuses of the whole cluster in the status topic
(Kafka Connect's ``KafkaStatusBackingStore``, same keys and schemaless JSON values).

On the topic (compacted, keys partitioned with murmur2):

=========================================  ================================================================
``status-connector-<name>``                ``{"state", "trace", "worker_id", "generation"}``
``status-task-<name>-<n>``                 same, plus ``"progress": {...}`` while the task reported
                                           some (Kafka's workers ignore the extra field); a tombstone
                                           forgets the status
(either, UNASSIGNED from the leader)       plus ``"departure": {"left_at", "reassign_at"}`` (ms since the
                                           epoch) while the work of a departed worker is held for it
``status-topic-<topic>:connector-<name>``  ``{"topic": {"name", "connector", "task", "discoverTimestamp"}}``
=========================================  ================================================================

Implements :class:`~connect.runtime.status_store.StatusBackingStore`. Every worker reads the whole
topic into its local replica (a :class:`~connect.runtime.status_store.MemoryStatusBackingStore`), so
reads answer for any connector of the cluster.

Writes (from the herder, which is the worker's status listener) update the local replica at once and are
sent asynchronously (librdkafka retries; failures are logged). As Kafka's ``put``/``putSafe``: a plain
write always overwrites; a *safe* write (FAILED and UNASSIGNED, written while work shuts down) is dropped
when the status stored locally belongs to another worker and has a newer generation than the one
written — a worker that lost the task in a rebalance cannot overwrite what the new owner reported.
Records read back from the topic always apply, in topic order, so all workers converge on the last
write.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connect.api.errors import ConnectException
from connect.runtime.clients import internal_client_config
from connect.runtime.distributed.kafka_log import json_bytes, store_log
from connect.runtime.models import ConnectorTaskId
from connect.runtime.status_store import Departure, MemoryStatusBackingStore, Status

if TYPE_CHECKING:
    from connect.runtime.worker_config import WorkerConfig

log = logging.getLogger("connect.distributed.status")

CONNECTOR_STATUS_PREFIX = "status-connector-"
TASK_STATUS_PREFIX = "status-task-"
TOPIC_STATUS_PREFIX = "status-topic-"
TOPIC_CONNECTOR_SEPARATOR = ":connector-"


def connector_status_key(name: str) -> str:
    return CONNECTOR_STATUS_PREFIX + name


def task_status_key(task: ConnectorTaskId) -> str:
    return f"{TASK_STATUS_PREFIX}{task.connector}-{task.task}"


def topic_status_key(connector: str, topic: str) -> str:
    return f"{TOPIC_STATUS_PREFIX}{topic}{TOPIC_CONNECTOR_SEPARATOR}{connector}"


def _status_value(status: Status) -> bytes:
    value: dict[str, Any] = {
        "state": status.state,
        "trace": status.trace,
        "worker_id": status.worker_id,
        "generation": status.generation,
    }
    if status.progress is not None:
        value["progress"] = status.progress
    if status.departure is not None:
        value["departure"] = {
            "left_at": status.departure.left_at,
            "reassign_at": status.departure.reassign_at,
        }
    return json_bytes(value)


def _departure(value: object) -> Departure | None:
    if not isinstance(value, dict):
        return None
    left, due = value.get("left_at"), value.get("reassign_at")
    if not isinstance(left, int) or not isinstance(due, int):
        return None
    return Departure(left, due)


class KafkaStatusBackingStore(MemoryStatusBackingStore):
    def __init__(
        self,
        topic: str,
        client_config: Mapping[str, str],
        *,
        partitions: int = 5,
        replication_factor: int = 1,
        client_id: str = "",
        timeout: float = 30.0,
    ) -> None:
        super().__init__()
        self.topic = topic
        self.timeout = timeout
        self._log = store_log(
            topic,
            client_config,
            self._on_record,
            store="statuses",
            client_id=client_id,
            partitions=partitions,
            replication_factor=replication_factor,
        )

    @classmethod
    def for_worker(cls, worker: WorkerConfig, *, client_id: str = "") -> KafkaStatusBackingStore:
        """The store a distributed worker configures: ``status.storage.topic``, ``status.storage.partitions``
        and ``status.storage.replication.factor`` (-1: the broker's default)."""
        return cls(
            worker.get("status.storage.topic"),
            internal_client_config(worker),
            partitions=int(worker.get("status.storage.partitions")),
            replication_factor=int(worker.get("status.storage.replication.factor")),
            client_id=client_id,
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._log.start(self.timeout)
        with self._lock:
            counts = (len(self._connectors), len(self._tasks))
        log.info("status store on %s started: %d connector and %d task status(es)", self.topic, *counts)

    def stop(self) -> None:
        self._log.stop()

    def refresh(self, timeout: float | None = None) -> None:
        """Read the topic to its current end (every worker's statuses so far become visible)."""
        self._log.read_to_end(self.timeout if timeout is None else timeout)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every status written so far was acknowledged by the broker."""
        self._log.flush(self.timeout if timeout is None else timeout)

    # -- writes ------------------------------------------------------------------------------------

    def _send(self, key: str, value: bytes | None) -> None:
        """Publish asynchronously. Status callbacks run on task threads, which must not fail because
        of bookkeeping: a write while the store is stopped (e.g. an abandoned task finishing late) or
        with the producer's queue full is logged and dropped; the local replica keeps it."""
        try:
            self._log.send(key.encode(), value)
        except ConnectException as exc:
            log.warning("status %s not published: %s", key, exc)

    def put_connector(self, name: str, status: Status, *, safe: bool = False) -> None:
        if self._put(self._connectors, name, status, safe):
            self._send(connector_status_key(name), _status_value(status))
        else:
            log.debug("not overwriting the newer status of connector %s with %s", name, status.state)

    def put_task(self, task: ConnectorTaskId, status: Status, *, safe: bool = False) -> None:
        if self._put(self._tasks, task, status, safe):
            self._send(task_status_key(task), _status_value(status))
        else:
            log.debug("not overwriting the newer status of task %s with %s", task, status.state)

    def forget_connector(self, name: str) -> None:
        """Tombstones for the connector's status, its tasks' statuses and its topics."""
        tasks, topics = self._forget_connector(name)
        keys = [task_status_key(t) for t in tasks] + [topic_status_key(name, t) for t in topics]
        for key in [*keys, connector_status_key(name)]:
            self._send(key, None)

    def forget_task(self, task: ConnectorTaskId) -> None:
        super().forget_task(task)
        self._send(task_status_key(task), None)

    def put_topic(self, connector: str, topic: str, task: int = 0) -> None:
        if not self._add_topic(connector, topic):
            return
        value = {
            "topic": {
                "name": topic,
                "connector": connector,
                "task": task,
                "discoverTimestamp": int(time.time() * 1000),
            }
        }
        self._send(topic_status_key(connector, topic), json_bytes(value))

    def reset_topics(self, connector: str) -> None:
        for topic in self._reset_topics(connector):
            self._send(topic_status_key(connector, topic), None)

    # -- applying records (log consumer thread) ----------------------------------------------------

    def _on_record(self, partition: int, offset: int, raw_key: bytes | None, raw_value: bytes | None) -> None:
        try:
            key = (raw_key or b"").decode()
            value = None if raw_value is None else json.loads(raw_value)
        except (UnicodeDecodeError, ValueError) as exc:
            log.error(
                "status topic %s: skipping unreadable record %d@%d: %s", self.topic, partition, offset, exc
            )
            return
        if value is not None and not isinstance(value, dict):
            log.error("status topic %s: skipping non-object value of %s", self.topic, key)
            return
        if key.startswith(CONNECTOR_STATUS_PREFIX):
            self._apply_connector(key[len(CONNECTOR_STATUS_PREFIX) :], value)
        elif key.startswith(TASK_STATUS_PREFIX):
            self._apply_task(key, value)
        elif key.startswith(TOPIC_STATUS_PREFIX):
            self._apply_topic(key, value)
        else:
            log.debug("status topic %s: ignoring record %s", self.topic, key)

    def _parse_status(self, key: str, value: dict[str, Any]) -> Status | None:
        state, worker, trace, generation, progress = (
            value.get(f) for f in ("state", "worker_id", "trace", "generation", "progress")
        )
        if not isinstance(state, str) or not isinstance(worker, str):
            log.error("status topic %s: %s has no state/worker_id; ignored", self.topic, key)
            return None
        return Status(
            state,
            worker,
            trace if isinstance(trace, str) else None,
            generation if isinstance(generation, int) else 0,
            progress if isinstance(progress, dict) else None,
            _departure(value.get("departure")),
        )

    def _apply_connector(self, name: str, value: dict[str, Any] | None) -> None:
        status = None if value is None else self._parse_status(name, value)
        with self._lock:
            if value is None:
                self._connectors.pop(name, None)
            elif status is not None:
                self._connectors[name] = status

    def _apply_task(self, key: str, value: dict[str, Any] | None) -> None:
        connector, sep, index = key[len(TASK_STATUS_PREFIX) :].rpartition("-")
        if not sep or not connector or not index.isdigit():
            log.error("status topic %s: bad task status key %s; ignored", self.topic, key)
            return
        task = ConnectorTaskId(connector, int(index))
        status = None if value is None else self._parse_status(key, value)
        with self._lock:
            if value is None:
                self._tasks.pop(task, None)
            elif status is not None:
                self._tasks[task] = status

    def _apply_topic(self, key: str, value: dict[str, Any] | None) -> None:
        topic, sep, connector = key[len(TOPIC_STATUS_PREFIX) :].partition(TOPIC_CONNECTOR_SEPARATOR)
        if not sep or not topic or not connector:
            log.error("status topic %s: bad topic status key %s; ignored", self.topic, key)
            return
        with self._lock:
            if value is None:
                known = self._topics.get(connector)
                if known is not None:
                    known.discard(topic)
                    if not known:
                        del self._topics[connector]
            else:
                self._topics.setdefault(connector, set()).add(topic)
