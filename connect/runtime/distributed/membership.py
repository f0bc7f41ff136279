"""One worker's membership in the Connect group (Kafka's ``WorkerGroupMember`` + ``WorkerCoordinator``).

:class:`WorkerGroupMember` runs its own thread, which does all the group I/O over a blocking socket:
FindCoordinator, JoinGroup (protocol type ``connect``, protocols per ``connect.protocol``), SyncGroup (the
leader runs the :class:`~connect.runtime.distributed.assignor.IncrementalCooperativeAssignor`), Heartbeat
every ``heartbeat.interval.ms``, LeaveGroup on :meth:`WorkerGroupMember.stop`. API versions are negotiated
with ApiVersions (the highest each side supports, within what this module speaks).

Cooperative flow (protocols "compatible"/"sessioned", as Kafka's): on a rejoin the worker keeps running what
it owns; the assignment names only new work and revocations. Revoked work is stopped first
(:meth:`RebalanceListener.on_revoked`, blocking, while a keeper thread heartbeats), then the listener gets
the augmented assignment (everything the worker runs now) in :meth:`RebalanceListener.on_assigned`. A round
with revocations is followed by an immediate rejoin; an assignment with ``delay_ms`` > 0 schedules a rejoin
after it; a CONFIG_MISMATCH assignment makes the member rejoin after a heartbeat interval (``state()`` then
reports the config offset the herder has read meanwhile). With "default" (eager) everything is revoked before
each join.

Errors, as Kafka's AbstractCoordinator: NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE /
COORDINATOR_LOAD_IN_PROGRESS or a lost connection -> find the coordinator again; REBALANCE_IN_PROGRESS /
ILLEGAL_GENERATION -> rejoin (work kept); MEMBER_ID_REQUIRED -> rejoin at once with the id the broker gave
(KIP-394); UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID -> membership lost: :meth:`RebalanceListener.on_lost` (stop
everything), id reset, rejoin. When no heartbeat succeeded for ``session.timeout.ms`` (coordinator
unreachable) the broker has dropped this member: ``on_lost`` too. INVALID_SESSION_TIMEOUT,
INCONSISTENT_GROUP_PROTOCOL, INVALID_GROUP_ID, GROUP_AUTHORIZATION_FAILED and GROUP_MAX_SIZE_REACHED are
fatal: the thread stops with :attr:`failure` set (after ``on_lost`` if work was assigned).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from kio.schema.errors import ErrorCode

from connect.runtime.distributed.assignor import (
    HeldWork,
    IncrementalCooperativeAssignor,
    config_mismatch_assignments,
    eager_assign,
)
from connect.runtime.distributed.connect_protocol import (
    EAGER,
    PROTOCOL_TYPE,
    PROTOCOL_VERSIONS,
    ConnectAssignment,
    ConnectProtocolError,
    WorkerState,
    decode_assignment,
    decode_metadata,
    encode_assignment,
    join_protocols,
)
from connect.runtime.distributed.group_client import BrokerConnection, parse_bootstrap
from connect.runtime.models import ConnectorTaskId

__all__ = ["GroupMembershipError", "RebalanceListener", "WorkerGroupMember"]

log = logging.getLogger(__name__)

# Kafka API keys and the versions spoken here (each negotiated down to what the broker supports)
FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 10, 11, 12, 13, 14
_VERSIONS = {
    FIND_COORDINATOR: (0, 3),
    JOIN_GROUP: (1, 7),
    HEARTBEAT: (0, 4),
    LEAVE_GROUP: (0, 4),
    SYNC_GROUP: (0, 5),
}

_COORDINATOR_ERRORS = frozenset(
    {ErrorCode.coordinator_load_in_progress, ErrorCode.coordinator_not_available, ErrorCode.not_coordinator}
)
_MEMBERSHIP_LOST = frozenset({ErrorCode.unknown_member_id, ErrorCode.fenced_instance_id})
_FATAL = frozenset(
    {
        ErrorCode.inconsistent_group_protocol,
        ErrorCode.invalid_group_id,
        ErrorCode.invalid_session_timeout,
        ErrorCode.group_authorization_failed,
        ErrorCode.group_max_size_reached,
    }
)
_REJOIN = (ErrorCode.rebalance_in_progress, ErrorCode.illegal_generation)

RETRY_BACKOFF_S = 0.1
MAX_RETRY_BACKOFF_S = 1.0


class GroupMembershipError(Exception):
    """A fatal group error (bad configuration or authorization): the member stopped."""


class RebalanceListener(Protocol):
    """Told about assignment changes. Every method is called on the member's own thread."""

    def on_revoked(self, leader: str, connectors: Sequence[str], tasks: Sequence[ConnectorTaskId]) -> None:
        """Stop this work; return only once it is stopped (blocking allowed, < rebalance.timeout.ms)."""
        ...

    def on_assigned(self, assignment: ConnectAssignment, generation: int) -> None:
        """The worker now owns ``assignment.connectors``/``tasks`` (all, not a delta). Quick: hand off."""
        ...

    def on_lost(self) -> None:
        """Membership lost (session expired, fenced, coordinator unreachable): stop everything assigned."""
        ...


