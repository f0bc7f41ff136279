"""An in-memory :class:`Herder` with realistic behaviour, for testing the REST layer without a runtime.

Two fake connector plugins declare their settings with :class:`connect.api.ConfigDef` (so validation,
defaults and secret masking are the real ``ConfigDef`` behaviour): ``FakeSource`` (a ``password`` key)
and ``FakeSink`` (a ``secret=True`` string key). Connectors move through RUNNING / PAUSED / STOPPED /
FAILED as Kafka Connect's do; tasks are generated from ``tasks.max`` (at most 3, as a connector may
choose fewer). Test hooks: :meth:`fail_task`, :meth:`report_progress`, :meth:`fail_connector`,
:meth:`set_offsets`, ``rebalancing`` (writes answer RebalanceInProgressError), ``leader_url`` (writes
answer NotLeaderError pointing there), ``healthy`` and :meth:`raise_on` (make one method raise any
exception).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

from connect.api import (
    NO_DEFAULT,
    ConfigDef,
    ConfigException,
    ConfigKey,
    ConfigType,
    NonEmptyString,
    Password,
    Range,
    ValidString,
)
from connect.runtime.exceptions import (
    AlreadyExistsError,
    BadRequestError,
    NotFoundError,
    NotLeaderError,
    RebalanceInProgressError,
)
from connect.runtime.herder import Herder
from connect.runtime.models import (
    AbstractState,
    ConfigInfo,
    ConfigInfos,
    ConfigKeyInfo,
    ConfigValueInfo,
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

__all__ = ["SINK_CLASS", "SOURCE_CLASS", "FakeHerder", "sink_config", "source_config"]

SOURCE_CLASS = "tests.rest.fake_herder.FakeSourceConnector"
SINK_CLASS = "tests.rest.fake_herder.FakeSinkConnector"
VERSION = "1.2.3"
MAX_TASKS = 3


class ConnectorNameValidator:
    """Kafka's ``NonEmptyStringWithoutControlChars``."""

    def ensure_valid(self, name: str, value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise ConfigException(name, value, "String may not be empty")
        if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
            raise ConfigException(name, value, "String may not contain control sequences")

    def __str__(self) -> str:
        return "non-empty string without ISO control characters"


COMMON = (
    ConfigDef()
    .define(
        "name",
        ConfigType.STRING,
        NO_DEFAULT,
        "high",
        "Globally unique name to use for this connector.",
        validator=ConnectorNameValidator(),
        group="Common",
        width="medium",
        display_name="Connector name",
    )
    .define(
        "connector.class",
        ConfigType.STRING,
        NO_DEFAULT,
        "high",
        "Name or alias of the class for this connector.",
        group="Common",
        width="long",
        display_name="Connector class",
    )
    .define(
        "tasks.max",
        ConfigType.INT,
        1,
        "high",
        "Maximum number of tasks to use for this connector.",
        validator=Range.at_least(1),
        group="Common",
        display_name="Tasks max",
    )
    .define(
        "errors.tolerance",
        ConfigType.STRING,
        "none",
        "medium",
        "Behavior for tolerating errors during connector operation.",
        validator=ValidString.in_("none", "all"),
        group="Error Handling",
    )
)

SOURCE_DEF = (
    ConfigDef(COMMON)
    .define(
        "connection.url",
        ConfigType.STRING,
        NO_DEFAULT,
        "high",
        "URL of the database.",
        validator=NonEmptyString(),
        group="Connection",
    )
    .define("connection.user", ConfigType.STRING, "admin", "high", "Database user.", group="Connection")
    .define(
        "connection.password", ConfigType.PASSWORD, None, "high", "Database password.", group="Connection"
    )
    .define("topic", ConfigType.STRING, NO_DEFAULT, "high", "Topic to write to.", validator=NonEmptyString())
    .define("batch.size", ConfigType.INT, 100, "medium", "Rows per poll.", validator=Range.between(1, 10000))
)

SINK_DEF = (
    ConfigDef(COMMON)
    .define("topics", ConfigType.LIST, NO_DEFAULT, "high", "Topics to read from.", group="Input")
    .define(
        "target.path", ConfigType.STRING, NO_DEFAULT, "high", "Where to write.", validator=NonEmptyString()
    )
    .define("api.secret", ConfigType.STRING, None, "high", "Token for the target system.", secret=True)
    .define("flush.size", ConfigType.INT, 10, "medium", "Records per file.", validator=Range.at_least(1))
)


@dataclass(frozen=True)
class FakePlugin:
    class_name: str
    type: str
    alias: str
    definition: ConfigDef | None = None

    def matches(self, name: str) -> bool:
        simple = self.class_name.rsplit(".", 1)[-1]
        return name in (self.class_name, self.alias, simple)


PLUGINS = [
    FakePlugin(SOURCE_CLASS, "source", "FakeSource", SOURCE_DEF),
    FakePlugin(SINK_CLASS, "sink", "FakeSink", SINK_DEF),
    FakePlugin("tests.rest.fake_herder.UpperCase", "transformation", "UpperCase"),
    FakePlugin("tests.rest.fake_herder.HasHeader", "predicate", "HasHeader"),
    FakePlugin("connect.converters.json.JsonConverter", "converter", "JsonConverter"),
]


def source_config(**overrides: str) -> dict[str, str]:
    """A valid FakeSource config (with a password)."""
    config = {
        "connector.class": "FakeSource",
        "tasks.max": "2",
        "connection.url": "fake://db:5432/app",
        "connection.password": "s3cr3t-pw",
        "topic": "orders",
    }
    config.update(overrides)
    return config


def sink_config(**overrides: str) -> dict[str, str]:
    """A valid FakeSink config (with a secret)."""
    config = {
        "connector.class": "FakeSink",
        "tasks.max": "1",
        "topics": "orders,customers",
        "target.path": "/tmp/out",
        "api.secret": "tok-123",
    }
    config.update(overrides)
    return config


def _to_string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Password):
        return Password.HIDDEN
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _key_info(key: ConfigKey) -> ConfigKeyInfo:
    return ConfigKeyInfo(
        name=key.name,
        type=key.type.name,
        required=key.required,
        default_value=None if key.default_value is None else key.default_string(),
        importance=key.importance.name,
        documentation=key.documentation,
        group=key.group,
        order_in_group=key.order_in_group,
        width=key.width.name,
        display_name=key.display_name,
        dependents=list(key.dependents),
    )


