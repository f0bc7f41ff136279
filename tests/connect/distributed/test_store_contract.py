"""The ConfigBackingStore and StatusBackingStore contracts: the same checks against every implementation
(memory, file and the topic-backed ones on the broker under test), so the herders can rely on the
interfaces alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connect.runtime.config_store import (
    ConfigBackingStore,
    FileConfigBackingStore,
    MemoryConfigBackingStore,
)
from connect.runtime.distributed.config_store import KafkaConfigBackingStore
from connect.runtime.distributed.status_store import KafkaStatusBackingStore
from connect.runtime.models import ConnectorTaskId
from connect.runtime.status_store import MemoryStatusBackingStore, Status, StatusBackingStore
from connect.runtime.worker_task import TargetState
from tests.support.brokers import BrokerUnderTest
from tests.support.config_listener import Recorder

T0, T1, T2 = (ConnectorTaskId("c", i) for i in range(3))

ConfigFixture = tuple[ConfigBackingStore, Recorder]
StatusFixture = tuple[StatusBackingStore, Callable[[], None]]  # the store and settle()


@pytest.fixture(params=["memory", "file", "kafka"])
def config_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConfigFixture]:
    rec = Recorder()
    store: ConfigBackingStore
    if request.param == "memory":
        store = MemoryConfigBackingStore(rec)
    elif request.param == "file":
        store = FileConfigBackingStore(tmp_path / "connectors.json", rec)
    else:
        broker: BrokerUnderTest = request.getfixturevalue("broker")
        topic = request.getfixturevalue("topic")
        store = KafkaConfigBackingStore(
            topic, {"bootstrap.servers": broker.bootstrap}, rec, client_id="contract"
        )
    store.start()
    try:
        yield store, rec
    finally:
        store.stop()


@pytest.fixture(params=["memory", "kafka"])
def status_store(request: pytest.FixtureRequest) -> Iterator[StatusFixture]:
    """The store and ``settle()``: wait until its own writes are durable and read back (shared stores)."""
    store: StatusBackingStore
    if request.param == "memory":
        store = MemoryStatusBackingStore()
    else:
        broker: BrokerUnderTest = request.getfixturevalue("broker")
        topic = request.getfixturevalue("topic")
        store = KafkaStatusBackingStore(topic, {"bootstrap.servers": broker.bootstrap}, partitions=2)
    store.start()

    def settle() -> None:
        store.flush()
        store.refresh()

    try:
        yield store, settle
    finally:
        store.stop()


# ------------------------------------------------------------------------------------------- configs


def test_connector_configs_and_target_states(config_store: ConfigFixture) -> None:
    store, rec = config_store
    empty = store.snapshot()
    assert empty.connectors() == [] and empty.offset == -1

    store.put_connector_config("c", {"connector.class": "FileStreamSource", "tasks.max": "2"})
    snap = store.snapshot()  # visible once the write returned
    assert snap.connectors() == ["c"] and snap.contains("c") and snap.offset > empty.offset
    assert snap.connector_configs["c"] == {"connector.class": "FileStreamSource", "tasks.max": "2"}
    assert snap.target_state("c") is TargetState.STARTED and snap.tasks("c") == []
    rec.wait_for("connector", "c")

    store.put_connector_config("s", {"connector.class": "FileStreamSink"}, TargetState.STOPPED)
    assert store.snapshot().target_state("s") is TargetState.STOPPED
    store.put_target_state("c", TargetState.PAUSED)
    rec.wait_for("target", "c")
    store.put_connector_config("c", {"connector.class": "FileStreamSource", "tasks.max": "3"})
    snap = store.snapshot()  # an update without a target keeps the target state
    assert snap.target_state("c") is TargetState.PAUSED and snap.connector_configs["c"]["tasks.max"] == "3"

    store.put_restart_request("c", True, False)
    rec.wait_for("restart", "c", True, False)

    before = store.snapshot().offset
    store.remove_connector_config("c")
    snap = store.snapshot()
    assert snap.connectors() == ["s"] and "c" not in snap.target_states and snap.offset > before
    assert rec.events.count(("connector", "c")) >= 2  # created, updated, removed (and told each time)


def test_task_configs_are_replaced_as_a_whole(config_store: ConfigFixture) -> None:
    store, rec = config_store
    store.put_connector_config("c", {"connector.class": "FileStreamSource"})
    store.put_task_configs("c", [{"n": "0"}, {"n": "1"}, {"n": "2"}])
    snap = store.snapshot()
    assert snap.tasks("c") == [T0, T1, T2] and snap.task_count("c") == 3
    assert snap.task_config(T2) == {"n": "2"}
    rec.wait_for("tasks", (T0, T1, T2))

    store.put_task_configs("c", [{"n": "only"}])
    snap = store.snapshot()
    assert snap.tasks("c") == [T0] and snap.task_config(T0) == {"n": "only"} and T1 not in snap.task_configs
    rec.wait_for("tasks", (T0,))

    store.put_task_configs("c", [])  # a STOPPED connector has none
    assert store.snapshot().tasks("c") == []
    store.put_task_configs("c", [{"n": "again"}])
    store.remove_connector_config("c")  # its task configs go with it
    snap = store.snapshot()
    assert snap.tasks("c") == [] and snap.task_configs == {} and snap.task_count("c") == 0


# ------------------------------------------------------------------------------------------ statuses


def test_statuses_put_read_and_forget(status_store: StatusFixture) -> None:
    store, settle = status_store
    assert store.connector_status("c") is None and store.task_status(T0) is None
    assert store.task_statuses("c") == {} and store.topics("c") == []

    progress = {"phase": "snapshot", "rows": 12}
    store.put_connector("c", Status("RUNNING", "w1"))
    store.put_task(T0, Status("RUNNING", "w1", None, 1, progress))
    store.put_task(T2, Status("FAILED", "w2", "trace", 1))
    store.put_connector("d", Status("PAUSED", "w2"))
    assert store.connector_status("c") == Status("RUNNING", "w1")  # own writes: visible at once
    settle()
    assert store.task_status(T0) == Status("RUNNING", "w1", None, 1, progress)
    assert store.task_statuses("c") == {
        0: Status("RUNNING", "w1", None, 1, progress),
        2: store.task_status(T2),
    }

    store.forget_task(T2)
    settle()
    assert store.task_statuses("c") == {0: Status("RUNNING", "w1", None, 1, progress)}
    store.forget_connector("c")
    settle()
    assert store.connector_status("c") is None and store.task_statuses("c") == {}
    assert store.connector_status("d") == Status("PAUSED", "w2")


def test_safe_writes_keep_a_newer_owners_status(
    status_store: StatusFixture,
) -> None:
    store, settle = status_store
    newest = Status("RUNNING", "new-owner", generation=5)
    store.put_task(T0, newest)
    store.put_connector("c", newest)
    store.put_task(T0, Status("FAILED", "old-owner", "late", 4), safe=True)
    store.put_connector("c", Status("UNASSIGNED", "old-owner", generation=4), safe=True)
    settle()
    assert store.task_status(T0) == newest and store.connector_status("c") == newest

    store.put_task(T0, Status("UNASSIGNED", "new-owner", generation=1), safe=True)  # same worker
    settle()
    assert store.task_status(T0) == Status("UNASSIGNED", "new-owner", generation=1)
    store.put_task(T1, Status("RUNNING", "a", generation=7))
    store.put_task(T1, Status("FAILED", "b", "boom", 7), safe=True)  # same generation
    store.put_connector("c", Status("PAUSED", "old-owner", generation=0))  # plain writes always apply
    settle()
    assert store.task_status(T1) == Status("FAILED", "b", "boom", 7)
    assert store.connector_status("c") == Status("PAUSED", "old-owner", generation=0)


def test_active_topics(status_store: StatusFixture) -> None:
    store, settle = status_store
    store.put_topic("c", "orders")
    store.put_topic("c", "customers", task=1)
    store.put_topic("c", "orders")
    store.put_topic("d", "orders")
    settle()
    assert store.topics("c") == ["customers", "orders"] and store.topics("d") == ["orders"]
    store.reset_topics("c")
    settle()
    assert store.topics("c") == [] and store.topics("d") == ["orders"]
    store.put_connector("d", Status("RUNNING", "w"))
    store.forget_connector("d")
    settle()
    assert store.topics("d") == []
