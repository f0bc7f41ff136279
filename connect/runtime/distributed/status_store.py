"""Connector, task and topic statuses of the whole cluster in the status topic
(Kafka Connect's ``KafkaStatusBackingStore``, same keys and schemaless JSON values).

On the topic (compacted, keys partitioned with murmur2):

=========================================  ================================================================
``status-connector-<name>``                ``{"state", "trace", "worker_id", "generation"}``
``status-task-<name>-<n>``                 same, plus ``"progress": {...}`` while the task reported
                                           some (Kafka's workers ignore the extra field); a tombstone
                                           forgets the status
``status-topic-<topic>:connector-<name>``  ``{"topic": {"name", "connector", "task", "discoverTimestamp"}}``
=========================================  ================================================================

Every worker reads the whole topic, so reads (``connector``, ``tasks``, ``task``, ``topics``, inherited
from :class:`MemoryStatusStore`) answer from the local replica for any connector of the cluster.

Writes come from the status listener callbacks (task threads, herder thread). They update the local
replica at once and are sent asynchronously (librdkafka retries; failures are logged). As Kafka's
``put``/``putSafe``: RUNNING, PAUSED, STOPPED and RESTARTING always overwrite; FAILED and UNASSIGNED
(a task or connector shutting down) are *safe* writes, dropped when the status stored locally belongs
to another worker and has a newer generation than ours (``set_generation``) — a worker that lost the
task in a rebalance cannot overwrite what the new owner reported. Records read back from the topic
always apply, in topic order, so all workers converge on the last write.

Progress (:meth:`on_task_progress`, at most about one per second per task: the worker's
ProgressPublisher rate-limits it) rewrites the task's current status record with the new ``progress``
when this worker wrote that status; otherwise it rides along with the task's next status write.
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
from connect.runtime.status import FAILED, STOPPED, UNASSIGNED, MemoryStatusStore, _Status

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


def _status_value(status: _Status) -> bytes:
    value: dict[str, Any] = {
        "state": status.state,
        "trace": status.trace,
        "worker_id": status.worker_id,
        "generation": status.generation,
    }
    if status.progress is not None:
        value["progress"] = status.progress
    return json_bytes(value)


def _can_write_safely(stored: _Status | None, new: _Status) -> bool:
    """Kafka's CacheEntry.canWriteSafely."""
    return stored is None or stored.worker_id == new.worker_id or stored.generation <= new.generation


