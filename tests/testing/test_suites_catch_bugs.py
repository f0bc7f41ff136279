"""The conformance suites fail for plugins that break the contract (each check is shown to bite)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connect.api import (
    Config,
    ConfigDef,
    Importance,
    Schema,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SourceRecord,
    SourceTask,
    TopicPartition,
)
from connect.testing import ConnectorTests, SinkTaskTests, SourceTaskTests

# --- sources --------------------------------------------------------------------------------------------


class GoodSource(SourceTask):
    """Emits n, n+1, ... resuming after the committed offset; stop() wakes a waiting poll()."""

    def __init__(self) -> None:
        self.next = 0
        self.stopped = threading.Event()

    def version(self) -> str:
        return "1.0"

    def start(self, props: dict[str, str]) -> None:
        stored = self.context.offset_storage_reader().offset({"p": 0})
        self.next = 0 if stored is None else int(stored["n"]) + 1

    def poll(self) -> list[SourceRecord] | None:
        if self.stopped.wait(0.01):
            return None
        n = self.next
        self.next += 1
        return [self.record(n)]

    def record(self, n: int) -> SourceRecord:
        return SourceRecord({"p": 0}, {"n": n}, "numbers", None, None, None, Schema.INT64_SCHEMA, n)

    def stop(self) -> None:
        self.stopped.set()


class TupleSource(GoodSource):
    def poll(self) -> Any:
        return (self.record(0),)


class NonJsonOffsetSource(GoodSource):
    def record(self, n: int) -> SourceRecord:
        return SourceRecord({"p": 0}, {"n": (n, n)}, "numbers", None, None, None, Schema.INT64_SCHEMA, n)


class WrongSchemaSource(GoodSource):
    def record(self, n: int) -> SourceRecord:
        return SourceRecord({"p": 0}, {"n": n}, "numbers", None, None, None, Schema.STRING_SCHEMA, n)


class BlockingStopSource(GoodSource):
    def stop(self) -> None:
        time.sleep(3)


class DeafSource(GoodSource):
    """poll() ignores stop() and blocks for a long time."""

    def poll(self) -> list[SourceRecord] | None:
        if self.next > 0:
            time.sleep(3)
        return super().poll()


class ForgetfulSource(GoodSource):
    def start(self, props: dict[str, str]) -> None:
        self.next = 0  # never reads its offsets: replays everything after a restart


class Suite(SourceTaskTests):
    poll_timeout = 2.0
    stop_timeout = 0.5
    poll_return_timeout = 0.5
    max_poll_block = 1.0
    restart_window = 0.2


def run_source(task: type[SourceTask], test: str, tmp_path: Path) -> None:
    suite = type("Probe", (Suite,), {"task_class": task})()
    config = suite.task_config(tmp_path)
    suite.prepare(tmp_path, config)
    method = getattr(suite, test)
    if test == "test_restart_resumes_from_committed_offset":
        method(config, tmp_path)
    else:
        method(config)


def test_a_good_source_passes_every_check(tmp_path: Path) -> None:
    for test in (
        "test_lifecycle_in_order",
        "test_start_then_stop_without_polling",
        "test_stop_from_another_thread_while_polling",
        "test_restart_resumes_from_committed_offset",
    ):
        run_source(GoodSource, test, tmp_path)


@pytest.mark.parametrize(
    ("task", "test", "message"),
    [
        (TupleSource, "test_lifecycle_in_order", "must return None or a list"),
        (NonJsonOffsetSource, "test_lifecycle_in_order", "does not survive a JSON round trip"),
        (WrongSchemaSource, "test_lifecycle_in_order", "does not match its schema"),
        (BlockingStopSource, "test_start_then_stop_without_polling", "stop() did not return"),
        (DeafSource, "test_stop_from_another_thread_while_polling", "poll() did not return"),
        (ForgetfulSource, "test_restart_resumes_from_committed_offset", "never read its committed offsets"),
    ],
)
def test_source_checks_catch(task: type[SourceTask], test: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_source(task, test, tmp_path)


class ReplayingSource(GoodSource):
    """Reads its offset but starts again at the committed record (at-least-once off by one)."""

    def start(self, props: dict[str, str]) -> None:
        stored = self.context.offset_storage_reader().offset({"p": 0})
        self.next = 0 if stored is None else int(stored["n"])


def test_source_replay_after_restart_is_caught(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="already committed"):
        run_source(ReplayingSource, "test_restart_resumes_from_committed_offset", tmp_path)


# --- sinks ----------------------------------------------------------------------------------------------


class MemorySink(SinkTask):
    """Writes into a buffer; flush() makes it "durable" in ``TARGET``."""

    TARGET: ClassVar[list[Any]] = []

    def __init__(self) -> None:
        self.buffer: list[Any] = []
        self.high: dict[TopicPartition, int] = {}

    def version(self) -> str:
        return "1.0"

    def start(self, props: dict[str, str]) -> None:
        pass

    def put(self, records: list[SinkRecord]) -> None:
        for r in records:
            self.buffer.append(r.value)
            self.high[TopicPartition(r.topic, r.kafka_partition or 0)] = r.kafka_offset + 1

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        MemorySink.TARGET.extend(self.buffer)
        self.buffer.clear()

    def stop(self) -> None:
        pass


class BeyondSink(MemorySink):
    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        return {tp: o + 10 for tp, o in current_offsets.items()}


class InventingSink(MemorySink):
    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        return {TopicPartition("headrace-test", 0): 0, **current_offsets}


class UnflushedSink(MemorySink):
    """Claims everything is committable without making it durable."""

    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        return dict(current_offsets)

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        pass


class SinkSuite(SinkTaskTests):
    call_timeout = 2.0
    stop_timeout = 1.0

    def read_back(self, tmp_path: Path, config: dict[str, str]) -> list[Any]:
        return list(MemorySink.TARGET)


def run_sink(task: type[SinkTask], test: str, tmp_path: Path) -> None:
    MemorySink.TARGET.clear()
    suite = type("Probe", (SinkSuite,), {"task_class": task})()
    config = suite.task_config(tmp_path)
    suite.prepare(tmp_path, config)
    method = getattr(suite, test)
    if test == "test_start_then_stop_without_data":
        method(config)
    else:
        method(config, tmp_path)


def test_a_good_sink_passes_every_check(tmp_path: Path) -> None:
    for test in (
        "test_lifecycle_in_order",
        "test_pre_commit_never_beyond_put",
        "test_start_then_stop_without_data",
        "test_reassignment",
    ):
        run_sink(MemorySink, test, tmp_path)


@pytest.mark.parametrize(
    ("task", "test", "message"),
    [
        (BeyondSink, "test_lifecycle_in_order", "beyond what was put"),
        (InventingSink, "test_pre_commit_never_beyond_put", "which has no data put"),
        (UnflushedSink, "test_lifecycle_in_order", "data not in the target"),
    ],
)
def test_sink_checks_catch(task: type[SinkTask], test: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=message):
        run_sink(task, test, tmp_path)


# --- connectors -----------------------------------------------------------------------------------------

CONFIG = ConfigDef().define("target", "string", importance=Importance.HIGH, doc="Where to write.")


class GoodConnector(SinkConnector):
    def version(self) -> str:
        return "1.0"

    def config(self) -> ConfigDef:
        return CONFIG

    def start(self, props: dict[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[SinkTask]:
        return MemorySink

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks)]

    def stop(self) -> None:
        pass


class GreedyConnector(GoodConnector):
    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks + 1)]


class TypedConfigConnector(GoodConnector):
    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{"target": self.props["target"], "batch": 5}]  # type: ignore[dict-item]


class RaisingValidateConnector(GoodConnector):
    def validate(self, configs: Mapping[str, str]) -> Config:
        CONFIG.parse(configs)  # raises for a missing key instead of reporting it
        return super().validate(configs)


class WrongTaskConnector(GoodConnector):
    def task_class(self) -> type[SinkTask]:
        return GoodSource  # type: ignore[return-value]


class ConnectorSuite(ConnectorTests):
    config = {"target": "x"}


def run_connector(connector: type[SinkConnector], test: str, tmp_path: Path) -> None:
    suite = type("Probe", (ConnectorSuite,), {"connector_class": connector})()
    method = getattr(suite, test)
    if test == "test_task_configs":
        c = connector()
        c.start(suite.connector_config(tmp_path))
        method(c)
    elif test == "test_validate_accepts_the_config":
        method(tmp_path)
    else:
        method()


def test_a_good_connector_passes_every_check(tmp_path: Path) -> None:
    for test in (
        "test_version_is_a_string",
        "test_config_is_a_documented_config_def",
        "test_validate_empty_config",
        "test_validate_never_raises_for_bad_values",
        "test_validate_accepts_the_config",
        "test_task_class_matches_the_connector",
        "test_task_configs",
    ):
        run_connector(GoodConnector, test, tmp_path)


@pytest.mark.parametrize(
    ("connector", "test", "error"),
    [
        (GreedyConnector, "test_task_configs", AssertionError),
        (TypedConfigConnector, "test_task_configs", AssertionError),
        (RaisingValidateConnector, "test_validate_empty_config", Exception),
        (WrongTaskConnector, "test_task_class_matches_the_connector", AssertionError),
    ],
)
def test_connector_checks_catch(
    connector: type[SinkConnector], test: str, error: type[Exception], tmp_path: Path
) -> None:
    with pytest.raises(error):
        run_connector(connector, test, tmp_path)
