"""Helpers shared by the ElasticsearchSink tests: run a task in-process against a fake context, build
records and Debezium events, read an index back."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from connect.api import Schema, SchemaBuilder, SinkRecord, Struct, TopicPartition
from connect.testing import FakeErrantRecordReporter, FakeSinkTaskContext
from connectors.elasticsearch import ElasticsearchSinkTask
from tests.support.noida import EsServer

ROW = (
    SchemaBuilder.struct()
    .name("test.Row")
    .field("id", Schema.INT64_SCHEMA)
    .field("name", Schema.OPTIONAL_STRING_SCHEMA)
    .field("qty", Schema.OPTIONAL_INT32_SCHEMA)
    .build()
)
KEY = SchemaBuilder.struct().name("test.Key").field("id", Schema.INT64_SCHEMA).build()
MYSQL_SOURCE = (
    SchemaBuilder.struct()
    .name("io.debezium.connector.mysql.Source")
    .field("file", Schema.STRING_SCHEMA)
    .field("pos", Schema.INT64_SCHEMA)
    .field("row", Schema.INT32_SCHEMA)
    .build()
)
OPT_ROW = SchemaBuilder.struct().name("test.Row").optional()
for _f in ROW.fields:
    OPT_ROW.field(_f.name, _f.schema)
OPT_ROW_SCHEMA = OPT_ROW.build()
ENVELOPE = (
    SchemaBuilder.struct()
    .name("db.inv.items.Envelope")
    .field("before", OPT_ROW_SCHEMA)
    .field("after", OPT_ROW_SCHEMA)
    .field("source", MYSQL_SOURCE)
    .field("op", Schema.STRING_SCHEMA)
    .field("ts_ms", Schema.OPTIONAL_INT64_SCHEMA)
    .build()
)


def row_record(
    topic: str, offset: int, id_: int, name: str | None, qty: int | None = None, partition: int = 0
) -> SinkRecord:
    value = None if name is None else Struct(ROW, {"id": id_, "name": name, "qty": qty})
    return SinkRecord(topic, partition, KEY, Struct(KEY, {"id": id_}), ROW if value else None, value, offset)


def cdc_event(
    topic: str, offset: int, op: str, id_: int, name: str, binlog: tuple[str, int, int]
) -> SinkRecord:
    image = Struct(OPT_ROW_SCHEMA, {"id": id_, "name": name, "qty": None})
    file, pos, row = binlog
    value = Struct(
        ENVELOPE,
        {
            "before": image if op in ("u", "d") else None,
            "after": image if op != "d" else None,
            "source": Struct(MYSQL_SOURCE, {"file": file, "pos": pos, "row": row}),
            "op": op,
            "ts_ms": 1,
        },
    )
    return SinkRecord(topic, 0, KEY, Struct(KEY, {"id": id_}), ENVELOPE, value, offset)


class TaskRun:
    """An ElasticsearchSinkTask started in-process with a fake context."""

    def __init__(self, config: Mapping[str, str], *partitions: TopicPartition, dlq: bool = False) -> None:
        self.config = dict(config)
        self.reporter = FakeErrantRecordReporter() if dlq else None
        self.context = FakeSinkTaskContext(self.config, assignment=partitions, reporter=self.reporter)
        self.task = ElasticsearchSinkTask()
        self.task.initialize(self.context)
        self.task.start(dict(self.config))
        self.task.open(list(partitions))

    def put(self, records: list[SinkRecord]) -> None:
        self.task.put(records)

    def flush_all(self, current: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        self.task.flush(dict(current))
        return self.task.pre_commit(dict(current))

    def stop(self) -> None:
        self.task.close(sorted(self.context.assignment()))
        self.task.stop()


def docs(es: EsServer, index: str) -> dict[str, dict[str, Any]]:
    """Every document of ``index`` by id (after a refresh)."""
    client = es.client()
    try:
        client.indices.refresh(index=index)
        found = client.search(index=index, size=10000, query={"match_all": {}})
        return {h["_id"]: h["_source"] for h in found["hits"]["hits"]}
    finally:
        client.close()


def wait_for(check: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
