"""StandaloneHerder: one worker runs every connector; configs in memory (optionally in a file),
source offsets in a file (``offset.storage.file.filename``).

All public methods take one lock, so control-plane operations are serialized; task threads never
take it (they report through the status store).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from connect.runtime.exceptions import AlreadyExistsError, NotFoundError
from connect.runtime.herder_base import HerderBase, initial_target, merge_patch
from connect.runtime.models import (
    AbstractState,
    ConnectorInfo,
    ConnectorOffsets,
    ConnectorStateInfo,
    ConnectorTaskId,
    TaskInfo,
    TaskState,
)
from connect.runtime.offsets import OffsetBackingStore
from connect.runtime.plugins import PluginRegistry
from connect.runtime.status import FAILED, RESTARTING, MemoryStatusStore
from connect.runtime.worker import Worker
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
        config_file: Path | None = None,
    ) -> None:
        self.status = MemoryStatusStore(worker_id)
        worker = Worker(config, registry, offset_store, worker_id, self.status, self._request_reconfigure)
        super().__init__(worker, registry, offset_store)
        self._lock = threading.RLock()
        self._configs: dict[str, dict[str, str]] = {}
        self._targets: dict[str, TargetState] = {}
        self._task_configs: dict[str, list[dict[str, str]]] = {}
        self._config_file = config_file

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.worker.start()
        if self._config_file is not None and self._config_file.exists():
            stored = json.loads(self._config_file.read_text())
            for name, entry in stored.items():
                self._configs[name] = entry["config"]
                self._targets[name] = TargetState(entry.get("target", "STARTED"))
            for name in list(self._configs):
                self._start_connector(name)

    def stop(self) -> None:
        with self._lock:
            self.worker.stop()

    def _persist(self) -> None:
        if self._config_file is None:
            return
        data = {n: {"config": c, "target": self._targets[n].value} for n, c in self._configs.items()}
        tmp = self._config_file.with_name(f".{self._config_file.name}.tmp")
        self._config_file.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w") as f:
            json.dump(data, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self._config_file)

    # -- internals -----------------------------------------------------------------------------------

    def _require(self, name: str) -> dict[str, str]:
        config = self._configs.get(name)
        if config is None:
            raise NotFoundError(f"Connector {name} not found")
        return config

    def _start_connector(self, name: str) -> None:
        target = self._targets[name]
        if not self.worker.start_connector(name, self._configs[name], target):
            self._task_configs[name] = []
            return
        if target == TargetState.STOPPED:
            self._task_configs[name] = []
            return
        self._update_tasks(name)

    def _update_tasks(self, name: str) -> None:
        config = self._configs[name]
        try:
            max_tasks = int(self.typed(config, "tasks.max"))
            task_configs = self.worker.connector_task_configs(name, max_tasks)
        except Exception as exc:
            self.worker.fail_connector(name, exc)
            return
        self._task_configs[name] = task_configs
        for i, tc in enumerate(task_configs):
            self.worker.start_task(ConnectorTaskId(name, i), config, tc, self._targets[name])

    def _stop_connector(self, name: str) -> None:
        ids = [t for t in self.worker.task_ids() if t.connector == name]
        self.worker.stop_and_await_tasks(ids)
        self.worker.stop_connector(name)

    def _request_reconfigure(self, name: str) -> None:
        def run() -> None:
            with self._lock:
                if name not in self._configs or self._targets.get(name) != TargetState.STARTED:
                    return
                ids = [t for t in self.worker.task_ids() if t.connector == name]
                self.worker.stop_and_await_tasks(ids)
                for t in ids:
                    self.status.forget_task(t)
                self._update_tasks(name)

        threading.Thread(target=run, name=f"reconfigure-{name}", daemon=True).start()

    # -- Herder: connectors ------------------------------------------------------------------------

    def connectors(self) -> list[str]:
        with self._lock:
            return sorted(self._configs)

    def connector_info(self, name: str) -> ConnectorInfo:
        with self._lock:
            config = self._require(name)
            tasks = [ConnectorTaskId(name, i) for i in range(len(self._task_configs.get(name, [])))]
            return ConnectorInfo(name, self.masked(config), tasks, self.connector_type_of(config))

    def connector_config(self, name: str) -> dict[str, str]:
        with self._lock:
            return self.masked(self._require(name))

    def put_connector_config(
        self, name: str, config: dict[str, str], allow_replace: bool, initial_state: str | None = None
    ) -> tuple[bool, ConnectorInfo]:
        initial = initial_target(initial_state)
        with self._lock:
            exists = name in self._configs
            if exists and not allow_replace:
                raise AlreadyExistsError(f"Connector {name} already exists")
            config = self.check_config(name, config)
            if exists:
                self._stop_connector(name)
                self.status.forget_connector(name)
            self._configs[name] = config
            self._targets.setdefault(name, initial)
            self._persist()
            log.info("%s connector %s", "Updated" if exists else "Created", name)
            self._start_connector(name)
            return not exists, self.connector_info(name)

    def patch_connector_config(self, name: str, patch: dict[str, str | None]) -> ConnectorInfo:
        with self._lock:
            merged = merge_patch(self._require(name), patch)
            _, info = self.put_connector_config(name, merged, allow_replace=True)
            return info

    def delete_connector(self, name: str) -> None:
        with self._lock:
            self._require(name)
            self._stop_connector(name)
            del self._configs[name]
            self._targets.pop(name, None)
            self._task_configs.pop(name, None)
            self.status.forget_connector(name)
            self._persist()
            log.info("Deleted connector %s", name)

    def connector_status(self, name: str) -> ConnectorStateInfo:
        with self._lock:
            config = self._require(name)
            count = len(self._task_configs.get(name, []))
            return ConnectorStateInfo(
                name,
                self.status.connector(name),
                self.status.tasks(name, count),
                self.connector_type_of(config),
            )

    def task_status(self, name: str, task_id: int) -> TaskState:
        with self._lock:
            self._require(name)
            if not 0 <= task_id < len(self._task_configs.get(name, [])):
                raise NotFoundError(f"Task {name}-{task_id} not found")
            return self.status.tasks(name, task_id + 1)[task_id]

    def task_configs(self, name: str) -> list[TaskInfo]:
        with self._lock:
            self._require(name)
            return [
                TaskInfo(ConnectorTaskId(name, i), self.masked(tc))
                for i, tc in enumerate(self._task_configs.get(name, []))
            ]

    def _set_target(self, name: str, target: TargetState) -> None:
        self._require(name)
        previous = self._targets[name]
        if previous == target:
            return
        self._targets[name] = target
        self._persist()
        if target == TargetState.STOPPED:
            self._stop_connector(name)
            for t in range(len(self._task_configs.get(name, []))):
                self.status.forget_task(ConnectorTaskId(name, t))
            self._task_configs[name] = []
            self.status.on_connector_stopped(name)
        elif previous == TargetState.STOPPED:
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
            config = self._require(name)
            conn_state = self.status.connector(name)
            restart_conn = not only_failed or conn_state.state == FAILED
            count = len(self._task_configs.get(name, []))
            task_states = self.status.tasks(name, count)
            restart_tasks = [
                t.id for t in task_states if include_tasks and (not only_failed or t.state == FAILED)
            ]
            plain = not include_tasks and not only_failed
            if restart_conn:
                self.status.put_connector(name, RESTARTING)
            for t in restart_tasks:
                self.status.put_task(ConnectorTaskId(name, t), RESTARTING)
            pending = ConnectorStateInfo(
                name,
                self.status.connector(name),
                self.status.tasks(name, count),
                self.connector_type_of(config),
            )
            if restart_conn:
                ids = [t for t in self.worker.task_ids() if t.connector == name and t.task in restart_tasks]
                self.worker.stop_and_await_tasks(ids)
                self.worker.stop_connector(name)
                if self.worker.start_connector(name, config, self._targets[name]):
                    pass
            else:
                ids = [ConnectorTaskId(name, t) for t in restart_tasks]
                self.worker.stop_and_await_tasks(ids)
            for t in restart_tasks:
                self.worker.start_task(
                    ConnectorTaskId(name, t), config, self._task_configs[name][t], self._targets[name]
                )
            return None if plain else pending

    def restart_task(self, name: str, task_id: int) -> None:
        with self._lock:
            config = self._require(name)
            configs = self._task_configs.get(name, [])
            if not 0 <= task_id < len(configs):
                raise NotFoundError(f"Task {name}-{task_id} not found")
            tid = ConnectorTaskId(name, task_id)
            self.worker.stop_and_await_tasks([tid])
            self.worker.start_task(tid, config, configs[task_id], self._targets[name])

    def connector_active_topics(self, name: str) -> list[str]:
        with self._lock:
            self._require(name)
            return self.status.topics(name)

    def reset_connector_active_topics(self, name: str) -> None:
        with self._lock:
            self._require(name)
            self.status.reset_topics(name)

    # -- offsets ---------------------------------------------------------------------------------------

    def connector_offsets(self, name: str) -> ConnectorOffsets:
        with self._lock:
            config = self._require(name)
        return self.read_offsets(name, config)

    def _require_stopped(self, name: str) -> dict[str, str]:
        config = self._require(name)
        self.require_stopped_target(name, self._targets[name])
        return config

    def alter_connector_offsets(self, name: str, offsets: list[dict[str, Any]]) -> str:
        with self._lock:
            config = self._require_stopped(name)
            return self.write_offsets(name, config, offsets)

    def reset_connector_offsets(self, name: str) -> str:
        with self._lock:
            config = self._require_stopped(name)
            return self.write_offsets(name, config, None)

    def connector_state(self, name: str) -> AbstractState:
        return self.status.connector(name)
