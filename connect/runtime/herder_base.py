"""What standalone and distributed herders share (Kafka Connect's ``AbstractHerder``).

:class:`HerderBase` sits on the three store roles — :class:`~connect.runtime.config_store.ConfigBackingStore`
(``configs``), :class:`~connect.runtime.status_store.StatusBackingStore` (``status``) and
:class:`~connect.runtime.offsets.OffsetBackingStore` (``offset_store``) — and provides:

- the worker's status listener (connector and task RUNNING/PAUSED/STOPPED/FAILED/shutdown callbacks,
  task progress, active topics), written to ``status`` with this worker's id and group generation;
- the REST reads answered from a config snapshot and the status store (connector list, info, config,
  status, task configs and statuses, active topics, offsets), the offsets API, a config patch;
- plugin listings, validation, masking, metrics and health.

Subclasses decide where connectors and tasks run and how writes reach the config store: the standalone
herder acts on them at once under its lock, the distributed one writes the config topic and reconciles
on its herder thread.
"""

from __future__ import annotations

import abc
import json
import logging
import threading
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient

from connect.api.config import ConfigDef
from connect.api.connector import SinkConnector
from connect.runtime import clients
from connect.runtime.config_store import ClusterConfigState, ConfigBackingStore
from connect.runtime.connector_config import (
    SINK_CONFIG,
    SOURCE_CONFIG,
    connector_class,
    key_infos,
    mask_config,
    validate,
)
from connect.runtime.exceptions import BadRequestError, HerderError, NotFoundError
from connect.runtime.herder import Herder
from connect.runtime.models import (
    AbstractState,
    ConfigInfos,
    ConfigKeyInfo,
    ConnectorInfo,
    ConnectorOffset,
    ConnectorOffsets,
    ConnectorStateInfo,
    ConnectorTaskId,
    ConnectorType,
    PluginInfo,
    TaskInfo,
    TaskState,
)
from connect.runtime.offsets import OffsetBackingStore, offset_key, parse_key
from connect.runtime.plugins import PluginConflictError, PluginNotFoundError, PluginRegistry
from connect.runtime.progress import progress_gauges
from connect.runtime.status_store import (
    FAILED,
    PAUSED,
    RESTARTING,
    RUNNING,
    STOPPED,
    UNASSIGNED,
    Departure,
    Status,
    StatusBackingStore,
)
from connect.runtime.worker import Worker
from connect.runtime.worker_config import WorkerConfig
from connect.runtime.worker_task import TargetState

log = logging.getLogger("connect.herder")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def initial_target(initial_state: str | None) -> TargetState:
    """KIP-980 ``initial_state`` of a connector being created -> its target state (None: STARTED)."""
    target = {
        None: TargetState.STARTED,
        "RUNNING": TargetState.STARTED,
        "PAUSED": TargetState.PAUSED,
        "STOPPED": TargetState.STOPPED,
    }.get(initial_state)
    if target is None:
        raise BadRequestError(f"Invalid initial state {initial_state!r}: expected RUNNING, PAUSED or STOPPED")
    return target


def merge_patch(config: Mapping[str, str], patch: Mapping[str, str | None]) -> dict[str, str]:
    """KIP-477: ``config`` with ``patch`` applied (a None value removes the key)."""
    merged = dict(config)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def restart_plan(current: ConnectorStateInfo, include_tasks: bool, only_failed: bool) -> ConnectorStateInfo:
    """The status to answer a restart request with: what will restart shows RESTARTING (Kafka's
    RestartPlan): the connector unless ``only_failed`` and it is not FAILED; with ``include_tasks``,
    every task (only the FAILED ones with ``only_failed``)."""
    conn = current.connector
    if not only_failed or conn.state == FAILED:
        conn = AbstractState(RESTARTING, conn.worker_id)
    tasks = [
        TaskState(RESTARTING, t.worker_id, None, t.id)
        if include_tasks and (not only_failed or t.state == FAILED)
        else t
        for t in current.tasks
    ]
    return ConnectorStateInfo(current.name, conn, tasks, current.type)


PLUGIN_TYPE_ORDER = ("sink", "source", "converter", "header_converter", "transformation", "predicate")


