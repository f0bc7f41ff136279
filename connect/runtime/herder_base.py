"""What standalone and distributed herders share: plugin listings, validation, masking, offsets
reading/altering helpers and health. Subclasses provide storage of configs and the decisions about
where connectors and tasks run."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient

from connect.api.config import ConfigDef
from connect.api.connector import SinkConnector
from connect.runtime import clients
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
    ConnectorOffset,
    ConnectorOffsets,
    ConnectorStateInfo,
    ConnectorTaskId,
    ConnectorType,
    PluginInfo,
    TaskState,
)
from connect.runtime.offsets import OffsetBackingStore, offset_key, parse_key
from connect.runtime.plugins import PluginConflictError, PluginNotFoundError, PluginRegistry
from connect.runtime.progress import progress_gauges
from connect.runtime.status import FAILED, RESTARTING
from connect.runtime.worker import Worker
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
    def __init__(self, worker: Worker, registry: PluginRegistry, offset_store: OffsetBackingStore) -> None:
        self.worker = worker
        self.registry = registry
        self.offset_store = offset_store
        self._cluster_id: str | None = None
        self._cluster_id_retry = 0.0
        self._admin_client: AdminClient | None = None

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
        return validate({**config, "connector.class": desc.name}, self.registry)

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
        infos = validate(config, self.registry)
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
        return True, "Worker has completed startup and is ready to handle requests."
