"""IncrementalCooperativeAssignor: Kafka's KIP-415 semantics, driven round by round with an injected clock.

A small harness plays the members: each round it reports every worker's current work in its metadata, runs
the assignor, and applies the answer the way WorkerGroupMember does (stop revoked, add new).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping

import pytest

from connect.runtime.distributed.assignor import (
    IncrementalCooperativeAssignor,
    config_mismatch_assignments,
    eager_assign,
)
from connect.runtime.distributed.connect_protocol import (
    CONFIG_MISMATCH,
    ConnectAssignment,
    WorkerState,
)
from connect.runtime.models import ConnectorTaskId as T

MAX_DELAY_MS = 10_000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, ms: int) -> None:
        self.now += ms / 1000


class Cluster:
    """Workers and what each runs; ``rebalance`` is one JoinGroup/SyncGroup round led by ``leader``."""

    def __init__(self, max_delay_ms: int = MAX_DELAY_MS, order_seed: int | None = None) -> None:
        self.clock = Clock()
        self.shuffle = random.Random(order_seed) if order_seed is not None else None
        self.assignor = IncrementalCooperativeAssignor(max_delay_ms, clock=self.clock)
        self.running: dict[str, tuple[list[str], list[T]] | None] = {}
        self.generation = 0
        self.last: dict[str, ConnectAssignment] = {}

    def join(self, *workers: str) -> None:
        for w in workers:
            self.running[w] = None  # a fresh worker: nothing assigned yet

    def depart(self, worker: str) -> tuple[list[str], list[T]]:
        held = self.running.pop(worker)
        return held if held is not None else ([], [])

    def rebalance(
        self, connectors: Mapping[str, int], leader: str | None = None
    ) -> dict[str, ConnectAssignment]:
        self.generation += 1
        members = {}
        for w, run in self.running.items():
            a = None if run is None else ConnectAssignment(0, "x", "u", 0, tuple(run[0]), tuple(run[1]))
            members[w] = WorkerState(f"http://{w}:8083", 5, a)
        if self.shuffle is not None:  # the order members arrive in must not matter
            items = list(members.items())
            self.shuffle.shuffle(items)
            members = dict(items)
        leader = leader or min(members)
        out = self.assignor.assign(
            leader, members, 5, connectors, self.generation, last_completed_generation=self.generation - 1
        )
        assert set(out) == set(members)
        for w, a in out.items():
            conns, tasks = self.running[w] or ([], [])
            assert set(a.revoked_connectors) <= set(conns), "revoked a connector the worker does not run"
            assert set(a.revoked_tasks) <= set(tasks), "revoked a task the worker does not run"
            assert not set(a.connectors) & set(conns), "assigned a connector the worker already runs"
            assert not set(a.tasks) & set(tasks), "assigned a task the worker already runs"
            conns = [c for c in conns if c not in a.revoked_connectors] + list(a.connectors)
            tasks = [t for t in tasks if t not in a.revoked_tasks] + list(a.tasks)
            self.running[w] = (conns, tasks)
            assert a.leader == leader and a.leader_url == f"http://{leader}:8083"
        self.last = out
        return out

    def connectors_of(self, w: str) -> set[str]:
        run = self.running[w]
        return set(run[0]) if run else set()

    def tasks_of(self, w: str) -> set[T]:
        run = self.running[w]
        return set(run[1]) if run else set()

    def all_connectors(self) -> Counter[str]:
        return Counter(c for run in self.running.values() if run for c in run[0])

    def all_tasks(self) -> Counter[T]:
        return Counter(t for run in self.running.values() if run for t in run[1])


def tasks_of(connectors: Mapping[str, int]) -> set[T]:
    return {T(c, i) for c, n in connectors.items() for i in range(n)}


def assert_exactly_once(cluster: Cluster, connectors: Mapping[str, int]) -> None:
    assert cluster.all_connectors() == Counter(list(connectors)), "every connector runs exactly once"
    assert cluster.all_tasks() == Counter(tasks_of(connectors)), "every task runs exactly once"


def spread(cluster: Cluster) -> tuple[list[int], list[int]]:
    ws = sorted(cluster.running)
    return [len(cluster.connectors_of(w)) for w in ws], [len(cluster.tasks_of(w)) for w in ws]


def moved(out: Mapping[str, ConnectAssignment]) -> tuple[int, int]:
    """(revoked, newly assigned) counts of connectors+tasks in one round."""
    rev = sum(len(a.revoked_connectors) + len(a.revoked_tasks) for a in out.values())
    new = sum(len(a.connectors) + len(a.tasks) for a in out.values())
    return rev, new


CONNECTORS = {"a": 4, "b": 4, "c": 4, "d": 3}  # 4 connectors, 15 tasks


def test_initial_assignment_spreads_connectors_and_tasks_evenly() -> None:
    cluster = Cluster()
    cluster.join("w1", "w2", "w3")
    out = cluster.rebalance(CONNECTORS)
    assert_exactly_once(cluster, CONNECTORS)
    conns, tasks = spread(cluster)
    assert sorted(conns) == [1, 1, 2]
    assert tasks == [5, 5, 5]
    assert all(a.delay_ms == 0 and not a.revoked_connectors and not a.revoked_tasks for a in out.values())
    # a second round with nothing changed moves nothing
    assert moved(cluster.rebalance(CONNECTORS)) == (0, 0)


def test_new_worker_gets_only_the_surplus_in_a_revocation_then_an_assignment_round() -> None:
    cluster = Cluster()
    cluster.join("w1", "w2", "w3")
    cluster.rebalance(CONNECTORS)
    before = {w: (cluster.connectors_of(w), cluster.tasks_of(w)) for w in ("w1", "w2", "w3")}

    cluster.join("w4")
    revocation = cluster.rebalance(CONNECTORS)
    # round 1: only revocations, nothing new assigned yet; each old worker keeps the rest of its work
    assert moved(revocation) == (1 + 3, 0)  # the 2-connector worker gives one, each worker gives one task
    assert cluster.connectors_of("w4") == set() and cluster.tasks_of("w4") == set()
    for w, (conns, tasks) in before.items():
        assert cluster.connectors_of(w) <= conns and cluster.tasks_of(w) <= tasks

    assignment = cluster.rebalance(CONNECTORS)  # the revoking members rejoin at once
    assert moved(assignment) == (0, 4)
    assert set(assignment["w4"].connectors) | set(assignment["w4"].tasks) == {
        *revocation["w1"].revoked_connectors,
        *revocation["w2"].revoked_connectors,
        *revocation["w3"].revoked_connectors,
    } | {t for a in revocation.values() for t in a.revoked_tasks}
    assert_exactly_once(cluster, CONNECTORS)
    assert spread(cluster) == ([1, 1, 1, 1], [4, 4, 4, 3])
    # balanced: the next round is quiet
    assert moved(cluster.rebalance(CONNECTORS)) == (0, 0)


def test_departed_workers_work_is_held_for_the_delay_then_given_out() -> None:
    cluster = Cluster()
    cluster.join("w1", "w2", "w3")
    cluster.rebalance(CONNECTORS)
    lost_c, lost_t = cluster.depart("w3")

    out = cluster.rebalance(CONNECTORS)
    assert moved(out) == (0, 0), "lost work is not reassigned before the delay"
    assert {a.delay_ms for a in out.values()} == {MAX_DELAY_MS}, "members are told when to rejoin"
    assert not set(cluster.all_tasks()) & set(lost_t)

    cluster.clock.advance_ms(4_000)  # some other rebalance meanwhile: still held, with the remaining delay
    out = cluster.rebalance(CONNECTORS)
    assert moved(out) == (0, 0)
    assert {a.delay_ms for a in out.values()} == {6_000}

    cluster.clock.advance_ms(6_000)  # the delay expired: members rejoin and the leader gives the work out
    out = cluster.rebalance(CONNECTORS)
    assert moved(out) == (0, len(lost_c) + len(lost_t))
    assert {a.delay_ms for a in out.values()} == {0}
    assert_exactly_once(cluster, CONNECTORS)
    conns, tasks = spread(cluster)
    assert sorted(conns) == [2, 2] and sorted(tasks) == [7, 8]


def test_restarted_worker_returning_within_the_delay_gets_its_work_back() -> None:
    cluster = Cluster()
    cluster.join("w1", "w2", "w3")
    cluster.rebalance(CONNECTORS)
    lost_c, lost_t = cluster.depart("w3")
    cluster.rebalance(CONNECTORS)

    cluster.clock.advance_ms(3_000)
    cluster.join("w3b")  # the same worker restarted: a new member id, nothing running
    out = cluster.rebalance(CONNECTORS)
    assert moved(out) == (0, 0) and {a.delay_ms for a in out.values()} == {7_000}

    cluster.clock.advance_ms(7_000)
    out = cluster.rebalance(CONNECTORS)
    assert set(out["w3b"].connectors) == set(lost_c) and set(out["w3b"].tasks) == set(lost_t)
    assert moved(out) == (0, len(lost_c) + len(lost_t)), "only the returning worker gets anything"
    assert_exactly_once(cluster, CONNECTORS)


def test_worker_back_with_its_work_keeps_it_and_the_delay_is_cancelled() -> None:
    cluster = Cluster()
    cluster.join("w1", "w2", "w3")
    cluster.rebalance(CONNECTORS)
    held = cluster.depart("w3")
    cluster.rebalance(CONNECTORS)
    cluster.clock.advance_ms(2_000)
    cluster.running["w3"] = held  # e.g. a network blip: it rejoins still running its work
    out = cluster.rebalance(CONNECTORS)
    assert moved(out) == (0, 0)
    assert {a.delay_ms for a in out.values()} == {0}
    assert_exactly_once(cluster, CONNECTORS)


def test_zero_delay_reassigns_lost_work_at_once() -> None:
    cluster = Cluster(max_delay_ms=0)
    cluster.join("w1", "w2", "w3")
    cluster.rebalance(CONNECTORS)
    lost_c, lost_t = cluster.depart("w2")
    out = cluster.rebalance(CONNECTORS)
    assert moved(out) == (0, len(lost_c) + len(lost_t))
    assert_exactly_once(cluster, CONNECTORS)


def test_deleted_connector_and_removed_tasks_are_revoked() -> None:
    cluster = Cluster()
    cluster.join("w1", "w2", "w3")
    cluster.rebalance(CONNECTORS)
    owner_b = next(w for w in cluster.running if "b" in cluster.connectors_of(w))
    smaller = {"a": 2, "c": 4, "d": 3}  # b deleted, a shrank from 4 to 2 tasks
    out = cluster.rebalance(smaller)
    assert "b" in out[owner_b].revoked_connectors
    revoked_tasks = {t for a in out.values() for t in a.revoked_tasks}
    assert revoked_tasks == {T("b", i) for i in range(4)} | {T("a", 2), T("a", 3)}
    assert not any(a.connectors or a.tasks for a in out.values())
    assert "b" not in cluster.all_connectors() and not any(t.connector == "b" for t in cluster.all_tasks())
    # b's worker lost its only connector: one of the busier workers may give one up (load-balancing) and the
    # follow-up round hands it over
    other_revoked = [c for a in out.values() for c in a.revoked_connectors if c != "b"]
    assert len(other_revoked) <= 1
    cluster.rebalance(smaller)
    assert_exactly_once(cluster, smaller)
    # a connector added later goes to the least loaded worker
    bigger = {**smaller, "e": 2}
    cluster.rebalance(bigger)
    assert_exactly_once(cluster, bigger)
    conns, tasks = spread(cluster)
    assert max(conns) - min(conns) <= 1 and max(tasks) - min(tasks) <= 1


def test_duplicated_work_is_revoked_everywhere_and_reassigned_once() -> None:
    cluster = Cluster()
    cluster.join("w1", "w2")
    cluster.rebalance({"a": 2})
    w_with_task0 = next(w for w in cluster.running if T("a", 0) in cluster.tasks_of(w))
    other = "w2" if w_with_task0 == "w1" else "w1"
    conns, tasks = cluster.running[other] or ([], [])
    cluster.running[other] = (conns, [*tasks, T("a", 0)])  # both now claim a-0 (e.g. a zombie)
    out = cluster.rebalance({"a": 2})
    assert T("a", 0) in out["w1"].revoked_tasks and T("a", 0) in out["w2"].revoked_tasks
    cluster.rebalance({"a": 2})
    assert_exactly_once(cluster, {"a": 2})


def test_assignment_is_deterministic() -> None:
    def run(order_seed: int) -> list[dict[str, ConnectAssignment]]:
        cluster = Cluster(order_seed=order_seed)
        cluster.join("w1", "w2", "w3")
        rounds = [cluster.rebalance(CONNECTORS)]
        cluster.join("w4", "w5")
        rounds.append(cluster.rebalance(CONNECTORS))
        rounds.append(cluster.rebalance(CONNECTORS))
        return rounds

    first = run(1)
    for seed in (2, 3, 4):
        assert run(seed) == first


def test_protocol_version_is_stamped_and_helpers() -> None:
    assignor = IncrementalCooperativeAssignor(0)
    members = {"m1": WorkerState("http://a", 3), "m2": WorkerState("http://b", 3)}
    out = assignor.assign("m1", members, 3, {"x": 1}, 1, protocol_version=2)
    assert {a.version for a in out.values()} == {2}
    assert assignor.owner_url("x") in ("http://a", "http://b")
    assert assignor.owner_url(T("x", 0)) in ("http://a", "http://b")
    assert assignor.owner_url(T("y", 0)) is None

    mismatch = config_mismatch_assignments("m1", members, 9)
    assert {(a.error, a.config_offset, a.connectors, a.tasks) for a in mismatch.values()} == {
        (CONFIG_MISMATCH, 9, (), ())
    }

    eager = eager_assign("m2", members, 3, {"b": 2, "a": 1})
    assert eager["m1"].connectors == ("a",) and eager["m2"].connectors == ("b",)
    assert eager["m1"].tasks == (T("a", 0), T("b", 1)) and eager["m2"].tasks == (T("b", 0),)
    assert {a.version for a in eager.values()} == {0}

    with pytest.raises(ValueError):
        assignor.assign("nobody", members, 3, {}, 2)
    with pytest.raises(ValueError):
        IncrementalCooperativeAssignor(-1)


def test_leader_generation_gap_drops_the_previous_view() -> None:
    """If the last round never completed, the leader cannot trust its view: lost work is not detected and
    what is unassigned is handed out as new (Kafka's rule)."""
    cluster = Cluster()
    cluster.join("w1", "w2", "w3")
    cluster.rebalance(CONNECTORS)
    lost_c, lost_t = cluster.depart("w3")
    members = {
        w: WorkerState(f"http://{w}:8083", 5, ConnectAssignment(0, "x", "u", 0, tuple(r[0]), tuple(r[1])))
        for w, r in cluster.running.items()
        if r is not None
    }
    out = cluster.assignor.assign("w1", members, 5, CONNECTORS, 9, last_completed_generation=7)
    assert sum(len(a.connectors) + len(a.tasks) for a in out.values()) == len(lost_c) + len(lost_t)
    assert {a.delay_ms for a in out.values()} == {0}
