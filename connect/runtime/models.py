"""Data shapes exchanged between the herder and the REST layer (Kafka Connect's REST entities).

Every class has ``to_json()`` producing exactly the JSON Kafka Connect's REST API returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ConnectorType = Literal["source", "sink", "unknown"]


@dataclass(frozen=True)
class ConnectorTaskId:
    connector: str
    task: int

    def to_json(self) -> dict[str, Any]:
        return {"connector": self.connector, "task": self.task}

    def __str__(self) -> str:
        return f"{self.connector}-{self.task}"


@dataclass
class ConnectorInfo:
    name: str
    config: dict[str, str]
    tasks: list[ConnectorTaskId]
    type: ConnectorType

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "config": dict(self.config),
            "tasks": [t.to_json() for t in self.tasks],
            "type": self.type,
        }


@dataclass
class TaskInfo:
    id: ConnectorTaskId
    config: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id.to_json(), "config": dict(self.config)}


@dataclass
class AbstractState:
    state: str  # UNASSIGNED, RUNNING, PAUSED, STOPPED, FAILED, RESTARTING
    worker_id: str
    trace: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``trace`` is left out unless non-empty (Kafka's ``@JsonInclude(NON_EMPTY)``)."""
        out: dict[str, Any] = {"state": self.state, "worker_id": self.worker_id}
        if self.trace:
            out["trace"] = self.trace
        return out


@dataclass
class TaskState(AbstractState):
    id: int = 0
    progress: dict[str, Any] | None = None  # what the task last reported (TaskContext.report_progress)

    def to_json(self) -> dict[str, Any]:
        """Kafka's shape, plus ``"progress"`` only for a task that reported some."""
        out = {"id": self.id, **super().to_json()}
        if self.progress is not None:
            out["progress"] = self.progress
        return out


@dataclass
class ConnectorStateInfo:
    name: str
    connector: AbstractState
    tasks: list[TaskState]
    type: ConnectorType

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "connector": self.connector.to_json(),
            "tasks": [t.to_json() for t in self.tasks],
            "type": self.type,
        }


@dataclass
class ConfigKeyInfo:
    """One entry of ``GET /connector-plugins/{p}/config`` and of a validation result's ``definition``.

    Serialized as Kafka's Jackson does: ``order_in_group`` is written ``"order"`` (its getter is
    ``@JsonProperty("order")``) and, not being a creator property of that name, comes last."""

    name: str
    type: str
    required: bool
    default_value: str | None
    importance: str
    documentation: str
    group: str | None
    order_in_group: int
    width: str
    display_name: str
    dependents: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default_value": self.default_value,
            "importance": self.importance,
            "documentation": self.documentation,
            "group": self.group,
            "width": self.width,
            "display_name": self.display_name,
            "dependents": list(self.dependents),
            "order": self.order_in_group,
        }


@dataclass
class ConfigValueInfo:
    name: str
    value: str | None
    recommended_values: list[str]
    errors: list[str]
    visible: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "recommended_values": list(self.recommended_values),
            "errors": list(self.errors),
            "visible": self.visible,
        }


@dataclass
class ConfigInfo:
    definition: ConfigKeyInfo | None
    value: ConfigValueInfo

    def to_json(self) -> dict[str, Any]:
        return {
            "definition": self.definition.to_json() if self.definition else None,
            "value": self.value.to_json(),
        }


@dataclass
class ConfigInfos:
    """The body of ``PUT /connector-plugins/{p}/config/validate``. Secret values are already masked."""

    name: str
    error_count: int
    groups: list[str]
    configs: list[ConfigInfo]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "error_count": self.error_count,
            "groups": list(self.groups),
            "configs": [c.to_json() for c in self.configs],
        }

    def errors_by_field(self) -> dict[str, list[str]]:
        return {c.value.name: list(c.value.errors) for c in self.configs if c.value.errors}


UNDEFINED_VERSION = "undefined"


@dataclass
class PluginInfo:
    class_name: str
    type: str  # source, sink, transformation, predicate, converter, header_converter
    version: str

    def to_json(self) -> dict[str, Any]:
        """``version`` is left out for a plugin without one (Kafka's ``NoVersionFilter``)."""
        out = {"class": self.class_name, "type": self.type}
        if self.version and self.version != UNDEFINED_VERSION:
            out["version"] = self.version
        return out


@dataclass
class ConnectorOffset:
    partition: dict[str, Any]
    offset: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {"partition": dict(self.partition), "offset": self.offset}


@dataclass
class ConnectorOffsets:
    offsets: list[ConnectorOffset] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"offsets": [o.to_json() for o in self.offsets]}
