"""``connect.api.json_schema``: the one definition of Kafka Connect's JSON form of a schema, shared by
JsonConverter and ParquetSink's ``value.format=json``."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from connect.api import (
    DataException,
    Date,
    Decimal,
    Schema,
    SchemaBuilder,
    Struct,
    Time,
    Timestamp,
    schema_from_json,
    schema_to_json,
)
from connect.converters.json import JsonConverter
from tests.connect.strategies import schemas

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

AT = dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC)
INNER = SchemaBuilder.struct().name("x.Inner").field("n", Schema.INT32_SCHEMA).optional().build()
EVERY = (
    SchemaBuilder.struct()
    .name("x.Every")
    .version(3)
    .doc("all types")
    .parameter("p", "v")
    .field("i8", SchemaBuilder.int8().default_value(-8).build())
    .field("i16", SchemaBuilder.int16().optional().build())
    .field("i32", SchemaBuilder.int32().default_value(32).build())
    .field("i64", SchemaBuilder.int64().default_value(2**40).build())
    .field("f32", SchemaBuilder.float32().default_value(0.5).build())
    .field("f64", SchemaBuilder.float64().default_value(0.1).build())
    .field("b", SchemaBuilder.boolean().default_value(True).build())
    .field("s", SchemaBuilder.string().default_value('é\n"').build())
    .field("raw", SchemaBuilder.bytes().default_value(b"\x00\xff").build())
    .field("dec", Decimal.builder(2).default_value(decimal.Decimal("-1.25")).build())
    .field("day", Date.builder().default_value(dt.date(2024, 2, 29)).build())
    .field("tod", Time.builder().default_value(dt.time(12, 30, 1, 5000)).build())
    .field("at", Timestamp.builder().default_value(AT).build())
    .field("tags", SchemaBuilder.array(Schema.STRING_SCHEMA).default_value(["a", "b"]).build())
    .field(
        "attrs", SchemaBuilder.map(Schema.STRING_SCHEMA, Schema.INT32_SCHEMA).default_value({"a": 1}).build()
    )
    .field(
        "pairs",
        SchemaBuilder.map(Schema.INT64_SCHEMA, INNER).default_value({7: Struct(INNER).put("n", 1)}).build(),
    )
    .field("inner", INNER)
    .field(
        "nested",
        SchemaBuilder.array(SchemaBuilder.map(Schema.STRING_SCHEMA, INNER).optional().build())
        .optional()
        .build(),
    )
    .build()
)


def converter() -> JsonConverter:
    c = JsonConverter()
    c.configure({}, False)
    return c


def test_every_type_round_trips() -> None:
    form = schema_to_json(EVERY)
    assert schema_from_json(form) == EVERY
    assert schema_from_json(json.loads(json.dumps(form))) == EVERY
    fields = {f["field"]: f for f in form["fields"]}
    assert list(form)[:2] == ["type", "fields"] and list(fields["i8"]) == [
        "type",
        "optional",
        "default",
        "field",
    ]
    assert fields["dec"]["default"] == "gw=="  # BASE64 of the unscaled -125 (0x83)
    assert fields["day"]["default"] == 19782 and fields["at"]["default"] == 1704164645006
    assert fields["pairs"]["default"] == [[7, {"n": 1}]]
    assert fields["i16"] == {"type": "int16", "optional": True, "field": "i16"}


def test_the_form_is_what_json_converter_writes() -> None:
    text = converter().as_json_schema(EVERY)
    assert orjson.loads(text) == schema_to_json(EVERY)
    assert schema_from_json(orjson.loads(text)) == EVERY


@PROPERTY
@given(schemas())
def test_generated_schemas_round_trip(schema: Schema) -> None:
    assert schema_from_json(json.loads(json.dumps(schema_to_json(schema)))) == schema
    assert schema_from_json(orjson.loads(converter().as_json_schema(schema))) == schema


def test_decimal_default_may_be_a_number() -> None:
    form = {"type": "bytes", "name": Decimal.LOGICAL_NAME, "parameters": {"scale": "2"}, "default": 1.5}
    assert schema_from_json(form).default_value == decimal.Decimal("1.50")


def test_hooks_replace_the_default_encoding() -> None:
    schema = SchemaBuilder.int32().default_value(5).build()
    assert schema_to_json(schema, lambda s, v: f"<{v}>")["default"] == "<5>"
    seen: list[Any] = []

    def read(s: Schema, node: Any) -> Any:
        seen.append((s.default_value, node))
        return 6

    assert schema_from_json({"type": "int32", "default": 5}, read).default_value == 6
    assert seen == [(None, 5)]


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (None, "Schema must be a JSON object"),
        ([], "Schema must be a JSON object"),
        ({"optional": True}, "Schema must contain 'type' field"),
        ({"type": "float32"}, "Unknown schema type: float32"),
        ({"type": "array"}, "Array schema did not specify the element type"),
        ({"type": "map", "values": {"type": "int8"}}, "Map schema did not specify the key type"),
        ({"type": "map", "keys": {"type": "int8"}}, "Map schema did not specify the value type"),
        ({"type": "map", "keys": None, "values": {"type": "int8"}}, "Nested schema must not be null"),
        ({"type": "struct"}, '"fields" argument is not an array'),
        ({"type": "struct", "fields": [{"type": "int8"}]}, "field name not specified properly"),
        ({"type": "string", "parameters": {"a": 1}}, "parameters must have string values"),
        ({"type": "bytes", "default": "not base64!"}, "Invalid JSON value for BYTES schema"),
    ],
)
def test_invalid_forms_are_data_exceptions(node: Any, message: str) -> None:
    with pytest.raises(DataException, match=message):
        schema_from_json(node)
