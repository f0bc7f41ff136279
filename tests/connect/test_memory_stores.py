"""The standalone stores (memory and file config stores, memory status store) and the herder as the
worker's status listener. No broker: the herder is built but never started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connect.runtime.config_store import FileConfigBackingStore, MemoryConfigBackingStore
from connect.runtime.models import ConnectorTaskId
from connect.runtime.offsets import MemoryOffsetBackingStore
from connect.runtime.plugins import PluginRegistry
from connect.runtime.standalone import StandaloneHerder
from connect.runtime.status_store import MemoryStatusBackingStore, Status, can_write_safely
from connect.runtime.worker_config import WorkerConfig
from connect.runtime.worker_task import TargetState
from tests.support.config_listener import Recorder

T0, T1 = ConnectorTaskId("c", 0), ConnectorTaskId("c", 1)
ME = "me:8083"


# ------------------------------------------------------------------------------------ config stores


def test_memory_config_store_calls_the_listener_on_the_writers_thread_after_the_change() -> None:
    calls = Recorder()
    store = MemoryConfigBackingStore(calls)
    seen: list[bool] = []
    calls.on_connector_config_update = lambda c: seen.append(store.snapshot().contains(c))  # type: ignore[method-assign]
    store.put_connector_config("c", {"connector.class": "X"})
    assert seen == [True]  # visible to the listener, which runs before the write returns
    store.put_task_configs("c", [{"a": "1"}])
    store.put_restart_request("c", True, False)
    assert calls.events == [("tasks", (T0,)), ("restart", "c", True, False)]
    assert store.snapshot().offset == 2
    MemoryConfigBackingStore().put_target_state("c", TargetState.PAUSED)  # no listener: fine


def test_memory_config_snapshots_are_immutable() -> None:
    store = MemoryConfigBackingStore()
    store.put_connector_config("c", {"k": "v"})
    store.put_task_configs("c", [{"t": "0"}, {"t": "1"}])
    before = store.snapshot()
    store.put_task_configs("c", [{"t": "new"}])
    store.put_connector_config("c", {"k": "w"})
    assert before.tasks("c") == [T0, T1] and before.task_config(T1) == {"t": "1"}
    assert before.connector_configs["c"] == {"k": "v"}
    assert store.snapshot().tasks("c") == [T0] and store.snapshot().task_config(T1) is None


def test_file_config_store_keeps_the_standalone_file_format(tmp_path: Path) -> None:
    path = tmp_path / "state" / "connectors.json"
    store = FileConfigBackingStore(path)
    store.start()  # no file yet
    store.put_connector_config("b", {"connector.class": "FileStreamSink", "topics": "t"})
    store.put_connector_config("a", {"connector.class": "FileStreamSource"}, TargetState.STOPPED)
    store.put_task_configs("b", [{"task": "0"}])  # task configs are regenerated, never stored
    store.put_target_state("b", TargetState.PAUSED)
    # What StandaloneHerder._persist wrote: sorted keys, {"config", "target"} per connector.
    assert path.read_text() == json.dumps(
        {
            "a": {"config": {"connector.class": "FileStreamSource"}, "target": "STOPPED"},
            "b": {"config": {"connector.class": "FileStreamSink", "topics": "t"}, "target": "PAUSED"},
        },
        sort_keys=True,
    )
    assert not list(path.parent.glob(".*.tmp"))

    again = FileConfigBackingStore(path)
    again.start()
    snap = again.snapshot()
    assert snap.connectors() == ["a", "b"] and snap.tasks("b") == []
    assert snap.target_state("a") is TargetState.STOPPED and snap.target_state("b") is TargetState.PAUSED
    again.remove_connector_config("a")
    assert list(json.loads(path.read_text())) == ["b"]


def test_file_config_store_reads_files_without_a_target(tmp_path: Path) -> None:
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps({"old": {"config": {"connector.class": "X"}}}))
    store = FileConfigBackingStore(path)
    store.start()
    assert store.snapshot().target_state("old") is TargetState.STARTED
    assert store.snapshot().connector_configs["old"] == {"connector.class": "X"}


# ------------------------------------------------------------------------------------- status store


def test_memory_status_store_safe_writes_follow_kafka() -> None:
    store = MemoryStatusBackingStore()
    store.put_task(T0, Status("RUNNING", "new", generation=5))
    store.put_task(T0, Status("FAILED", "old", "late", 4), safe=True)
    assert store.task_status(T0) == Status("RUNNING", "new", generation=5)
    store.put_task(T0, Status("UNASSIGNED", "old", generation=4))  # a plain write always goes through
    assert store.task_status(T0) == Status("UNASSIGNED", "old", generation=4)
    assert can_write_safely(None, Status("FAILED", "x"))
    assert can_write_safely(Status("RUNNING", "x", generation=9), Status("FAILED", "x", generation=1))


def test_memory_status_store_forgets_a_connector_with_its_tasks_and_topics() -> None:
    store = MemoryStatusBackingStore()
    store.put_connector("c", Status("RUNNING", ME))
    store.put_connector("d", Status("RUNNING", ME))
    store.put_task(T0, Status("RUNNING", ME))
    store.put_task(ConnectorTaskId("d", 0), Status("RUNNING", ME))
    store.put_topic("c", "b-topic")
    store.put_topic("c", "a-topic")
    store.put_topic("c", "a-topic")
    assert store.topics("c") == ["a-topic", "b-topic"]
    store.forget_connector("c")
    assert store.connector_status("c") is None and store.task_statuses("c") == {} and store.topics("c") == []
    assert store.task_statuses("d") == {0: Status("RUNNING", ME)}


# ------------------------------------------------------------------------ the herder as status listener


@pytest.fixture
def herder() -> StandaloneHerder:
    config = WorkerConfig({"bootstrap.servers": "127.0.0.1:9"})
    return StandaloneHerder(config, PluginRegistry(), MemoryOffsetBackingStore(), ME)


def test_task_callbacks_become_statuses_with_progress(herder: StandaloneHerder) -> None:
    store = herder.status
    herder.on_task_progress(T0, {"phase": "starting"})  # before the first status: rides along with it
    herder.on_task_running(T0)
    assert store.task_status(T0) == Status("RUNNING", ME, progress={"phase": "starting"})
    herder.on_task_progress(T0, {"rows": 10})
    assert store.task_status(T0) == Status("RUNNING", ME, progress={"rows": 10})
    herder.on_task_failed(T0, "boom")
    herder.on_task_shutdown(T0)  # a FAILED status stays, with the last progress
    assert store.task_status(T0) == Status("FAILED", ME, "boom", progress={"rows": 10})

    herder.on_task_progress(T0, None)  # a restart clears the progress first
    herder.on_task_restart(T0)
    assert store.task_status(T0) == Status("RESTARTING", ME)
    herder.on_task_running(T0)
    herder.on_task_paused(T0)
    herder.on_task_shutdown(T0)
    assert store.task_status(T0) == Status("UNASSIGNED", ME)
    assert [t.to_json() for t in herder.task_states("c", 2)] == [
        {"id": 0, "state": "UNASSIGNED", "worker_id": ME},
        {"id": 1, "state": "UNASSIGNED", "worker_id": ME},
    ]


def test_listener_never_overwrites_a_newer_owners_status(herder: StandaloneHerder) -> None:
    theirs = Status("RUNNING", "other:8083", generation=3)
    herder.status.put_task(T0, theirs)
    herder.status.put_connector("c", theirs)
    herder.generation = 2
    herder.on_task_progress(T0, {"rows": 1})  # our view of their task: kept for our next status only
    herder.on_task_failed(T0, "late")
    herder.on_task_shutdown(T0)
    herder.on_connector_failed("c", "late")
    herder.on_connector_shutdown("c")
    assert herder.status.task_status(T0) == theirs and herder.status.connector_status("c") == theirs
    herder.on_task_running(T0)  # RUNNING always overwrites
    assert herder.status.task_status(T0) == Status("RUNNING", ME, generation=2)


def test_connector_callbacks_and_status_assembly(herder: StandaloneHerder) -> None:
    herder.configs.put_connector_config("c", {"connector.class": "Unknown"})
    herder.configs.put_task_configs("c", [{"t": "0"}, {"t": "1"}])
    assert herder.connector_status("c").to_json() == {
        "name": "c",
        "connector": {"state": "UNASSIGNED", "worker_id": ME},
        "tasks": [
            {"id": 0, "state": "UNASSIGNED", "worker_id": ME},
            {"id": 1, "state": "UNASSIGNED", "worker_id": ME},
        ],
        "type": "unknown",
    }
    herder.on_connector_running("c")
    herder.on_task_running(T1)
    herder.on_topic_used("c", "orders")
    status = herder.connector_status("c")
    assert status.connector.state == "RUNNING" and [t.state for t in status.tasks] == [
        "UNASSIGNED",
        "RUNNING",
    ]
    assert herder.connector_active_topics("c") == ["orders"]
    for final in (herder.on_connector_stopped, lambda c: herder.on_connector_failed(c, "boom")):
        final("c")
        state = herder.connector_state("c").state
        herder.on_connector_shutdown("c")  # STOPPED and FAILED stay visible
        assert herder.connector_state("c").state == state
    herder.on_connector_paused("c")
    herder.on_connector_shutdown("c")
    assert herder.connector_state("c").state == "UNASSIGNED"
    herder.on_connector_restart("c")
    assert herder.connector_state("c").to_json() == {"state": "RESTARTING", "worker_id": ME}

    herder.on_task_progress(T1, {"rows": 5})
    herder.on_connector_deleted("c")
    assert herder.status.task_statuses("c") == {} and herder.status.topics("c") == []
    herder.on_task_running(T1)  # the deleted task's progress is gone too
    assert herder.status.task_status(T1) == Status("RUNNING", ME)
