"""The Worker: instantiates connectors and runs their tasks (Kafka Connect's ``Worker``).

The herder decides *what* runs; the worker makes it run. Threading: the herder calls these methods
from its own thread(s) (they are serialized by a lock here); each task runs on its own thread
(:class:`~connect.runtime.worker_task.WorkerTask`); connectors' ``start``/``stop`` run on the
calling herder thread. Secrets: configs are resolved through config providers only here, right
before a plugin receives them, and are never logged unmasked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from connect.api.config import ConfigDef
from connect.api.connector import Connector, ConnectorContext, SinkConnector, SourceConnector
from connect.api.errors import ConnectException
from connect.api.task import SinkTask, SourceTask
from connect.config_providers import ConfigProvider, providers_from_config, resolve
from connect.runtime import clients
from connect.runtime.cluster_watch import ClusterWatch
from connect.runtime.connector_config import SINK_CONFIG, SOURCE_CONFIG, connector_class, mask_config
from connect.runtime.errors import DeadLetterQueueReporter, ErrorHandler, ErrorReporter
from connect.runtime.models import ConnectorTaskId
from connect.runtime.offsets import OffsetBackingStore, TaskOffsetReader
from connect.runtime.pipeline import build_chain, build_converters
from connect.runtime.plugins import PluginRegistry
from connect.runtime.sink_task import WorkerSinkTask
from connect.runtime.source_task import TopicCreator, WorkerSourceTask
from connect.runtime.worker_config import WorkerConfig
from connect.runtime.worker_task import TargetState, TaskStatusListener, WorkerTask, format_trace

log = logging.getLogger("connect.worker")


class StatusListener(TaskStatusListener, Protocol):
    def on_connector_running(self, connector: str) -> None: ...

    def on_connector_paused(self, connector: str) -> None: ...

    def on_connector_stopped(self, connector: str) -> None: ...

    def on_connector_failed(self, connector: str, trace: str) -> None: ...

    def on_connector_shutdown(self, connector: str) -> None: ...


class _ConnectorContext(ConnectorContext):
    def __init__(self, worker: Worker, name: str) -> None:
        self._worker = worker
        self._name = name

    def request_task_reconfiguration(self) -> None:
        self._worker.on_reconfiguration_request(self._name)

    def raise_error(self, exc: BaseException) -> None:
        self._worker.fail_connector(self._name, exc)

    def offset_storage_reader(self) -> TaskOffsetReader:
        return TaskOffsetReader(self._worker.offset_store, self._name)


@dataclass
class _RunningConnector:
    name: str
    connector: Connector
    config: dict[str, str]  # resolved
    target: TargetState
    failed: bool = False
    tasks: set[ConnectorTaskId] = field(default_factory=set)


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        registry: PluginRegistry,
        offset_store: OffsetBackingStore,
        worker_id: str,
        listener: StatusListener,
        reconfigure: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.offset_store = offset_store
        self.worker_id = worker_id
        self.listener = listener
        self._reconfigure = reconfigure
        self._providers: dict[str, ConfigProvider] = providers_from_config(config.raw)
        self._connectors: dict[str, _RunningConnector] = {}
        self._tasks: dict[ConnectorTaskId, WorkerTask] = {}
        self._lock = threading.RLock()
        self._admin: AdminClient | None = None
        self.cluster_watch = ClusterWatch(clients.admin_config(self.config))

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.offset_store.start()
        self._admin = AdminClient(clients.admin_config(self.config))
        self.cluster_watch.start()
        log.info("Worker %s started (bootstrap.servers=%s)", self.worker_id, self.config.bootstrap_servers)

    def stop(self) -> None:
        with self._lock:
            self.stop_and_await_tasks(list(self._tasks))
            for name in list(self._connectors):
                self.stop_connector(name)
        self.offset_store.stop()
        self.cluster_watch.stop()
        log.info("Worker %s stopped", self.worker_id)

    def resolve(self, config: Mapping[str, str]) -> dict[str, str]:
        """Apply config providers (``${env:X}``, ``${file:path:key}``)."""
        return resolve(config, self._providers)

    # -- connectors ----------------------------------------------------------------------------

    def connector_names(self) -> list[str]:
        with self._lock:
            return sorted(self._connectors)

    def is_running(self, name: str) -> bool:
        with self._lock:
            return name in self._connectors

    def start_connector(self, name: str, raw_config: Mapping[str, str], target: TargetState) -> bool:
        """Instantiate and start the connector; reports RUNNING/PAUSED/STOPPED or FAILED. True if started."""
        with self._lock:
            if name in self._connectors:
                raise ConnectException(f"Connector {name} is already running on this worker")
            try:
                cfg = self.resolve(raw_config)
                cls = connector_class(cfg, self.registry)
                connector = cls()
                connector.initialize(_ConnectorContext(self, name))
                if target != TargetState.STOPPED:
                    connector.start(dict(cfg))
            except BaseException as exc:
                log.error("Failed to start connector %s: %s: %s", name, type(exc).__name__, exc)
                self.listener.on_connector_failed(name, format_trace(exc))
                return False
            self._connectors[name] = _RunningConnector(name, connector, cfg, target)
            log.info(
                "Connector %s started (%s) with config %s",
                name,
                cls.__name__,
                mask_config(raw_config, self.registry),
            )
            self._report_connector_state(name, target)
            return True

    def _report_connector_state(self, name: str, target: TargetState) -> None:
        if target == TargetState.PAUSED:
            self.listener.on_connector_paused(name)
        elif target == TargetState.STOPPED:
            self.listener.on_connector_stopped(name)
        else:
            self.listener.on_connector_running(name)

    def connector_task_configs(self, name: str, max_tasks: int) -> list[dict[str, str]]:
        """Ask the running connector for task configs; sink tasks inherit ``topics``/``topics.regex``."""
        with self._lock:
            rc = self._connectors.get(name)
            if rc is None:
                raise ConnectException(f"Connector {name} is not running on this worker")
            configs = rc.connector.task_configs(max_tasks)
            out = []
            for c in configs[:max_tasks]:
                c = dict(c)
                if isinstance(rc.connector, SinkConnector):
                    for key in ("topics", "topics.regex"):
                        if rc.config.get(key):
                            c.setdefault(key, rc.config[key])
                out.append(c)
            return out

    def is_sink(self, raw_config: Mapping[str, str]) -> bool:
        return issubclass(connector_class(raw_config, self.registry), SinkConnector)

    def stop_connector(self, name: str) -> None:
        with self._lock:
            rc = self._connectors.pop(name, None)
        if rc is None:
            return
        try:
            if rc.target != TargetState.STOPPED:
                rc.connector.stop()
        except Exception:
            log.exception("Connector %s threw while stopping", name)
        if not rc.failed:
            self.listener.on_connector_shutdown(name)
        log.info("Connector %s stopped", name)

    def set_connector_target(self, name: str, target: TargetState) -> None:
        with self._lock:
            rc = self._connectors.get(name)
            if rc is not None:
                rc.target = target
                if not rc.failed:
                    self._report_connector_state(name, target)
            for tid, wt in self._tasks.items():
                if tid.connector == name:
                    wt.transition_to(target)

    def set_task_target(self, task_id: ConnectorTaskId, target: TargetState) -> None:
        """Pause or resume one task (distributed mode: its connector may run on another worker)."""
        with self._lock:
            wt = self._tasks.get(task_id)
        if wt is not None:
            wt.transition_to(target)

    def fail_connector(self, name: str, exc: BaseException) -> None:
        with self._lock:
            rc = self._connectors.get(name)
            if rc is not None:
                rc.failed = True
        self.listener.on_connector_failed(name, format_trace(exc))

    def on_reconfiguration_request(self, name: str) -> None:
        if self._reconfigure is not None:
            self._reconfigure(name)

    # -- tasks ---------------------------------------------------------------------------------

    def task_ids(self) -> list[ConnectorTaskId]:
        with self._lock:
            return sorted(self._tasks, key=lambda t: (t.connector, t.task))

    def start_task(
        self,
        task_id: ConnectorTaskId,
        raw_connector_config: Mapping[str, str],
        task_config: Mapping[str, str],
        target: TargetState,
    ) -> bool:
        """Build and start a task thread; reports FAILED (and returns False) if it cannot be built."""
        with self._lock:
            if task_id in self._tasks:
                raise ConnectException(f"Task {task_id} is already running on this worker")
            try:
                worker_task = self._build_task(task_id, raw_connector_config, task_config, target)
            except BaseException as exc:
                log.error("Failed to start task %s: %s: %s", task_id, type(exc).__name__, exc)
                self.listener.on_task_failed(task_id, format_trace(exc))
                return False
            self._tasks[task_id] = worker_task
        worker_task.start_thread()
        return True

    def _build_task(
        self,
        task_id: ConnectorTaskId,
        raw_connector_config: Mapping[str, str],
        task_config: Mapping[str, str],
        target: TargetState,
    ) -> WorkerTask:
        cfg = self.resolve(raw_connector_config)
        tcfg = self.resolve(task_config)
        cls = connector_class(cfg, self.registry)
        task_cls = cls().task_class()
        task = task_cls()
        is_sink = issubclass(cls, SinkConnector)
        base: ConfigDef = SINK_CONFIG if is_sink else SOURCE_CONFIG
        parsed = {**base.parse({k: v for k, v in cfg.items() if k in base}), **cfg}
        converters = build_converters(cfg, self.config)
        chain = build_chain(cfg, self.registry)
        client_id = f"connector-{'consumer' if is_sink else 'producer'}-{task_id}"
        flush_ms = int(self.config.get("offset.flush.interval.ms"))
        if is_sink:
            assert isinstance(task, SinkTask)
            reporters: list[ErrorReporter] = []
            dlq = str(parsed.get("errors.deadletterqueue.topic.name") or "").strip()
            if dlq and parsed.get("errors.tolerance") == "all":
                producer = Producer(clients.producer_config(self.config, cfg, f"{client_id}-dlq"))
                reporters.append(
                    DeadLetterQueueReporter(
                        producer,
                        dlq,
                        task_id.connector,
                        task_id.task,
                        str(parsed.get("errors.deadletterqueue.context.headers.enable")).lower() == "true",
                    )
                )
            errors = ErrorHandler(_typed_errors(parsed), str(task_id), reporters)
            consumer = Consumer(
                clients.consumer_config(self.config, cfg, client_id, f"connect-{task_id.connector}")
            )
            return WorkerSinkTask(
                task_id,
                task,
                dict(tcfg),
                parsed,
                converters,
                chain,
                consumer,
                errors,
                self.listener,
                target,
                flush_ms,
            )
        assert isinstance(task, SourceTask)
        producer = Producer(clients.producer_config(self.config, cfg, client_id))
        creator = TopicCreator(self._admin if self.config.get("topic.creation.enable") else None, cfg)
        return WorkerSourceTask(
            task_id,
            task,
            dict(tcfg),
            parsed,
            converters,
            chain,
            producer,
            self.offset_store,
            ErrorHandler(_typed_errors(parsed), str(task_id)),
            self.listener,
            target,
            flush_ms,
            int(self.config.get("offset.flush.timeout.ms")),
            creator,
        )

    def stop_and_await_tasks(self, ids: list[ConnectorTaskId]) -> None:
        """Signal every task, then wait up to task.shutdown.graceful.timeout.ms for all of them."""
        with self._lock:
            tasks = [(tid, self._tasks.pop(tid)) for tid in ids if tid in self._tasks]
        for _, wt in tasks:
            wt.stop()
        timeout = int(self.config.get("task.shutdown.graceful.timeout.ms")) / 1000
        for tid, wt in tasks:
            if not wt.await_stop(timeout):
                wt.cancel()
                log.error(
                    "Graceful stop of task %s failed: it did not stop within %.1fs; abandoning it",
                    tid,
                    timeout,
                )

    def task_metrics(self) -> list[tuple[ConnectorTaskId, dict[str, int]]]:
        with self._lock:
            tasks = list(self._tasks.items())
        return [(tid, wt.metrics()) for tid, wt in sorted(tasks, key=lambda t: (t[0].connector, t[0].task))]

    def task_target(self, task_id: ConnectorTaskId) -> TargetState | None:
        with self._lock:
            wt = self._tasks.get(task_id)
            return wt.target if wt is not None else None


def _typed_errors(parsed: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in parsed.items() if k.startswith("errors.")}


def connector_type(cls: type[Connector]) -> str:
    if issubclass(cls, SourceConnector):
        return "source"
    if issubclass(cls, SinkConnector):
        return "sink"
    return "unknown"
