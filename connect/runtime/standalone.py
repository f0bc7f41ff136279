"""StandaloneHerder: one worker runs every connector; configs in a
:class:`~connect.runtime.config_store.ConfigBackingStore` (memory, or the ``config.storage.file.filename``
file), statuses in memory, source offsets in a file (``offset.storage.file.filename``).

All control-plane writes take one lock and act at once (start, stop, re-target the work) after writing
the config store; reads are answered by :class:`HerderBase` from a config snapshot and the status store.
Task threads never take the lock (they report through the herder's status listener).
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager

from connect.runtime.config_store import ConfigBackingStore, MemoryConfigBackingStore
from connect.runtime.exceptions import AlreadyExistsError, NotFoundError
from connect.runtime.herder_base import HerderBase, initial_target
from connect.runtime.models import ConnectorInfo, ConnectorStateInfo, ConnectorTaskId
from connect.runtime.offsets import OffsetBackingStore
from connect.runtime.plugins import PluginRegistry
from connect.runtime.status_store import FAILED, MemoryStatusBackingStore
from connect.runtime.worker_config import WorkerConfig
from connect.runtime.worker_task import TargetState

log = logging.getLogger("connect.herder")


class StandaloneHerder(HerderBase):
    def __init__(
        self,
        config: WorkerConfig,
        registry: PluginRegistry,
        offset_store: OffsetBackingStore,
        worker_id: str,
        config_store: ConfigBackingStore | None = None,
    ) -> None:
        config_store = config_store or MemoryConfigBackingStore()
        super().__init__(config, registry, worker_id, offset_store, config_store, MemoryStatusBackingStore())
        self._lock = threading.RLock()

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.worker.start()
        self.status.start()
        self.configs.start()
        with self._lock:
            for name in self._snapshot().connectors():
                self._start_connector(name)

    def stop(self) -> None:
        with self._lock:
            self.worker.stop()
        self.configs.stop()
        self.status.stop()

    def _exclusive(self) -> AbstractContextManager[object]:
        return self._lock

    # -- internals -----------------------------------------------------------------------------------

    def _start_connector(self, name: str) -> None:
        snap = self._snapshot()
        target = snap.target_state(name)
        if not self.worker.start_connector(name, self._require(name, snap), target) or (
            target == TargetState.STOPPED
        ):
            self.configs.put_task_configs(name, [])
            return
        self._update_tasks(name)

    def _update_tasks(self, name: str) -> None:
        snap = self._snapshot()
        config = self._require(name, snap)
        try:
            max_tasks = int(self.typed(config, "tasks.max"))
            task_configs = self.worker.connector_task_configs(name, max_tasks)
        except Exception as exc:
            self.worker.fail_connector(name, exc)
            return
        self.configs.put_task_configs(name, task_configs)
        for i, tc in enumerate(task_configs):
            self.worker.start_task(ConnectorTaskId(name, i), config, tc, snap.target_state(name))

    def _stop_connector(self, name: str) -> None:
        ids = [t for t in self.worker.task_ids() if t.connector == name]
        self.worker.stop_and_await_tasks(ids)
        self.worker.stop_connector(name)

    def _request_reconfigure(self, connector: str) -> None:
        def run() -> None:
            with self._lock:
                snap = self._snapshot()
                if not snap.contains(connector) or snap.target_state(connector) != TargetState.STARTED:
                    return
                ids = [t for t in self.worker.task_ids() if t.connector == connector]
                self.worker.stop_and_await_tasks(ids)
                for t in ids:
                    self.on_task_deleted(t)
                self._update_tasks(connector)

        threading.Thread(target=run, name=f"reconfigure-{connector}", daemon=True).start()

    # -- Herder: connector writes ------------------------------------------------------------------

    def put_connector_config(
        self, name: str, config: dict[str, str], allow_replace: bool, initial_state: str | None = None
    ) -> tuple[bool, ConnectorInfo]:
        initial = initial_target(initial_state)
        with self._lock:
            exists = self._snapshot().contains(name)
            if exists and not allow_replace:
                raise AlreadyExistsError(f"Connector {name} already exists")
            config = self.check_config(name, config)
            if exists:
                self._stop_connector(name)
                self.on_connector_deleted(name)
            self.configs.put_connector_config(name, config, None if exists else initial)
            log.info("%s connector %s", "Updated" if exists else "Created", name)
            self._start_connector(name)
            return not exists, self.connector_info(name)

    def delete_connector(self, name: str) -> None:
        with self._lock:
            self._require(name)
            self._stop_connector(name)
            self.configs.remove_connector_config(name)
            self.on_connector_deleted(name)
            log.info("Deleted connector %s", name)

    def _set_target(self, name: str, target: TargetState) -> None:
        snap = self._snapshot()
        self._require(name, snap)
        previous = snap.target_state(name)
        if previous == target:
            return
        if target == TargetState.STOPPED:  # Kafka's order: no task configs, then the STOPPED target
            self._stop_connector(name)
            for t in snap.tasks(name):
                self.on_task_deleted(t)
            self.configs.put_task_configs(name, [])
            self.configs.put_target_state(name, target)
            self.on_connector_stopped(name)
        else:
            self.configs.put_target_state(name, target)
            if previous == TargetState.STOPPED:
                self.worker.stop_connector(name)
                self._start_connector(name)
            else:
                self.worker.set_connector_target(name, target)
        log.info("Connector %s target state %s -> %s", name, previous.value, target.value)

    def pause_connector(self, name: str) -> None:
        with self._lock:
            self._set_target(name, TargetState.PAUSED)

    def resume_connector(self, name: str) -> None:
        with self._lock:
            self._set_target(name, TargetState.STARTED)

    def stop_connector(self, name: str) -> None:
        with self._lock:
            self._set_target(name, TargetState.STOPPED)

    def restart_connector(
        self, name: str, include_tasks: bool, only_failed: bool
    ) -> ConnectorStateInfo | None:
        with self._lock:
            snap = self._snapshot()
            config = self._require(name, snap)
            restart_conn = not only_failed or self.connector_state(name).state == FAILED
            restart_tasks = [
                t.id
                for t in self.task_states(name, len(snap.tasks(name)))
                if include_tasks and (not only_failed or t.state == FAILED)
            ]
            plain = not include_tasks and not only_failed
            if restart_conn:
                self.on_connector_restart(name)
            for t in restart_tasks:
                self.on_task_restart(ConnectorTaskId(name, t))
            pending = self._state_info(name, config, snap)
            target = snap.target_state(name)
            if restart_conn:
                ids = [t for t in self.worker.task_ids() if t.connector == name and t.task in restart_tasks]
                self.worker.stop_and_await_tasks(ids)
                self.worker.stop_connector(name)
                self.worker.start_connector(name, config, target)
            else:
                self.worker.stop_and_await_tasks([ConnectorTaskId(name, t) for t in restart_tasks])
            for t in restart_tasks:
                tid = ConnectorTaskId(name, t)
                self.worker.start_task(tid, config, snap.task_configs[tid], target)
            return None if plain else pending

    def restart_task(self, name: str, task_id: int) -> None:
        with self._lock:
            snap = self._snapshot()
            config = self._require(name, snap)
            tid = ConnectorTaskId(name, task_id)
            task_config = snap.task_config(tid) if tid in snap.tasks(name) else None
            if task_config is None:
                raise NotFoundError(f"Task {name}-{task_id} not found")
            self.worker.stop_and_await_tasks([tid])
            self.worker.start_task(tid, config, task_config, snap.target_state(name))
