"""Debezium's ExtractNewRecordState on Struct and dict change-event envelopes."""

from __future__ import annotations

from typing import Any

import pytest

from connect.api import ConfigException, DataException, Schema, SchemaBuilder, SinkRecord, Struct
from connect.transforms import ExtractNewRecordState
from tests.transforms.helpers import sink

VALUE = (
    SchemaBuilder.struct()
    .name("server.public.orders.Value")
    .optional()
    .field("id", Schema.INT64_SCHEMA)
    .field("name", Schema.OPTIONAL_STRING_SCHEMA)
    .build()
)
SOURCE = (
    SchemaBuilder.struct()
    .name("io.debezium.connector.postgresql.Source")
    .field("connector", Schema.STRING_SCHEMA)
    .field("ts_ms", Schema.INT64_SCHEMA)
    .field("db", Schema.STRING_SCHEMA)
    .field("table", Schema.STRING_SCHEMA)
    .field("lsn", Schema.OPTIONAL_INT64_SCHEMA)
    .build()
)
TRANSACTION = (
    SchemaBuilder.struct()
    .name("event.block")
    .optional()
    .field("id", Schema.STRING_SCHEMA)
    .field("total_order", Schema.INT64_SCHEMA)
    .field("data_collection_order", Schema.INT64_SCHEMA)
    .build()
)
ENVELOPE = (
    SchemaBuilder.struct()
    .name("server.public.orders.Envelope")
    .field("before", VALUE)
    .field("after", VALUE)
    .field("source", SOURCE)
    .field("op", Schema.STRING_SCHEMA)
    .field("ts_ms", Schema.OPTIONAL_INT64_SCHEMA)
    .field("transaction", TRANSACTION)
    .build()
)
KEY = SchemaBuilder.struct().name("server.public.orders.Key").field("id", Schema.INT64_SCHEMA).build()


