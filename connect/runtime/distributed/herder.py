"""DistributedHerder: one worker of a Connect cluster (Kafka Connect's ``DistributedHerder``).

Workers share three compacted topics through the broker — connector/task configs
(:class:`KafkaConfigBackingStore`), source offsets (:class:`KafkaOffsetBackingStore`) and statuses
(:class:`KafkaStatusBackingStore`) — and form a group through the broker's group coordinator
(:class:`WorkerGroupMember`, protocol type ``connect``), whose leader decides which worker runs
which connector and task (:class:`IncrementalCooperativeAssignor`).

Threads and who calls what:

- **herder thread** (``herder-<worker>``) starts all work (the one exception: ``restart_task`` of a
  task this worker runs, on the REST thread). It waits for events (a new assignment, config-topic
  updates, restart requests, connectors asking for task reconfiguration), applies the newest
  assignment, then *reconciles*: it makes the worker run exactly the assigned connectors and tasks
  with their current configs and target states (re-checked every second even without events). It
  also generates task configs (``Connector.task_configs``) for the connectors it runs and writes them
  to the config topic when they differ from the committed ones. (Kafka forwards them to the leader
  through an internal REST endpoint first; here the connector's worker writes them itself, which the
  leader sees like any config-topic update and answers with a rebalance.)
- **member thread** (owned by :class:`WorkerGroupMember`) calls :meth:`on_revoked` (stops the revoked
  work before returning: zombie protection), :meth:`on_assigned` (hands the assignment to the herder
  thread) and :meth:`on_lost` (session expired: stops everything), :meth:`_worker_state` before each
  join and, on the leader, :meth:`_assignable`.
- **config-log consumer thread** calls the :class:`ConfigUpdateListener` methods; they only record the
  event and wake the herder thread.
- **REST threads** call the :class:`Herder` methods. Reads are served from the local replicas of the
  topics. Writes that Kafka Connect reserves for the leader (create/update/delete, stop, restart,
  offsets) raise :class:`NotLeaderError` on a follower (the REST layer forwards them to the leader). While
  the group rebalances (every config change starts one) they and task restarts wait until the rebalance is
  done, as Kafka's herder queues requests behind it, and then apply; :class:`RebalanceInProgressError`
  (409) only when it takes longer than :data:`REBALANCE_WAIT_S`. A task restart on a worker that does not
  run the task is forwarded to the one that does; pause/resume write the target state from any worker
  (as Kafka's).

Locks: ``_work_lock`` (re-entrant) serializes everything that starts or stops connectors and tasks
(herder thread and member callbacks); ``_state_lock`` guards the assignment and the pending events and
is never held while waiting for anything. Order: ``_work_lock`` before ``_state_lock``.

Zombie protection: revoked tasks are stopped before :meth:`on_revoked` returns (a task that does not stop
within ``task.shutdown.graceful.timeout.ms`` is cancelled by the worker: it sends and commits nothing
more, and a source task's queued records are dropped); a worker whose session expired stops everything;
statuses carry the group generation, so a stale worker cannot overwrite the new owner's status; sink
tasks are fenced by their consumer group (``connect-<name>``) generation.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from connect.api.errors import ConfigException
from connect.runtime.config_store import ClusterConfigState
from connect.runtime.distributed.assignor import HeldWork, IncrementalCooperativeAssignor
from connect.runtime.distributed.config_store import KafkaConfigBackingStore
from connect.runtime.distributed.connect_protocol import CONFIG_MISMATCH, ConnectAssignment, WorkerState
from connect.runtime.distributed.membership import WorkerGroupMember
from connect.runtime.distributed.offset_store import KafkaOffsetBackingStore
from connect.runtime.distributed.status_store import KafkaStatusBackingStore
from connect.runtime.exceptions import (
    AlreadyExistsError,
    NotFoundError,
    NotLeaderError,
    RebalanceInProgressError,
)
from connect.runtime.herder_base import HerderBase, initial_target, restart_plan
from connect.runtime.models import (
    ConnectorInfo,
    ConnectorStateInfo,
    ConnectorTaskId,
)
from connect.runtime.plugins import PluginRegistry
from connect.runtime.status_store import (
    FAILED,
    STOPPED,
    UNASSIGNED,
    Departure,
    Status,
    can_write_safely,
)
from connect.runtime.worker_config import WorkerConfig
from connect.runtime.worker_task import TargetState

log = logging.getLogger("connect.herder")

__all__ = ["DistributedHerder"]

REBALANCE_MESSAGE = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
NOT_LEADER_MESSAGE = "Cannot complete request because this worker is not the leader of the Connect cluster"

_TICK_SECONDS = 1.0  # the herder thread re-checks its state at least this often
# How long a request waits for a rebalance in progress on one worker. A forwarded write waits on the
# worker it reached and then on the leader: together within Kafka's REST request timeout (90 s).
REBALANCE_WAIT_S = 40.0
_SETTLE_POLL_S = 0.05  # the member's own state changes are not signalled: re-check this often


def _task_key(t: ConnectorTaskId) -> tuple[str, int]:
    return (t.connector, t.task)


@dataclass
class _Events:
    """What happened since the herder thread last looked (guarded by ``_state_lock``)."""

    assignment: tuple[ConnectAssignment, int, int] | None = None  # (assignment, generation, epoch)
    config_changed: bool = False
    reconfigure: set[str] = field(default_factory=set)
    restarts: list[tuple[str, bool, bool]] = field(default_factory=list)

    def any(self) -> bool:
        return bool(self.assignment or self.config_changed or self.reconfigure or self.restarts)


@dataclass
class _RunningConnector:
    config: Mapping[str, str]
    target: TargetState


@dataclass
class _RunningTask:
    config: Mapping[str, str]
    connector_config: Mapping[str, str]
    target: TargetState


class DistributedHerder(HerderBase):
    """See the module docstring. ``start()`` once, then ``stop()`` once (from any thread)."""

    def __init__(
        self, config: WorkerConfig, registry: PluginRegistry, worker_id: str, worker_url: str
    ) -> None:
        group_id = config.get("group.id")
        if not group_id:
            raise ConfigException("group.id is required in distributed mode")
        self.group_id: str = group_id
        self.worker_url = worker_url.rstrip("/")
        prefix = f"{group_id}-{worker_id}"
        super().__init__(
            config,
            registry,
            worker_id,
            KafkaOffsetBackingStore.for_worker(config, client_id=prefix),
            KafkaConfigBackingStore.for_worker(config, self, client_id=prefix),
            KafkaStatusBackingStore.for_worker(config, client_id=prefix),
        )
        self.generation = -1  # statuses written before the first assignment (none normally)
        self.member = WorkerGroupMember(
            config.bootstrap_servers,
            group_id,
            worker_url=self.worker_url,
            state=self._worker_state,
            assignable=self._assignable,
            listener=self,
            assignor=IncrementalCooperativeAssignor(config.get("scheduled.rebalance.max.delay.ms")),
            session_timeout_ms=config.get("session.timeout.ms"),
            rebalance_timeout_ms=config.get("rebalance.timeout.ms"),
            heartbeat_interval_ms=config.get("heartbeat.interval.ms"),
            protocol=config.get("connect.protocol"),
            client_id=f"{prefix}-member",
            on_held=self._mark_departed,
        )
        self._work_lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._wake = threading.Condition(self._state_lock)
        self._events = _Events()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.rebalance_wait_s = REBALANCE_WAIT_S
        # The assignment: what this worker must run (guarded by _state_lock).
        self._assignment: ConnectAssignment | None = None
        self._connectors: set[str] = set()
        self._tasks: set[ConnectorTaskId] = set()
        # Incremented by every revocation and membership loss, so an assignment handed over before one of
        # them (and not applied yet) is recognized as stale and never restarts the revoked work.
        self._epoch = 0
        # What the worker runs now and with which configs (herder thread / member callbacks, _work_lock).
        self._running_connectors: dict[str, _RunningConnector] = {}
        self._running_tasks: dict[ConnectorTaskId, _RunningTask] = {}
        # The leader's last (connector -> task count) handed to the assignor, to know when to rebalance.
        self._assigned_view: dict[str, int] | None = None
        self._rejoin_view: dict[str, int] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Read the three topics (creating them if missing), start the herder thread, join the group."""
        started = time.monotonic()
        self.worker.start()  # starts the offset store
        self.status.start()
        self.configs.start()
        snap = self.configs.snapshot()
        log.info(
            "Worker %s read the internal topics in %.2fs: %d connector(s), config offset %d; joining "
            "group %s",
            self.worker_id,
            time.monotonic() - started,
            len(snap.connectors()),
            snap.offset,
            self.group_id,
        )
        self._thread = threading.Thread(target=self._run, name=f"herder-{self.worker_id}", daemon=True)
        self._thread.start()
        self.member.start()

    def stop(self) -> None:
        """Stop the work (tasks commit their offsets), leave the group, close the stores."""
        with self._wake:
            if self._stopping:
                return
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(60)
        with self._work_lock:
            self._stop_work(list(self._running_connectors), list(self._running_tasks))
        self.member.stop(leave=True)
        self.configs.stop()
        try:
            self.status.flush(5)  # the last statuses (UNASSIGNED) reach the topic
        except Exception as exc:
            log.warning("Could not flush the last statuses: %s", exc)
        self.status.stop()
        self.worker.stop()  # stops the offset store
        log.info("Distributed herder %s stopped", self.worker_id)

    # -- ConfigUpdateListener (config-log consumer thread: record and wake) -------------------------

    def on_connector_config_update(self, connector: str) -> None:
        self._post(config_changed=True)

    def on_task_config_update(self, tasks: Collection[ConnectorTaskId]) -> None:
        self._post(config_changed=True)

    def on_connector_target_state_change(self, connector: str) -> None:
        self._post(config_changed=True)

    def on_restart_request(self, connector: str, include_tasks: bool, only_failed: bool) -> None:
        with self._wake:
            self._events.restarts.append((connector, include_tasks, only_failed))
            self._wake.notify_all()

    def _request_reconfigure(self, connector: str) -> None:
        """Worker callback (a connector's own thread): the connector wants new task configs."""
        with self._wake:
            self._events.reconfigure.add(connector)
            self._wake.notify_all()

    def _post(self, *, config_changed: bool) -> None:
        with self._wake:
            self._events.config_changed |= config_changed
            self._wake.notify_all()

    # -- RebalanceListener (member thread) ------------------------------------------------------

    def on_revoked(self, leader: str, connectors: Sequence[str], tasks: Sequence[ConnectorTaskId]) -> None:
        """Stop the revoked work before returning, so no task runs twice once the rebalance settles."""
        if not connectors and not tasks:
            return
        started = time.monotonic()
        with self._work_lock:
            self._stop_work(connectors, tasks)
            with self._state_lock:
                self._connectors.difference_update(connectors)
                self._tasks.difference_update(tasks)
                self._epoch += 1
        log.info(
            "Revoked %d connector(s) and %d task(s) from %s in %.2fs: %s",
            len(connectors),
            len(tasks),
            self.worker_id,
            time.monotonic() - started,
            ", ".join([*connectors, *(str(t) for t in tasks)]),
        )

    def on_assigned(self, assignment: ConnectAssignment, generation: int) -> None:
        """Hand the assignment to the herder thread (which applies it on its next tick)."""
        with self._wake:
            self._events.assignment = (assignment, generation, self._epoch)
            self._wake.notify_all()

    def on_lost(self) -> None:
        """Membership lost (session expired or fenced): stop everything this worker runs."""
        log.warning(
            "Worker %s lost its group membership: stopping all its connectors and tasks", self.worker_id
        )
        with self._work_lock:
            self._stop_work(list(self._running_connectors), list(self._running_tasks))
            with self._state_lock:
                self._connectors.clear()
                self._tasks.clear()
                self._assignment = None
                self._epoch += 1

    def on_poll_timeout(self) -> None:
        self.on_lost()

    def _mark_departed(self, held: Sequence[HeldWork], generation: int) -> None:
        """Leader, member thread, before SyncGroup: the work of departed workers that the assignor holds
        for ``scheduled.rebalance.max.delay.ms`` is UNASSIGNED on the worker that had it, with when it left
        and when the work is due to move (``Status.departure``). Safe writes with the new generation: the
        departed worker cannot have written anything newer, and whoever gets the work later writes with
        a later generation. FAILED and STOPPED stay visible (as when a worker stops its own work)."""
        for h in held:
            worker = urllib.parse.urlsplit(h.worker_url).netloc or h.worker_url
            departure = Departure(h.left_at, h.reassign_at)
            marked = []
            with self._status_lock:
                for name in h.connectors:
                    st = self.status.connector_status(name)
                    status = Status(UNASSIGNED, worker, None, generation, departure=departure)
                    if _departed(st, status, (FAILED, STOPPED)):
                        self.status.put_connector(name, status, safe=True)
                        marked.append(name)
                for tid in h.tasks:
                    st = self.status.task_status(tid)
                    progress = st.progress if st is not None else None
                    status = Status(UNASSIGNED, worker, None, generation, progress, departure)
                    if _departed(st, status, (FAILED,)):
                        self.status.put_task(tid, status, safe=True)
                        marked.append(str(tid))
            if marked:
                log.info(
                    "Worker %s left the group: UNASSIGNED until its work is reassigned in %.1fs: %s",
                    worker,
                    max(0.0, h.reassign_at / 1000 - time.time()),
                    ", ".join(marked),
                )

    def _worker_state(self) -> WorkerState:
        """JoinGroup metadata: this worker's URL, config offset and what it runs now."""
        offset = self.configs.snapshot().offset
        with self._state_lock:
            a = self._assignment
            current = None
            if a is not None:
                current = ConnectAssignment(
                    error=0,
                    leader=a.leader,
                    leader_url=a.leader_url,
                    config_offset=a.config_offset,
                    connectors=tuple(sorted(self._connectors)),
                    tasks=tuple(sorted(self._tasks, key=_task_key)),
                    version=a.version,
                )
        return WorkerState(self.worker_url, offset, current)

    def _assignable(self) -> tuple[int, Mapping[str, int]]:
        """Leader: the config offset and connector -> task count the assignment is computed from."""
        self.configs.refresh()
        snap = self.configs.snapshot()
        view = _task_counts(snap)
        with self._state_lock:
            self._assigned_view = view
            self._rejoin_view = None
        return snap.offset, view

    # -- the herder thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._events.any() and not self._stopping:
                    self._wake.wait(_TICK_SECONDS)
                if self._stopping:
                    return
                events, self._events = self._events, _Events()
            try:
                self._tick(events)
            except Exception:
                log.exception("Herder %s: unexpected error; continuing", self.worker_id)
                time.sleep(0.5)

    def _tick(self, events: _Events) -> None:
        with self._work_lock:
            if events.assignment is not None:
                self._apply_assignment(*events.assignment)
            snap = self.configs.snapshot()
            self._maybe_rebalance(snap)
            with self._state_lock:
                joined = self._assignment is not None
            if not joined:
                return
            self._reconcile(snap, events.reconfigure)
            for restart in events.restarts:
                self._restart(snap, *restart)

    def _apply_assignment(self, a: ConnectAssignment, generation: int, epoch: int) -> None:
        with self._state_lock:
            stale = epoch != self._epoch
        if stale:  # handed over before a later revocation or loss: a newer assignment follows
            log.info("Skipping the stale assignment of generation %d", generation)
            return
        if a.error == CONFIG_MISMATCH:  # the member rejoins after a backoff; be up to date by then
            log.info("The leader's config was older than a member's: reading the config topic to its end")
            self.configs.refresh()
            return
        if self.configs.snapshot().offset < a.config_offset:
            self.configs.refresh()
            if self.configs.snapshot().offset < a.config_offset:
                self.member.request_rejoin("cannot read the config topic up to the assignment's offset")
                return
        if a.revoked_connectors or a.revoked_tasks:  # normally already stopped by on_revoked
            self._stop_work(a.revoked_connectors, a.revoked_tasks)
        with self._state_lock:
            # The member hands over the augmented assignment: everything this worker runs now.
            self._connectors = set(a.connectors) - set(a.revoked_connectors)
            self._tasks = set(a.tasks) - set(a.revoked_tasks)
            self._assignment = a
            owned = len(self._connectors), len(self._tasks)
            self._wake.notify_all()  # requests waiting for the rebalance to complete
        self.generation = generation  # of the statuses this worker writes from now on
        log.info(
            "Joined group %s generation %d (leader %s): revoked %d connector(s) and %d task(s); runs "
            "%d connector(s) and %d task(s)%s",
            self.group_id,
            generation,
            a.leader_url,
            len(a.revoked_connectors),
            len(a.revoked_tasks),
            *owned,
            f"; next rebalance in {a.delay_ms} ms" if a.delay_ms else "",
        )

    def _maybe_rebalance(self, snap: ClusterConfigState) -> None:
        """Leader: connectors or task counts changed since the last assignment -> rebalance."""
        if not self.member.is_leader():
            return
        view = _task_counts(snap)
        with self._state_lock:
            if self._assigned_view is None or view == self._assigned_view or view == self._rejoin_view:
                return
            self._rejoin_view = view
        self.member.request_rejoin("connectors or tasks changed")

    def _reconcile(self, snap: ClusterConfigState, reconfigure: set[str]) -> None:
        """Make the worker run exactly the assigned connectors/tasks with their current configs."""
        with self._state_lock:
            connectors, tasks = set(self._connectors), set(self._tasks)
        # Stop what is no longer assigned, deleted, or whose config or target changed.
        stop_tasks = []
        for tid, rt in self._running_tasks.items():
            conn_config = snap.connector_configs.get(tid.connector)
            if (
                tid not in tasks
                or conn_config is None
                or snap.task_configs.get(tid) != rt.config
                or conn_config != rt.connector_config
                or snap.target_states.get(tid.connector) == TargetState.STOPPED
            ):
                stop_tasks.append(tid)
        stop_connectors = []
        for name, rc in self._running_connectors.items():
            config = snap.connector_configs.get(name)
            stopped_changed = (snap.target_state(name) == TargetState.STOPPED) != (
                rc.target == TargetState.STOPPED
            )
            if name not in connectors or config is None or config != rc.config or stopped_changed:
                stop_connectors.append(name)
        self._stop_work(stop_connectors, stop_tasks)
        for name in stop_connectors:
            if not snap.contains(name):
                self.on_connector_deleted(name)
        # Start (or re-target) connectors; generate task configs for the ones that (re)started.
        for name in sorted(connectors):
            config = snap.connector_configs.get(name)
            if config is None:
                continue
            target = snap.target_state(name)
            running = self._running_connectors.get(name)
            if running is None:
                self.worker.start_connector(name, config, target)
                self._running_connectors[name] = _RunningConnector(config, target)
                reconfigure.add(name)
            elif running.target != target:
                self.worker.set_connector_target(name, target)
                running.target = target
        if any([self._reconfigure(snap, name) for name in sorted(reconfigure)]):
            snap = self.configs.snapshot()  # start tasks with the configs just written
        # Pause/resume running tasks (also where their connector runs on another worker); start tasks.
        for tid in sorted(tasks, key=_task_key):
            current = self._running_tasks.get(tid)
            if current is not None:
                target = snap.target_state(tid.connector)
                if current.target != target:
                    self.worker.set_task_target(tid, target)
                    current.target = target
                continue
            task_config = snap.task_configs.get(tid)
            conn_config = snap.connector_configs.get(tid.connector)
            target = snap.target_state(tid.connector)
            if task_config is None or conn_config is None or target == TargetState.STOPPED:
                continue
            self.worker.start_task(tid, conn_config, task_config, target)
            self._running_tasks[tid] = _RunningTask(task_config, conn_config, target)

    def _reconfigure(self, snap: ClusterConfigState, name: str) -> bool:
        """Ask a connector this worker runs for task configs and write them if they changed (True)."""
        rc = self._running_connectors.get(name)
        if rc is None or rc.target == TargetState.STOPPED or not self.worker.is_running(name):
            return False
        try:
            max_tasks = int(self.typed(rc.config, "tasks.max"))
            configs = self.worker.connector_task_configs(name, max_tasks)
        except Exception as exc:
            self.worker.fail_connector(name, exc)
            return False
        current = [dict(snap.task_configs[t]) for t in snap.tasks(name)]
        if configs == current:
            return False
        try:
            self.configs.put_task_configs(name, configs)
        except Exception as exc:  # e.g. the broker is unreachable: try again on the next tick
            log.warning("Could not write the task configs of connector %s (will retry): %s", name, exc)
            self._request_reconfigure(name)
            return False
        log.info("Wrote %d task config(s) for connector %s", len(configs), name)
        return True

    def _restart(self, snap: ClusterConfigState, name: str, include_tasks: bool, only_failed: bool) -> None:
        """A restart request from the config topic: restart what this worker runs of ``name``."""
        config = snap.connector_configs.get(name)
        if config is None:
            return
        rc = self._running_connectors.get(name)
        if rc is not None and (not only_failed or self.connector_state(name).state == FAILED):
            self.on_connector_restart(name)
            self.worker.stop_connector(name)
            self.worker.start_connector(name, config, rc.target)
            self._reconfigure(snap, name)
        if not include_tasks:
            return
        for tid in sorted(self._running_tasks, key=_task_key):
            if tid.connector != name:
                continue
            task = self.status.task_status(tid)
            if only_failed and (task is None or task.state != FAILED):
                continue
            self.on_task_restart(tid)
            self._restart_task(snap, tid)

    def _restart_task(self, snap: ClusterConfigState, tid: ConnectorTaskId) -> None:
        self.worker.stop_and_await_tasks([tid])
        self._running_tasks.pop(tid, None)
        task_config = snap.task_configs.get(tid)
        conn_config = snap.connector_configs.get(tid.connector)
        if task_config is None or conn_config is None:
            return
        target = snap.target_state(tid.connector)
        self.worker.start_task(tid, conn_config, task_config, target)
        self._running_tasks[tid] = _RunningTask(task_config, conn_config, target)

    def _stop_work(self, connectors: Collection[str], tasks: Collection[ConnectorTaskId]) -> None:
        """Stop tasks first (awaited, cancelled after the graceful timeout), then connectors."""
        with self._work_lock:
            running = [t for t in tasks if t in self._running_tasks]
            self.worker.stop_and_await_tasks(running)
            for t in running:
                del self._running_tasks[t]
            for name in connectors:
                if self._running_connectors.pop(name, None) is not None:
                    self.worker.stop_connector(name)

    # -- REST helpers ------------------------------------------------------------------------------

    def _rebalancing_locked(self) -> bool:
        """Caller holds ``_state_lock``."""
        pending = self._assignment is None or self._events.assignment is not None
        return pending or self.member.rebalancing()

    def _require_settled(self) -> None:
        """Wait until no rebalance is in progress (this worker joined and applied its newest assignment):
        a request arriving during a rebalance is served after it, within ``rebalance_wait_s`` (else 409)."""
        deadline = time.monotonic() + self.rebalance_wait_s
        with self._wake:
            while self._rebalancing_locked():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping:
                    raise RebalanceInProgressError(REBALANCE_MESSAGE)
                self._wake.wait(min(remaining, _SETTLE_POLL_S))

    def _require_leader(self) -> None:
        self._require_settled()
        if not self.member.is_leader():
            raise NotLeaderError(NOT_LEADER_MESSAGE, self.member.leader_url())

    # -- Herder: connectors ------------------------------------------------------------------------

    def put_connector_config(
        self, name: str, config: dict[str, str], allow_replace: bool, initial_state: str | None = None
    ) -> tuple[bool, ConnectorInfo]:
        initial = initial_target(initial_state)
        self._require_leader()
        snap = self._snapshot()
        exists = snap.contains(name)
        if exists and not allow_replace:
            raise AlreadyExistsError(f"Connector {name} already exists")
        config = self.check_config(name, config)
        self.configs.put_connector_config(name, config, None if exists else initial)
        log.info("%s connector %s", "Updated" if exists else "Created", name)
        return not exists, self._info(name, config, self._snapshot())

    def delete_connector(self, name: str) -> None:
        self._require_leader()
        self._require(name)
        self.configs.remove_connector_config(name)
        log.info("Deleted connector %s", name)

    def pause_connector(self, name: str) -> None:
        self._require(name)
        self.configs.put_target_state(name, TargetState.PAUSED)

    def resume_connector(self, name: str) -> None:
        self._require(name)
        self.configs.put_target_state(name, TargetState.STARTED)

    def stop_connector(self, name: str) -> None:
        """Kafka's order: empty task configs first (a running connector with no tasks is a healthy
        state to be left in if the second write fails), then the STOPPED target state."""
        self._require_leader()
        self._require(name)
        self.configs.put_task_configs(name, [])
        self.configs.put_target_state(name, TargetState.STOPPED)

    def restart_connector(
        self, name: str, include_tasks: bool, only_failed: bool
    ) -> ConnectorStateInfo | None:
        self._require_leader()
        snap = self._snapshot()
        pending = restart_plan(
            self._state_info(name, self._require(name, snap), snap), include_tasks, only_failed
        )
        self.configs.put_restart_request(name, include_tasks, only_failed)
        return None if not include_tasks and not only_failed else pending

    def restart_task(self, name: str, task_id: int) -> None:
        """Restart here if this worker runs the task, else forward to the worker that does."""
        self._require_settled()
        snap = self._snapshot()
        self._require(name, snap)
        tid = ConnectorTaskId(name, task_id)
        if tid not in snap.task_configs:
            raise NotFoundError(f"Task {name}-{task_id} not found")
        with self._work_lock:
            if tid in self._running_tasks:
                self._restart_task(snap, tid)
                return
        state = self.status.task_status(tid)
        if state is None or state.worker_id == self.worker_id:
            raise RebalanceInProgressError(f"Task {tid} is not assigned to any worker at the moment")
        raise NotLeaderError(f"Task {tid} runs on worker {state.worker_id}", f"http://{state.worker_id}")

    # -- health ---------------------------------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        with self._state_lock:
            joined = self._assignment is not None
        if not joined:
            return False, "Worker is still starting up: it has not joined the Connect cluster yet."
        return super().health()

    # -- introspection (tests, logs) ------------------------------------------------------------------

    def assigned(self) -> tuple[list[str], list[ConnectorTaskId]]:
        """The connectors and tasks currently assigned to this worker."""
        with self._state_lock:
            return sorted(self._connectors), sorted(self._tasks, key=_task_key)


def _departed(stored: Status | None, new: Status, kept: tuple[str, ...]) -> bool:
    """Whether to write ``new`` (UNASSIGNED with a departure): not over a state that stays visible
    (``kept``), nor the same departure again, nor over a newer owner's status (a safe write)."""
    if stored is not None and (stored.state in kept or stored.departure == new.departure):
        return False
    return can_write_safely(stored, new)


def _task_counts(snap: ClusterConfigState) -> dict[str, int]:
    return {c: len(snap.tasks(c)) for c in snap.connectors()}
