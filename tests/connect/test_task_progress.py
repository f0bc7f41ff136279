"""Task progress from ``TaskContext.report_progress`` to the status store: validation, the rate-limited
publisher, the status listener's rules (the herder's: rides along with state changes, kept on failure,
cleared on restart), the worker task's wiring, /metrics gauges and the connect.testing fakes."""

from __future__ import annotations

import math
import threading
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest

from connect.api.progress import MAX_PROGRESS_BYTES, check_progress
from connect.api.task import SinkTaskContext, SourceTaskContext
from connect.runtime import sink_task, source_task
from connect.runtime.models import ConnectorTaskId, TaskState
from connect.runtime.offsets import MemoryOffsetBackingStore, TaskOffsetReader
from connect.runtime.plugins import PluginRegistry
from connect.runtime.progress import ProgressPublisher, progress_gauges
from connect.runtime.standalone import StandaloneHerder
from connect.runtime.worker_config import WorkerConfig
from connect.runtime.worker_task import TargetState, WorkerTask
from connect.testing import FakeSinkTaskContext, FakeSourceTaskContext

TASK = ConnectorTaskId("pg", 0)


def status_listener() -> StandaloneHerder:
    """A herder (never started) as the status listener of worker ``w1``, over a memory status store."""
    config = WorkerConfig({"bootstrap.servers": "127.0.0.1:9"})
    return StandaloneHerder(config, PluginRegistry(), MemoryOffsetBackingStore(), "w1")


def task_state(herder: StandaloneHerder) -> TaskState | None:
    return None if herder.status.task_status(TASK) is None else herder.task_states("pg", 1)[0]


