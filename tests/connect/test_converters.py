"""StringConverter, ByteArrayConverter, SimpleHeaderConverter and the converter registry."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from connect.api import (
    ConfigException,
    Converter,
    DataException,
    Decimal,
    HeaderConverter,
    Schema,
    SchemaAndValue,
    SchemaBuilder,
    Struct,
    Timestamp,
)
from connect.converters import (
    ALIASES,
    ByteArrayConverter,
    JsonConverter,
    SimpleHeaderConverter,
    StringConverter,
    converter_class,
    load_converter,
    load_header_converter,
)
from connect.converters._javafmt import f32


def test_string_converter() -> None:
    c = load_converter("org.apache.kafka.connect.storage.StringConverter", {}, is_key=True)
    assert isinstance(c, StringConverter)
    assert c.from_connect_data("t", Schema.STRING_SCHEMA, "héllo") == "héllo".encode()
    assert c.from_connect_data("t", None, True) == b"true"
    assert c.from_connect_data("t", None, 1e7) == b"1.0E7"
    assert c.from_connect_data("t", None, None) is None
    assert c.to_connect_data("t", "héllo".encode()) == SchemaAndValue(Schema.OPTIONAL_STRING_SCHEMA, "héllo")
    assert c.to_connect_data("t", None) == SchemaAndValue(Schema.OPTIONAL_STRING_SCHEMA, None)
    latin = load_converter("StringConverter", {"converter.encoding": "ISO-8859-1"}, is_key=False)
    assert latin.from_connect_data("t", None, "é") == b"\xe9"
    with pytest.raises(DataException):
        c.to_connect_data("t", b"\xff\xfe")
    with pytest.raises(ConfigException, match=r"converter\.encoding"):
        load_converter("StringConverter", {"converter.encoding": "klingon"}, is_key=False)


def test_byte_array_converter() -> None:
    c = load_converter("ByteArrayConverter", {}, is_key=False)
    assert c.from_connect_data("t", Schema.BYTES_SCHEMA, bytearray(b"ab")) == b"ab"
    assert c.from_connect_data("t", None, None) is None
    assert c.to_connect_data("t", b"ab") == SchemaAndValue(Schema.OPTIONAL_BYTES_SCHEMA, b"ab")
    with pytest.raises(DataException):
        c.from_connect_data("t", Schema.STRING_SCHEMA, b"ab")
    with pytest.raises(DataException):
        c.from_connect_data("t", None, "ab")


@pytest.mark.parametrize(
    ("schema", "value", "text"),
    [
        (Schema.STRING_SCHEMA, "plain text", b"plain text"),
        (Schema.BOOLEAN_SCHEMA, True, b"true"),
        (Schema.INT8_SCHEMA, 12, b"12"),
        (Schema.INT16_SCHEMA, 1200, b"1200"),
        (Schema.INT64_SCHEMA, 2**40, b"1099511627776"),
        (Schema.FLOAT32_SCHEMA, f32(1.5), b"1.5"),
        (SchemaBuilder.array(Schema.STRING_SCHEMA).build(), ["a", 'b"'], b'["a","b\\""]'),
        (SchemaBuilder.map(Schema.STRING_SCHEMA, Schema.INT8_SCHEMA).build(), {"a": 1}, b'{"a":1}'),
        (
            Timestamp.SCHEMA,
            dt.datetime(2020, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC),
            b"2020-01-02T03:04:05.006Z",
        ),
        (Decimal.schema(0), decimal.Decimal(2**70), str(2**70).encode()),
    ],
)
def test_simple_header_converter_round_trip(schema: Schema, value: Any, text: bytes) -> None:
    c = load_header_converter("org.apache.kafka.connect.storage.SimpleHeaderConverter", {})
    assert c.from_connect_header("t", "h", schema, value) == text
    assert c.to_connect_header("t", "h", text) == SchemaAndValue(schema, value)


def test_simple_header_converter_edge_cases() -> None:
    c = SimpleHeaderConverter()
    assert c.from_connect_header("t", "h", None, None) is None
    assert c.to_connect_header("t", "h", None) == SchemaAndValue(None, None)
    assert c.to_connect_header("t", "h", b"") == SchemaAndValue(Schema.STRING_SCHEMA, "")
    assert c.to_connect_header("t", "h", b"\xff") == SchemaAndValue(Schema.BYTES_SCHEMA, b"\xff")
    assert c.to_connect_header("t", "h", b"[1,2000]").schema is None  # no common element schema
    assert c.to_connect_header("t", "h", b"2.5").schema == Schema.FLOAT32_SCHEMA


def test_registry_resolves_kafka_names_and_aliases() -> None:
    assert converter_class("JsonConverter") is JsonConverter
    assert converter_class("org.apache.kafka.connect.json.JsonConverter") is JsonConverter
    assert converter_class("org.apache.kafka.connect.converters.ByteArrayConverter") is ByteArrayConverter
    assert converter_class("connect.converters.json.JsonConverter") is JsonConverter
    assert converter_class("connect.converters.json:JsonConverter") is JsonConverter
    assert len(ALIASES) == 8
    c = load_converter("JsonConverter", {"schemas.enable": "false"}, is_key=True)
    assert isinstance(c, JsonConverter) and not c.schemas_enabled
    assert isinstance(load_header_converter("JsonConverter", {}), HeaderConverter)


@pytest.mark.parametrize(
    "name", ["org.apache.kafka.connect.avro.AvroConverter", "NoSuchConverter", "nope.module.X"]
)
def test_registry_names_the_bad_class(name: str) -> None:
    with pytest.raises(ConfigException) as info:
        load_converter(name, {}, is_key=False)
    assert name in str(info.value) and "value.converter" in str(info.value)


def test_registry_rejects_wrong_kind() -> None:
    with pytest.raises(ConfigException, match="is not a Converter"):
        load_converter("SimpleHeaderConverter", {}, is_key=True)
    with pytest.raises(ConfigException, match=r"key\.converter"):
        load_converter("JsonConverter", {"schemas.enable": "sometimes"}, is_key=True)


def test_converters_implement_the_api() -> None:
    for cls in (JsonConverter, StringConverter, ByteArrayConverter):
        assert issubclass(cls, Converter) and issubclass(cls, HeaderConverter)
    struct_schema = SchemaBuilder.struct().field("a", Schema.INT8_SCHEMA).build()
    assert (
        StringConverter().from_connect_data("t", struct_schema, Struct(struct_schema).put("a", 1))
        == b"Struct{a=1}"
    )
