"""Consumer groups end-to-end: real clients split partitions through the broker's group coordinator,
take over a departed member's partitions, and resume exactly at the committed offsets.

Members run in their own processes (``tests/support/group_member.py``) so one can be SIGKILLed. A member
reports the records it processed *before* committing them, so the union of what all members reported must
cover every offset (duplicates are allowed: at-least-once; gaps are not). A missing committed offset is
an error for the members (auto.offset.reset = error/none), never a silent jump.

On headrace each test gets a private broker started with ``group.min.session.timeout.ms=1000`` so members
can use a 3 s session timeout; other brokers use the shared one with Kafka's minimum (6 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.support.brokers import STARTED, HeadraceBrokers, broker_kind
from tests.support.clients import create_topic
from tests.support.groups import (
    MemberProcess,
    NumberedProducer,
    commit_offsets,
    fetch_committed,
    stop_all_members,
)
from tests.support.servers import ServerProcess, start_headrace_broker

# (client library, librdkafka assignor or None for the library's default); "cooperative-sticky" exercises
# incremental rebalancing (KIP-429).
MEMBERS: dict[str, tuple[str, str | None]] = {
    "confluent": ("confluent", "range"),
    "confluent-cooperative": ("confluent", "cooperative-sticky"),
    "kafka-python": ("kafka-python", None),
    "aiokafka": ("aiokafka", None),
}
PARTITIONS = 4
# How much later than the session timeout a survivor may own a SIGKILLed member's partitions: one
# heartbeat interval (0.5 s) to learn of the rebalance, plus the JoinGroup/SyncGroup round and the
# client noticing the new assignment on its next poll.
TAKEOVER_MARGIN_S = 2.5


@dataclass
class GroupBroker:
    bootstrap: str
    session_timeout_ms: int
    server: ServerProcess | None


@pytest.fixture
def group_broker(request: pytest.FixtureRequest, tmp_path: Path) -> GroupBroker:
    if broker_kind() != "headrace":
        b = request.getfixturevalue("broker")
        return GroupBroker(b.bootstrap, 6000, b.server)
    brokers = request.getfixturevalue("headrace_brokers")  # stops it and attaches its log on failure
    server = start_headrace_broker(
        data_dir=tmp_path / "group-broker", extra_args=["--set", "group.min.session.timeout.ms=1000"]
    )
    STARTED.append(server)
    brokers.started.append(server)
    brokers.on_start("headrace (groups)", server)
    return GroupBroker(server.bootstrap, 3000, server)


@pytest.fixture(autouse=True)
def _members_stopped() -> Iterator[None]:
    yield
    stop_all_members()


def wait_split(members: list[MemberProcess], timeout: float) -> float:
    """Wait until the members own disjoint, equal shares covering every partition."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shares = [m.assignment or [] for m in members]
        flat = sorted(p for s in shares for p in s)
        if flat == list(range(PARTITIONS)) and all(len(s) == PARTITIONS // len(members) for s in shares):
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(
        f"no even split of {PARTITIONS} partitions within {timeout}s:\n"
        + "\n".join(m.describe() for m in members)
    )


def first_offsets_after(member: MemberProcess, t: float) -> dict[int, int]:
    """The first offset ``member`` processed per partition in records it reported after time ``t``."""
    out: dict[int, int] = {}
    for e in member.of("records"):
        if e.t >= t:
            for p, o, _ in e.data["recs"]:
                out.setdefault(p, o)
    return out


def consumed_through(members: list[MemberProcess], totals: dict[int, int]) -> bool:
    seen = {(p, o) for m in members for p, o, _ in m.records()}
    return all((p, n - 1) in seen for p, n in totals.items() if n)


@pytest.mark.parametrize("ending", ["close", "sigkill"])
@pytest.mark.parametrize("client", list(MEMBERS))
def test_group_failover_resumes_at_committed_offsets(
    group_broker: GroupBroker,
    topic: str,
    tmp_path: Path,
    client: str,
    ending: str,
    request: pytest.FixtureRequest,
) -> None:
    """Two members split 4 partitions 2/2; the leader leaves (close) or is SIGKILLed; the other member
    owns all 4 within the session timeout (+ margin) and continues from the committed offsets: every
    offset of every partition was processed by someone, and nothing was invented."""
    bs, session_ms = group_broker.bootstrap, group_broker.session_timeout_ms
    create_topic(bs, topic, partitions=PARTITIONS)
    group = f"group-{topic}"
    commit_offsets(bs, group, topic, dict.fromkeys(range(PARTITIONS), 0))
    producer = NumberedProducer(bs, topic, PARTITIONS, rate=200)
    request.addfinalizer(producer.halt)
    producer.produce_now(50)  # a backlog, then a steady stream while members come and go

    library, assignor = MEMBERS[client]

    def member(name: str) -> MemberProcess:
        return MemberProcess.start(
            name, library, bs, topic, group, tmp_path, session_timeout_ms=session_ms, assignor=assignor
        )

    leader = member("a")
    leader.wait_until(lambda: leader.assignment == list(range(PARTITIONS)), 30, "a to own all partitions")
    other = member("b")
    producer.start()
    split_at = wait_split([leader, other], timeout=30)
    victim_parts = leader.assignment
    assert victim_parts is not None
    # Let both members process (and commit) part of the stream in their split.
    for m in (leader, other):
        m.wait_until(
            lambda m=m: bool(first_offsets_after(m, split_at)), 15, f"{m.name} to consume after the split"
        )
    time.sleep(0.5)

    ended_at = leader.close() if ending == "close" else leader.kill()
    other.wait_until(
        lambda: other.assignment == list(range(PARTITIONS)), session_ms / 1000 + 15, "b to own all partitions"
    )
    taken_at = other.of("assigned")[-1].t  # when b reported owning all four (events are time-stamped)
    takeover_s = taken_at - ended_at
    print(f"{client}/{ending}: b owned all partitions {takeover_s:.2f}s after a's end")
    time.sleep(0.5)  # the survivor keeps consuming the stream for a while
    totals = producer.stop()
    other.wait_until(
        lambda: consumed_through([leader, other], totals), 30, "b to consume everything produced"
    )
    other.close()

    # -- the takeover was timely
    bound = session_ms / 1000 + (0 if ending == "close" else TAKEOVER_MARGIN_S)
    assert takeover_s <= bound, (
        f"after {ending} of a, b owned all partitions only {takeover_s:.2f}s later (bound {bound}s, "
        f"session.timeout.ms={session_ms})"
    )
    # -- no errors: no missing committed offset, no consumer error
    for m in (leader, other):
        assert not m.errors(), f"member {m.name} reported errors: {m.errors()[:5]}"

    # -- the survivor started a's partitions where a's commits left them
    a_committed = leader.committed()
    a_last = {p: max(o for q, o, _ in leader.records() if q == p) for p in victim_parts}
    b_first = first_offsets_after(other, taken_at)
    for p in victim_parts:
        assert p in b_first, f"b never consumed taken-over partition {p}: {other.describe()}"
        if ending == "close":  # a committed everything it processed, then left
            assert b_first[p] == a_committed[p], (
                f"partition {p}: b started at {b_first[p]}, a had committed {a_committed[p]} "
                f"(a processed up to {a_last[p]}; events: {leader.events_path}, {other.events_path})"
            )
        else:  # a may have committed more than it reported, but never more than it processed
            assert a_committed.get(p, 0) <= b_first[p] <= a_last[p] + 1, (
                f"partition {p}: b started at {b_first[p]}; a reported committing {a_committed.get(p)} and "
                f"processed up to {a_last[p]}"
            )

    # -- at least once: the union covers every offset, each record where it was produced
    seen: set[tuple[int, int]] = set()
    for m in (leader, other):
        for p, o, v in m.records():
            assert v == f"{p}:{o}", f"member {m.name} read {v!r} at {p}/{o}"
            seen.add((p, o))
    expected = {(p, o) for p, n in totals.items() for o in range(n)}
    missing = sorted(expected - seen)
    assert not missing, f"{len(missing)} offsets never consumed (gap), first {missing[:10]}"
    assert seen == expected, f"consumed offsets that were never produced: {sorted(seen - expected)[:10]}"

    # -- and the committed offsets end where the survivor stopped
    assert fetch_committed(bs, group, topic, range(PARTITIONS)) == totals


@pytest.mark.headrace_only
def test_committed_offsets_survive_broker_sigkill(headrace_brokers: HeadraceBrokers, topic: str) -> None:
    """Offsets committed by a group member, then the broker SIGKILLed and restarted on the same data dir
    and port: OffsetFetch returns exactly what was committed (the last commit per partition wins, other
    groups keep theirs, a deleted group stays deleted) and a new member starts at those offsets."""
    server = headrace_brokers.start()
    bs = server.bootstrap
    create_topic(bs, topic, partitions=PARTITIONS)
    producer = NumberedProducer(bs, topic, PARTITIONS)
    producer.produce_now(100)
    group, other_group, deleted_group = f"g-{topic}", f"g2-{topic}", f"gdel-{topic}"

    # A member consumes part of each partition and commits, several times (so later commits must win).
    c = Consumer(
        {
            "bootstrap.servers": bs,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([topic])
    want = {0: 10, 1: 37, 2: 64, 3: 99}
    got: dict[int, int] = {}
    deadline = time.monotonic() + 30
    while got != want and time.monotonic() < deadline:
        for m in c.consume(num_messages=20, timeout=0.2):
            assert m.error() is None, m.error()
            p, o = m.partition(), m.offset()
            if o < want[p]:
                got[p] = o + 1
                c.commit(offsets=[TopicPartition(topic, p, o + 1)], asynchronous=False)
            elif got.get(p) != want[p]:  # read past the target: pin the commit at it
                got[p] = want[p]
                c.commit(offsets=[TopicPartition(topic, p, want[p])], asynchronous=False)
    assert got == want, f"could not commit {want}, got {got}"
    commit_offsets(bs, other_group, topic, {0: 5, 2: 7})
    commit_offsets(bs, deleted_group, topic, {1: 1})
    a = AdminClient({"bootstrap.servers": bs})
    a.delete_consumer_groups([deleted_group], request_timeout=10)[deleted_group].result(timeout=15)
    assert fetch_committed(bs, group, topic, range(PARTITIONS)) == want

    server.kill()  # the member is still in the group: no LeaveGroup, nothing flushed on the way out
    c.close()
    server = headrace_brokers.restart(server)
    assert server.bootstrap == bs

    assert fetch_committed(bs, group, topic, range(PARTITIONS)) == want
    assert fetch_committed(bs, other_group, topic, range(PARTITIONS)) == {0: 5, 1: -1001, 2: 7, 3: -1001}
    assert fetch_committed(bs, deleted_group, topic, [1]) == {1: -1001}, "a deleted group came back"
    a = AdminClient({"bootstrap.servers": bs})  # must outlive its futures
    listed = {g.group_id for g in a.list_consumer_groups(request_timeout=10).result(15).valid}
    assert group in listed and other_group in listed and deleted_group not in listed, listed

    # A new member of the group starts exactly at the committed offsets (no reset allowed).
    c2 = Consumer(
        {
            "bootstrap.servers": bs,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "error",
        }
    )
    first: dict[int, int] = {}
    try:
        c2.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(first) < PARTITIONS and time.monotonic() < deadline:
            for m in c2.consume(num_messages=100, timeout=0.2):
                assert m.error() is None, f"consumer error after restart: {m.error()}"
                first.setdefault(m.partition(), m.offset())
                assert m.value() == f"{m.partition()}:{m.offset()}".encode()
    finally:
        c2.close()
    assert first == want, f"first offsets after restart: {first}"


# ------------------------------------------------------------------------------ static membership (KIP-345)


def static_consumer(bs: str, group: str, instance: str, session_ms: int) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bs,
            "group.id": group,
            "group.instance.id": instance,
            "client.id": f"static-{instance}",
            "session.timeout.ms": session_ms,
            "heartbeat.interval.ms": 500,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",
        }
    )


def owned(c: Consumer) -> list[int]:
    return sorted(tp.partition for tp in c.assignment())


def test_static_member_restart_takes_its_partitions_back_without_rebalance(
    group_broker: GroupBroker, topic: str
) -> None:
    """KIP-345: a consumer with ``group.instance.id`` that restarts (close() sends no LeaveGroup for a
    static member) rejoins under the same instance id and gets its old partitions back at once, without
    a rebalance: the other member keeps consuming its partitions throughout."""
    bs, session_ms = group_broker.bootstrap, group_broker.session_timeout_ms
    create_topic(bs, topic, partitions=PARTITIONS)
    group = f"static-{topic}"
    a = static_consumer(bs, group, "A", session_ms)
    b = static_consumer(bs, group, "B", session_ms)
    b2: Consumer | None = None
    try:
        a.subscribe([topic])
        b.subscribe([topic])
        deadline = time.monotonic() + 10
        while not (len(owned(a)) == 2 and len(owned(b)) == 2):
            assert time.monotonic() < deadline, f"no 2/2 split: a {owned(a)}, b {owned(b)}"
            a.poll(0.05)
            b.poll(0.05)
        a_parts, b_parts = owned(a), owned(b)
        b.close()  # a static member leaves no LeaveGroup behind: the broker keeps its place

        restarted = time.monotonic()
        b2 = static_consumer(bs, group, "B", session_ms)
        b2.subscribe([topic])
        a_seen: set[tuple[int, ...]] = set()
        while not owned(b2) and time.monotonic() < restarted + session_ms / 1000 + 5:
            a.poll(0.05)
            b2.poll(0.05)
            a_seen.add(tuple(owned(a)))
        took = time.monotonic() - restarted
        for _ in range(10):  # a little longer: no late rebalance either
            a.poll(0.05)
            b2.poll(0.05)
            a_seen.add(tuple(owned(a)))
        assert owned(b2) == b_parts, f"restarted B owns {owned(b2)}, B owned {b_parts} ({took:.2f}s)"
        assert took < min(1.5, session_ms / 2000), (
            f"restarted static member B got its partitions only after {took:.2f}s "
            f"(session.timeout.ms={session_ms}): the broker waited for the old B to time out"
        )
        assert a_seen == {tuple(a_parts)}, f"member A was rebalanced meanwhile: its assignments {a_seen}"
        admin_client = AdminClient({"bootstrap.servers": bs})
        desc = admin_client.describe_consumer_groups([group], request_timeout=10)[group].result(15)
        instances = sorted(m.group_instance_id for m in desc.members)
        assert instances == ["A", "B"], f"members by instance id: {instances}"
    finally:
        a.close()
        if b2 is not None:
            b2.close()


def test_second_static_member_with_same_instance_id_fences_the_first(
    group_broker: GroupBroker, topic: str
) -> None:
    """KIP-345: two live consumers must not share a ``group.instance.id``. When a second one joins
    under the id, the broker replaces the first, whose next heartbeat/commit fails with
    FENCED_INSTANCE_ID (fatal for the old consumer); the group has one member for the id."""
    bs, session_ms = group_broker.bootstrap, group_broker.session_timeout_ms
    create_topic(bs, topic, partitions=PARTITIONS)
    group = f"fence-{topic}"
    first = static_consumer(bs, group, "X", session_ms)
    second = static_consumer(bs, group, "X", session_ms)
    try:
        first.subscribe([topic])
        deadline = time.monotonic() + 10
        while owned(first) != list(range(PARTITIONS)):
            assert time.monotonic() < deadline, f"first consumer never owned all partitions: {owned(first)}"
            first.poll(0.05)
        second.subscribe([topic])
        fenced = None
        deadline = time.monotonic() + session_ms / 1000 + 5
        while time.monotonic() < deadline and not (fenced and owned(second) == list(range(PARTITIONS))):
            try:
                msg = first.poll(0.05)
                if msg is not None and msg.error() is not None and fenced is None:
                    fenced = msg.error()
            except KafkaException as exc:
                fenced = fenced or exc.args[0]
            second.poll(0.05)
        admin_client = AdminClient({"bootstrap.servers": bs})
        desc = admin_client.describe_consumer_groups([group], request_timeout=10)[group].result(15)
        members = [(m.client_id, m.group_instance_id) for m in desc.members]
        assert len(members) == 1, f"{len(members)} members share group.instance.id X: {members}"
        assert owned(second) == list(range(PARTITIONS)), f"the new instance owns {owned(second)}"
        # librdkafka raises FENCED_INSTANCE_ID as a fatal error (_FATAL, naming the cause)
        assert fenced is not None and (
            fenced.code() == KafkaError.FENCED_INSTANCE_ID
            or (fenced.code() == KafkaError._FATAL and "fenced" in fenced.str())
        ), f"the old instance was not fenced: {fenced}"
    finally:
        for c in (first, second):
            try:
                c.close()
            except KafkaException:  # a fenced consumer may refuse to close cleanly
                pass