@dataclass
class _Connector:
    name: str
    config: dict[str, str]
    plugin: FakePlugin
    state: str = "RUNNING"  # the connector's state: RUNNING, PAUSED, STOPPED, FAILED
    trace: str | None = None
    tasks: dict[int, TaskState] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)
    offsets: dict[str, ConnectorOffset] = field(default_factory=dict)


class FakeHerder(Herder):
    def __init__(self, worker_id: str = "127.0.0.1:8083") -> None:
        self._worker_id = worker_id
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every connector and test hook (a fresh herder)."""
        with self._lock:
            self._connectors: dict[str, _Connector] = {}
            self._raise_on: dict[str, BaseException] = {}
            self.rebalancing = False
            self.leader_url: str | None = None
            self.healthy = True
            self.calls: list[tuple[str, tuple[Any, ...]]] = []

    # -- test hooks ----------------------------------------------------------------------------------

    def raise_on(self, method: str, exc: BaseException | None) -> None:
        """Make ``method`` raise ``exc`` (None: stop doing so)."""
        if exc is None:
            self._raise_on.pop(method, None)
        else:
            self._raise_on[method] = exc

    def fail_task(self, name: str, task_id: int, trace: str = "java.lang.RuntimeException: boom") -> None:
        with self._lock:
            c = self._get(name)
            c.tasks[task_id] = TaskState("FAILED", self._worker_id, trace, id=task_id)

    def report_progress(self, name: str, task_id: int, progress: dict[str, Any] | None) -> None:
        """What a task's ``context.report_progress`` leads to once published: the task's status shows it."""
        with self._lock:
            c = self._get(name)
            c.tasks[task_id] = dataclasses.replace(c.tasks[task_id], progress=progress)

    def fail_connector(self, name: str, trace: str = "RuntimeException: connector failed") -> None:
        with self._lock:
            c = self._get(name)
            c.state, c.trace = "FAILED", trace

    def set_offsets(self, name: str, offsets: list[ConnectorOffset]) -> None:
        with self._lock:
            c = self._get(name)
            c.offsets = {repr(sorted(o.partition.items())): o for o in offsets}

    def raw_config(self, name: str) -> dict[str, str]:
        """The stored, unmasked config (what the runtime would start the connector with)."""
        with self._lock:
            return dict(self._get(name).config)

    # -- internals -----------------------------------------------------------------------------------

    def _enter(self, method: str, *args: Any, write: bool = False) -> None:
        self.calls.append((method, args))
        exc = self._raise_on.get(method)
        if exc is not None:
            raise exc
        if write and self.rebalancing:
            raise RebalanceInProgressError(
                "Cannot complete request momentarily due to stale configuration "
                "(typically caused by a concurrent config change)"
            )
        if write and self.leader_url is not None:
            raise NotLeaderError(
                "Cannot complete request because this worker is not the leader", self.leader_url
            )

    def _get(self, name: str) -> _Connector:
        c = self._connectors.get(name)
        if c is None:
            raise NotFoundError(f"Connector {name} not found")
        return c

    @staticmethod
    def _plugin(name: str) -> FakePlugin | None:
        return next((p for p in PLUGINS if p.matches(name)), None)

    def _mask(self, c: _Connector) -> dict[str, str]:
        assert c.plugin.definition is not None
        return {k: str(v) for k, v in c.plugin.definition.mask(c.config).items()}

    def _task_state(self, c: _Connector) -> str:
        return "PAUSED" if c.state == "PAUSED" else "RUNNING"

    def _generate_tasks(self, c: _Connector) -> None:
        if c.state == "STOPPED":
            c.tasks = {}
            return
        assert c.plugin.definition is not None
        wanted = min(int(c.plugin.definition.parse(c.config)["tasks.max"]), MAX_TASKS)
        c.tasks = {i: TaskState(self._task_state(c), self._worker_id, id=i) for i in range(wanted)}

    def _type(self, c: _Connector) -> ConnectorType:
        return "source" if c.plugin.type == "source" else "sink"

    def _info(self, c: _Connector) -> ConnectorInfo:
        return ConnectorInfo(
            name=c.name,
            config=self._mask(c),
            tasks=[ConnectorTaskId(c.name, i) for i in sorted(c.tasks)],
            type=self._type(c),
        )

    def _status(self, c: _Connector) -> ConnectorStateInfo:
        return ConnectorStateInfo(
            name=c.name,
            connector=AbstractState(c.state, self._worker_id, c.trace),
            tasks=[c.tasks[i] for i in sorted(c.tasks)],
            type=self._type(c),
        )

    def _validate(self, plugin: FakePlugin, config: dict[str, str]) -> ConfigInfos:
        definition = plugin.definition or ConfigDef()
        keys = definition.config_keys()
        configs: list[ConfigInfo] = []
        for cv in definition.validate(config):
            key = keys[cv.name]
            value = Password.HIDDEN if key.secret and cv.value is not None else _to_string(cv.value)
            configs.append(
                ConfigInfo(
                    _key_info(key),
                    ConfigValueInfo(
                        name=cv.name,
                        value=value,
                        recommended_values=[str(v) for v in cv.recommended_values],
                        errors=list(cv.error_messages),
                        visible=cv.visible,
                    ),
                )
            )
        return ConfigInfos(
            name=plugin.class_name,
            error_count=sum(len(c.value.errors) for c in configs),
            groups=definition.groups(),
            configs=configs,
        )

    # -- Herder --------------------------------------------------------------------------------------

    @property
    def worker_id(self) -> str:
        return self._worker_id

    def kafka_cluster_id(self) -> str:
        self._enter("kafka_cluster_id")
        return "fake-cluster-0001"

    def connectors(self) -> list[str]:
        self._enter("connectors")
        with self._lock:
            return sorted(self._connectors)

    def connector_info(self, name: str) -> ConnectorInfo:
        self._enter("connector_info", name)
        with self._lock:
            return self._info(self._get(name))

    def connector_config(self, name: str) -> dict[str, str]:
        self._enter("connector_config", name)
        with self._lock:
            return self._mask(self._get(name))

    def put_connector_config(
        self, name: str, config: dict[str, str], allow_replace: bool, initial_state: str | None = None
    ) -> tuple[bool, ConnectorInfo]:
        self._enter("put_connector_config", name, allow_replace, write=True)
        with self._lock:
            existing = self._connectors.get(name)
            if existing is not None and not allow_replace:
                raise AlreadyExistsError(f"Connector {name} already exists")
            class_name = config.get("connector.class")
            if not class_name:
                raise BadRequestError("Connector config contains no connector type")
            plugin = self._plugin(class_name)
            if plugin is None or plugin.definition is None:
                available = ", ".join(p.class_name for p in PLUGINS if p.definition is not None)
                raise BadRequestError(
                    f"Failed to find any class that implements Connector and which name matches "
                    f"{class_name}, available connectors are: {available}"
                )
            infos = self._validate(plugin, config)
            if infos.error_count:
                lines = [e for c in infos.configs for e in c.value.errors]
                raise BadRequestError(
                    f"Connector configuration is invalid and contains the following {len(lines)} error(s):\n"
                    + "\n".join(lines)
                    + "\nYou can also find the above list of errors at the endpoint "
                    "`/connector-plugins/{connectorType}/config/validate`"
                )
            c = _Connector(name, dict(config), plugin)
            if existing is None and initial_state in ("PAUSED", "STOPPED"):
                c.state = initial_state
            if existing is not None:
                c.state = existing.state if existing.state != "FAILED" else "RUNNING"
                c.offsets = existing.offsets
                c.topics = existing.topics
            self._generate_tasks(c)
            if c.state == "RUNNING":
                parsed = plugin.definition.parse(config)
                used = [parsed["topic"]] if "topic" in parsed else list(parsed.get("topics") or [])
                c.topics = sorted(set(c.topics) | set(used))
            self._connectors[name] = c
            return existing is None, self._info(c)

    def patch_connector_config(self, name: str, patch: dict[str, str | None]) -> ConnectorInfo:
        with self._lock:
            merged = dict(self._get(name).config)
            for key, value in patch.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
        return self.put_connector_config(name, merged, allow_replace=True)[1]

    def delete_connector(self, name: str) -> None:
        self._enter("delete_connector", name, write=True)
        with self._lock:
            self._get(name)
            del self._connectors[name]

    def connector_status(self, name: str) -> ConnectorStateInfo:
        self._enter("connector_status", name)
        with self._lock:
            return self._status(self._get(name))

    def task_status(self, name: str, task_id: int) -> TaskState:
        self._enter("task_status", name, task_id)
        with self._lock:
            state = self._get(name).tasks.get(task_id)
            if state is None:
                raise NotFoundError(f"No status found for task {name}-{task_id}")
            return state

    def task_configs(self, name: str) -> list[TaskInfo]:
        self._enter("task_configs", name)
        with self._lock:
            c = self._get(name)
            base = self._mask(c)
            return [
                TaskInfo(ConnectorTaskId(name, i), {**base, "task.class": c.plugin.class_name + "Task"})
                for i in sorted(c.tasks)
            ]

    def _set_target(self, name: str, state: str) -> None:
        with self._lock:
            c = self._get(name)
            was_stopped = c.state == "STOPPED"
            c.state, c.trace = state, None
            if state == "STOPPED" or was_stopped:
                self._generate_tasks(c)
            else:
                for i, t in c.tasks.items():
                    if t.state != "FAILED":
                        c.tasks[i] = TaskState(self._task_state(c), self._worker_id, id=i)

    def pause_connector(self, name: str) -> None:
        self._enter("pause_connector", name, write=True)
        self._set_target(name, "PAUSED")

    def resume_connector(self, name: str) -> None:
        self._enter("resume_connector", name, write=True)
        self._set_target(name, "RUNNING")

    def stop_connector(self, name: str) -> None:
        self._enter("stop_connector", name, write=True)
        self._set_target(name, "STOPPED")

    def restart_connector(
        self, name: str, include_tasks: bool, only_failed: bool
    ) -> ConnectorStateInfo | None:
        self._enter("restart_connector", name, include_tasks, only_failed, write=True)
        with self._lock:
            c = self._get(name)
            target = "PAUSED" if c.state == "PAUSED" else "RUNNING"
            if not include_tasks and not only_failed:
                if c.state == "FAILED":
                    c.state, c.trace = "RUNNING", None
                return None
            if c.state == "STOPPED":
                return self._status(c)
            restart_connector = not only_failed or c.state == "FAILED"
            restart_tasks = [
                i for i, t in c.tasks.items() if include_tasks and (not only_failed or t.state == "FAILED")
            ]
            answer = ConnectorStateInfo(
                name=c.name,
                connector=AbstractState(
                    "RESTARTING" if restart_connector else c.state,
                    self._worker_id,
                    None if restart_connector else c.trace,
                ),
                tasks=[
                    TaskState("RESTARTING", self._worker_id, id=i) if i in restart_tasks else c.tasks[i]
                    for i in sorted(c.tasks)
                ],
                type=self._type(c),
            )
            if restart_connector:
                c.state, c.trace = target, None
            for i in restart_tasks:
                c.tasks[i] = TaskState(target, self._worker_id, id=i)
            return answer

    def restart_task(self, name: str, task_id: int) -> None:
        self._enter("restart_task", name, task_id, write=True)
        with self._lock:
            c = self._get(name)
            if task_id not in c.tasks:
                raise NotFoundError(f"Task {name}-{task_id} not found")
            c.tasks[task_id] = TaskState(self._task_state(c), self._worker_id, id=task_id)

    def connector_active_topics(self, name: str) -> list[str]:
        self._enter("connector_active_topics", name)
        with self._lock:
            return list(self._get(name).topics)

    def reset_connector_active_topics(self, name: str) -> None:
        self._enter("reset_connector_active_topics", name, write=True)
        with self._lock:
            self._get(name).topics = []

    def connector_offsets(self, name: str) -> ConnectorOffsets:
        self._enter("connector_offsets", name)
        with self._lock:
            return ConnectorOffsets(list(self._get(name).offsets.values()))

    def _require_stopped(self, c: _Connector) -> None:
        if c.state != "STOPPED":
            raise BadRequestError(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be "
                "done for the specified connector by issuing a 'PUT' request to the "
                f"'/connectors/{c.name}/stop' endpoint"
            )

    def alter_connector_offsets(self, name: str, offsets: list[dict[str, Any]]) -> str:
        self._enter("alter_connector_offsets", name, write=True)
        with self._lock:
            c = self._get(name)
            self._require_stopped(c)
            parsed: list[ConnectorOffset] = []
            for entry in offsets:
                partition, offset = entry.get("partition"), entry.get("offset")
                if not isinstance(partition, dict) or not partition:
                    raise BadRequestError("Partitions must be non-empty JSON objects")
                if offset is not None and not isinstance(offset, dict):
                    raise BadRequestError("Offsets must be JSON objects or null")
                if c.plugin.type == "sink":
                    if not {"kafka_topic", "kafka_partition"} <= partition.keys():
                        raise BadRequestError(
                            "Sink connector partitions need the keys 'kafka_topic' and 'kafka_partition'"
                        )
                    if offset is not None and "kafka_offset" not in offset:
                        raise BadRequestError("Sink connector offsets need the key 'kafka_offset'")
                parsed.append(ConnectorOffset(dict(partition), None if offset is None else dict(offset)))
            for o in parsed:
                key = repr(sorted(o.partition.items()))
                if o.offset is None:
                    c.offsets.pop(key, None)
                else:
                    c.offsets[key] = o
            return "The offsets for this connector have been altered successfully"

    def reset_connector_offsets(self, name: str) -> str:
        self._enter("reset_connector_offsets", name, write=True)
        with self._lock:
            c = self._get(name)
            self._require_stopped(c)
            c.offsets = {}
            return "The offsets for this connector have been reset successfully"

    def connector_plugins(self, connectors_only: bool) -> list[PluginInfo]:
        self._enter("connector_plugins", connectors_only)
        return [
            PluginInfo(p.class_name, p.type, VERSION)
            for p in PLUGINS
            if not connectors_only or p.type in ("source", "sink")
        ]

    def connector_plugin_config(self, plugin: str) -> list[ConfigKeyInfo]:
        self._enter("connector_plugin_config", plugin)
        found = self._plugin(plugin)
        if found is None:
            raise NotFoundError(f"Unknown plugin {plugin}.")
        if found.definition is None:
            return []
        return [_key_info(k) for k in found.definition.config_keys().values()]

    def validate_connector_config(self, plugin: str, config: dict[str, str]) -> ConfigInfos:
        self._enter("validate_connector_config", plugin)
        found = self._plugin(plugin)
        if found is None or found.definition is None:
            raise NotFoundError(f"Unknown connector plugin {plugin}.")
        included = config.get("connector.class")
        if included is not None and self._plugin(included) is not found:
            raise BadRequestError(f"Included connector type {included} does not match request type {plugin}")
        return self._validate(found, config)

    def health(self) -> tuple[bool, str]:
        self._enter("health")
        if self.healthy:
            return True, "Worker has completed startup and is ready to handle requests."
        return False, "Worker is unable to handle requests: the herder thread is stuck."

    def metrics_text(self) -> str:
        self._enter("metrics_text")
        with self._lock:
            running = sum(1 for c in self._connectors.values() if c.state == "RUNNING")
            return (
                "# HELP headrace_connectors Number of connectors on this worker.\n"
                "# TYPE headrace_connectors gauge\n"
                f"headrace_connectors {len(self._connectors)}\n"
                "# HELP headrace_connectors_running Connectors in state RUNNING.\n"
                "# TYPE headrace_connectors_running gauge\n"
                f"headrace_connectors_running {running}\n"
            )