class KafkaStatusBackingStore(MemoryStatusStore):
    def __init__(
        self,
        topic: str,
        client_config: Mapping[str, str],
        worker_id: str,
        *,
        partitions: int = 5,
        replication_factor: int = 1,
        client_id: str = "",
        timeout: float = 30.0,
    ) -> None:
        super().__init__(worker_id)
        self.topic = topic
        self.timeout = timeout
        self._generation = -1
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
    def for_worker(
        cls, worker: WorkerConfig, worker_id: str, *, client_id: str = ""
    ) -> KafkaStatusBackingStore:
        """The store a distributed worker configures: ``status.storage.topic``, ``status.storage.partitions``
        and ``status.storage.replication.factor`` (-1: the broker's default)."""
        return cls(
            worker.get("status.storage.topic"),
            internal_client_config(worker),
            worker_id,
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

    def set_generation(self, generation: int) -> None:
        """The group generation this worker's statuses are written with (the herder calls this after
        every rebalance)."""
        with self._lock:
            self._generation = generation

    @property
    def generation(self) -> int:
        return self._generation

    # -- writes ------------------------------------------------------------------------------------

    def _send(self, key: bytes, value: bytes | None) -> None:
        """Publish asynchronously. Status callbacks run on task threads, which must not fail because
        of bookkeeping: a write while the store is stopped (e.g. an abandoned task finishing late) or
        with the producer's queue full is logged and dropped; the local replica keeps it."""
        try:
            self._log.send(key, value)
        except ConnectException as exc:
            log.warning("status %s not published: %s", key.decode(errors="replace"), exc)

    def put_connector(self, name: str, state: str, trace: str | None = None, *, safe: bool = False) -> None:
        with self._lock:
            status = _Status(state, self.worker_id, trace, self._generation)
            if safe and not _can_write_safely(self._connectors.get(name), status):
                log.debug("not overwriting the newer status of connector %s with %s", name, state)
                return
            self._connectors[name] = status
        self._send(connector_status_key(name).encode(), _status_value(status))

    def put_task(
        self, task: ConnectorTaskId, state: str, trace: str | None = None, *, safe: bool = False
    ) -> None:
        with self._lock:
            status = _Status(state, self.worker_id, trace, self._generation, self._progress.get(task))
            if safe and not _can_write_safely(self._tasks.get(task), status):
                log.debug("not overwriting the newer status of task %s with %s", task, state)
                return
            self._tasks[task] = status
        self._send(task_status_key(task).encode(), _status_value(status))

    def forget_connector(self, name: str) -> None:
        """Tombstones for the connector's status, its tasks' statuses and its topics."""
        with self._lock:
            tasks = [t for t in self._tasks if t.connector == name]
            topics = sorted(self._topics.pop(name, ()))
            self._connectors.pop(name, None)
            for t in tasks:
                del self._tasks[t]
            for t in [t for t in self._progress if t.connector == name]:
                del self._progress[t]
        keys = [task_status_key(t) for t in tasks] + [topic_status_key(name, t) for t in topics]
        for key in [*keys, connector_status_key(name)]:
            self._send(key.encode(), None)

    def forget_task(self, task: ConnectorTaskId) -> None:
        with self._lock:
            self._tasks.pop(task, None)
            self._progress.pop(task, None)
        self._send(task_status_key(task).encode(), None)

    # StatusListener (RUNNING/PAUSED/STOPPED callbacks inherited: they call the put_* above) ---------

    def on_connector_failed(self, connector: str, trace: str) -> None:
        self.put_connector(connector, FAILED, trace, safe=True)

    def on_connector_shutdown(self, connector: str) -> None:
        with self._lock:
            st = self._connectors.get(connector)
            keep = st is None or st.state in (FAILED, STOPPED)
        if not keep:
            self.put_connector(connector, UNASSIGNED, safe=True)

    def on_task_failed(self, task: ConnectorTaskId, trace: str) -> None:
        self.put_task(task, FAILED, trace, safe=True)
        with self._lock:
            self._progress.pop(task, None)

    def on_task_shutdown(self, task: ConnectorTaskId) -> None:
        with self._lock:
            st = self._tasks.get(task)
            keep = st is None or st.state == FAILED
        if not keep:
            self.put_task(task, UNASSIGNED, safe=True)
        with self._lock:
            self._progress.pop(task, None)

    def on_task_progress(self, task: ConnectorTaskId, progress: dict[str, Any] | None) -> None:
        with self._lock:
            status = self._set_progress(task, progress)
            value = None if status is None else _status_value(status)
        if value is not None:
            self._send(task_status_key(task).encode(), value)

    def on_topic_used(self, connector: str, topic: str, task: int = 0) -> None:
        with self._lock:
            known = self._topics.setdefault(connector, set())
            if topic in known:
                return
            known.add(topic)
        value = {
            "topic": {
                "name": topic,
                "connector": connector,
                "task": task,
                "discoverTimestamp": int(time.time() * 1000),
            }
        }
        self._send(topic_status_key(connector, topic).encode(), json_bytes(value))

    def reset_topics(self, name: str) -> None:
        with self._lock:
            topics = sorted(self._topics.pop(name, ()))
        for topic in topics:
            self._send(topic_status_key(name, topic).encode(), None)

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

    def _parse_status(self, key: str, value: dict[str, Any]) -> _Status | None:
        state, worker, trace, generation, progress = (
            value.get(f) for f in ("state", "worker_id", "trace", "generation", "progress")
        )
        if not isinstance(state, str) or not isinstance(worker, str):
            log.error("status topic %s: %s has no state/worker_id; ignored", self.topic, key)
            return None
        return _Status(
            state,
            worker,
            trace if isinstance(trace, str) else None,
            generation if isinstance(generation, int) else 0,
            progress if isinstance(progress, dict) else None,
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
