"""Kafka Connect's ``IncrementalCooperativeAssignor`` (KIP-415), run by the group leader.

Given every member's metadata (what each worker runs now) and the configured connectors/tasks, it computes
per worker what to *start* (newly assigned) and what to *stop* (revoked), so that only what must move moves:

- deleted connectors/tasks and duplicates (run by more than one worker) are revoked;
- new connectors/tasks are spread over the least-loaded workers, connectors and tasks balanced separately;
- work of a departed worker ("lost": assigned in the previous round, reported by nobody now) is held for
  ``scheduled.rebalance.max.delay.ms``: the assignments carry ``delay_ms`` so members rejoin when it expires;
  then it goes to the workers that were empty meanwhile (a returning worker), else to the least loaded.
  A worker that comes back reporting its old work keeps it at once. ``held()`` tells which work is held,
  which worker had it, when that worker was noticed gone and when the work is due to be reassigned (the
  leader marks that work UNASSIGNED in the status topic);
- when a worker joins, the most loaded give up their surplus (a revocation round); the revoked work is
  assigned in the next round (the revoking members rejoin at once). Revocations in consecutive rounds back off
  exponentially (40 ms, 1.6 s, ... up to the max delay), as Kafka does.

Not thread-safe: the member thread of the leader calls :meth:`IncrementalCooperativeAssignor.assign` once per
rebalance. State carried between rounds (the previous assignment, the scheduled delay) belongs to this leader;
a new leader starts from scratch, as in Kafka. Deterministic for a given clock: members are processed in
member id order, connectors and tasks in name order.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from connect.runtime.distributed.connect_protocol import (
    CONFIG_MISMATCH,
    NO_ERROR,
    ConnectAssignment,
    WorkerState,
    sorted_tasks,
)
from connect.runtime.models import ConnectorTaskId

__all__ = ["HeldWork", "IncrementalCooperativeAssignor", "config_mismatch_assignments", "eager_assign"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass
class _Work:
    """Connectors and tasks, each an insertion-ordered set (Kafka's ``ConnectorsAndTasks``)."""

    connectors: dict[str, None] = field(default_factory=dict)
    tasks: dict[ConnectorTaskId, None] = field(default_factory=dict)

    @classmethod
    def of(cls, connectors: Iterable[str], tasks: Iterable[ConnectorTaskId]) -> _Work:
        return cls(dict.fromkeys(connectors), dict.fromkeys(tasks))

    def add_all(self, other: _Work) -> None:
        self.connectors.update(other.connectors)
        self.tasks.update(other.tasks)

    def empty(self) -> bool:
        return not self.connectors and not self.tasks

    def clear(self) -> None:
        self.connectors.clear()
        self.tasks.clear()

    def __str__(self) -> str:
        return f"{{connectors={list(self.connectors)}, tasks={[str(t) for t in self.tasks]}}}"


@dataclass(frozen=True)
class HeldWork:
    """Work of a departed worker that the leader holds for ``scheduled.rebalance.max.delay.ms``.

    ``worker_url`` is the URL the worker joined with; ``left_at`` when the leader noticed it was gone and
    ``reassign_at`` when the delay expires, both in ms since the epoch."""

    worker_url: str
    connectors: tuple[str, ...]
    tasks: tuple[ConnectorTaskId, ...]
    left_at: int
    reassign_at: int


@dataclass
class _WorkerLoad:
    worker: str
    connectors: list[str]
    tasks: list[ConnectorTaskId]

    def empty(self) -> bool:
        return not self.connectors and not self.tasks


def _connectors_of(w: _WorkerLoad) -> list[str]:
    return w.connectors


def _tasks_of(w: _WorkerLoad) -> list[ConnectorTaskId]:
    return w.tasks


def _diff(base: _Work, *subtract: _Work) -> _Work:
    """``base`` minus every ``subtract``, sorted (Kafka builds these as TreeSets)."""
    connectors = set(base.connectors)
    tasks = set(base.tasks)
    for s in subtract:
        connectors.difference_update(s.connectors)
        tasks.difference_update(s.tasks)
    return _Work.of(sorted(connectors), sorted_tasks(tasks))


def _union(works: Iterable[_Work]) -> _Work:
    out = _Work()
    for w in works:
        out.add_all(w)
    return out


def _intersection(subset: _Work, assignments: Mapping[str, _Work]) -> dict[str, _Work]:
    return {
        worker: _Work.of(
            (c for c in w.connectors if c in subset.connectors), (t for t in w.tasks if t in subset.tasks)
        )
        for worker, w in assignments.items()
    }


def _duplicated(assignments: Mapping[str, _Work]) -> _Work:
    seen_c: dict[str, int] = {}
    seen_t: dict[ConnectorTaskId, int] = {}
    for w in assignments.values():
        for c in w.connectors:
            seen_c[c] = seen_c.get(c, 0) + 1
        for t in w.tasks:
            seen_t[t] = seen_t.get(t, 0) + 1
    return _Work.of((c for c, n in seen_c.items() if n > 1), (t for t, n in seen_t.items() if n > 1))


def _worker_loads(assignments: Mapping[str, _Work], exclude: _Work | None = None) -> list[_WorkerLoad]:
    ex = exclude or _Work()
    return [
        _WorkerLoad(
            worker,
            [c for c in w.connectors if c not in ex.connectors],
            [t for t in w.tasks if t not in ex.tasks],
        )
        for worker, w in assignments.items()
    ]


def _add_all(base: dict[str, _Work], add: Mapping[str, _Work]) -> None:
    for worker, w in add.items():
        base.setdefault(worker, _Work()).add_all(w)


def _remove_all(loads: list[_WorkerLoad], remove: Mapping[str, _Work]) -> None:
    for load in loads:
        r = remove.get(load.worker)
        if r is not None:
            load.connectors[:] = [c for c in load.connectors if c not in r.connectors]
            load.tasks[:] = [t for t in load.tasks if t not in r.tasks]


def _exponential_backoff(max_delay_ms: int) -> Callable[[int], int]:
    """Kafka's ``ExponentialBackoff``: initial 1 ms (0 if the max is 0), multiplier 40, no jitter."""
    initial = 0 if max_delay_ms == 0 else 1
    multiplier = 40
    exp_max = (
        math.log(max_delay_ms / max(initial, 1)) / math.log(multiplier) if max_delay_ms > initial else 0.0
    )

    def backoff(attempts: int) -> int:
        if exp_max == 0:
            return initial
        term = initial * multiplier ** min(float(attempts), exp_max)
        return min(int(term), max_delay_ms)

    return backoff


def _round_robin_least_loaded(
    loads: list[_WorkerLoad], items: Iterable[str] | Iterable[ConnectorTaskId], tasks: bool
) -> None:
    """Kafka's ``assignConnectors``/``assignTasks``: sort workers by load (then id) and deal the items out to
    the least-loaded tier, widening it as loads even out."""
    if not loads:
        return

    def size(w: _WorkerLoad) -> int:
        return len(w.tasks) if tasks else len(w.connectors)

    loads.sort(key=lambda w: (size(w), w.worker))
    first = loads[0]
    it = iter(items)
    nxt = next(it, None)
    while nxt is not None:
        first_load = size(first)
        up_to = next((i for i, w in enumerate(loads) if size(w) > first_load), len(loads))
        for w in loads[:up_to]:
            if tasks:
                assert isinstance(nxt, ConnectorTaskId)
                w.tasks.append(nxt)
            else:
                assert isinstance(nxt, str)
                w.connectors.append(nxt)
            nxt = next(it, None)
            if nxt is None:
                break


def _balancing_revocations_of(
    total: int, loads: list[_WorkerLoad], alloc: Callable[[_WorkerLoad], list[_T]]
) -> dict[str, list[_T]]:
    """Kafka's ``loadBalancingRevocations`` for one resource kind: revoke from each worker what it holds above
    its fair share (``total // workers``, one more for ``total % workers`` of them)."""
    n_workers = len(loads)
    min_per_worker = total // n_workers
    with_extra = total % n_workers
    sizes = [len(alloc(w)) for w in loads]
    at_min = sum(1 for s in sizes if s == min_per_worker)
    at_extra = sum(1 for s in sizes if s == min_per_worker + 1)
    if at_extra == with_extra and at_min + at_extra == n_workers:
        return {}
    out: dict[str, list[_T]] = {}
    extras_given = 0
    for w in loads:
        current = len(alloc(w))
        if current <= min_per_worker:
            continue
        if extras_given < with_extra:
            extras_given += 1
            if current == min_per_worker + 1:
                continue
            allowed = min_per_worker + 1
        else:
            allowed = min_per_worker
        out[w.worker] = alloc(w)[: current - allowed]
    return out


class IncrementalCooperativeAssignor:
    """The leader's assignor. ``max_delay_ms`` is ``scheduled.rebalance.max.delay.ms``; ``clock`` returns
    seconds (monotonic) and is injectable for tests."""

    def __init__(
        self,
        max_delay_ms: int,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_delay_ms < 0:
            raise ValueError("scheduled.rebalance.max.delay.ms must be >= 0")
        self.max_delay_ms = max_delay_ms
        self._clock = clock
        self._epoch_offset_ms = int(wall_clock() * 1000) - self._now_ms()  # clock ms -> ms since the epoch
        # held lost work -> (URL of the worker that had it, clock ms when it was noticed lost)
        self._held: dict[str | ConnectorTaskId, tuple[str, int]] = {}
        self._previous_assignment = _Work()
        self._previous_revocation = _Work()
        self._revoked_in_previous = False
        self._candidates: dict[str, None] = {}  # workers eligible for lost work when the delay expires
        self._scheduled_rebalance = 0  # clock ms when the delay expires; 0 = none
        self.delay_ms = 0
        self._previous_generation = -1
        self._previous_members: set[str] = set()
        self._successive_revoking_rebalances = 0
        self._backoff = _exponential_backoff(max_delay_ms)
        self._owner_urls: tuple[dict[str, str], dict[ConnectorTaskId, str]] = ({}, {})

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- public ----------------------------------------------------------------------------------

    def assign(
        self,
        leader_id: str,
        members: Mapping[str, WorkerState],
        config_offset: int,
        connectors: Mapping[str, int],
        generation: int,
        *,
        last_completed_generation: int | None = None,
        protocol_version: int = 1,
    ) -> dict[str, ConnectAssignment]:
        """One rebalance: the SyncGroup assignment of every member (incremental: new work and revocations).

        ``connectors`` maps each configured connector to its committed task count. ``generation`` is the group
        generation being assigned; ``last_completed_generation`` (the leader's last successfully synced one)
        lets the assignor drop its view of the previous round when that round never completed (Kafka's rule);
        None skips the check. ``protocol_version`` (1 compatible, 2 sessioned) is stamped on the assignments.
        """
        if leader_id not in members:
            raise ValueError(f"leader {leader_id!r} is not among the members")
        member_work = {
            m: _Work.of(s.assignment.connectors, s.assignment.tasks) if s.assignment else _Work()
            for m, s in sorted(members.items())
        }
        new_c, new_t, revoked, all_assigned = self._perform(
            connectors, last_completed_generation, generation, member_work
        )
        urls = {m: s.url for m, s in members.items()}
        self._owner_urls = (
            {c: urls[m] for m, w in all_assigned.items() for c in w.connectors},
            {t: urls[m] for m, w in all_assigned.items() for t in w.tasks},
        )
        leader_url = members[leader_id].url
        out = {}
        for m in member_work:
            r = revoked.get(m, _Work())
            out[m] = ConnectAssignment(
                NO_ERROR,
                leader_id,
                leader_url,
                config_offset,
                tuple(new_c.get(m, ())),
                tuple(new_t.get(m, ())),
                tuple(r.connectors),
                tuple(r.tasks),
                self.delay_ms,
                protocol_version,
            )
        log.info(
            "assigned generation %d: %s; delay %d ms",
            generation,
            "; ".join(
                f"{m}: +{len(a.connectors)}c/{len(a.tasks)}t"
                f" -{len(a.revoked_connectors)}c/{len(a.revoked_tasks)}t"
                for m, a in out.items()
            ),
            self.delay_ms,
        )
        return out

    def held(self) -> list[HeldWork]:
        """The lost work held after the last :meth:`assign`, by departed worker (empty when none)."""
        offset_ms = self._epoch_offset_ms
        groups: dict[tuple[str, int], _Work] = {}
        for what, key in self._held.items():
            work = groups.setdefault(key, _Work())
            if isinstance(what, ConnectorTaskId):
                work.tasks[what] = None
            else:
                work.connectors[what] = None
        return [
            HeldWork(
                url,
                tuple(sorted(w.connectors)),
                tuple(sorted_tasks(w.tasks)),
                since + offset_ms,
                self._scheduled_rebalance + offset_ms,
            )
            for (url, since), w in sorted(groups.items())
        ]

    def owner_url(self, what: str | ConnectorTaskId) -> str | None:
        """URL of the worker the last assignment gave connector/task ``what`` (None: unassigned/unknown)."""
        if isinstance(what, ConnectorTaskId):
            return self._owner_urls[1].get(what)
        return self._owner_urls[0].get(what)

    # -- the algorithm (Kafka's performTaskAssignment) --------------------------------------------

    def _perform(
        self,
        configured_counts: Mapping[str, int],
        last_completed_generation: int | None,
        current_generation: int,
        member_work: dict[str, _Work],
    ) -> tuple[dict[str, list[str]], dict[str, list[ConnectorTaskId]], dict[str, _Work], dict[str, _Work]]:
        if last_completed_generation is not None and self._previous_generation != last_completed_generation:
            log.debug(
                "previous assignment view dropped: generation %d != last completed %d",
                self._previous_generation,
                last_completed_generation,
            )
            self._previous_assignment = _Work()

        names = sorted(configured_counts)
        configured = _Work.of(
            names, (ConnectorTaskId(c, i) for c in names for i in range(configured_counts[c]))
        )
        active = _union(member_work.values())

        # a revocation of the previous round that did not take effect: start again from what is running
        if not self._previous_revocation.empty():
            if any(c in active.connectors for c in self._previous_revocation.connectors) or any(
                t in active.tasks for t in self._previous_revocation.tasks
            ):
                self._previous_assignment = _Work.of(active.connectors, active.tasks)
            self._previous_revocation.clear()

        deleted = _diff(self._previous_assignment, configured)
        duplicated = _duplicated(member_work)
        lost = _diff(self._previous_assignment, active, deleted)
        created = _diff(configured, self._previous_assignment, active)
        log.debug("deleted %s, duplicated %s, lost %s, created %s", deleted, duplicated, lost, created)

        current = _worker_loads(member_work, deleted)
        to_revoke: dict[str, _Work] = {}
        deleted_to_revoke = _intersection(deleted, member_work)
        _add_all(to_revoke, deleted_to_revoke)
        duplicated_to_revoke = _intersection(duplicated, member_work)
        _add_all(to_revoke, duplicated_to_revoke)

        nxt = _worker_loads(member_work)
        _remove_all(nxt, deleted_to_revoke)
        _remove_all(nxt, duplicated_to_revoke)

        lost_to_reassign = _Work()
        held = self._handle_lost(lost, lost_to_reassign, nxt)
        self._remember_held(lost if held else _Work())

        if self.delay_ms == 0:
            balancing = self._balancing_revocations(configured, nxt)
            if self._revoked_in_previous and balancing:
                self._successive_revoking_rebalances += 1
                self.delay_ms = self._backoff(self._successive_revoking_rebalances)
                if self.delay_ms != 0:
                    self._scheduled_rebalance = self._now_ms() + self.delay_ms
                    log.debug("consecutive revoking rebalances: revocations postponed %d ms", self.delay_ms)
                else:
                    _add_all(to_revoke, balancing)
                    _remove_all(nxt, balancing)
            elif balancing:
                _add_all(to_revoke, balancing)
                _remove_all(nxt, balancing)
                self._revoked_in_previous = True
            elif self._revoked_in_previous:
                self._revoked_in_previous = False
                self._successive_revoking_rebalances = 0
        else:
            self._revoked_in_previous = False

        to_assign = _Work()
        to_assign.add_all(created)
        to_assign.add_all(lost_to_reassign)
        _round_robin_least_loaded(nxt, to_assign.connectors, tasks=False)
        _round_robin_least_loaded(nxt, to_assign.tasks, tasks=True)

        current_by = {w.worker: w for w in current}
        new_c: dict[str, list[str]] = {}
        new_t: dict[str, list[ConnectorTaskId]] = {}
        for w in nxt:
            had = current_by.get(w.worker)
            had_c = set(had.connectors) if had else set()
            had_t = set(had.tasks) if had else set()
            new_c[w.worker] = [c for c in w.connectors if c not in had_c]
            new_t[w.worker] = [t for t in w.tasks if t not in had_t]

        # the view the next round compares with: everything assigned now minus revocations, plus lost work
        previous = _Work.of(
            itertools.chain.from_iterable(w.connectors for w in nxt),
            itertools.chain.from_iterable(w.tasks for w in nxt),
        )
        for r in to_revoke.values():
            for c in r.connectors:
                previous.connectors.pop(c, None)
            for t in r.tasks:
                previous.tasks.pop(t, None)
            self._previous_revocation.add_all(r)
        previous.add_all(lost)
        self._previous_assignment = previous
        self._previous_generation = current_generation
        self._previous_members = set(member_work)

        all_assigned = {}
        for w in nxt:
            r = to_revoke.get(w.worker, _Work())
            all_assigned[w.worker] = _Work.of(
                (c for c in w.connectors if c not in r.connectors), (t for t in w.tasks if t not in r.tasks)
            )
        return new_c, new_t, to_revoke, all_assigned

    def _remember_held(self, held: _Work) -> None:
        """Who had each piece of held work (its owner in the previous round, or as remembered) and since
        when it is held; work no longer held is forgotten."""
        now = self._now_ms()
        previous = self._held
        owners_c, owners_t = self._owner_urls
        self._held = {}
        for c in held.connectors:
            self._held[c] = previous.get(c) or (owners_c.get(c, ""), now)
        for t in held.tasks:
            self._held[t] = previous.get(t) or (owners_t.get(t, ""), now)

    def _handle_lost(self, lost: _Work, to_reassign: _Work, loads: list[_WorkerLoad]) -> bool:
        """Kafka's ``handleLostAssignments``: hold lost work for the delay (True), then hand it out."""
        if lost.empty() and not self._revoked_in_previous:
            self._reset_delay()
            return False
        now = self._now_ms()
        active_members = {w.worker for w in loads}
        if self._scheduled_rebalance <= 0 and active_members >= self._previous_members:
            # nobody left: the missing work probably never reached its worker; assign it as new
            to_reassign.add_all(lost)
            return False
        if self.max_delay_ms == 0:
            to_reassign.add_all(lost)
            return False
        if 0 < self._scheduled_rebalance <= now:
            by_id = {w.worker: w for w in loads}
            candidates = [by_id[c] for c in self._candidates if c in by_id]
            if candidates:
                log.info(
                    "scheduled rebalance delay expired: lost work goes to %s", [c.worker for c in candidates]
                )
                cycle = itertools.cycle(candidates)
                for c in lost.connectors:
                    next(cycle).connectors.append(c)
                cycle = itertools.cycle(candidates)
                for t in lost.tasks:
                    next(cycle).tasks.append(t)
            else:
                log.info("scheduled rebalance delay expired: lost work %s assigned as new", lost)
                to_reassign.add_all(lost)
            self._reset_delay()
            self._revoked_in_previous = False
            return False
        for w in sorted(loads, key=lambda w: w.worker):
            if w.empty():
                self._candidates[w.worker] = None
        if now < self._scheduled_rebalance:
            self.delay_ms = min(self._scheduled_rebalance - now, self.max_delay_ms)
        else:
            self.delay_ms = self.max_delay_ms
        self._scheduled_rebalance = now + self.delay_ms
        log.info("lost work %s held for %d ms (departed worker may return)", lost, self.delay_ms)
        return not lost.empty()

    def _reset_delay(self) -> None:
        self._candidates.clear()
        self._scheduled_rebalance = 0
        self.delay_ms = 0

    @staticmethod
    def _balancing_revocations(configured: _Work, loads: list[_WorkerLoad]) -> dict[str, _Work]:
        """Kafka's ``performLoadBalancingRevocations``: what to take from workers above their fair share."""
        if all(w.empty() for w in loads) or configured.empty():
            return {}
        out: dict[str, _Work] = {}
        for worker, cs in _balancing_revocations_of(
            len(configured.connectors), loads, _connectors_of
        ).items():
            out.setdefault(worker, _Work()).connectors.update(dict.fromkeys(cs))
        for worker, ts in _balancing_revocations_of(len(configured.tasks), loads, _tasks_of).items():
            out.setdefault(worker, _Work()).tasks.update(dict.fromkeys(ts))
        return out


def config_mismatch_assignments(
    leader_id: str, members: Mapping[str, WorkerState], max_offset: int, protocol_version: int = 1
) -> dict[str, ConnectAssignment]:
    """What a leader whose config is behind a member's answers everyone: CONFIG_MISMATCH, nothing assigned."""
    url = members[leader_id].url
    return {
        m: ConnectAssignment(CONFIG_MISMATCH, leader_id, url, max_offset, (), (), version=protocol_version)
        for m in members
    }


def eager_assign(
    leader_id: str, members: Mapping[str, WorkerState], config_offset: int, connectors: Mapping[str, int]
) -> dict[str, ConnectAssignment]:
    """Kafka's ``EagerAssignor`` (protocol "default", v0): every rebalance hands out everything afresh,
    connectors then tasks round-robin over the members in id order."""
    order = sorted(members)
    conns: dict[str, list[str]] = {m: [] for m in order}
    tasks: dict[str, list[ConnectorTaskId]] = {m: [] for m in order}
    cycle = itertools.cycle(order)
    names = sorted(connectors)
    for c in names:
        conns[next(cycle)].append(c)
    for c in names:
        for i in range(connectors[c]):
            tasks[next(cycle)].append(ConnectorTaskId(c, i))
    url = members[leader_id].url
    return {
        m: ConnectAssignment(
            NO_ERROR, leader_id, url, config_offset, tuple(conns[m]), tuple(tasks[m]), version=0
        )
        for m in order
    }
