"""Debezium's semantic types written as the Parquet types query engines use (issue 12), through the
Connect path (Structs) and the raw JSON path (value.format=json), and key-only delete images written
with nulls. No database needed: the schemas are the ones PostgresSource emits."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from connect.api import (
    ConfigException,
    DataException,
    Decimal,
    Schema,
    SchemaBuilder,
    SinkRecord,
    Struct,
    TimestampType,
    TopicPartition,
)
from connectors.parquet import ParquetSink
from connectors.parquet.logical import ArrowTypes
from connectors.parquet.rows import compatibility_action
from tests.connectors.parquet.helpers import TaskRun, envelope_schema
from tests.connectors.parquet.test_rawjson import as_bytes, converter
from tests.connectors.parquet.test_task import SOURCE

TOPIC = "pg.public.t"
TP = TopicPartition(TOPIC, 0)
UTC = dt.UTC


def named(base: SchemaBuilder, name: str, optional: bool = True) -> Schema:
    b = base.name(name).version(1)
    return (b.optional() if optional else b).build()


VSD = (
    SchemaBuilder.struct()
    .name("io.debezium.data.VariableScaleDecimal")
    .version(1)
    .field("scale", Schema.INT32_SCHEMA)
    .field("value", Schema.BYTES_SCHEMA)
    .optional()
    .build()
)
ZONED = named(SchemaBuilder.string(), "io.debezium.time.ZonedTimestamp")
JSON_T = named(SchemaBuilder.string(), "io.debezium.data.Json")


def row_schema(*, with_decimals: bool = True) -> Schema:
    b = (
        SchemaBuilder.struct()
        .name("pg.public.t.Value")
        .field("id", Schema.INT32_SCHEMA)
        .field("name", Schema.STRING_SCHEMA)  # NOT NULL: zero-filled in a key-only before image
        .field("ts", ZONED)
        .field("doc", JSON_T)
        .field("day", named(SchemaBuilder.int32(), "io.debezium.time.Date"))
        .field("t_ms", named(SchemaBuilder.int32(), "io.debezium.time.Time"))
        .field("t_us", named(SchemaBuilder.int64(), "io.debezium.time.MicroTime"))
        .field("at_ms", named(SchemaBuilder.int64(), "io.debezium.time.Timestamp"))
        .field("at_us", named(SchemaBuilder.int64(), "io.debezium.time.MicroTimestamp"))
        .field("at_ns", named(SchemaBuilder.int64(), "io.debezium.time.NanoTimestamp"))
        .field("dur", named(SchemaBuilder.int64(), "io.debezium.time.MicroDuration"))
        .field("uid", named(SchemaBuilder.string(), "io.debezium.data.Uuid"))
        .field("tz_time", named(SchemaBuilder.string(), "io.debezium.time.ZonedTime"))
        .field("stamps", SchemaBuilder.array(ZONED).optional().build())
    )
    if with_decimals:
        b = b.field("amount", VSD).field("price", Decimal.builder(2).optional().build())
    return b.build()


ROW = row_schema()
ROW_NO_DECIMALS = row_schema(with_decimals=False)  # Arrow's JSON reader (fast path) takes these
AT = dt.datetime(2024, 1, 2, 3, 4, 5, 123456)
AT_US = (AT - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)


def vsd(text: str) -> Struct:
    value = decimal.Decimal(text)
    exp = value.as_tuple().exponent
    scale = max(0, -exp) if isinstance(exp, int) else 0
    unscaled = int(value.scaleb(scale))
    raw = unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)
    return Struct(VSD, {"scale": scale, "value": raw})


def row_values(i: int, schema: Schema = ROW) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": i,
        "name": f"n{i}",
        "ts": "2024-01-02T03:04:05.123456Z" if i % 2 == 0 else "2024-06-30T23:59:59Z",
        "doc": orjson.dumps({"k": i, "tags": ["a", "b"]}).decode(),
        "day": 19724 + i,  # 2024-01-02 + i days
        "t_ms": 3_723_004,  # 01:02:03.004
        "t_us": 3_723_004_005,  # 01:02:03.004005
        "at_ms": AT_US // 1000,
        "at_us": AT_US,
        "at_ns": AT_US * 1000 + 789,
        "dur": 90_061_000_001,  # 1 day 1:01:01.000001
        "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "tz_time": "01:02:03.5Z",
        "stamps": ["2024-01-02T00:00:00Z", None],
    }
    if schema.field("amount") is not None:
        values["amount"] = vsd(["1.5", "-12345678901234567.0123456789", "0.00000000005", "7"][i % 4])
        values["price"] = decimal.Decimal("12.34") + i
    return values


def record(
    schema: Schema, value: Any, offset: int, key: Any = None, key_schema: Schema | None = None
) -> SinkRecord:
    return SinkRecord(TOPIC, 0, key_schema, key, schema, value, offset, 1, TimestampType.CREATE_TIME)


def rows(schema: Schema, n: int) -> list[SinkRecord]:
    return [record(schema, Struct(schema, row_values(i, schema)), i) for i in range(n)]


def cfg(tmp_path: Path, name: str, **extra: str) -> dict[str, str]:
    return {"topics": TOPIC, "store.url": str(tmp_path / name), "flush.size": "4", **extra}


def run(tmp_path: Path, name: str, records: list[SinkRecord], **extra: str) -> pa.Table:
    task = TaskRun(cfg(tmp_path, name, **extra), TP)
    task.put(records)
    return ds.dataset(str(tmp_path / name / TOPIC), format="parquet").to_table()


def parquet_column(tmp_path: Path, name: str, column: str) -> Any:
    files = sorted((tmp_path / name / TOPIC / "partition=0").iterdir())
    schema = pq.ParquetFile(files[0]).schema
    return schema.column(schema.names.index(column))


def test_each_semantic_type_becomes_its_arrow_and_parquet_type(tmp_path: Path) -> None:
    table = run(tmp_path, "c", rows(ROW, 4))
    types = dict(zip(table.schema.names, table.schema.types, strict=True))
    assert types["ts"] == pa.timestamp("us", tz="UTC")
    assert types["doc"] == pa.json_()
    assert types["day"] == pa.date32()
    assert types["t_ms"] == pa.time32("ms")
    assert types["t_us"] == pa.time64("us")
    assert types["at_ms"] == pa.timestamp("ms")
    assert types["at_us"] == pa.timestamp("us")
    assert types["at_ns"] == pa.timestamp("ns")
    assert types["dur"] == pa.duration("us")
    assert types["stamps"] == pa.list_(pa.timestamp("us", tz="UTC"))
    assert types["amount"] == pa.decimal128(38, 10)
    assert types["price"] == pa.decimal128(38, 2)
    # no faithful Parquet type: kept as the wire type
    assert types["uid"] == pa.string() and types["tz_time"] == pa.string() and types["name"] == pa.string()

    got = table.drop_columns(["at_ns"]).to_pylist()  # nanoseconds: no datetime
    assert got[0]["ts"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert got[1]["ts"] == dt.datetime(2024, 6, 30, 23, 59, 59, tzinfo=UTC)
    assert orjson.loads(got[1]["doc"]) == {"k": 1, "tags": ["a", "b"]}
    assert got[1]["day"] == dt.date(2024, 1, 3)
    assert got[0]["t_ms"] == dt.time(1, 2, 3, 4000) and got[0]["t_us"] == dt.time(1, 2, 3, 4005)
    assert got[0]["at_ms"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123000)
    assert got[0]["at_us"] == AT
    assert table.column("at_ns")[0].value == AT_US * 1000 + 789
    assert got[0]["dur"] == dt.timedelta(days=1, hours=1, minutes=1, seconds=1, microseconds=1)
    assert got[0]["stamps"] == [dt.datetime(2024, 1, 2, tzinfo=UTC), None]
    assert [r["amount"] for r in got] == [
        decimal.Decimal("1.5000000000"),
        decimal.Decimal("-12345678901234567.0123456789"),
        decimal.Decimal("0.0000000000"),  # 5e-11 rounded half-even to decimal.scale=10
        decimal.Decimal("7.0000000000"),
    ]
    assert [r["price"] for r in got] == [decimal.Decimal("12.34") + i for i in range(4)]

    # The Parquet logical types engines read.
    ts = json.loads(parquet_column(tmp_path, "c", "ts").logical_type.to_json())
    assert ts["Type"] == "Timestamp" and ts["isAdjustedToUTC"] and ts["timeUnit"] == "microseconds"
    assert parquet_column(tmp_path, "c", "doc").logical_type.type == "JSON"
    at = json.loads(parquet_column(tmp_path, "c", "at_us").logical_type.to_json())
    assert at["Type"] == "Timestamp" and not at["isAdjustedToUTC"]
    assert parquet_column(tmp_path, "c", "day").logical_type.type == "DATE"
    assert parquet_column(tmp_path, "c", "amount").logical_type.type == "DECIMAL"


@pytest.mark.parametrize("schema", [ROW, ROW_NO_DECIMALS], ids=["per-value", "arrow-json-reader"])
def test_json_values_give_the_same_types_and_values(tmp_path: Path, schema: Schema) -> None:
    records = rows(schema, 8)
    want = run(tmp_path, "connect", records)
    got = run(tmp_path, "json", as_bytes(records), **{"value.format": "json"})
    assert got.schema == want.schema
    assert got.equals(want)


def test_decimal_handling_modes_and_precision(tmp_path: Path) -> None:
    amounts = ["2.345", "2.355", "-0.5", "12345678.9"]
    recs = [record(ROW, Struct(ROW, {**row_values(i), "amount": vsd(a)}), i) for i, a in enumerate(amounts)]
    small = run(tmp_path, "small", recs, **{"decimal.precision": "10", "decimal.scale": "2"})
    assert small.schema.field("amount").type == pa.decimal128(10, 2)
    assert small.column("amount").to_pylist() == [
        decimal.Decimal(x) for x in ("2.34", "2.36", "-0.50", "12345678.90")
    ]
    double = run(tmp_path, "double", recs, **{"decimal.handling.mode": "double"})
    assert double.schema.field("amount").type == pa.float64()
    assert double.schema.field("price").type == pa.float64()
    assert double.column("amount").to_pylist() == [2.345, 2.355, -0.5, 12345678.9]
    assert double.column("price").to_pylist() == [12.34, 13.34, 14.34, 15.34]
    text = run(tmp_path, "string", recs, **{"decimal.handling.mode": "string"})
    assert text.schema.field("amount").type == pa.string()
    assert text.column("amount").to_pylist() == amounts
    assert text.column("price").to_pylist() == ["12.34", "13.34", "14.34", "15.34"]

    with pytest.raises(DataException, match=r"does not fit decimal\(6,2\).*decimal.handling.mode=string"):
        run(tmp_path, "overflow", recs, **{"decimal.precision": "6", "decimal.scale": "2"})
    assert not (tmp_path / "overflow" / TOPIC).exists(), "nothing written"


def test_json_handling_mode_string(tmp_path: Path) -> None:
    table = run(tmp_path, "s", rows(ROW, 4), **{"json.handling.mode": "string"})
    assert table.schema.field("doc").type == pa.string()
    assert parquet_column(tmp_path, "s", "doc").logical_type.type == "STRING"


def test_zoned_timestamps_with_offsets_or_nanoseconds_are_utc_microseconds(tmp_path: Path) -> None:
    texts = ["2024-01-02T03:04:05+02:00", "2024-01-02T03:04:05.123456789Z", None, "1970-01-01T00:00:00Z"]
    recs = [record(ROW, Struct(ROW, {**row_values(i), "ts": t}), i) for i, t in enumerate(texts)]
    assert run(tmp_path, "z", recs).column("ts").to_pylist() == [
        dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        None,
        dt.datetime(1970, 1, 1, tzinfo=UTC),
    ]


def test_type_settings_are_validated() -> None:
    errors = (
        ParquetSink()
        .validate({"store.url": "/tmp/x", "decimal.handling.mode": "exact", "json.handling.mode": "map"})
        .errors()
    )
    assert set(errors) == {"decimal.handling.mode", "json.handling.mode"}
    errors = ParquetSink().validate({"store.url": "/tmp/x", "decimal.precision": "39"}).errors()
    assert set(errors) == {"decimal.precision"}
    errors = (
        ParquetSink()
        .validate({"store.url": "/tmp/x", "decimal.precision": "5", "decimal.scale": "6"})
        .errors()
    )
    assert set(errors) == {"decimal.scale"}
    with pytest.raises(ConfigException, match=r"decimal\.scale"):
        ParquetSink().start({"store.url": "/tmp/x", "decimal.precision": "5", "decimal.scale": "6"})


# -- deletes ----------------------------------------------------------------------------------------------

ITEM = (
    SchemaBuilder.struct()
    .name("pg.public.t.Value")
    .field("id", Schema.INT32_SCHEMA)
    .field("name", Schema.STRING_SCHEMA)
    .field("qty", Schema.INT32_SCHEMA)
    .field("ts", named(SchemaBuilder.string(), "io.debezium.time.ZonedTimestamp", optional=False))
    .field("doc", named(SchemaBuilder.string(), "io.debezium.data.Json", optional=False))
    .field("day", named(SchemaBuilder.int32(), "io.debezium.time.Date", optional=False))
    .field("amount", VSD)
    .field("price", Decimal.builder(2).build())
    .field("note", Schema.OPTIONAL_STRING_SCHEMA)
    .optional()
    .build()
)
KEY = SchemaBuilder.struct().name("pg.public.t.Key").field("id", Schema.INT32_SCHEMA).build()
ENVELOPE = envelope_schema("pg.public.t", ITEM, SOURCE)
FULL = {
    "id": 0,
    "name": "n",
    "qty": 3,
    "ts": "2024-01-02T03:04:05Z",
    "doc": '{"a": 1}',
    "day": 19724,
    "amount": vsd("1.5"),
    "price": decimal.Decimal("1.00"),
    "note": "x",
}
# What PostgresSource (like Debezium) puts in a REPLICA IDENTITY DEFAULT delete: the key, zero values in
# the other required columns, nulls in the optional ones.
KEY_ONLY = {
    "id": 0,
    "name": "",
    "qty": 0,
    "ts": "",
    "doc": "{}",
    "day": 0,
    "amount": Struct(VSD, {"scale": 0, "value": b"\x00"}),
    "price": decimal.Decimal("0.00"),
    "note": None,
}


def change(
    offset: int, op: str, before: dict[str, Any] | None, after: dict[str, Any] | None, key: bool = True
) -> SinkRecord:
    value = Struct(
        ENVELOPE,
        {
            "before": Struct(ITEM, before) if before else None,
            "after": Struct(ITEM, after) if after else None,
            "source": Struct(SOURCE, {"ts_ms": 1, "lsn": 100 + offset, "txId": 7}),
            "op": op,
            "ts_ms": 2,
        },
    )
    row_id = (after or before or {})["id"]
    k = Struct(KEY, {"id": row_id}) if key else None
    return record(ENVELOPE, value, offset, k, KEY if key else None)


CHANGES = [
    change(0, "c", None, {**FULL, "id": 1}),
    change(1, "d", {**KEY_ONLY, "id": 1}, None),  # REPLICA IDENTITY DEFAULT
    change(2, "d", {**FULL, "id": 2}, None),  # REPLICA IDENTITY FULL: kept as it is
    change(3, "d", {**KEY_ONLY, "id": 3}, None, key=False),  # no key: nothing known, kept
]
NON_KEY = ["name", "qty", "ts", "doc", "day", "amount", "price", "note"]


def check_deletes(table: pa.Table) -> None:
    got = {r["__lsn"]: r for r in table.to_pylist()}
    assert got[100]["name"] == "n" and got[100]["__deleted"] is False
    assert got[101]["id"] == 1 and got[101]["__op"] == "d" and got[101]["__deleted"] is True
    assert {c: got[101][c] for c in NON_KEY} == dict.fromkeys(NON_KEY), "key-only image: nulls"
    assert got[102]["name"] == "n" and got[102]["qty"] == 3 and got[102]["amount"] == decimal.Decimal("1.5")
    assert got[103]["name"] == "" and got[103]["qty"] == 0


def test_key_only_delete_images_are_written_with_nulls(tmp_path: Path) -> None:
    check_deletes(run(tmp_path, "connect", CHANGES))
    # value.format=json: the keys are JSON too (JsonConverter envelopes)
    keys = converter()
    raw = [
        r.new_record(key=None if r.key is None else keys.from_connect_data(TOPIC, KEY, r.key))
        for r in as_bytes(CHANGES)
    ]
    check_deletes(run(tmp_path, "json", raw, **{"value.format": "json"}))


def test_key_only_delete_images_without_schemas_are_written_with_nulls(tmp_path: Path) -> None:
    # what JsonConverter with schemas.enable=false delivers
    conv = converter()

    def plain(schema: Schema, v: Any) -> Any:
        return None if v is None else orjson.loads(conv.from_connect_data(TOPIC, schema, v) or b"")["payload"]

    schemaless = [
        SinkRecord(TOPIC, 0, None, plain(KEY, r.key), None, plain(ENVELOPE, r.value), r.kafka_offset, 1)
        for r in CHANGES
    ]
    table = run(tmp_path, "plain", schemaless)
    got = {r["__lsn"]: r for r in table.to_pylist()}
    assert {c: got[101][c] for c in NON_KEY} == dict.fromkeys(NON_KEY)
    assert got[102]["name"] == "n" and got[103]["name"] == ""


# -- schema evolution -------------------------------------------------------------------------------------

OLD = (
    SchemaBuilder.struct()
    .name("t.Value")
    .field("id", Schema.INT32_SCHEMA)
    .field("ts", Schema.OPTIONAL_STRING_SCHEMA)
    .build()
)
NEW = SchemaBuilder.struct().name("t.Value").field("id", Schema.INT32_SCHEMA).field("ts", ZONED).build()


def test_a_semantic_type_change_is_a_schema_change(tmp_path: Path) -> None:
    """A column that becomes a ZonedTimestamp (before: the string earlier versions wrote) changes the
    column's type: new files under NONE, an error for the record under BACKWARD/FORWARD/FULL. Old and
    new files read together with the newer file's schema."""
    types = ArrowTypes()
    assert compatibility_action(OLD, NEW, "NONE", types) == "rotate"
    for mode in ("BACKWARD", "FORWARD", "FULL"):
        with pytest.raises(DataException, match=r"type of column\(s\) \['ts'\] changed"):
            compatibility_action(OLD, NEW, mode, types)
    # json.handling.mode=string keeps Json columns the same as plain strings; json does not.
    old_doc = SchemaBuilder.struct().field("doc", Schema.OPTIONAL_STRING_SCHEMA).build()
    new_doc = SchemaBuilder.struct().field("doc", JSON_T).build()
    with pytest.raises(DataException, match="changed"):
        compatibility_action(old_doc, new_doc, "BACKWARD", types)

    recs = [
        record(OLD, Struct(OLD, {"id": 0, "ts": "2024-01-02T03:04:05Z"}), 0),
        record(NEW, Struct(NEW, {"id": 1, "ts": "2024-01-02T03:04:06Z"}), 1),
    ]
    task = TaskRun(cfg(tmp_path, "evo", **{"flush.size": "1"}), TP)
    task.put(recs)
    files = sorted((tmp_path / "evo" / TOPIC / "partition=0").iterdir())
    assert [f.name for f in files] == [f"{TOPIC}+0+0+0.parquet", f"{TOPIC}+0+1+1.parquet"]
    newer = pq.read_schema(files[1])
    table = ds.dataset([str(f) for f in files], schema=newer, format="parquet").to_table()
    assert table.column("ts").to_pylist() == [
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        dt.datetime(2024, 1, 2, 3, 4, 6, tzinfo=UTC),
    ]
