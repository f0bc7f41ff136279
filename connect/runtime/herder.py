"""The Herder: the control plane of a worker (Kafka Connect's ``Herder``).

The REST layer (``rest/``) is a thin adapter over this interface. Contract for implementers:

- every method is thread-safe and may block (it is called from the REST server's worker threads,
  never on its event loop);
- methods raise :class:`~connect.runtime.exceptions.HerderError` subclasses carrying the HTTP
  status (404 unknown connector or task, 409 exists / rebalance in progress, 400 invalid input);
- configs returned to callers are *masked*: values of secret keys (``ConfigDef`` secret / PASSWORD,
  of the connector and of its transforms, converters and predicates) read ``[hidden]``;
- connector configs passed in are raw strings and may contain config-provider references such as
  ``${env:PASSWORD}``; they are stored unresolved and resolved only when a connector starts.
"""

from __future__ import annotations

import abc
from typing import Any

from connect.runtime.models import (
    ConfigInfos,
    ConfigKeyInfo,
    ConnectorInfo,
    ConnectorOffsets,
    ConnectorStateInfo,
    PluginInfo,
    TaskInfo,
    TaskState,
)


class Herder(abc.ABC):
    @property
    @abc.abstractmethod
    def worker_id(self) -> str:
        """``host:port`` of this worker's REST endpoint, as shown in status ``worker_id``."""

    @abc.abstractmethod
    def kafka_cluster_id(self) -> str: ...

    # -- connectors ------------------------------------------------------------------------------

    @abc.abstractmethod
    def connectors(self) -> list[str]:
        """Names of all connectors, sorted."""

    @abc.abstractmethod
    def connector_info(self, name: str) -> ConnectorInfo: ...

    @abc.abstractmethod
    def connector_config(self, name: str) -> dict[str, str]: ...

    @abc.abstractmethod
    def put_connector_config(
        self, name: str, config: dict[str, str], allow_replace: bool, initial_state: str | None = None
    ) -> tuple[bool, ConnectorInfo]:
        """Create or update a connector. Returns (created, info).

        Raises AlreadyExistsError when it exists and ``allow_replace`` is false (POST /connectors) and
        BadRequestError with ``errors`` (field -> messages) and ``validation`` (ConfigInfos JSON) in its
        body when the config is invalid; nothing is changed then. ``initial_state`` (KIP-980: RUNNING,
        PAUSED or STOPPED) applies to a connector being created: it never runs when created PAUSED/STOPPED.
        """

    @abc.abstractmethod
    def patch_connector_config(self, name: str, patch: dict[str, str | None]) -> ConnectorInfo:
        """KIP-477: merge ``patch`` into the stored (unmasked) config — a None value removes the key —
        validate the result and apply it. NotFoundError / BadRequestError as for a PUT."""

    @abc.abstractmethod
    def delete_connector(self, name: str) -> None: ...

    @abc.abstractmethod
    def connector_status(self, name: str) -> ConnectorStateInfo: ...

    @abc.abstractmethod
    def task_status(self, name: str, task_id: int) -> TaskState: ...

    @abc.abstractmethod
    def task_configs(self, name: str) -> list[TaskInfo]: ...

    @abc.abstractmethod
    def pause_connector(self, name: str) -> None: ...

    @abc.abstractmethod
    def resume_connector(self, name: str) -> None: ...

    @abc.abstractmethod
    def stop_connector(self, name: str) -> None:
        """KIP-875: stop the connector and its tasks, keep its config (state STOPPED)."""

    @abc.abstractmethod
    def restart_connector(
        self, name: str, include_tasks: bool, only_failed: bool
    ) -> ConnectorStateInfo | None:
        """Restart; returns the status to answer 202 with when tasks are involved, None for a plain
        connector restart (answered 204), as Kafka Connect does."""

    @abc.abstractmethod
    def restart_task(self, name: str, task_id: int) -> None: ...

    @abc.abstractmethod
    def connector_active_topics(self, name: str) -> list[str]: ...

    @abc.abstractmethod
    def reset_connector_active_topics(self, name: str) -> None: ...

    # -- offsets (KIP-875) ---------------------------------------------------------------------------

    @abc.abstractmethod
    def connector_offsets(self, name: str) -> ConnectorOffsets: ...

    @abc.abstractmethod
    def alter_connector_offsets(self, name: str, offsets: list[dict[str, Any]]) -> str:
        """PATCH /offsets on a STOPPED connector; returns the success message. BadRequestError otherwise."""

    @abc.abstractmethod
    def reset_connector_offsets(self, name: str) -> str:
        """DELETE /offsets on a STOPPED connector; returns the success message."""

    # -- plugins ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def connector_plugins(self, connectors_only: bool) -> list[PluginInfo]: ...

    @abc.abstractmethod
    def connector_plugin_config(self, plugin: str) -> list[ConfigKeyInfo]: ...

    @abc.abstractmethod
    def validate_connector_config(self, plugin: str, config: dict[str, str]) -> ConfigInfos:
        """Validate ``config`` for ``plugin`` (name or alias); raises NotFoundError for an unknown plugin
        and BadRequestError when ``config['connector.class']`` names a different plugin."""

    # -- health ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def health(self) -> tuple[bool, str]:
        """(healthy, message) for GET /health."""

    def metrics_text(self) -> str:
        """Prometheus exposition text for GET /metrics (empty by default)."""
        return ""
