"""Records and schemas shared by the SMT tests."""

from __future__ import annotations

from typing import Any

from connect.api import Schema, SchemaBuilder, SinkRecord, SourceRecord, Struct, TimestampType
from connect.api.transforms import Transformation

ROW = (
    SchemaBuilder.struct()
    .name("shop.orders.Value")
    .version(2)
    .doc("an order")
    .field("id", Schema.INT64_SCHEMA)
    .field("name", Schema.OPTIONAL_STRING_SCHEMA)
    .field("qty", SchemaBuilder.int32().optional().default_value(1).build())
    .build()
)
KEY = SchemaBuilder.struct().name("shop.orders.Key").field("id", Schema.INT64_SCHEMA).build()


def row(id: int = 7, name: str | None = "widget", qty: int | None = 3) -> Struct:
    return Struct(ROW, {"id": id, "name": name, "qty": qty})


def sink(
    value: Any = None,
    schema: Schema | None = ROW,
    key: Any = None,
    key_schema: Schema | None = None,
    topic: str = "orders",
    partition: int | None = 2,
    offset: int = 42,
    timestamp: int | None = 1_700_000_000_000,
) -> SinkRecord:
    return SinkRecord(
        topic,
        partition,
        key_schema,
        key,
        schema,
        row() if value is None and schema is ROW else value,
        offset,
        timestamp,
        TimestampType.CREATE_TIME,
    )


def source(
    value: Any,
    schema: Schema | None = None,
    key: Any = None,
    key_schema: Schema | None = None,
    topic: str = "orders",
    timestamp: int | None = 1_700_000_000_000,
) -> SourceRecord:
    return SourceRecord({"p": 1}, {"o": 2}, topic, None, key_schema, key, schema, value, timestamp)


def configured(cls: type[Transformation[Any]], **props: str) -> Transformation[Any]:
    """An instance configured with ``props`` (underscores in names stand for dots)."""
    t = cls()
    t.configure({k.replace("_", "."): v for k, v in props.items()})
    return t
