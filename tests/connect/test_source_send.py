"""WorkerSourceTask._send: one loop converts and produces; a RetriableException retries the record through
that same loop (strict), so a retried record is converted, produced and committed like any other."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Message

from connect.api import RetriableException, Schema, SourceRecord, SourceTask, Transformation
from connect.converters import load_converter, load_header_converter
from connect.runtime.errors import ErrorHandler
from connect.runtime.models import ConnectorTaskId
from connect.runtime.offsets import MemoryOffsetBackingStore
from connect.runtime.pipeline import Converters, TransformationChain, _Step
from connect.runtime.source_task import TopicCreator, WorkerSourceTask
from connect.runtime.worker_task import TargetState


class _Producer:
    def __init__(self) -> None:
        self.produced: list[tuple[str, Any, Any, Any]] = []
        self.callbacks: list[Any] = []

    def produce(self, topic: str, value: Any, key: Any, **kw: Any) -> None:
        self.produced.append((topic, key, value, kw["headers"]))
        self.callbacks.append(kw["on_delivery"])

    def ack_all(self) -> None:
        """The broker acknowledges every record produced (delivery callbacks, in order)."""
        for i, callback in enumerate(self.callbacks):
            callback(None, Message(topic="t", partition=0, offset=i, timestamp=(1, i)))
        self.callbacks.clear()


class _Task(SourceTask):
    def __init__(self) -> None:
        self.committed: list[tuple[Any, Any]] = []

    def version(self) -> str:
        return "1"

    def start(self, props: dict[str, str]) -> None:
        pass

    def poll(self) -> list[SourceRecord] | None:
        return None

    def stop(self) -> None:
        pass

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        self.committed.append((record.source_offset, metadata))


class _Flaky(Transformation[Any]):
    """Raises RetriableException for ``fail`` calls per record value, then drops or passes it."""

    def __init__(self, fail: int, drop: set[str]) -> None:
        self.fail, self.drop = fail, drop
        self.calls: dict[str, int] = {}

    def configure(self, configs: Any) -> None:
        pass

    def apply(self, record: Any) -> Any:
        n = self.calls[record.value] = self.calls.get(record.value, 0) + 1
        if record.value.startswith("flaky") and n <= self.fail:
            raise RetriableException("not yet")
        if record.value in self.drop:
            return None
        return record.new_record(value=record.value.upper())

    def config(self) -> Any:
        from connect.api import ConfigDef

        return ConfigDef()

    def close(self) -> None:
        pass


class _Listener:
    def on_topic_used(self, connector: str, topic: str) -> None:
        pass

    def on_task_progress(self, task: Any, progress: Any) -> None:
        pass


def string_converters() -> Converters:
    return Converters(
        load_converter("StringConverter", {}, True),
        load_converter("StringConverter", {}, False),
        load_header_converter("StringConverter", {}),
    )


def _task(
    fail: int, drop: set[str], retry_timeout: int = 10_000
) -> tuple[WorkerSourceTask, _Producer, _Task]:
    producer, plugin = _Producer(), _Task()
    converters = string_converters()
    config = {"errors.tolerance": "all", "errors.retry.timeout": retry_timeout}
    errors = ErrorHandler(config, "c-0", [], sleep=lambda delay: None)
    task = WorkerSourceTask(
        ConnectorTaskId("c", 0),
        plugin,
        {},
        {},
        converters,
        TransformationChain([_Step("flaky", _Flaky(fail, drop), None, False)]),
        producer,  # type: ignore[arg-type]
        MemoryOffsetBackingStore(),
        errors,
        _Listener(),  # type: ignore[arg-type]
        TargetState.STARTED,
        60_000,
        1_000,
        TopicCreator(None, {}),
    )
    return task, producer, plugin


def _records(*values: str) -> list[SourceRecord]:
    return [
        SourceRecord({"p": 0}, {"o": i}, "t", None, Schema.STRING_SCHEMA, "k", Schema.STRING_SCHEMA, v)
        for i, v in enumerate(values)
    ]


def test_retried_records_go_through_the_same_loop() -> None:
    task, producer, plugin = _task(fail=2, drop={"flaky-dropped"})
    task._send(_records("a", "flaky", "flaky-dropped", "b"))
    assert producer.produced == [
        ("t", b"k", b"A", None),
        ("t", b"k", b"FLAKY", None),
        ("t", b"k", b"B", None),
    ]
    assert plugin.committed == [({"o": 2}, None)]  # the record dropped on its retry
    task._collect_acked()
    assert task.writer._data == {}  # nothing acknowledged yet: nothing to commit
    producer.ack_all()
    task._collect_acked()
    assert [offset for _, offset in task.writer._data.values()] == [{"o": 3}]
    assert (task.errors.failed, task.errors.skipped) == (0, 0)


def test_a_retry_that_keeps_failing_is_skipped_under_tolerance_all() -> None:
    task, producer, _ = _task(fail=100, drop=set(), retry_timeout=0)
    task._send(_records("flaky", "b"))
    assert producer.produced == [("t", b"k", b"B", None)]
    assert (task.errors.failed, task.errors.skipped) == (1, 1)


def test_strict_raises_and_returns_instead_of_producing() -> None:
    task, producer, plugin = _task(fail=1, drop={"gone"})
    with pytest.raises(RetriableException):
        task._send(_records("flaky"), True)
    result = task._send(_records("flaky"), True)
    assert result is not None and result[:4] == ("t", b"k", b"FLAKY", None)
    assert task._send(_records("gone"), True) is None
    assert producer.produced == [] and plugin.committed == []