class HerderBase(Herder):
    """See the module docstring. Subclasses implement the connector writes, restarts and
    ``_request_reconfigure`` (a connector asking for new task configs, from the connector's thread)."""

    def __init__(
        self,
        config: WorkerConfig,
        registry: PluginRegistry,
        worker_id: str,
        offset_store: OffsetBackingStore,
        config_store: ConfigBackingStore,
        status_store: StatusBackingStore,
    ) -> None:
        self.registry = registry
        self.offset_store = offset_store
        self.configs = config_store
        self.status = status_store
        # The status listener's state: the group generation statuses are written with (standalone: 0)
        # and the latest progress of this worker's tasks, attached to every status written for them.
        # ``_status_lock`` serializes the listener's writes, so a progress update never reorders with
        # the task's own status changes.
        self.generation = 0
        self._status_lock = threading.Lock()
        self._progress: dict[ConnectorTaskId, dict[str, Any]] = {}
        self.worker = Worker(config, registry, offset_store, worker_id, self, self._request_reconfigure)
        self._cluster_id: str | None = None
        self._cluster_id_retry = 0.0
        self._admin_client: AdminClient | None = None

    @abc.abstractmethod
    def _request_reconfigure(self, connector: str) -> None:
        """Worker callback: ``connector`` asked for new task configs (any thread; hand off)."""

    @property
    def worker_id(self) -> str:
        return self.worker.worker_id

    def kafka_cluster_id(self) -> str:
        if self._cluster_id is None:
            if time.monotonic() < self._cluster_id_retry:
                return ""
            try:
                self._cluster_id = (
                    self._admin().describe_cluster(request_timeout=3).result(3).cluster_id or ""
                )
            except Exception as exc:
                self._cluster_id_retry = time.monotonic() + 30  # do not stall GET / while Kafka is down
                log.warning("cannot read the Kafka cluster id: %s", exc)
                return ""
        return self._cluster_id

    # -- status listener (Kafka's AbstractHerder as ConnectorStatus.Listener and TaskStatus.Listener) --
    #
    # Called by the worker: connector callbacks on the thread starting/stopping the connector (or the one
    # where it raised an error), task callbacks on the task's thread, progress on any thread (at most ~1/s
    # per task); by the herder itself for restarts and deletions. RUNNING, PAUSED, STOPPED and RESTARTING
    # always overwrite; FAILED and UNASSIGNED are safe writes (see StatusBackingStore).

    def _put_connector(self, name: str, state: str, trace: str | None = None, *, safe: bool = False) -> None:
        with self._status_lock:
            self.status.put_connector(name, Status(state, self.worker_id, trace, self.generation), safe=safe)

    def _put_task(
        self, task: ConnectorTaskId, state: str, trace: str | None = None, *, safe: bool = False
    ) -> None:
        """Caller holds ``_status_lock``."""
        status = Status(state, self.worker_id, trace, self.generation, self._progress.get(task))
        self.status.put_task(task, status, safe=safe)

    def on_connector_running(self, connector: str) -> None:
        self._put_connector(connector, RUNNING)

    def on_connector_paused(self, connector: str) -> None:
        self._put_connector(connector, PAUSED)

    def on_connector_stopped(self, connector: str) -> None:
        self._put_connector(connector, STOPPED)

    def on_connector_restart(self, connector: str) -> None:
        self._put_connector(connector, RESTARTING)

    def on_connector_failed(self, connector: str, trace: str) -> None:
        self._put_connector(connector, FAILED, trace, safe=True)

    def on_connector_shutdown(self, connector: str) -> None:
        """UNASSIGNED, unless it failed or was stopped (those states stay visible)."""
        with self._status_lock:
            st = self.status.connector_status(connector)
            if st is not None and st.state not in (FAILED, STOPPED):
                status = Status(UNASSIGNED, self.worker_id, None, self.generation)
                self.status.put_connector(connector, status, safe=True)

    def on_connector_deleted(self, connector: str) -> None:
        """Forget the statuses, progress and active topics of a deleted connector and its tasks."""
        with self._status_lock:
            for t in [t for t in self._progress if t.connector == connector]:
                del self._progress[t]
            self.status.forget_connector(connector)

    def on_task_running(self, task: ConnectorTaskId) -> None:
        with self._status_lock:
            self._put_task(task, RUNNING)

    def on_task_paused(self, task: ConnectorTaskId) -> None:
        with self._status_lock:
            self._put_task(task, PAUSED)

    def on_task_restart(self, task: ConnectorTaskId) -> None:
        with self._status_lock:
            self._put_task(task, RESTARTING)

    def on_task_failed(self, task: ConnectorTaskId, trace: str) -> None:
        """FAILED keeps the last progress; the task's progress entry ends here."""
        with self._status_lock:
            self._put_task(task, FAILED, trace, safe=True)
            self._progress.pop(task, None)

    def on_task_shutdown(self, task: ConnectorTaskId) -> None:
        """UNASSIGNED unless it failed (a FAILED status stays visible); the progress entry ends."""
        with self._status_lock:
            st = self.status.task_status(task)
            if st is not None and st.state != FAILED:
                self._put_task(task, UNASSIGNED, safe=True)
            self._progress.pop(task, None)

    def on_task_deleted(self, task: ConnectorTaskId) -> None:
        with self._status_lock:
            self._progress.pop(task, None)
            self.status.forget_task(task)

    def on_task_progress(self, task: ConnectorTaskId, progress: dict[str, Any] | None) -> None:
        """Remember ``progress`` for the task's next status writes; rewrite its current status with it
        when this worker wrote that status (else it waits for the task's next status)."""
        with self._status_lock:
            if progress is None:
                self._progress.pop(task, None)
            else:
                self._progress[task] = progress
            st = self.status.task_status(task)
            if st is None or st.worker_id != self.worker_id or st.progress == progress:
                return
            self.status.put_task(task, replace(st, progress=progress), safe=True)

    def on_topic_used(self, connector: str, topic: str) -> None:
        self.status.put_topic(connector, topic)

    # -- reads: a config snapshot and the status store --------------------------------------------

    def _snapshot(self) -> ClusterConfigState:
        return self.configs.snapshot()

    def _require(self, name: str, snap: ClusterConfigState | None = None) -> Mapping[str, str]:
        """The stored (unmasked) config of ``name``; NotFoundError if there is no such connector."""
        config = (snap or self._snapshot()).connector_configs.get(name)
        if config is None:
            raise NotFoundError(f"Connector {name} not found")
        return config

    def _require_leader(self) -> None:
        """Raise if this worker may not make cluster-wide writes (distributed: NotLeaderError)."""

    def _exclusive(self) -> AbstractContextManager[object]:
        """Held around read-check-write sequences of the REST methods defined here (standalone: its
        lock; distributed: nothing — the config topic orders the writes)."""
        return nullcontext()

    def connectors(self) -> list[str]:
        return self._snapshot().connectors()

    def _info(self, name: str, config: Mapping[str, str], snap: ClusterConfigState) -> ConnectorInfo:
        return ConnectorInfo(name, self.masked(config), snap.tasks(name), self.connector_type_of(config))

    def connector_info(self, name: str) -> ConnectorInfo:
        snap = self._snapshot()
        return self._info(name, self._require(name, snap), snap)

    def connector_config(self, name: str) -> dict[str, str]:
        return self.masked(self._require(name))

    def patch_connector_config(self, name: str, patch: dict[str, str | None]) -> ConnectorInfo:
        with self._exclusive():
            self._require_leader()
            merged = merge_patch(self._require(name), patch)
            _, info = self.put_connector_config(name, merged, allow_replace=True)
            return info

    def connector_state(self, name: str) -> AbstractState:
        """The connector's status as REST shows it (UNASSIGNED, on this worker, when none is stored)."""
        st = self.status.connector_status(name)
        if st is None:
            return AbstractState(UNASSIGNED, self.worker_id)
        return AbstractState(st.state, st.worker_id, _trace(st))

    def task_states(self, name: str, count: int) -> list[TaskState]:
        """Statuses of tasks 0..count-1 (UNASSIGNED, on this worker, where none is stored)."""
        stored = self.status.task_statuses(name)
        out = []
        for i in range(count):
            st = stored.get(i)
            if st is None:
                out.append(TaskState(UNASSIGNED, self.worker_id, None, i))
            else:
                out.append(TaskState(st.state, st.worker_id, _trace(st), i, st.progress))
        return out

    def _waiting_work(self) -> dict[tuple[str, Departure], list[str]]:
        """Connectors and tasks UNASSIGNED because their worker left the group, by (worker, departure)."""
        snap = self._snapshot()
        out: dict[tuple[str, Departure], list[str]] = {}
        for name in snap.connectors():
            st = self.status.connector_status(name)
            if st is not None and st.state == UNASSIGNED and st.departure is not None:
                out.setdefault((st.worker_id, st.departure), []).append(name)
            tasks = self.status.task_statuses(name)
            for i in range(len(snap.tasks(name))):
                t = tasks.get(i)
                if t is not None and t.state == UNASSIGNED and t.departure is not None:
                    out.setdefault((t.worker_id, t.departure), []).append(f"{name}-{i}")
        return out

    def _state_info(
        self, name: str, config: Mapping[str, str], snap: ClusterConfigState
    ) -> ConnectorStateInfo:
        tasks = self.task_states(name, len(snap.tasks(name)))
        return ConnectorStateInfo(name, self.connector_state(name), tasks, self.connector_type_of(config))

    def connector_status(self, name: str) -> ConnectorStateInfo:
        snap = self._snapshot()
        return self._state_info(name, self._require(name, snap), snap)

    def task_status(self, name: str, task_id: int) -> TaskState:
        snap = self._snapshot()
        self._require(name, snap)
        count = len(snap.tasks(name))
        if not 0 <= task_id < count:
            raise NotFoundError(f"Task {name}-{task_id} not found")
        return self.task_states(name, count)[task_id]

    def task_configs(self, name: str) -> list[TaskInfo]:
        snap = self._snapshot()
        self._require(name, snap)
        return [TaskInfo(t, self.masked(snap.task_configs[t])) for t in snap.tasks(name)]

    def connector_active_topics(self, name: str) -> list[str]:
        self._require(name)
        return self.status.topics(name)

    def reset_connector_active_topics(self, name: str) -> None:
        self._require(name)
        self.status.reset_topics(name)

    # -- offsets API (KIP-875) ---------------------------------------------------------------------

    def connector_offsets(self, name: str) -> ConnectorOffsets:
        return self.read_offsets(name, self._require(name))

    def alter_connector_offsets(self, name: str, offsets: list[dict[str, Any]]) -> str:
        with self._exclusive():
            return self.write_offsets(name, self._require_stopped(name), offsets)

    def reset_connector_offsets(self, name: str) -> str:
        with self._exclusive():
            return self.write_offsets(name, self._require_stopped(name), None)

    def _require_stopped(self, name: str) -> Mapping[str, str]:
        self._require_leader()
        snap = self._snapshot()
        config = self._require(name, snap)
        self.require_stopped_target(name, snap.target_state(name))
        return config

    # -- plugins -----------------------------------------------------------------------------------

    def connector_plugins(self, connectors_only: bool) -> list[PluginInfo]:
        kinds = ("sink", "source") if connectors_only else PLUGIN_TYPE_ORDER
        return [PluginInfo(d.name, d.type, d.version) for d in self.registry.of_type(*kinds)]

    def _plugin(self, plugin: str) -> Any:
        try:
            return self.registry.lookup(plugin)
        except PluginNotFoundError:
            raise NotFoundError(f"Unknown plugin {plugin}.") from None
        except PluginConflictError as exc:
            raise BadRequestError(str(exc)) from None

    def connector_plugin_config(self, plugin: str) -> list[ConfigKeyInfo]:
        """The plugin's own keys; for a connector followed by the framework's keys it does not declare
        itself (Source/SinkConnectorConfig), as Kafka's ``AbstractHerder.connectorPluginConfig``."""
        desc = self._plugin(plugin)
        try:
            definition = ConfigDef(desc.cls().config())
        except Exception as exc:
            raise BadRequestError(f"Cannot read the configuration of {plugin}: {exc}") from None
        if desc.type in ("source", "sink"):
            framework = SINK_CONFIG if desc.type == "sink" else SOURCE_CONFIG
            for key in framework.config_keys().values():
                if key.name not in definition:
                    definition.define_key(key)
        return key_infos(definition)

    def validate_connector_config(self, plugin: str, config: dict[str, str]) -> ConfigInfos:
        desc = self._plugin(plugin)
        if desc.type not in ("source", "sink"):
            raise BadRequestError(f"{plugin} is not a connector plugin")
        given = config.get("connector.class")
        if given is not None:
            try:
                same = self.registry.lookup(given).cls is desc.cls
            except (PluginNotFoundError, PluginConflictError):
                same = False
            if not same:
                raise BadRequestError(
                    "Included connector type " + given + " does not match request type " + plugin
                )
        return validate({**config, "connector.class": desc.name}, self.registry, self.worker.resolve)

    # -- helpers for subclasses ----------------------------------------------------------------------

    def masked(self, config: Mapping[str, str]) -> dict[str, str]:
        return mask_config(config, self.registry)

    def check_config(self, name: str, config: dict[str, str]) -> dict[str, str]:
        """Validate a config to be stored; BadRequestError listing every problem, per field."""
        if not name or not name.strip():
            raise BadRequestError("Connector name must not be empty")
        if config.get("name", name) != name:
            raise BadRequestError(
                f"Connector name configuration ({config['name']}) doesn't match connector name "
                f"in the URL ({name})"
            )
        config = {**config, "name": name}
        infos = validate(config, self.registry, self.worker.resolve)
        if infos.error_count:
            errors = infos.errors_by_field()
            lines = [m for msgs in errors.values() for m in msgs]
            raise BadRequestError(
                f"Connector configuration is invalid and contains the following {len(lines)} error(s):\n"
                + "\n".join(lines)
                + "\nYou can also find the above list of errors at the endpoint "
                "`/connector-plugins/{connectorType}/config/validate`",
                errors=errors,
            )
        return config

    def connector_type_of(self, config: Mapping[str, str]) -> ConnectorType:
        try:
            cls = connector_class(config, self.registry)
        except (PluginNotFoundError, PluginConflictError):
            return "unknown"
        return "sink" if issubclass(cls, SinkConnector) else "source"

    def require_stopped_target(self, name: str, target: TargetState) -> None:
        """KIP-875: offsets may only be altered or reset while the connector is STOPPED."""
        if target != TargetState.STOPPED:
            raise BadRequestError(
                "Connectors must be in the STOPPED state before their offsets can be modified. "
                "This can be done for the specified connector by issuing a 'PUT' request to "
                f"the '/connectors/{name}/stop' endpoint"
            )

    def typed(self, config: Mapping[str, str], key: str) -> Any:
        definition = SINK_CONFIG if self.connector_type_of(config) == "sink" else SOURCE_CONFIG
        return definition.parse({k: v for k, v in config.items() if k in definition})[key]

    # -- offsets (KIP-875) -----------------------------------------------------------------------------

    def _admin(self) -> AdminClient:
        """One AdminClient for the herder's lifetime (a temporary one drops requests in flight)."""
        if self._admin_client is None:
            self._admin_client = AdminClient(clients.admin_config(self.worker.config))
        return self._admin_client

    def read_offsets(self, name: str, config: Mapping[str, str]) -> ConnectorOffsets:
        if self.connector_type_of(config) == "sink":
            group = f"connect-{name}"
            try:
                fut = self._admin().list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
                result = fut[group].result(15)
            except KafkaException as exc:
                raise BadRequestError(
                    f"Failed to read the offsets of consumer group {group}: {exc}"
                ) from None
            return ConnectorOffsets(
                [
                    ConnectorOffset(
                        {"kafka_topic": tp.topic, "kafka_partition": tp.partition},
                        {"kafka_offset": tp.offset},
                    )
                    for tp in sorted(result.topic_partitions or [], key=lambda t: (t.topic, t.partition))
                    if tp.offset >= 0
                ]
            )
        entries = self.offset_store.connector_partitions(name)
        return ConnectorOffsets([ConnectorOffset(p, o) for p, o in entries.values()])

    def write_offsets(
        self, name: str, config: Mapping[str, str], offsets: list[dict[str, Any]] | None
    ) -> str:
        """Alter (``offsets`` given) or reset (None) the offsets of a stopped connector."""
        if self.connector_type_of(config) == "sink":
            return self._write_sink_offsets(name, offsets)
        if offsets is None:
            keys = [k for k in self.offset_store.all() if (parse_key(k) or ("",))[0] == name]
            self.offset_store.set(dict.fromkeys(keys))
            return "The offsets for this connector have been reset successfully"
        values: dict[bytes, bytes | None] = {}
        for entry in offsets:
            partition = entry.get("partition")
            if not isinstance(partition, dict):
                raise BadRequestError("Each offset entry needs a 'partition' object")
            offset = entry.get("offset")
            if offset is not None and not isinstance(offset, dict):
                raise BadRequestError("An 'offset' must be an object or null")
            values[offset_key(name, partition)] = (
                None if offset is None else json.dumps(offset, sort_keys=True, separators=(",", ":")).encode()
            )
        self.offset_store.set(values)
        return "The offsets for this connector have been altered successfully"

    def _write_sink_offsets(self, name: str, offsets: list[dict[str, Any]] | None) -> str:
        group = f"connect-{name}"
        admin = self._admin()
        if offsets is None:
            try:
                admin.delete_consumer_groups([group], request_timeout=15)[group].result(15)
            except KafkaException as exc:
                if "GROUP_ID_NOT_FOUND" not in str(exc):
                    raise BadRequestError(
                        f"Failed to reset the offsets of consumer group {group}: {exc}"
                    ) from None
            return "The offsets for this connector have been reset successfully"
        tps = []
        for entry in offsets:
            part, off = entry.get("partition") or {}, entry.get("offset")
            try:
                topic, partition = str(part["kafka_topic"]), int(part["kafka_partition"])
            except (KeyError, TypeError, ValueError):
                raise BadRequestError("Sink offsets need partition {kafka_topic, kafka_partition}") from None
            if off is None:
                raise BadRequestError(
                    "Resetting single sink partitions (null offset) is not supported; "
                    "use DELETE /connectors/{name}/offsets"
                )
            try:
                tps.append(KafkaTopicPartition(topic, partition, int(off["kafka_offset"])))
            except (KeyError, TypeError, ValueError):
                raise BadRequestError("Sink offsets need offset {kafka_offset}") from None
        try:
            admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)])[group].result(15)
        except KafkaException as exc:
            raise BadRequestError(f"Failed to alter the offsets of consumer group {group}: {exc}") from None
        return "The offsets for this connector have been altered successfully"

    def metrics_text(self) -> str:
        """Prometheus text: connector/task states, per-task record and commit counters, and the numeric
        fields of what tasks reported as their progress (gauges)."""
        out = [
            "# HELP headrace_connect_connector_state 1 for the connector's current state.",
            "# TYPE headrace_connect_connector_state gauge",
        ]
        task_lines = []
        progress: list[tuple[ConnectorTaskId, dict[str, Any] | None]] = []
        for name in self.connectors():
            try:
                status = self.connector_status(name)
            except HerderError:
                continue
            out.append(
                f'headrace_connect_connector_state{{connector="{_label(name)}",type="{status.type}",'
                f'state="{status.connector.state}"}} 1'
            )
            for t in status.tasks:
                task_lines.append(
                    f'headrace_connect_task_state{{connector="{_label(name)}",task="{t.id}",'
                    f'state="{t.state}"}} 1'
                )
                progress.append((ConnectorTaskId(name, t.id), t.progress))
        out += [
            "# HELP headrace_connect_task_state 1 for the task's current state.",
            "# TYPE headrace_connect_task_state gauge",
            *task_lines,
        ]
        counters: dict[str, list[str]] = {}
        for tid, values in self.worker.task_metrics():
            for metric, value in values.items():
                labels = f'connector="{_label(tid.connector)}",task="{tid.task}"'
                counters.setdefault(metric, []).append(f"headrace_connect_task_{metric}{{{labels}}} {value}")
        for metric, lines in sorted(counters.items()):
            out += [f"# TYPE headrace_connect_task_{metric} counter", *lines]
        out += progress_gauges(progress)
        return "\n".join(out) + "\n"

    def health(self) -> tuple[bool, str]:
        reachable, reason = self.worker.cluster_watch.state()
        if reachable is False:
            servers = self.worker.config.bootstrap_servers
            return False, f"Worker cannot reach the Kafka cluster at bootstrap.servers={servers}: {reason}"
        message = "Worker has completed startup and is ready to handle requests."
        waiting = self._waiting_work()
        if waiting:
            # This worker is fine (a 503 would get it restarted or taken out of service, making things
            # worse), but the cluster is degraded: say what waits for whom, as Kafka does not.
            parts = [
                f"{_listed(items)} of worker {worker}, which {_departure_text(departure)}"
                for (worker, departure), items in sorted(waiting.items())
            ]
            message += " The cluster is degraded, work waits to be reassigned: " + "; ".join(parts) + "."
        return True, message


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _departure_text(d: Departure) -> str:
    if time.time() * 1000 < d.reassign_at:
        until = f"waits for it until {_iso(d.reassign_at)}"
    else:
        until = f"is being reassigned (it waited for it until {_iso(d.reassign_at)})"
    return (
        f"left the Connect group at {_iso(d.left_at)}; its work {until} "
        "(scheduled.rebalance.max.delay.ms), then goes to another worker unless it comes back"
    )


def _trace(st: Status) -> str | None:
    """Kafka's ``trace``: the failure's stack trace, and for work whose worker left the group (UNASSIGNED
    with a departure) who had it and when it moves, so every Kafka tool shows why it is not running."""
    if st.trace or st.departure is None or st.state != UNASSIGNED:
        return st.trace
    return f"Worker {st.worker_id} {_departure_text(st.departure)}."


def _listed(items: list[str], most: int = 10) -> str:
    shown = ", ".join(items[:most])
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return f"{len(items)} connector(s)/task(s) ({shown}{more})"
