"""Issue 12: while the leader holds a departed worker's work for ``scheduled.rebalance.max.delay.ms``, that
work shows UNASSIGNED on the worker that had it, saying when it left and when the work moves (the assignor
knows, the leader writes it to the status topic, every worker's status reads and /health show it).

No broker: the stores and the herder are built but never started (status writes stay in the local replica).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

from connect.runtime.config_store import MemoryConfigBackingStore
from connect.runtime.distributed.assignor import HeldWork, IncrementalCooperativeAssignor
from connect.runtime.distributed.connect_protocol import ConnectAssignment, WorkerState
from connect.runtime.distributed.herder import DistributedHerder
from connect.runtime.distributed.status_store import KafkaStatusBackingStore, _status_value
from connect.runtime.models import ConnectorTaskId as T
from connect.runtime.plugins import PluginRegistry
from connect.runtime.status_store import Departure, MemoryStatusBackingStore, Status
from connect.runtime.worker_config import WorkerConfig

DELAY_MS = 10_000
EPOCH_MS = 1_700_000_000_000  # the wall clock at assignor start


class Clocks:
    def __init__(self) -> None:
        self.mono = 50.0

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return EPOCH_MS / 1000 + (self.mono - 50.0)


def _members(work: dict[str, tuple[list[str], list[T]] | None]) -> dict[str, WorkerState]:
    return {
        w: WorkerState(
            f"http://{w}:8083",
            5,
            None if run is None else ConnectAssignment(0, "x", "u", 0, tuple(run[0]), tuple(run[1])),
        )
        for w, run in work.items()
    }


def test_assignor_tells_which_work_it_holds_for_whom_and_until_when() -> None:
    clocks = Clocks()
    assignor = IncrementalCooperativeAssignor(DELAY_MS, clock=clocks.monotonic, wall_clock=clocks.wall)
    connectors = {"a": 2, "b": 2}
    out = assignor.assign("w1", _members({"w1": None, "w2": None}), 5, connectors, 1)
    running = {w: (list(a.connectors), list(a.tasks)) for w, a in out.items()}
    assert assignor.held() == []

    clocks.mono += 2.0  # w2 dies; the next rebalance notices it
    assignor.assign("w1", _members({"w1": running["w1"]}), 5, connectors, 2, last_completed_generation=1)
    lost_at = EPOCH_MS + 2_000
    expected = HeldWork(
        "http://w2:8083",
        tuple(running["w2"][0]),
        tuple(running["w2"][1]),
        lost_at,
        lost_at + DELAY_MS,
    )
    assert assignor.held() == [expected]

    clocks.mono += 4.0  # another rebalance meanwhile: same departure, same deadline
    assignor.assign("w1", _members({"w1": running["w1"]}), 5, connectors, 3, last_completed_generation=2)
    assert assignor.held() == [expected]

    clocks.mono += 6.0  # the delay expired: the work is given out, nothing is held any more
    survivor = _members({"w1": running["w1"]})
    out = assignor.assign("w1", survivor, 5, connectors, 4, last_completed_generation=3)
    assert set(out["w1"].tasks) == set(running["w2"][1])
    assert assignor.held() == []


def test_nothing_is_held_with_a_zero_delay() -> None:
    assignor = IncrementalCooperativeAssignor(0)
    out = assignor.assign("w1", _members({"w1": None, "w2": None}), 5, {"a": 2}, 1)
    running = {w: (list(a.connectors), list(a.tasks)) for w, a in out.items()}
    assignor.assign("w1", _members({"w1": running["w1"]}), 5, {"a": 2}, 2, last_completed_generation=1)
    assert assignor.held() == []


# ----------------------------------------------------------------------------- the leader's status writes

ME = "127.0.0.1:8083"
GONE = "127.0.0.1:8084"


@pytest.fixture
def herder() -> Iterator[DistributedHerder]:
    config = WorkerConfig({"bootstrap.servers": "127.0.0.1:9", "group.id": "g"})
    h = DistributedHerder(config, PluginRegistry(), ME, f"http://{ME}")
    h.configs = MemoryConfigBackingStore()  # the topics' replicas, without a broker
    h.status = MemoryStatusBackingStore()
    yield h


def _held(left_at: int, reassign_at: int) -> HeldWork:
    return HeldWork(f"http://{GONE}", ("a",), (T("a", 0), T("a", 1), T("b", 0)), left_at, reassign_at)


def test_leader_marks_held_work_unassigned_on_the_departed_worker(
    herder: DistributedHerder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "connect.herder")
    store = herder.status
    store.put_connector("a", Status("RUNNING", GONE, generation=3))
    store.put_task(T("a", 0), Status("RUNNING", GONE, generation=3, progress={"rows": 7}))
    store.put_task(T("a", 1), Status("FAILED", GONE, "boom", generation=3))
    store.put_task(T("b", 0), Status("RUNNING", "newer:8083", generation=9))  # a newer owner: kept
    now_ms = int(time.time() * 1000)
    departure = Departure(now_ms - 1_000, now_ms + 60_000)

    herder._mark_departed([_held(departure.left_at, departure.reassign_at)], 4)
    assert store.connector_status("a") == Status("UNASSIGNED", GONE, None, 4, departure=departure)
    assert store.task_status(T("a", 0)) == Status("UNASSIGNED", GONE, None, 4, {"rows": 7}, departure)
    assert store.task_status(T("a", 1)) == Status("FAILED", GONE, "boom", generation=3)
    assert store.task_status(T("b", 0)) == Status("RUNNING", "newer:8083", generation=9)
    assert "UNASSIGNED until its work is reassigned" in caplog.text

    caplog.clear()  # the same departure in a later round: nothing written again
    herder._mark_departed([_held(departure.left_at, departure.reassign_at)], 5)
    assert store.connector_status("a") == Status("UNASSIGNED", GONE, None, 4, departure=departure)
    assert "UNASSIGNED" not in caplog.text

    # The REST reads: Kafka's shape, the explanation in ``trace``
    state = herder.connector_state("a").to_json()
    assert set(state) == {"state", "worker_id", "trace"}
    assert (state["state"], state["worker_id"]) == ("UNASSIGNED", GONE)
    assert state["trace"].startswith(f"Worker {GONE} left the Connect group at ")
    assert "waits for it until" in state["trace"] and "scheduled.rebalance.max.delay.ms" in state["trace"]
    # a FAILED task keeps its own trace; a plain UNASSIGNED has none (Kafka's shape)
    tasks = herder.task_states("a", 3)
    assert tasks[1].trace == "boom"
    assert tasks[2].to_json() == {"id": 2, "state": "UNASSIGNED", "worker_id": ME}

    # Whoever gets the work later writes its own status: the departure is gone
    herder.generation = 6
    herder.on_task_running(T("a", 0))
    st = store.task_status(T("a", 0))
    assert st is not None and st.departure is None and herder.task_states("a", 1)[0].trace is None


def test_departure_round_trips_through_the_status_topic_and_is_absent_otherwise() -> None:
    departure = Departure(1_700_000_000_000, 1_700_000_300_000)
    status = Status("UNASSIGNED", GONE, None, 4, {"rows": 7}, departure)
    value = json.loads(_status_value(status))
    assert value == {
        "state": "UNASSIGNED",
        "trace": None,
        "worker_id": GONE,
        "generation": 4,
        "progress": {"rows": 7},
        "departure": {"left_at": 1_700_000_000_000, "reassign_at": 1_700_000_300_000},
    }
    assert "departure" not in json.loads(_status_value(Status("RUNNING", ME)))  # Kafka's value otherwise
    reader = KafkaStatusBackingStore("t", {"bootstrap.servers": "127.0.0.1:9"})
    reader._on_record(0, 0, b"status-task-a-0", _status_value(status))
    reader._on_record(0, 1, b"status-connector-a", b'{"state":"UNASSIGNED","worker_id":"w","departure":7}')
    assert reader.task_status(T("a", 0)) == status
    assert reader.connector_status("a") == Status("UNASSIGNED", "w")  # a malformed departure is ignored


def test_health_says_what_waits_for_which_departed_worker(herder: DistributedHerder) -> None:
    herder._assignment = ConnectAssignment(0, "m", f"http://{ME}", 0, (), ())  # joined
    healthy, message = herder.health()
    assert healthy and message == "Worker has completed startup and is ready to handle requests."

    herder.configs.put_connector_config("a", {"connector.class": "Unknown"})
    herder.configs.put_task_configs("a", [{"t": "0"}, {"t": "1"}])
    now_ms = int(time.time() * 1000)
    herder._mark_departed([_held(now_ms - 1_000, now_ms + 60_000)], 4)
    healthy, message = herder.health()
    assert healthy, "this worker is fine: a 503 would get it restarted or taken out of service"
    waiting = "The cluster is degraded, work waits to be reassigned: 3 connector(s)/task(s) (a, a-0, a-1)"
    assert waiting in message
    assert f"of worker {GONE}, which left the Connect group at " in message
