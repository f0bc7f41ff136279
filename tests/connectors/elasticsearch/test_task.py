"""ElasticsearchSinkTask against a real Elasticsearch-API server (noida-db): indexing, upserts and
deletes seen in searches, Debezium events with source positions as external versions (replays and
reorderings never let older data win), malformed documents to the dead-letter queue, a server
stopped mid-stream, and mappings from schemas."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connect.api import ConnectException, TopicPartition
from tests.connectors.elasticsearch.helpers import TaskRun, cdc_event, docs, row_record
from tests.support.noida import EsServer, start_local
from tests.support.require import require_or_skip


def base(es: EsServer, **extra: str) -> dict[str, str]:
    return {"connection.url": es.url, "read.timeout.ms": "5000", **extra}


def test_index_upsert_and_delete_are_reflected_in_searches(elasticsearch_server: EsServer) -> None:
    es = elasticsearch_server
    topic = es.new_index("Items")  # upper case: the index is the lowercased topic (Confluent's rule)
    index = topic.lower()
    tp = TopicPartition(topic, 0)
    run = TaskRun(base(es, **{"behavior.on.null.values": "delete", "write.method": "upsert"}), tp)
    try:
        run.put([row_record(topic, 0, 1, "one", 5), row_record(topic, 1, 2, "two", 7)])
        run.put([row_record(topic, 2, 1, "uno", None), row_record(topic, 3, 2, None)])  # 2: a tombstone
        committed = run.flush_all({tp: 4})
        assert committed == {tp: 4}
        assert docs(es, index) == {"1": {"id": 1, "name": "uno", "qty": None}}
        client = es.client()
        hits = client.search(index=index, query={"match": {"name": "uno"}})["hits"]["hits"]
        client.close()
        assert [h["_id"] for h in hits] == ["1"]
        assert run.context.commit_requests >= 1  # offsets follow finished bulk requests
    finally:
        run.stop()


def test_key_ignore_ids_are_topic_partition_offset(elasticsearch_server: EsServer) -> None:
    es = elasticsearch_server
    topic = es.new_index("k")
    tp = TopicPartition(topic, 3)
    run = TaskRun(base(es, **{"key.ignore": "true", "schema.ignore": "true"}), tp)
    try:
        run.put([row_record(topic, 10, 1, "a", partition=3), row_record(topic, 11, 1, "b", partition=3)])
        run.flush_all({tp: 12})
        assert set(docs(es, topic)) == {f"{topic}+3+10", f"{topic}+3+11"}
    finally:
        run.stop()


def test_debezium_replay_and_reordering_never_let_older_data_win(elasticsearch_server: EsServer) -> None:
    es = elasticsearch_server
    topic = es.new_index("cdc")
    tp = TopicPartition(topic, 0)
    events = [
        cdc_event(topic, 0, "r", 1, "snap", ("binlog.000001", 400, 0)),
        cdc_event(topic, 1, "c", 2, "two", ("binlog.000001", 900, 0)),
        cdc_event(topic, 2, "u", 1, "v2", ("binlog.000001", 1500, 0)),
        cdc_event(topic, 3, "u", 1, "v3", ("binlog.000002", 120, 0)),  # the next binlog file: newer
        cdc_event(topic, 4, "d", 2, "two", ("binlog.000002", 500, 0)),
        cdc_event(topic, 5, "c", 3, "three", ("binlog.000002", 800, 1)),
    ]
    run = TaskRun(base(es), tp)
    try:
        run.put(events)
        run.flush_all({tp: 6})
        first = docs(es, topic)
        assert first == {
            "1": {"id": 1, "name": "v3", "qty": None},
            "3": {"id": 3, "name": "three", "qty": None},
        }
        # replay the topic from offset 0: the index stays identical
        run.put(events)
        run.flush_all({tp: 6})
        assert docs(es, topic) == first
        # an older event (v2) delivered after the newer one (v3) does not win
        run.put([events[2], events[0]])
        run.flush_all({tp: 6})
        assert docs(es, topic) == first
        assert run.task.stats.stale >= 2
    finally:
        run.stop()


def test_malformed_document_goes_to_the_dead_letter_queue(elasticsearch_server: EsServer) -> None:
    es = elasticsearch_server
    topic = es.new_index("bad")
    tp = TopicPartition(topic, 0)
    client = es.client()
    client.indices.create(index=topic, mappings={"properties": {"name": {"type": "long"}}})
    client.close()
    run = TaskRun(base(es, **{"behavior.on.malformed.documents": "fail"}), tp, dlq=True)
    try:
        run.put(
            [
                row_record(topic, 0, 1, "10"),
                row_record(topic, 1, 2, "not a number"),
                row_record(topic, 2, 3, "30"),
            ]
        )
        assert run.flush_all({tp: 3}) == {tp: 3}
        assert sorted(docs(es, topic)) == ["1", "3"]
        assert run.reporter is not None
        [(record, error)] = run.reporter.reported
        assert record.kafka_offset == 1
        assert "400" in str(error) and "name" in str(error)  # the server's reason (DLQ header message)
    finally:
        run.stop()


def test_malformed_document_fails_the_task_without_a_reporter(elasticsearch_server: EsServer) -> None:
    es = elasticsearch_server
    topic = es.new_index("badfail")
    tp = TopicPartition(topic, 0)
    client = es.client()
    client.indices.create(index=topic, mappings={"properties": {"name": {"type": "long"}}})
    client.close()
    run = TaskRun(base(es), tp)
    try:
        run.put([row_record(topic, 0, 1, "x")])
        with pytest.raises(ConnectException, match="rejected the document"):
            run.flush_all({tp: 1})
    finally:
        run.task.stop()


def test_mapping_is_created_from_the_schema_before_the_first_write(elasticsearch_server: EsServer) -> None:
    import datetime as dt
    import decimal

    from connect.api import Date, Decimal, Schema, SchemaBuilder, SinkRecord, Struct, Timestamp

    es = elasticsearch_server
    topic = es.new_index("typed")
    schema = (
        SchemaBuilder.struct()
        .name("test.Typed")
        .field("id", Schema.INT32_SCHEMA)
        .field("price", Decimal.schema(2))
        .field("day", Date.SCHEMA if hasattr(Date, "SCHEMA") else Date.builder().build())
        .field("at", Timestamp.builder().build())
        .field("tags", SchemaBuilder.array(Schema.STRING_SCHEMA).build())
        .field("attrs", SchemaBuilder.map(Schema.STRING_SCHEMA, Schema.INT64_SCHEMA).build())
        .build()
    )
    value = Struct(
        schema,
        {
            "id": 1,
            "price": decimal.Decimal("12.34"),
            "day": dt.date(2024, 2, 29),
            "at": dt.datetime(2024, 2, 29, 12, 0, tzinfo=dt.UTC),
            "tags": ["a", "b"],
            "attrs": {"x": 1},
        },
    )
    tp = TopicPartition(topic, 0)
    run = TaskRun(base(es, **{"key.ignore": "true"}), tp)
    try:
        run.put([SinkRecord(topic, 0, None, None, schema, value, 0)])
        run.flush_all({tp: 1})
        client = es.client()
        client.indices.refresh(index=topic)
        props = client.indices.get_mapping(index=topic)[topic]["mappings"]["properties"]
        hits = client.search(index=topic, query={"range": {"day": {"gte": "2024-02-01"}}})["hits"]["hits"]
        client.close()
        assert props["id"]["type"] == "integer"
        assert props["price"]["type"] == "double"
        assert props["day"]["type"] == "date" and props["at"]["type"] == "date"
        assert props["tags"]["type"] == "text"
        assert hits and hits[0]["_source"]["price"] == 12.34 and hits[0]["_source"]["day"] == "2024-02-29"
    finally:
        run.stop()


@pytest.fixture
def es_server() -> Iterator[EsServer]:
    """A private noida-db this test may stop and start."""
    try:
        server = start_local()
    except Exception as exc:
        require_or_skip(f"noida-db not available: {exc}")
    try:
        yield server
    finally:
        server.close()


def test_server_stopped_mid_stream_the_sink_retries_resumes_and_loses_nothing(es_server: EsServer) -> None:
    es = es_server
    topic = es.new_index("restart")
    tp = TopicPartition(topic, 0)
    config = base(
        es,
        **{"max.retries": "30", "retry.backoff.ms": "50", "batch.size": "50", "read.timeout.ms": "2000"},
    )
    run = TaskRun(config, tp)
    try:
        run.put([row_record(topic, o, o, f"n{o}") for o in range(0, 200)])
        run.flush_all({tp: 200})
        es.stop()
        run.put([row_record(topic, o, o, f"n{o}") for o in range(200, 400)])  # in flight, retrying
        committed = run.task.pre_commit({tp: 400})
        assert committed[tp] <= 200, "offsets committed for records not yet indexed"
        es.start()
        run.put([row_record(topic, o, o, f"n{o}") for o in range(400, 500)])
        assert run.flush_all({tp: 500}) == {tp: 500}
        assert sorted(map(int, docs(es, topic))) == list(range(500))
        assert run.task.stats.retries >= 1
    finally:
        run.stop()
