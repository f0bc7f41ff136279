"""Connectors: plugins that configure and split the work into tasks (Kafka's ``Connector`` family).

A connector does not move data itself: it validates its configuration, decides how many tasks to run
and what each one does (``task_configs``), and watches the source/target for changes that require a
new split (calling ``context.request_task_reconfiguration()``). Connector methods are called by the
runtime on a worker thread dedicated to the connector (never on the REST event loop); ``stop()`` is
called on that same thread.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from connect.api.config import Config, ConfigDef
from connect.api.records import TopicPartition
from connect.api.task import OffsetStorageReader, SinkTask, SourceTask, Task

__all__ = [
    "Connector",
    "ConnectorContext",
    "SinkConnector",
    "SinkConnectorContext",
    "SourceConnector",
    "SourceConnectorContext",
]


class ConnectorContext(abc.ABC):
    """What the runtime offers a connector; implemented by the runtime. Thread-safe."""

    @abc.abstractmethod
    def request_task_reconfiguration(self) -> None:
        """Ask the runtime to call ``task_configs()`` again and restart tasks if the result changed
        (e.g. a table was added). May be called from any thread the connector started."""

    @abc.abstractmethod
    def raise_error(self, exc: BaseException) -> None:
        """Fail the connector with ``exc`` from a background thread (the status shows FAILED and the
        error); the runtime stops the connector."""


class SourceConnectorContext(ConnectorContext):
    """Context of a source connector: also reads committed source offsets."""

    @abc.abstractmethod
    def offset_storage_reader(self) -> OffsetStorageReader: ...


class SinkConnectorContext(ConnectorContext):
    """Context of a sink connector."""


class Connector(abc.ABC):
    """Base of every connector.

    Lifecycle, in order (one connector thread, see the module docstring):

    1. ``__init__()`` without arguments. ``version()``, ``config()`` and ``validate()`` may also be called
       on a fresh, never-started instance (``PUT /connector-plugins/{p}/config/validate``).
    2. ``initialize(context)``.
    3. ``start(props)`` — the connector's configuration (strings, config-provider references resolved).
    4. ``task_class()`` and ``task_configs(max_tasks)`` — now and whenever a reconfiguration is requested.
    5. ``stop()`` — release what ``start`` acquired; the instance is not started again.
    """

    context: ConnectorContext

    def initialize(self, context: ConnectorContext) -> None:
        """Called once by the runtime before :meth:`start`."""
        self.context = context

    @abc.abstractmethod
    def version(self) -> str:
        """The connector's version, shown by ``GET /connector-plugins``."""

    @abc.abstractmethod
    def config(self) -> ConfigDef:
        """The declared configuration keys."""

    def validate(self, configs: Mapping[str, str]) -> Config:
        """Check a configuration before it is used: per-field results, never raises for bad values.

        The default validates against :meth:`config`; override to add cross-field checks (call
        ``super().validate`` and add messages to the relevant ``ConfigValue``).
        """
        return Config(self.config().validate(configs))

    @abc.abstractmethod
    def start(self, props: dict[str, str]) -> None:
        """Start the connector with its configuration."""

    @abc.abstractmethod
    def task_class(self) -> type[Task]:
        """The :class:`Task` subclass this connector runs."""

    @abc.abstractmethod
    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """One configuration per task to run (at most ``max_tasks`` = ``tasks.max``)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the connector and release its resources."""


class SourceConnector(Connector):
    """A connector whose tasks are :class:`~connect.api.task.SourceTask` subclasses."""

    context: SourceConnectorContext  # type: ignore[assignment]

    @abc.abstractmethod
    def task_class(self) -> type[SourceTask]: ...

    def alter_offsets(
        self,
        connector_config: Mapping[str, str],
        offsets: list[tuple[dict[str, Any], dict[str, Any] | None]],
    ) -> bool:
        """Called on ``PATCH``/``DELETE /connectors/{name}/offsets`` while the connector is stopped (KIP-875).

        ``offsets`` holds ``(source_partition, source_offset)`` pairs; an offset of None resets that
        partition. Raise to reject the request (e.g. an offset that makes no sense for this source).
        Return True if the connector handled (validated, or applied externally) the change; the default
        returns False, meaning "no opinion" — the runtime applies the change either way.
        """
        return False


class SinkConnector(Connector):
    """A connector whose tasks are :class:`~connect.api.task.SinkTask` subclasses.

    The runtime reads ``topics`` / ``topics.regex`` from the configuration (``TOPICS_CONFIG``).
    """

    TOPICS_CONFIG = "topics"
    TOPICS_REGEX_CONFIG = "topics.regex"

    context: SinkConnectorContext  # type: ignore[assignment]

    @abc.abstractmethod
    def task_class(self) -> type[SinkTask]: ...

    def alter_offsets(
        self, connector_config: Mapping[str, str], offsets: dict[TopicPartition, int | None]
    ) -> bool:
        """Like :meth:`SourceConnector.alter_offsets` for consumer offsets (None resets a partition).

        Return True if the connector handled the change (e.g. also moved offsets it stores in the target
        system); the default returns False and the runtime alters the consumer group offsets either way.
        """
        return False