def wait_for(cond: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# --- what may be reported ----------------------------------------------------------------------------


def test_check_progress_copies_json_values() -> None:
    original: dict[str, Any] = {"phase": "snapshot", "tables": ("a", "b"), "nested": {"rows": 3}, "eta": None}
    copy = check_progress(original)
    assert copy == {"phase": "snapshot", "tables": ["a", "b"], "nested": {"rows": 3}, "eta": None}
    original["nested"]["rows"] = 4
    assert copy is not None and copy["nested"]["rows"] == 3
    assert check_progress(None) is None


@pytest.mark.parametrize(
    ("value", "error", "fragment"),
    [
        ({"rate": math.nan}, ValueError, "not JSON-serialisable"),
        ({"eta": math.inf}, ValueError, "not JSON-serialisable"),
        ({"when": object()}, ValueError, "not JSON-serialisable"),
        ({1: "x"}, TypeError, "keys must be strings"),
        (["phase", "snapshot"], TypeError, "mapping or None"),
        ({"blob": "x" * MAX_PROGRESS_BYTES}, ValueError, "at most 4096"),
    ],
)
def test_check_progress_rejects_what_json_cannot_carry(
    value: Any, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        check_progress(value)


def test_api_default_checks_and_ignores() -> None:
    class OldContext(SourceTaskContext):  # a context written before report_progress existed
        def configs(self) -> dict[str, str]:
            return {}

        def offset_storage_reader(self) -> Any:
            raise NotImplementedError

    OldContext().report_progress({"rows_done": 1})
    with pytest.raises(ValueError):
        OldContext().report_progress({"rate": math.nan})


# --- the publisher -------------------------------------------------------------------------------------


class Published:
    def __init__(self) -> None:
        self.values: list[tuple[float, dict[str, Any] | None]] = []
        self._lock = threading.Lock()

    def __call__(self, task: ConnectorTaskId, value: dict[str, Any] | None) -> None:
        assert task == TASK
        with self._lock:
            self.values.append((time.monotonic(), value))

    def only_values(self) -> list[dict[str, Any] | None]:
        with self._lock:
            return [v for _, v in self.values]


def test_publisher_rate_limits_and_latest_wins() -> None:
    out = Published()
    pub = ProgressPublisher(TASK, out, interval=0.3)
    for i in range(1, 101):  # a burst: the first is published at once, the last one after the interval
        pub.report({"rows_done": i})
    assert out.only_values() == [{"rows_done": 1}]
    wait_for(lambda: len(out.values) == 2, "the timer to publish the latest value")
    assert out.only_values()[1] == {"rows_done": 100}
    (t0, _), (t1, _) = out.values
    assert t1 - t0 >= 0.3 * 0.99
    time.sleep(0.4)
    assert len(out.values) == 2, "nothing new was reported: nothing published"
    pub.report({"rows_done": 101})  # the interval has passed: published at once
    assert out.only_values()[-1] == {"rows_done": 101}


def test_publisher_close_flushes_the_last_value_and_ignores_later_reports() -> None:
    out = Published()
    pub = ProgressPublisher(TASK, out, interval=60)
    pub.report({"phase": "snapshot"})
    pub.report({"phase": "streaming"})  # pending behind the 60 s interval
    pub.close()
    assert out.only_values() == [{"phase": "snapshot"}, {"phase": "streaming"}]
    pub.report({"phase": "late"})
    time.sleep(0.05)
    assert len(out.values) == 2
    pub.reset()  # a restart clears, and reports count again
    pub.report({"phase": "again"})
    assert out.only_values()[-2:] == [None, {"phase": "again"}]


def test_publisher_close_without_flush_drops_pending() -> None:
    out = Published()
    pub = ProgressPublisher(TASK, out, interval=60)
    pub.report({"n": 1})
    pub.report({"n": 2})
    pub.close(flush=False)  # a cancelled (zombie) task
    assert out.only_values() == [{"n": 1}]


def test_publisher_rejects_bad_values_in_the_caller() -> None:
    pub = ProgressPublisher(TASK, Published())
    with pytest.raises(ValueError):
        pub.report({"eta": math.inf})


def test_publisher_survives_a_failing_store(caplog: pytest.LogCaptureFixture) -> None:
    def broken(task: ConnectorTaskId, value: dict[str, Any] | None) -> None:
        raise RuntimeError("store down")

    ProgressPublisher(TASK, broken).report({"n": 1})
    assert "could not publish its progress" in caplog.text


# --- the status listener ----------------------------------------------------------------------------------


def test_listener_progress_rules() -> None:
    store = status_listener()
    store.on_task_progress(TASK, {"n": 1})  # reported during start(): no status yet, rides along
    assert task_state(store) is None
    store.on_task_running(TASK)
    assert task_state(store) == TaskState("RUNNING", "w1", None, 0, {"n": 1})
    store.on_task_progress(TASK, {"n": 2})
    store.on_task_paused(TASK)
    paused = task_state(store)
    assert paused is not None and (paused.state, paused.progress) == ("PAUSED", {"n": 2})
    store.on_task_failed(TASK, "boom")
    (failed,) = store.task_states("pg", 1)
    assert (failed.state, failed.trace, failed.progress) == ("FAILED", "boom", {"n": 2})
    assert failed.to_json() == {
        "id": 0,
        "state": "FAILED",
        "worker_id": "w1",
        "trace": "boom",
        "progress": {"n": 2},
    }
    # a restart: the new run clears what the old one reported, then its RUNNING status has none
    store.on_task_progress(TASK, None)
    store.on_task_running(TASK)
    running = task_state(store)
    assert running is not None and running.progress is None
    assert running.to_json() == {"id": 0, "state": "RUNNING", "worker_id": "w1"}
    store.on_task_progress(TASK, {"n": 3})
    store.on_task_shutdown(TASK)
    stopped = task_state(store)
    assert stopped is not None and (stopped.state, stopped.progress) == ("UNASSIGNED", {"n": 3})
    store.on_connector_deleted("pg")
    assert task_state(store) is None


# --- the worker task's wiring --------------------------------------------------------------------------


class _ReportingTask(WorkerTask):
    """A worker task whose 'plugin' reports progress through the runtime's source task context."""

    def __init__(self, store: StandaloneHerder, fail: bool) -> None:
        super().__init__(TASK, store, TargetState.STARTED)
        self.fail = fail
        self.context = source_task._Context(
            {}, TaskOffsetReader(MemoryOffsetBackingStore(), "pg"), self.progress, lambda: None
        )

    def signal_plugin_stop(self) -> None:
        pass

    def initialize_and_start(self) -> None:
        self.context.report_progress({"phase": "starting"})

    def execute(self) -> None:
        for rows in range(1, 1001):
            self.context.report_progress({"phase": "snapshot", "rows_done": rows})
        if self.fail:
            raise RuntimeError("table dropped")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("fail", [False, True])
def test_worker_task_publishes_the_last_report_with_its_final_state(fail: bool) -> None:
    store = status_listener()
    store.on_task_running(TASK)
    store.on_task_progress(TASK, {"phase": "from an earlier run"})
    task = _ReportingTask(store, fail)
    task.start_thread()
    assert task.await_stop(10)
    final = task_state(store)
    assert final is not None
    assert final.state == ("FAILED" if fail else "UNASSIGNED")
    assert final.progress == {"phase": "snapshot", "rows_done": 1000}
    assert task.progress.published <= 3, "a burst of 1001 reports must not become 1001 status writes"


def test_sink_context_forwards_progress() -> None:
    out = Published()
    owner = SimpleNamespace(progress=ProgressPublisher(TASK, out))
    context: SinkTaskContext = sink_task._Context(cast(Any, owner))
    context.report_progress({"files_written": 2})
    assert out.only_values() == [{"files_written": 2}]


# --- /metrics ------------------------------------------------------------------------------------------


def test_progress_gauges_export_numeric_fields_only() -> None:
    lines = progress_gauges(
        [
            (ConnectorTaskId('a"b', 0), {"rows_done": 5, "rate/s": 2.5, "phase": "snapshot", "ok": True}),
            (ConnectorTaskId("c", 1), {"rows_done": 7, "eta_seconds": None, "nested": {"x": 1}}),
            (ConnectorTaskId("d", 0), None),
        ]
    )
    assert lines == [
        "# TYPE headrace_connect_task_progress_rate_s gauge",
        'headrace_connect_task_progress_rate_s{connector="a\\"b",task="0"} 2.5',
        "# TYPE headrace_connect_task_progress_rows_done gauge",
        'headrace_connect_task_progress_rows_done{connector="a\\"b",task="0"} 5',
        'headrace_connect_task_progress_rows_done{connector="c",task="1"} 7',
    ]


# --- connect.testing fakes -----------------------------------------------------------------------------


@pytest.mark.parametrize("context", [FakeSourceTaskContext(), FakeSinkTaskContext()])
def test_fakes_record_every_report(context: FakeSourceTaskContext | FakeSinkTaskContext) -> None:
    assert context.progress is None and context.progress_reports == []
    reported = {"rows_done": 1}
    context.report_progress(reported)
    reported["rows_done"] = 99  # the task's later mutation does not change what was reported
    context.report_progress({"rows_done": 2})
    context.report_progress(None)
    assert context.progress_reports == [{"rows_done": 1}, {"rows_done": 2}, None]
    assert context.progress is None
    with pytest.raises(ValueError):
        context.report_progress({"eta": math.nan})