def event(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> SinkRecord:
    value = Struct(
        ENVELOPE,
        {
            "before": None if before is None else Struct(VALUE, before),
            "after": None if after is None else Struct(VALUE, after),
            "source": Struct(
                SOURCE, {"connector": "postgresql", "ts_ms": 1000, "db": "shop", "table": "orders", "lsn": 77}
            ),
            "op": op,
            "ts_ms": 2000,
            "transaction": Struct(TRANSACTION, {"id": "tx1", "total_order": 3, "data_collection_order": 1}),
        },
    )
    return sink(value, schema=ENVELOPE, key=Struct(KEY, {"id": 1}), key_schema=KEY)


def tombstone() -> SinkRecord:
    return sink(None, schema=None, key=Struct(KEY, {"id": 1}), key_schema=KEY)


def unwrap(**props: str) -> ExtractNewRecordState[Any]:
    t: ExtractNewRecordState[Any] = ExtractNewRecordState()
    t.configure({k.replace("_", "."): v for k, v in props.items()})
    return t


def test_defaults_unwrap_after_and_drop_deletes_and_tombstones() -> None:
    t = unwrap()
    created = t.apply(event("c", None, {"id": 1, "name": "a"}))
    assert created is not None
    assert created.value_schema == VALUE and created.value == Struct(VALUE, {"id": 1, "name": "a"})
    assert created.key == Struct(KEY, {"id": 1}) and created.topic == "orders"
    updated = t.apply(event("u", {"id": 1, "name": "a"}, {"id": 1, "name": "b"}))
    assert updated is not None and updated.value["name"] == "b"
    assert t.apply(event("r", None, {"id": 1, "name": "a"})) is not None
    assert t.apply(event("d", {"id": 1, "name": "b"}, None)) is None
    assert t.apply(tombstone()) is None
    assert t.apply(event("t", None, None)) is None


def test_rewrite_adds_deleted_and_keeps_tombstones() -> None:
    t = unwrap(drop_tombstones="false", delete_handling_mode="rewrite")
    deleted = t.apply(event("d", {"id": 1, "name": "b"}, None))
    assert deleted is not None
    assert [f.name for f in deleted.value_schema.fields] == ["id", "name", "__deleted"]  # type: ignore[union-attr]
    assert (deleted.value["id"], deleted.value["name"], deleted.value["__deleted"]) == (1, "b", "true")
    created = t.apply(event("c", None, {"id": 2, "name": "x"}))
    assert created is not None and created.value["__deleted"] == "false"
    assert created.value_schema is deleted.value_schema
    tomb = tombstone()
    assert t.apply(tomb) is tomb


def test_none_keeps_deletes_with_a_null_value() -> None:
    t = unwrap(delete_handling_mode="none")
    deleted = t.apply(event("d", {"id": 1, "name": "b"}, None))
    assert deleted is not None and deleted.value is None and deleted.value_schema == VALUE


@pytest.mark.parametrize(
    ("mode", "delete_kept", "tombstone_kept", "delete_value"),
    [
        ("drop", False, False, None),
        ("tombstone", False, True, None),
        ("rewrite", True, False, "true"),
        ("rewrite-with-tombstone", True, True, "true"),
        ("delete-to-tombstone", True, False, None),
    ],
)
def test_delete_tombstone_handling_mode(
    mode: str, delete_kept: bool, tombstone_kept: bool, delete_value: str | None
) -> None:
    # the newer single setting overrides the legacy pair
    t = unwrap(delete_tombstone_handling_mode=mode, drop_tombstones="false", delete_handling_mode="none")
    deleted = t.apply(event("d", {"id": 1, "name": "b"}, None))
    assert (deleted is not None) == delete_kept
    if deleted is not None:
        assert (deleted.value["__deleted"] if deleted.value is not None else None) == delete_value
    assert (t.apply(tombstone()) is not None) == tombstone_kept


def test_add_fields_and_headers() -> None:
    t = unwrap(
        add_fields="op,table,lsn,source.ts_ms,ts_ms,id",
        add_headers="db,op",
        delete_handling_mode="rewrite",
    )
    rec = event("u", {"id": 1, "name": "a"}, {"id": 1, "name": "b"})
    rec.headers.add_string("keep", "me")
    out = t.apply(rec)
    assert out is not None
    schema = out.value_schema
    assert schema is not None
    assert [f.name for f in schema.fields] == [
        "id",
        "name",
        "__op",
        "__table",
        "__lsn",
        "__source_ts_ms",
        "__ts_ms",
        "__id",
        "__deleted",
    ]
    assert all(f.schema.optional for f in schema.fields[2:])
    v = out.value
    assert (v["__op"], v["__table"], v["__lsn"], v["__source_ts_ms"], v["__ts_ms"], v["__id"]) == (
        "u",
        "orders",
        77,
        1000,
        2000,
        "tx1",
    )
    v.validate()
    assert [(h.key, h.value) for h in out.headers] == [("keep", "me"), ("__db", "shop"), ("__op", "u")]
    deleted = t.apply(event("d", {"id": 1, "name": "a"}, None))
    assert deleted is not None and deleted.value["__op"] == "d" and deleted.value["__deleted"] == "true"
    prefixed = unwrap(add_fields="op", add_fields_prefix="cdc_").apply(event("c", None, {"id": 3}))
    assert prefixed is not None and prefixed.value["cdc_op"] == "c"


def test_route_by_field() -> None:
    t = unwrap(route_by_field="name", delete_handling_mode="rewrite")
    assert t.apply(event("c", None, {"id": 1, "name": "audit"})).topic == "audit"  # type: ignore[union-attr]
    assert t.apply(event("d", {"id": 1, "name": "gone"}, None)).topic == "gone"  # type: ignore[union-attr]
    with pytest.raises(DataException, match=r"route\.by\.field"):
        t.apply(event("c", None, {"id": 1}))


def test_non_envelopes_pass_unchanged() -> None:
    t = unwrap()
    beat = (
        SchemaBuilder.struct()
        .name("io.debezium.connector.common.Heartbeat")
        .field("ts_ms", Schema.INT64_SCHEMA)
    )
    heartbeat = sink(Struct(beat.build(), {"ts_ms": 1}), schema=beat.build())
    assert t.apply(heartbeat) is heartbeat
    plain = sink("text", schema=Schema.STRING_SCHEMA)
    assert t.apply(plain) is plain
    schemaless = sink({"x": 1}, schema=None)
    assert t.apply(schemaless) is schemaless


def test_schemaless_envelopes() -> None:
    t = unwrap(add_fields="op,source.table", add_headers="lsn", delete_handling_mode="rewrite")
    value = {
        "before": None,
        "after": {"id": 1, "name": "a"},
        "source": {"table": "orders", "lsn": 5},
        "op": "c",
        "ts_ms": 1,
    }
    out = t.apply(sink(value, schema=None))
    assert out is not None
    assert out.value == {"id": 1, "name": "a", "__op": "c", "__source_table": "orders", "__deleted": "false"}
    assert [(h.key, h.value, h.schema) for h in out.headers] == [("__lsn", 5, None)]
    deleted = t.apply(sink({**value, "before": {"id": 1}, "after": None, "op": "d"}, schema=None))
    assert deleted is not None and deleted.value["__deleted"] == "true" and deleted.value["id"] == 1
    drop = unwrap()
    assert drop.apply(sink({**value, "after": None, "op": "d"}, schema=None)) is None


def test_bad_configuration_and_missing_fields() -> None:
    with pytest.raises(ConfigException):
        unwrap(delete_handling_mode="keep")
    with pytest.raises(ConfigException):
        unwrap(add_fields="a.b.c")
    with pytest.raises(DataException, match=r"has no field 'source\.nope'"):
        unwrap(add_fields="nope").apply(event("c", None, {"id": 1}))
    with pytest.raises(DataException, match="has no struct 'nope'"):
        unwrap(add_headers="nope.x").apply(event("c", None, {"id": 1}))
