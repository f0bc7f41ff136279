"""Records, headers and topic partitions."""

from __future__ import annotations

import pytest

from connect.api import (
    DataException,
    Header,
    Headers,
    RecordMetadata,
    Schema,
    SinkRecord,
    SourceRecord,
    TimestampType,
    TopicPartition,
)


def test_topic_partition() -> None:
    tp = TopicPartition("orders", 3)
    assert str(tp) == "orders-3"
    assert {tp: 1}[TopicPartition("orders", 3)] == 1
    assert sorted([TopicPartition("b", 0), TopicPartition("a", 1)])[0].topic == "a"
    with pytest.raises(AttributeError):
        tp.partition = 4  # type: ignore[misc]
    assert RecordMetadata("orders", 3, 17).topic_partition == tp


def test_headers_are_ordered_and_allow_duplicates() -> None:
    h = Headers().add("a", "1").add_int("b", 2).add("a", "3")
    assert [x.key for x in h] == ["a", "b", "a"]
    assert h.last_with_name("a") == Header("a", "3")
    assert [x.value for x in h.all_with_name("a")] == ["1", "3"]
    assert h.last_with_name("zz") is None
    assert len(h.duplicate().remove("a")) == 1 and len(h) == 3
    assert [x.value for x in h.duplicate().retain_latest()] == [2, "3"]
    renamed = h.duplicate().apply(lambda x: x.rename("c"), key="b")
    assert [x.key for x in renamed] == ["a", "c", "a"]
    assert len(h.duplicate().apply(lambda x: None)) == 0


def test_header_values_are_checked_against_schema() -> None:
    Headers().add("n", 5, Schema.INT32_SCHEMA)
    with pytest.raises(DataException):
        Headers().add("n", "five", Schema.INT32_SCHEMA)
    with pytest.raises(AttributeError):
        Header("k", 1).value = 2  # type: ignore[misc]
    assert Header("k", 1).with_value("x", Schema.STRING_SCHEMA) == Header("k", "x", Schema.STRING_SCHEMA)


def test_source_record_new_record_keeps_offsets_and_copies_headers() -> None:
    r = SourceRecord(
        {"db": "a"}, {"lsn": 1}, "t", None, Schema.STRING_SCHEMA, "k", Schema.INT32_SCHEMA, 5, 1000
    )
    r.headers.add("h", "v")
    r2 = r.new_record(topic="u", value=6)
    assert isinstance(r2, SourceRecord)
    assert (r2.topic, r2.value, r2.key, r2.timestamp) == ("u", 6, "k", 1000)
    assert r2.source_partition == {"db": "a"} and r2.source_offset == {"lsn": 1}
    r2.headers.add("h2", "v2")
    assert len(r.headers) == 1 and len(r2.headers) == 2
    assert r.new_record() == r
    assert r.new_record(headers=[]) != r


def test_sink_record_keeps_original_coordinates() -> None:
    r = SinkRecord("t", 2, None, "k", None, "v", 41, 99, TimestampType.CREATE_TIME)
    assert (r.original_topic, r.original_kafka_partition, r.original_kafka_offset) == ("t", 2, 41)
    r2 = r.new_record(topic="renamed", kafka_partition=0)
    assert isinstance(r2, SinkRecord)
    assert (r2.topic, r2.kafka_partition, r2.kafka_offset) == ("renamed", 0, 41)
    assert r2.original_topic_partition == TopicPartition("t", 2)
    assert r2.timestamp_type is TimestampType.CREATE_TIME
    assert r != r2 and r == r.new_record()
    assert "kafka_offset=41" in repr(r)


def test_records_have_empty_headers_by_default() -> None:
    r = SourceRecord(None, None, "t", value="x")
    assert len(r.headers) == 0
    assert r == SourceRecord(None, None, "t", value="x", headers=Headers())
