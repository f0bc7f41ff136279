"""Pydantic models of the REST entities, for request parsing and the published OpenAPI document.

Response bodies are produced by the ``to_json()`` methods of :mod:`connect.runtime.models` (the single
source of truth for the JSON shapes); the response models here mirror them so that ``/openapi.json``
describes exactly what is sent, and the conformance tests check one against the other.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

__all__ = [
    "AbstractStateModel",
    "ActiveTopicsModel",
    "ConfigInfoModel",
    "ConfigInfosModel",
    "ConfigKeyInfoModel",
    "ConfigString",
    "ConfigValueInfoModel",
    "ConnectorConfigBody",
    "ConnectorConfigPatch",
    "ConnectorExpansionModel",
    "ConnectorInfoModel",
    "ConnectorOffsetModel",
    "ConnectorOffsetsModel",
    "ConnectorStateInfoModel",
    "ConnectorTaskIdModel",
    "CreateConnectorRequest",
    "ErrorMessage",
    "HealthModel",
    "LoggerLevelModel",
    "LoggerLevelRequest",
    "MessageModel",
    "PluginInfoModel",
    "ServerInfoModel",
    "TaskInfoModel",
    "TaskStateModel",
]

ConnectorType = Literal["source", "sink", "unknown"]


def _config_string(value: Any) -> Any:
    """Connector config values are strings; JSON numbers and booleans are accepted and turned into the
    strings Kafka Connect's Jackson mapper would make of them (``1`` -> ``"1"``, ``true`` -> ``"true"``).
    Anything else (null, objects, arrays) is rejected with a message that never repeats the value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ValueError("config values must be strings (numbers and booleans are accepted as strings)")


_SCALAR_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}
ConfigString = Annotated[
    str, BeforeValidator(_config_string), WithJsonSchema(_SCALAR_SCHEMA, mode="validation")
]
"""A connector config value as accepted in requests (always a ``str`` once parsed)."""


def _upper_if_str(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- errors and simple messages -----------------------------------------------------------------------


class ErrorMessage(_Model):
    """Every error response (Kafka's ``ErrorMessage``): the HTTP status and a message, nothing else."""

    error_code: int
    message: str


class MessageModel(_Model):
    message: str


class ServerInfoModel(_Model):
    version: str
    commit: str
    kafka_cluster_id: str


class HealthModel(_Model):
    status: str
    message: str


# --- connectors ---------------------------------------------------------------------------------------


class ConnectorTaskIdModel(_Model):
    connector: str
    task: int


class ConnectorInfoModel(_Model):
    name: str
    config: dict[str, str]
    tasks: list[ConnectorTaskIdModel]
    type: ConnectorType


class TaskInfoModel(_Model):
    id: ConnectorTaskIdModel
    config: dict[str, str]


class AbstractStateModel(_Model):
    state: str
    worker_id: str
    trace: str | SkipJsonSchema[None] = Field(
        default=None, description="Present only when the connector or task failed."
    )


class TaskStateModel(AbstractStateModel):
    id: int
    progress: dict[str, Any] | SkipJsonSchema[None] = Field(
        default=None,
        description="Present only when the task reported its progress (TaskContext.report_progress): "
        'the latest value, a small JSON object such as {"phase": "snapshot", "rows_done": 1200}.',
    )


class ConnectorStateInfoModel(_Model):
    name: str
    connector: AbstractStateModel
    tasks: list[TaskStateModel]
    type: ConnectorType


class ConnectorExpansionModel(_Model):
    """One connector of ``GET /connectors?expand=...``: only the requested expansions are present."""

    status: ConnectorStateInfoModel | SkipJsonSchema[None] = None
    info: ConnectorInfoModel | SkipJsonSchema[None] = None


class ActiveTopicsEntry(_Model):
    topics: list[str]


class ActiveTopicsModel(RootModel[dict[str, ActiveTopicsEntry]]):
    """``{connector name: {"topics": [...]}}``."""


class ConnectorOffsetModel(_Model):
    partition: dict[str, Any]
    offset: dict[str, Any] | None


class ConnectorOffsetsModel(_Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"offsets": [{"partition": {"filename": "/tmp/test.txt"}, "offset": {"position": 30}}]}
            ]
        }
    )

    offsets: list[ConnectorOffsetModel]


# --- plugins ------------------------------------------------------------------------------------------


class PluginInfoModel(_Model):
    class_name: str = Field(alias="class")
    type: str
    version: str | SkipJsonSchema[None] = Field(
        default=None, description="Absent for a plugin that declares no version."
    )


class ConfigKeyInfoModel(_Model):
    name: str
    type: str
    required: bool
    default_value: str | None
    importance: str
    documentation: str
    group: str | None
    width: str
    display_name: str
    dependents: list[str]
    order: int = Field(description="Position of the key in its group (Kafka's orderInGroup).")


class ConfigValueInfoModel(_Model):
    name: str
    value: str | None
    recommended_values: list[str]
    errors: list[str]
    visible: bool


class ConfigInfoModel(_Model):
    definition: ConfigKeyInfoModel | None
    value: ConfigValueInfoModel


class ConfigInfosModel(_Model):
    name: str
    error_count: int
    groups: list[str]
    configs: list[ConfigInfoModel]


# --- loggers ------------------------------------------------------------------------------------------


class LoggerLevelModel(_Model):
    level: str | None
    last_modified: int | None = Field(
        description="When the level was last set through this API (ms since the epoch), else null."
    )


# --- requests -----------------------------------------------------------------------------------------


class CreateConnectorRequest(_Model):
    """Body of ``POST /connectors``."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "name": "local-file-source",
                    "config": {
                        "connector.class": "FileStreamSource",
                        "tasks.max": "1",
                        "file": "/tmp/test.txt",
                        "topic": "connect-test",
                    },
                }
            ]
        },
    )

    name: str
    config: dict[str, ConfigString]
    initial_state: Annotated[
        Literal["RUNNING", "PAUSED", "STOPPED"] | None, BeforeValidator(_upper_if_str)
    ] = Field(default=None, description="KIP-980: the state the new connector starts in (default RUNNING).")


class ConnectorConfigPatch(RootModel[dict[str, ConfigString | None]]):
    """Body of ``PATCH /connectors/{name}/config`` (KIP-477): keys to set; a null value removes the key."""


class ConnectorConfigBody(RootModel[dict[str, ConfigString]]):
    """A connector configuration: string values by key."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "connector.class": "FileStreamSink",
                    "tasks.max": "1",
                    "file": "/tmp/test.sink.txt",
                    "topics": "connect-test",
                }
            ]
        }
    )


class LoggerLevelRequest(_Model):
    """Body of ``PUT /admin/loggers/{logger}``: TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF or ALL."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"level": "DEBUG"}]})

    level: str
