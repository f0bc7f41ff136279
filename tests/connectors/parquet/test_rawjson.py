"""value.format=json: JSON text values (ByteArrayConverter / StringConverter) decoded by the sink itself,
checked against what the same data gives through JsonConverter (value.format=connect)."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from connect.api import (
    Date,
    Decimal,
    Schema,
    SchemaBuilder,
    SinkRecord,
    Struct,
    Timestamp,
    TimestampType,
    TopicPartition,
    schema_from_json,
)
from connect.converters.json import JsonConverter
from tests.connectors.parquet.helpers import ROW, ROW_V2, TaskRun, struct_records
from tests.connectors.parquet.test_task import CHANGES

TOPIC = "raw"
TP = TopicPartition(TOPIC, 0)
RICH = (
    SchemaBuilder.struct()
    .name("test.Rich")
    .field("id", Schema.INT64_SCHEMA)
    .field("at", Timestamp.SCHEMA)
    .field("day", Date.SCHEMA)
    .field("price", Decimal.schema(2))
    .field("blob", Schema.OPTIONAL_BYTES_SCHEMA)
    .field("tags", SchemaBuilder.array(Schema.STRING_SCHEMA).optional().build())
    .field("attrs", SchemaBuilder.map(Schema.STRING_SCHEMA, Schema.INT32_SCHEMA).optional().build())
    .field("inner", SchemaBuilder.struct().field("x", Schema.INT32_SCHEMA).optional().build())
    .build()
)


def converter() -> JsonConverter:
    c = JsonConverter()
    c.configure({"schemas.enable": "true"}, False)
    return c


def as_bytes(records: list[SinkRecord], text: bool = False) -> list[SinkRecord]:
    """The records as a ByteArrayConverter (or, ``text``, StringConverter) would deliver them."""
    conv = converter()
    out = []
    for r in records:
        raw = conv.from_connect_data(r.topic, r.value_schema, r.value)
        value: Any = None if raw is None else (raw.decode() if text else raw)
        schema = Schema.OPTIONAL_STRING_SCHEMA if text else Schema.OPTIONAL_BYTES_SCHEMA
        out.append(r.new_record(value_schema=schema, value=value))
    return out


def read_all(root: Path) -> list[dict[str, Any]]:
    return ds.dataset(str(root / TOPIC), format="parquet").to_table().to_pylist()


def cfg(tmp_path: Path, name: str, **extra: str) -> dict[str, str]:
    return {"topics": TOPIC, "store.url": str(tmp_path / name), "flush.size": "4", **extra}


def rich(offsets: range) -> list[SinkRecord]:
    out = []
    for o in offsets:
        value = Struct(
            RICH,
            {
                "id": o,
                "at": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC) + dt.timedelta(seconds=o),
                "day": dt.date(2024, 1, 2),
                "price": decimal.Decimal("12.34") + o,
                "blob": bytes([o, 255]),
                "tags": ["a", "b"][: o % 3],
                "attrs": {"k": o},
                "inner": Struct(RICH.field("inner").schema, {"x": o}),  # type: ignore[union-attr]
            },
        )
        out.append(SinkRecord(TOPIC, 0, None, None, RICH, value, o, 1, TimestampType.CREATE_TIME))
    return out


def test_json_values_give_the_same_files_as_connect_values(tmp_path: Path) -> None:
    for records in (struct_records(TP, range(8)), rich(range(8))):
        name = records[0].value_schema.name  # type: ignore[union-attr]
        connect = TaskRun(cfg(tmp_path, f"c-{name}"), TP)
        connect.put(records)
        raw = TaskRun(cfg(tmp_path, f"j-{name}", **{"value.format": "json"}), TP)
        raw.put(as_bytes(records[:5]))
        raw.put(as_bytes(records[5:], text=True))  # StringConverter gives str
        want = read_all(tmp_path / f"c-{name}")
        assert len(want) == 8
        assert read_all(tmp_path / f"j-{name}") == want
        first = pq.read_table(tmp_path / f"j-{name}" / TOPIC / "partition=0" / f"{TOPIC}+0+0+3.parquet")
        assert (
            first.schema
            == pq.read_table(tmp_path / f"c-{name}" / TOPIC / "partition=0" / f"{TOPIC}+0+0+3.parquet").schema
        )


def test_json_debezium_envelopes_schema_evolution_and_schemaless(tmp_path: Path) -> None:
    orders = TopicPartition("orders", 0)  # the topic of the change events
    dbz = TaskRun(cfg(tmp_path, "dbz", **{"value.format": "json", "flush.size": "4"}), orders)
    dbz.put(as_bytes(CHANGES))
    rows = ds.dataset(str(tmp_path / "dbz" / "orders"), format="parquet").to_table().to_pylist()
    assert [(r["id"], r["__op"], r["__deleted"], r["__lsn"]) for r in rows] == [
        (1, "r", False, 500),
        (2, "c", False, 501),
        (1, "u", False, 502),
        (2, "d", True, 503),
    ]

    evo = TaskRun(cfg(tmp_path, "evo", **{"value.format": "json", "schema.compatibility": "BACKWARD"}), TP)
    evo.put(as_bytes(struct_records(TP, range(2)) + struct_records(TP, range(2, 6), ROW_V2)))
    evo.put(as_bytes(struct_records(TP, range(6, 8))))  # older schema: projected into the open v2 file
    files = sorted(p.name for p in (tmp_path / "evo" / TOPIC / "partition=0").iterdir())
    assert files == [f"{TOPIC}+0+0+1.parquet", f"{TOPIC}+0+2+5.parquet"]
    evo.task._writers[TP].commit()
    last = pq.read_table(tmp_path / "evo" / TOPIC / "partition=0" / f"{TOPIC}+0+6+7.parquet")
    assert last.schema.names == ["id", "name", "email"] and last.column("email").to_pylist() == [None, None]

    plain = TaskRun(cfg(tmp_path, "plain", **{"value.format": "json", "flush.size": "2"}), TP)
    plain.put(
        [
            SinkRecord(TOPIC, 0, None, None, Schema.OPTIONAL_BYTES_SCHEMA, b'{"a": 1, "b": [1, 2]}', 0, 1),
            SinkRecord(TOPIC, 0, None, None, Schema.OPTIONAL_BYTES_SCHEMA, b'{"a": 2}', 1, 1),
        ]
    )
    assert read_all(tmp_path / "plain") == [{"a": 1, "b": [1, 2]}, {"a": 2, "b": None}]


def test_json_values_with_the_field_partitioner(tmp_path: Path) -> None:
    run = TaskRun(
        cfg(
            tmp_path,
            "parts",
            **{"value.format": "json", "partitioner.class": "field", "partition.field.name": "name"},
        ),
        TP,
    )
    run.put(as_bytes(struct_records(TP, range(4))))
    assert sorted(p.name for p in (tmp_path / "parts" / TOPIC).iterdir()) == [
        "name=n0",
        "name=n1",
        "name=n2",
        "name=n3",
    ]


def test_schema_from_json_round_trips_what_json_converter_writes() -> None:
    conv = converter()
    for schema in (ROW, ROW_V2, RICH):
        assert schema_from_json(orjson.loads(conv.as_json_schema(schema))) == schema