class _Rejoin(Exception):
    """Internal: abandon the current join/sync and start over."""


class WorkerGroupMember:
    """One worker's membership in the Connect group ``group_id``.

    Lifecycle: ``start()`` once, then the member thread joins and stays in the group until ``stop()``.
    ``state()`` is called on the member thread before each JoinGroup (its ``url`` and ``config_offset`` are
    sent; its ``assignment`` is ignored: the member reports what it handed its listener). ``assignable()`` is
    called on the leader only, once per rebalance (twice if a member's config offset is ahead): it must
    return the config state after reading the config topic to its end. ``on_held`` (leader only, member
    thread, quick) receives the work of departed workers the assignor holds and the generation, after every
    incremental assignment and before it is sent with SyncGroup. Attributes ``member_id`` and
    ``generation`` and the query methods may be read from any thread.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        *,
        worker_url: str,
        state: Callable[[], WorkerState],
        assignable: Callable[[], tuple[int, Mapping[str, int]]],
        listener: RebalanceListener,
        assignor: IncrementalCooperativeAssignor,
        session_timeout_ms: int = 10000,
        rebalance_timeout_ms: int = 60000,
        heartbeat_interval_ms: int = 3000,
        protocol: str = "sessioned",
        client_id: str = "",
        on_held: Callable[[Sequence[HeldWork], int], None] | None = None,
    ) -> None:
        if protocol not in PROTOCOL_VERSIONS:
            raise ValueError(f"connect.protocol: {protocol!r} is not one of {', '.join(PROTOCOL_VERSIONS)}")
        if not group_id:
            raise ValueError("group.id must not be empty")
        if heartbeat_interval_ms <= 0 or heartbeat_interval_ms >= session_timeout_ms:
            raise ValueError("heartbeat.interval.ms must be > 0 and lower than session.timeout.ms")
        self._bootstrap = parse_bootstrap(bootstrap_servers)
        self.group_id = group_id
        self.worker_url = worker_url
        self._state = state
        self._assignable = assignable
        self._listener = listener
        self._assignor = assignor
        self.session_timeout_ms = session_timeout_ms
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.protocol = protocol
        self.client_id = client_id or f"connect-{group_id}"
        self._on_held = on_held

        self.member_id = ""
        self.generation = -1
        self.failure: BaseException | None = None
        self._assignment: ConnectAssignment | None = None  # augmented: everything this worker runs now
        self._protocol_in_use: str | None = None
        self._last_completed_generation = -1
        self._rebalancing = False

        self._cond = threading.Condition()
        self._rejoin_requested = False
        self._rejoin_reason = "initial join"
        self._rejoin_at: float | None = None  # monotonic time of a scheduled rejoin
        self._stopping = False
        self._leave_on_stop = True
        self._conn: BrokerConnection | None = None
        self._last_contact = time.monotonic()  # last response proving we are a live member
        self._next_heartbeat = 0.0
        self._backoff = RETRY_BACKOFF_S
        self._thread = threading.Thread(target=self._run, name=f"group-member-{self.client_id}", daemon=True)

    # -- public API ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def request_rejoin(self, reason: str) -> None:
        """Rejoin the group soon (e.g. a connector was added or its task count changed). Any thread."""
        with self._cond:
            self._rejoin_requested = True
            self._rejoin_reason = reason
            self._cond.notify_all()

    def stop(self, leave: bool = True, timeout: float = 30.0) -> None:
        """End the member thread; with ``leave`` send LeaveGroup first (without it the broker notices only
        after the session timeout, like a crashed worker). Does not call the listener: the herder stops its
        own work. Any thread but the member's own."""
        with self._cond:
            self._stopping = True
            self._leave_on_stop = leave
            self._cond.notify_all()
        conn = self._conn
        if conn is not None:
            conn.close()  # wakes a JoinGroup/SyncGroup blocked in recv
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def rebalancing(self) -> bool:
        """True from JoinGroup sent until its assignment is applied (and before the first one)."""
        return self._rebalancing or self._assignment is None

    def assignment(self) -> ConnectAssignment | None:
        """What this worker runs now (as last given to ``on_assigned``), None before the first assignment."""
        return self._assignment

    def leader_url(self) -> str | None:
        a = self._assignment
        return a.leader_url if a is not None and a.leader_url else None

    def is_leader(self) -> bool:
        a = self._assignment
        return a is not None and bool(self.member_id) and a.leader == self.member_id

    def owner_url(self, what: str | ConnectorTaskId) -> str | None:
        """Leader only: URL of the worker the last assignment gave connector/task ``what``."""
        return self._assignor.owner_url(what) if self.is_leader() else None

    # -- the member thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        log.info("group %s: member %s starting (protocol %s)", self.group_id, self.worker_url, self.protocol)
        try:
            while not self._stopping:
                try:
                    self._step()
                except _Rejoin:
                    continue
                except OSError as exc:  # ConnectionError, timeouts, GroupProtocolError
                    if self._stopping:
                        break
                    log.warning("group %s: coordinator connection failed: %s", self.group_id, exc)
                    self._drop_coordinator()
                    self._check_session()
                    self._sleep(self._next_backoff())
        except GroupMembershipError as exc:
            self.failure = exc
            log.error("group %s: member stopped: %s", self.group_id, exc)
            self._lose("fatal group error")
        except BaseException as exc:  # a listener or callback bug: report it, never die silently
            self.failure = exc
            log.exception("group %s: member thread failed", self.group_id)
            with contextlib.suppress(Exception):
                self._lose("member thread failed")
        finally:
            if self._leave_on_stop and self.failure is None:
                self._leave()
            self._drop_coordinator()
            log.info("group %s: member %s stopped", self.group_id, self.member_id or self.worker_url)

    def _step(self) -> None:
        conn = self._coordinator()
        if self._need_rejoin():
            self._join(conn)
            return
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._heartbeat(conn)
            return
        with self._cond:
            if self._stopping or self._rejoin_requested:
                return
            wake = (
                self._next_heartbeat
                if self._rejoin_at is None
                else min(self._next_heartbeat, self._rejoin_at)
            )
            self._cond.wait(max(0.0, wake - now))

    def _need_rejoin(self) -> bool:
        with self._cond:
            return (
                self._rejoin_requested
                or self.generation < 0
                or (self._rejoin_at is not None and time.monotonic() >= self._rejoin_at)
            )

    def _sleep(self, seconds: float) -> None:
        with self._cond:
            if not self._stopping:
                self._cond.wait(seconds)

    def _next_backoff(self) -> float:
        b = self._backoff
        self._backoff = min(self._backoff * 2, MAX_RETRY_BACKOFF_S)
        return b

    # -- coordinator ---------------------------------------------------------------------------------

    def _timeout(self) -> float:
        return max(self.session_timeout_ms / 1000, 10.0)

    def _connect(self, host: str, port: int) -> BrokerConnection:
        conn = BrokerConnection(host, port, self.client_id)
        try:
            conn.negotiate(self._timeout())
        except BaseException:
            conn.close()
            raise
        return conn

    def _coordinator(self, for_leave: bool = False) -> BrokerConnection:
        """The connection to the group coordinator, found through a bootstrap server if unknown."""
        if self._conn is not None and not self._conn.closed:
            return self._conn
        last_error: Exception | None = None
        for host, port in self._bootstrap:
            try:
                boot = self._connect(host, port)
            except OSError as exc:
                last_error = exc
                continue
            try:
                v = boot.pick_version(FIND_COORDINATOR, *_VERSIONS[FIND_COORDINATOR])
                resp = boot.request(
                    FIND_COORDINATOR, v, {"key": self.group_id, "key_type": 0}, self._timeout()
                )
                code = int(resp.error_code)
                if code != ErrorCode.none:
                    boot.close()
                    if code in _COORDINATOR_ERRORS:
                        raise ConnectionError(f"FindCoordinator: error {code}")
                    if code in _FATAL:
                        raise GroupMembershipError(f"FindCoordinator failed: {ErrorCode(code).name.upper()}")
                    raise ConnectionError(f"FindCoordinator failed with error {code}")
                target = (resp.host, resp.port)
                if target == boot.address:
                    conn = boot
                else:
                    boot.close()
                    conn = self._connect(resp.host, resp.port)
            except OSError as exc:
                boot.close()
                last_error = exc
                continue
            if self._stopping and not for_leave:
                conn.close()
                raise ConnectionError("stopping")
            self._conn = conn
            log.info("group %s: coordinator is %s:%d", self.group_id, *conn.address)
            return conn
        raise ConnectionError(f"no coordinator for group {self.group_id}: {last_error}")

    def _drop_coordinator(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _version(self, conn: BrokerConnection, api_key: int) -> int:
        return conn.pick_version(api_key, *_VERSIONS[api_key])

    def _check_session(self) -> None:
        """No sign of life from the coordinator for a whole session: the broker has removed this member."""
        if self.member_id and time.monotonic() - self._last_contact > self.session_timeout_ms / 1000:
            self._lose("no contact with the coordinator for session.timeout.ms")

    def _lose(self, reason: str) -> None:
        """Membership is gone: stop all work (listener.on_lost), forget the member id, rejoin later."""
        had = self._assignment
        log.warning(
            "group %s: member %s lost its membership (%s)%s",
            self.group_id,
            self.member_id,
            reason,
            "; stopping all assigned work" if had is not None else "",
        )
        self.member_id = ""
        self.generation = -1
        self._assignment = None
        self._protocol_in_use = None
        if had is not None:
            self._listener.on_lost()

    # -- join / sync -----------------------------------------------------------------------------------

    def _join(self, conn: BrokerConnection) -> None:
        with self._cond:
            reason = self._rejoin_reason
            self._rejoin_requested = False
            self._rejoin_reason = ""
            self._rejoin_at = None
        self._rebalancing = True
        if self._protocol_in_use == EAGER and self._assignment is not None:
            a = self._assignment
            self._listener.on_revoked(a.leader, a.connectors, a.tasks)
            self._assignment = None
        st = self._state()
        me = WorkerState(st.url, st.config_offset, self._assignment)
        protocols = join_protocols(me, self.protocol)
        log.info(
            "group %s: joining as %s (generation %d, reason: %s)",
            self.group_id,
            self.member_id or "a new member",
            self.generation,
            reason or "rejoin",
        )
        v = self._version(conn, JOIN_GROUP)
        wait = (self.rebalance_timeout_ms + self.session_timeout_ms) / 1000 + 5
        resp = conn.request(
            JOIN_GROUP,
            v,
            {
                "group_id": self.group_id,
                "session_timeout": self.session_timeout_ms,
                "rebalance_timeout": self.rebalance_timeout_ms,
                "member_id": self.member_id,
                "group_instance_id": None,
                "protocol_type": PROTOCOL_TYPE,
                "protocols": [{"name": n, "metadata": m} for n, m in protocols],
            },
            wait,
        )
        code = int(resp.error_code)
        if code != ErrorCode.none:
            self._join_failed("JoinGroup", code, resp.member_id)
        self._last_contact = time.monotonic()
        self.member_id = resp.member_id
        generation = int(resp.generation_id)
        protocol = resp.protocol_name or ""
        if protocol not in PROTOCOL_VERSIONS:
            raise GroupMembershipError(
                f"the group chose protocol {protocol!r}, which this worker does not speak"
            )
        assignments: dict[str, bytes] = {}
        if resp.leader == self.member_id:
            assignments = self._lead(resp.members, protocol, generation)
        v = self._version(conn, SYNC_GROUP)
        sync = conn.request(
            SYNC_GROUP,
            v,
            {
                "group_id": self.group_id,
                "generation_id": generation,
                "member_id": self.member_id,
                "group_instance_id": None,
                "protocol_type": PROTOCOL_TYPE,
                "protocol_name": protocol,
                "assignments": [{"member_id": m, "assignment": b} for m, b in assignments.items()],
            },
            wait,
        )
        code = int(sync.error_code)
        if code != ErrorCode.none:
            self._join_failed("SyncGroup", code, None)
        self._last_contact = time.monotonic()
        self._backoff = RETRY_BACKOFF_S
        raw = bytes(sync.assignment or b"")
        if not raw:
            log.info("group %s: empty assignment in generation %d; rejoining", self.group_id, generation)
            self.request_rejoin("empty assignment")
            raise _Rejoin
        try:
            assignment = decode_assignment(raw)
        except ConnectProtocolError as exc:
            log.error("group %s: undecodable assignment (%s); rejoining", self.group_id, exc)
            self._sleep(self._next_backoff())
            self.request_rejoin("undecodable assignment")
            raise _Rejoin from None
        self._apply(conn, assignment, generation, protocol)

    def _join_failed(self, api: str, code: int, member_id: str | None) -> None:
        """React to a JoinGroup/SyncGroup error code; always raises (to restart the join or stop)."""
        if code == ErrorCode.member_id_required and member_id:
            self.member_id = member_id  # KIP-394: rejoin at once with the id the coordinator assigned
            log.debug("group %s: member id %s assigned; rejoining", self.group_id, member_id)
        elif code in _MEMBERSHIP_LOST:
            self._lose(f"{api}: error {code}")
        elif code in _REJOIN:
            log.info("group %s: %s: error %d; rejoining", self.group_id, api, code)
        elif code in _COORDINATOR_ERRORS:
            log.info("group %s: %s: coordinator moved (error %d)", self.group_id, api, code)
            self._drop_coordinator()
            self._sleep(self._next_backoff())
        elif code in _FATAL:
            raise GroupMembershipError(f"{api} failed: {ErrorCode(code).name.upper()} (error {int(code)})")
        else:
            log.warning("group %s: %s failed with error %d; retrying", self.group_id, api, code)
            self._sleep(self._next_backoff())
        with self._cond:
            self._rejoin_requested = True
            self._rejoin_reason = self._rejoin_reason or f"{api} error {code}"
        raise _Rejoin

    def _lead(self, members: Sequence[Any], protocol: str, generation: int) -> dict[str, bytes]:
        """As leader: decode every member's metadata and compute everyone's assignment."""
        states: dict[str, WorkerState] = {}
        for m in members:
            try:
                states[m.member_id] = decode_metadata(bytes(m.metadata))
            except ConnectProtocolError as exc:
                log.error("group %s: member %s sent bad metadata (%s)", self.group_id, m.member_id, exc)
                states[m.member_id] = WorkerState("", -1)
        if self.member_id not in states:
            raise GroupMembershipError(
                "JoinGroup made this worker leader without listing it among the members"
            )
        max_offset = max(s.config_offset for s in states.values())
        offset, connectors = self._assignable()
        if offset < max_offset:
            offset, connectors = self._assignable()
        version = PROTOCOL_VERSIONS[protocol]
        if offset < max_offset:
            log.info(
                "group %s: leader config offset %d behind a member's %d: CONFIG_MISMATCH",
                self.group_id,
                offset,
                max_offset,
            )
            out = config_mismatch_assignments(self.member_id, states, max_offset, max(version, 1))
            if version == 0:
                out = {m: replace(a, version=0) for m, a in out.items()}
        elif version == 0:
            out = eager_assign(self.member_id, states, offset, connectors)
        else:
            out = self._assignor.assign(
                self.member_id,
                states,
                offset,
                connectors,
                generation,
                last_completed_generation=self._last_completed_generation,
                protocol_version=version,
            )
            if self._on_held is not None:
                # before SyncGroup: no member can act on this generation (or a later one) yet
                self._on_held(self._assignor.held(), generation)
        return {m: encode_assignment(a) for m, a in out.items()}

    def _apply(self, conn: BrokerConnection, a: ConnectAssignment, generation: int, protocol: str) -> None:
        """Stop revoked work, add the new work to what runs, tell the listener, schedule the next rejoin."""
        revoked = False
        if protocol == EAGER:
            full = a
        else:
            # Only what this worker runs can be revoked from it. (A follower that rejoins a stable group with
            # unchanged metadata is handed its last assignment again; replaying its revocations must not
            # stop anything twice nor loop on "revocation round -> rejoin".)
            prev = self._assignment
            run_c = set(prev.connectors) if prev is not None else set()
            run_t = set(prev.tasks) if prev is not None else set()
            revoked_c = [c for c in a.revoked_connectors if c in run_c]
            revoked_t = [t for t in a.revoked_tasks if t in run_t]
            revoked = bool(revoked_c or revoked_t)
            if revoked:
                log.info(
                    "group %s: generation %d revokes connectors %s tasks %s",
                    self.group_id,
                    generation,
                    revoked_c,
                    [str(t) for t in revoked_t],
                )
                with self._keep_alive(conn, generation):
                    self._listener.on_revoked(a.leader, revoked_c, revoked_t)
            keep_c: tuple[str, ...] = ()
            keep_t: tuple[ConnectorTaskId, ...] = ()
            if prev is not None:
                rc, rt = set(revoked_c), set(revoked_t)
                keep_c = tuple(c for c in prev.connectors if c not in rc)
                keep_t = tuple(t for t in prev.tasks if t not in rt)
            full = replace(
                a,
                connectors=tuple(dict.fromkeys(keep_c + a.connectors)),
                tasks=tuple(dict.fromkeys(keep_t + a.tasks)),
            )
        now = time.monotonic()
        with self._cond:
            self._assignment = full
            self._protocol_in_use = protocol
            self.generation = generation
            self._last_completed_generation = generation
            self._next_heartbeat = now + self.heartbeat_interval_ms / 1000
            if a.failed:  # the herder reads the config topic and asks to rejoin; this is the fallback
                self._rejoin_at = now + self.heartbeat_interval_ms / 1000
                self._rejoin_reason = self._rejoin_reason or "config mismatch"
            elif revoked:
                self._rejoin_requested = True
                self._rejoin_reason = self._rejoin_reason or "revocation round"
            elif a.delay_ms > 0:
                self._rejoin_at = now + a.delay_ms / 1000
                self._rejoin_reason = self._rejoin_reason or f"scheduled rebalance after {a.delay_ms} ms"
        log.info(
            "group %s: generation %d: %s runs %d connectors, %d tasks (leader %s%s%s)",
            self.group_id,
            generation,
            self.member_id,
            len(full.connectors),
            len(full.tasks),
            a.leader,
            ", config mismatch" if a.failed else "",
            f", rejoin in {a.delay_ms} ms" if a.delay_ms else "",
        )
        self._rebalancing = False
        self._listener.on_assigned(full, generation)

    # -- heartbeats ------------------------------------------------------------------------------------

    def _send_heartbeat(self, conn: BrokerConnection, generation: int) -> int:
        v = self._version(conn, HEARTBEAT)
        resp = conn.request(
            HEARTBEAT,
            v,
            {
                "group_id": self.group_id,
                "generation_id": generation,
                "member_id": self.member_id,
                "group_instance_id": None,
            },
            self._timeout(),
        )
        return int(resp.error_code)

    def _heartbeat(self, conn: BrokerConnection) -> None:
        code = self._send_heartbeat(conn, self.generation)
        now = time.monotonic()
        self._next_heartbeat = now + self.heartbeat_interval_ms / 1000
        if code in (ErrorCode.none, *_REJOIN):
            self._last_contact = now
        if code == ErrorCode.none:
            return
        if code in _REJOIN:
            self.request_rejoin(f"heartbeat: error {code}")
        elif code in _MEMBERSHIP_LOST:
            self._lose(f"heartbeat: error {code}")
            self.request_rejoin("membership lost")
        elif code in _COORDINATOR_ERRORS:
            self._drop_coordinator()
            self._check_session()
        else:
            log.warning("group %s: heartbeat failed with error %d", self.group_id, code)

    @contextlib.contextmanager
    def _keep_alive(self, conn: BrokerConnection, generation: int) -> Iterator[None]:
        """Heartbeat from a helper thread while the member thread blocks in a listener callback."""
        done = threading.Event()
        lost: list[int] = []

        def beat() -> None:
            while not done.wait(self.heartbeat_interval_ms / 1000):
                try:
                    code = self._send_heartbeat(conn, generation)
                except OSError:
                    return
                if code in (ErrorCode.none, *_REJOIN):
                    self._last_contact = time.monotonic()
                if code in _MEMBERSHIP_LOST:
                    lost.append(code)
                    return

        keeper = threading.Thread(target=beat, name=f"{self._thread.name}-keepalive", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()
        if lost:
            self._lose(f"heartbeat during revocation: error {lost[0]}")
            raise _Rejoin

    # -- leaving ---------------------------------------------------------------------------------------

    def _leave(self) -> None:
        if not self.member_id:
            return
        try:
            conn = self._conn if self._conn is not None and not self._conn.closed else None
            if conn is None:
                self._conn = None
                conn = self._coordinator(for_leave=True)
            v = self._version(conn, LEAVE_GROUP)
            body: dict[str, Any] = {"group_id": self.group_id, "member_id": self.member_id}
            if v >= 3:
                body["members"] = [{"member_id": self.member_id, "group_instance_id": None}]
            resp = conn.request(LEAVE_GROUP, v, body, 10.0)
            log.info(
                "group %s: member %s left the group (error %d)",
                self.group_id,
                self.member_id,
                int(resp.error_code),
            )
        except OSError as exc:
            log.warning("group %s: LeaveGroup failed: %s", self.group_id, exc)
        self.member_id = ""
        self.generation = -1
