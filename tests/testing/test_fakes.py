"""The in-memory fakes and helpers of connect.testing."""

from __future__ import annotations

import time

import pytest

from connect.api import Schema, SourceRecord, TopicPartition
from connect.testing import (
    FakeSinkConnectorContext,
    FakeSinkTaskContext,
    FakeSourceConnectorContext,
    FakeSourceTaskContext,
    InMemoryOffsetStorageReader,
    SinkContextCall,
    call_with_timeout,
    check_committable,
    check_source_records,
    sink_records,
)


def test_offset_reader_stores_json_and_ignores_key_order() -> None:
    reader = InMemoryOffsetStorageReader([({"db": "a", "table": "t"}, {"lsn": 5})])
    assert reader.offset({"table": "t", "db": "a"}) == {"lsn": 5}
    got = reader.offset({"db": "a", "table": "t"})
    assert got is not None
    got["lsn"] = 99  # callers get copies
    assert reader.offset({"db": "a", "table": "t"}) == {"lsn": 5}
    assert reader.offset({"db": "b"}) is None
    assert reader.offsets([{"db": "b"}, {"table": "t", "db": "a"}]) == [
        ({"db": "b"}, None),
        ({"table": "t", "db": "a"}, {"lsn": 5}),
    ]
    assert len(reader.reads) == 6
    reader.set({"db": "a", "table": "t"}, None)
    assert len(reader) == 0
    with pytest.raises(TypeError, match="not JSON-serializable"):
        reader.set({"db": object()}, {"x": 1})


def test_offset_reader_commit_keeps_the_last_offset_per_partition() -> None:
    reader = InMemoryOffsetStorageReader()
    records = [
        SourceRecord({"f": "x"}, {"pos": i}, "t", value_schema=Schema.INT32_SCHEMA, value=i) for i in range(3)
    ]
    records.append(SourceRecord(None, None, "t"))
    assert reader.commit(records) == 3
    assert reader.all() == [({"f": "x"}, {"pos": 2})]


def test_source_task_context() -> None:
    reader = InMemoryOffsetStorageReader([({"p": 1}, {"o": 2})])
    ctx = FakeSourceTaskContext({"topic": "t"}, reader)
    assert ctx.configs() == {"topic": "t"}
    assert ctx.offset_storage_reader().offset({"p": 1}) == {"o": 2}
    assert FakeSourceTaskContext().offset_storage_reader().offset({"p": 1}) is None


def test_sink_task_context_records_requests() -> None:
    tp0, tp1 = TopicPartition("t", 0), TopicPartition("t", 1)
    ctx = FakeSinkTaskContext({"topics": "t"}, assignment=[tp0, tp1])
    ctx.pause(tp0, tp1)
    ctx.resume(tp1)
    ctx.offset(tp0, 42)
    ctx.offset({tp1: 7})
    ctx.timeout(500)
    ctx.request_commit()
    assert ctx.paused == {tp0}
    assert ctx.offsets == {tp0: 42, tp1: 7}
    assert ctx.timeout_ms == 500
    assert ctx.commit_requests == 1
    assert [c.name for c in ctx.calls] == ["pause", "resume", "offset", "offset", "timeout", "request_commit"]
    assert ctx.calls[0] == SinkContextCall("pause", (tp0, tp1))
    assert ctx.assignment() == {tp0, tp1} and ctx.configs() == {"topics": "t"}
    with pytest.raises(ValueError, match="not assigned"):
        ctx.pause(TopicPartition("other", 0))
    with pytest.raises(ValueError, match="invalid offset"):
        ctx.offset(tp0, -1)
    ctx.assign([tp1])
    assert ctx.paused == set()
    assert ctx.errant_record_reporter() is None


def test_errant_record_reporter() -> None:
    ctx = FakeSinkTaskContext(errant_records=True)
    reporter = ctx.errant_record_reporter()
    assert reporter is not None
    record = sink_records("t", ["x"])[0]
    error = ValueError("bad")
    assert reporter.report(record, error).result(timeout=1) is None
    assert ctx.reporter is reporter
    assert reporter.reported == [(record, error)]  # type: ignore[attr-defined]


def test_connector_contexts() -> None:
    source = FakeSourceConnectorContext()
    source.request_task_reconfiguration()
    source.raise_error(RuntimeError("x"))
    assert source.reconfiguration_requests == 1 and len(source.errors) == 1
    assert source.offset_storage_reader().offset({"a": 1}) is None
    sink = FakeSinkConnectorContext()
    sink.request_task_reconfiguration()
    assert sink.reconfiguration_requests == 1


def test_sink_records_factory() -> None:
    records = sink_records("t", ["a", "b"], partition=2, start_offset=10)
    assert [(r.kafka_partition, r.kafka_offset, r.key, r.value) for r in records] == [
        (2, 10, "key-10", "a"),
        (2, 11, "key-11", "b"),
    ]


def test_call_with_timeout() -> None:
    assert call_with_timeout(lambda: 5, 1, "five") == 5
    with pytest.raises(ZeroDivisionError):
        call_with_timeout(lambda: 1 // 0, 1, "divide")
    with pytest.raises(AssertionError, match=r"sleep\(\) did not return within 0.05 s"):
        call_with_timeout(lambda: time.sleep(1), 0.05, "sleep()")


def test_check_source_records() -> None:
    assert check_source_records(None) == []
    good = SourceRecord({"p": "x"}, {"o": [1, "a"]}, "t", value_schema=Schema.STRING_SCHEMA, value="v")
    assert check_source_records([good]) == [good]
    for bad, message in (
        ([SourceRecord({"p": 1.5j}, None, "t")], "not JSON-serializable"),
        ([SourceRecord({1: "x"}, None, "t")], "string keys"),  # type: ignore[dict-item]
        ([SourceRecord(None, None, "")], "no topic"),
        ([SourceRecord(None, None, "t", timestamp=-5)], "invalid timestamp"),
        ([SourceRecord(None, None, "t", kafka_partition=-1)], "invalid kafka_partition"),
        (["x"], "not a SourceRecord"),
    ):
        with pytest.raises(AssertionError, match=message):
            check_source_records(bad)


def test_check_committable() -> None:
    tp = TopicPartition("t", 0)
    assert check_committable({tp: 3}, {tp: 5}, [tp]) == {tp: 3}
    for bad, message in (
        ([], "must return a dict"),
        ({tp: 6}, "beyond what was put"),
        ({TopicPartition("t", 1): 1}, "has no data put"),
        ({"t-0": 1}, "not a TopicPartition"),
        ({tp: "1"}, "non-integer"),
    ):
        with pytest.raises(AssertionError, match=message):
            check_committable(bad, {tp: 5})
    with pytest.raises(AssertionError, match="not assigned"):
        check_committable({tp: 1}, {tp: 5}, [])
