"""SqlSinkTask against SQLite, PostgreSQL and MariaDB: Debezium envelopes become a replica table
(inserts, updates, deletes, tombstones), auto.create and auto.evolve, faithful types, native upserts
collapsing per key, transactions with commits requested only after they are durable."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import pytest

from connect.api import Date, Decimal, Schema, SchemaBuilder, SinkRecord, Struct, Timestamp
from connect.testing import FakeSinkTaskContext
from connectors.sql import SqlSink, SqlSinkTask
from tests.connectors.sql.conftest import Db

KEY = SchemaBuilder.struct().name("k").field("id", Schema.INT32_SCHEMA).build()


def row_schema(extra: bool = False) -> Schema:
    b = (
        SchemaBuilder.struct()
        .name("row")
        .field("id", Schema.INT32_SCHEMA)
        .field("name", Schema.OPTIONAL_STRING_SCHEMA)
        .field("price", Decimal.builder(2).optional().build())
        .field("born", Date.builder().optional().build())
        .field("seen", Timestamp.builder().optional().build())
        .field("at", SchemaBuilder.string().name("io.debezium.time.ZonedTimestamp").optional().build())
        .field("doc", SchemaBuilder.string().name("io.debezium.data.Json").optional().build())
        .field("raw", Schema.OPTIONAL_BYTES_SCHEMA)
    )
    if extra:
        b = b.field("city", Schema.OPTIONAL_STRING_SCHEMA)
    return b.build()


def envelope(rs: Schema) -> Schema:
    return (
        SchemaBuilder.struct()
        .name("env")
        .field("before", _optional(rs))
        .field("after", _optional(rs))
        .field("source", SchemaBuilder.struct().field("lsn", Schema.OPTIONAL_INT64_SCHEMA).build())
        .field("op", Schema.STRING_SCHEMA)
        .build()
    )


def _optional(s: Schema) -> Schema:
    b = SchemaBuilder.struct().name(s.name or "row").optional()
    for f in s.fields:
        b = b.field(f.name, f.schema)
    return b.build()


def row(rs: Schema, i: int, name: str, **extra: Any) -> Struct:
    values = {
        "id": i,
        "name": name,
        "price": decimal.Decimal(f"{i}.25"),
        "born": dt.date(2000, 1, 1) + dt.timedelta(days=i),
        "seen": dt.datetime(2024, 5, 1, 12, 0, i % 60, 123000, tzinfo=dt.UTC),
        "at": f"2024-05-01T10:00:{i % 60:02d}.5Z",
        "doc": json.dumps({"n": i, "tags": ["a"]}),
        "raw": bytes([i % 256, 0, 255]),
        **extra,
    }
    return Struct(_optional(rs), values)


class Change:
    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.offset = 0

    def rec(self, op: str, i: int, before: Struct | None, after: Struct | None, rs: Schema) -> SinkRecord:
        es = envelope(rs)
        source = Struct(es.field("source").schema, {"lsn": self.offset})  # type: ignore[union-attr]
        value = Struct(es, {"before": before, "after": after, "source": source, "op": op})
        r = SinkRecord(self.topic, 0, KEY, Struct(KEY, {"id": i}), es, value, self.offset)
        self.offset += 1
        return r

    def tombstone(self, i: int) -> SinkRecord:
        r = SinkRecord(self.topic, 0, KEY, Struct(KEY, {"id": i}), None, None, self.offset)
        self.offset += 1
        return r


def start(db: Db, **props: str) -> tuple[SqlSinkTask, FakeSinkTaskContext]:
    config = {
        **db.config(),
        "topics": "pg.public.items",
        "insert.mode": "upsert",
        "pk.mode": "record_key",
        "delete.enabled": "true",
        "auto.create": "true",
        "auto.evolve": "true",
        **props,
    }
    task = SqlSinkTask()
    ctx = FakeSinkTaskContext(config)
    task.initialize(ctx)
    task.start(config)
    return task, ctx


def test_debezium_changes_materialize_a_replica_table(target: Db) -> None:
    task, ctx = start(target)
    ch = Change("pg.public.items")
    rs = row_schema()
    try:
        task.put([ch.rec("r", i, None, row(rs, i, f"n{i}"), rs) for i in range(1, 6)])
        assert ctx.commit_requests == 1
        task.put(
            [
                ch.rec("u", 2, row(rs, 2, "n2"), row(rs, 2, "two"), rs),
                ch.rec("d", 3, row(rs, 3, "n3"), None, rs),
                ch.tombstone(3),
                ch.rec("c", 6, None, row(rs, 6, "n6"), rs),
                ch.rec("d", 6, row(rs, 6, "n6"), None, rs),
                ch.rec("c", 6, None, row(rs, 6, "six"), rs),  # re-inserted in the same put
                ch.rec("u", 2, row(rs, 2, "two"), row(rs, 2, "deux"), rs),
            ]
        )
        got = target.rows("SELECT id, name FROM pg_public_items ORDER BY id")
        assert got == [(1, "n1"), (2, "deux"), (4, "n4"), (5, "n5"), (6, "six")]
        # the source table grows a column: auto.evolve adds it
        rs2 = row_schema(extra=True)
        task.put([ch.rec("u", 1, None, row(rs2, 1, "n1", city="Oslo"), rs2)])
        assert target.rows("SELECT id, city FROM pg_public_items WHERE id IN (1, 2) ORDER BY id") == [
            (1, "Oslo"),
            (2, None),
        ]
        # faithful types
        (price, born, seen, at, doc, raw) = target.rows(
            "SELECT price, born, seen, at, doc, raw FROM pg_public_items WHERE id = 4"
        )[0]
        assert decimal.Decimal(str(price)) == decimal.Decimal("4.25")
        assert str(born)[:10] == "2000-01-05"
        assert str(seen).startswith("2024-05-01 12:00:04.123")
        assert str(at).startswith("2024-05-01 10:00:04.5")
        assert (json.loads(doc) if isinstance(doc, str) else doc) == {"n": 4, "tags": ["a"]}
        assert bytes(raw) == bytes([4, 0, 255])
        assert ctx.progress is not None and ctx.progress["rows_deleted"] >= 1
    finally:
        task.stop()


def test_plain_records_insert_mode_and_a_missing_table_without_auto_create(sqlite_db: Db) -> None:
    task, _ = start(sqlite_db, **{"insert.mode": "insert", "pk.mode": "none", "delete.enabled": "false"})
    rs = row_schema()
    try:
        recs = [SinkRecord("orders", 0, None, None, rs, row(rs, i, "x"), i) for i in range(3)]
        # a plain struct with the required schema variant
        recs = [SinkRecord("orders", 0, None, None, r.value.schema, r.value, r.kafka_offset) for r in recs]
        task.put(recs)
        task.put(recs)  # insert mode appends (as Confluent's)
        assert sqlite_db.rows("SELECT COUNT(*) FROM orders") == [(6,)]
    finally:
        task.stop()
    task, _ = start(sqlite_db, **{"auto.create": "false", "connection.password": "s3cret"})
    ch = Change("missing")
    try:
        with pytest.raises(
            Exception, match=r"table missing does not exist in sqlite:///.*set auto\.create=true"
        ):
            task.put([ch.rec("c", 1, None, row(rs, 1, "a"), rs)])
    finally:
        task.stop()


def test_validate_tries_the_connection_and_masks_the_password(sqlite_db: Db, tmp_path: Any) -> None:
    def errors(config: dict[str, str]) -> dict[str, list[str]]:
        result = SqlSink().validate({"topics": "t", **config})
        return {v.name: v.error_messages for v in result.config_values if v.error_messages}

    assert errors(sqlite_db.config()) == {}
    bad = errors({"connection.url": f"sqlite:///{tmp_path}/no/such/dir/x.db"})
    assert "does not exist" in bad["connection.url"][0]
    bad = errors({"connection.url": "postgresql://u:hunter2@127.0.0.1:1/db"})
    assert (
        "cannot reach the database at postgresql+psycopg://u:***@127.0.0.1:1/db" in bad["connection.url"][0]
    )
    assert "hunter2" not in json.dumps(bad)
    assert "pk.mode" in errors({**sqlite_db.config(), "insert.mode": "upsert"})
    assert errors({"connection.url": "nonsense"})["connection.url"]
