"""Cast, TimestampConverter, TimestampRouter and the SimpleDateFormat subset they use."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import pytest

from connect.api import (
    ConfigException,
    DataException,
    Date,
    Decimal,
    Schema,
    SchemaBuilder,
    Struct,
    Time,
    Timestamp,
    Type,
)
from connect.transforms import (
    CastKey,
    CastValue,
    TimestampConverterKey,
    TimestampConverterValue,
    TimestampRouter,
)
from connect.transforms._util import SimpleDateFormat
from connect.transforms.cast import cast_value
from tests.transforms.helpers import configured, sink, source

UTC = dt.UTC

# --- Cast -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [
        (300, Type.INT8, 44),  # Java narrowing keeps the low bits
        (-129, Type.INT8, 127),
        (70000, Type.INT16, 4464),
        (2**40 + 5, Type.INT32, 5),
        (3.99, Type.INT32, 3),
        (-3.99, Type.INT64, -3),
        (1e20, Type.INT32, 0x7FFFFFFF & -1),  # saturates at int's bounds
        (1e20, Type.INT64, 2**63 - 1),
        (float("nan"), Type.INT64, 0),
        (True, Type.INT16, 1),
        ("42", Type.INT8, 42),
        (decimal.Decimal("12.9"), Type.INT32, 12),
        (1, Type.FLOAT64, 1.0),
        (0.1, Type.FLOAT32, 0.10000000149011612),
        ("1.5e3", Type.FLOAT64, 1500.0),
        (False, Type.FLOAT32, 0.0),
        (0.5, Type.BOOLEAN, False),  # Java: longValue() != 0
        (2, Type.BOOLEAN, True),
        ("TRUE", Type.BOOLEAN, True),
        ("yes", Type.BOOLEAN, False),
        (12, Type.STRING, "12"),
        (1.0, Type.STRING, "1.0"),
        (1e20, Type.STRING, "1.0E20"),
        (True, Type.STRING, "true"),
        (b"\x00\x01", Type.STRING, "AAE="),
    ],
)
def test_cast_value_follows_java(value: object, target: Type, expected: object) -> None:
    assert cast_value(None, value, target) == expected


def test_cast_value_errors() -> None:
    with pytest.raises(DataException, match=r"Value \(300\) was out of range"):
        cast_value(None, "300", Type.INT8)
    with pytest.raises(DataException, match=r"Value \( 5\) was out of range"):
        cast_value(None, " 5", Type.INT32)
    with pytest.raises(DataException, match="Unexpected type in Cast transformation: bytes"):
        cast_value(Schema.BYTES_SCHEMA, b"x", Type.INT32)
    with pytest.raises(DataException, match="does not support casting from ARRAY"):
        cast_value(None, [1], Type.STRING)
    with pytest.raises(DataException, match="not supported by Connect's data API"):
        cast_value(None, object(), Type.STRING)
    assert math.isinf(cast_value(None, "1e999", Type.FLOAT32))


def test_cast_fields_with_schema() -> None:
    schema = (
        SchemaBuilder.struct()
        .name("row")
        .field("small", Schema.INT64_SCHEMA)
        .field("flag", SchemaBuilder.string().optional().default_value("true").build())
        .field("price", Decimal.schema(2))
        .field("at", Timestamp.SCHEMA)
        .field("day", Date.SCHEMA)
        .field("kept", Schema.STRING_SCHEMA)
        .build()
    )
    value = Struct(
        schema,
        {
            "small": 5,
            "flag": None,
            "price": decimal.Decimal("9.99"),
            "at": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "day": dt.date(1970, 1, 3),
            "kept": "x",
        },
    )
    t = configured(CastValue, spec="small:int8,flag:boolean,price:float64,at:int64,day:string")
    out = t.apply(sink(value, schema=schema))
    assert out is not None
    s = out.value_schema
    assert s is not None and s.name == "row"
    types = {f.name: (f.schema.type, f.schema.optional, f.schema.default_value) for f in s.fields}
    assert types == {
        "small": (Type.INT8, False, None),
        "flag": (Type.BOOLEAN, True, True),
        "price": (Type.FLOAT64, False, None),
        "at": (Type.INT64, False, None),
        "day": (Type.STRING, False, None),
        "kept": (Type.STRING, False, None),
    }
    v = out.value
    assert (v["small"], v["flag"], v["price"], v["day"], v["kept"]) == (5, True, 9.99, "1970-01-03", "x")
    assert v["at"] == 1704164645000
    v.validate()
    assert t.apply(sink(value, schema=schema)).value_schema is s  # type: ignore[union-attr]


def test_cast_whole_value_and_schemaless() -> None:
    whole = configured(CastKey, spec="int32")
    out = whole.apply(sink(key=7, key_schema=SchemaBuilder.int64().optional().name("k").build()))
    assert out is not None and out.key == 7
    assert out.key_schema is not None and (out.key_schema.type, out.key_schema.optional) == (Type.INT32, True)
    assert out.key_schema.name == "k"
    logical = configured(CastValue, spec="string").apply(
        sink(dt.datetime(2024, 1, 2, tzinfo=UTC), schema=Timestamp.SCHEMA)
    )
    assert logical is not None and logical.value == "2024-01-02T00:00:00.000Z"
    assert logical.value_schema is not None and logical.value_schema.name is None  # not a Timestamp any more
    assert configured(CastValue, spec="string").apply(source(1.5)).value == "1.5"  # type: ignore[union-attr]
    fields = configured(CastValue, spec="a:int16,missing:string")
    assert fields.apply(source({"a": "12", "b": 1})).value == {"a": 12, "b": 1}  # type: ignore[union-attr]
    tomb = source(None)
    assert fields.apply(tomb) is tomb
    with pytest.raises(DataException, match=r"Only Struct objects supported for \[cast types\]"):
        fields.apply(sink(3, schema=Schema.INT32_SCHEMA))
    with pytest.raises(DataException, match="Time"):
        configured(CastValue, spec="int32").apply(sink(dt.time(1), schema=Time.SCHEMA).new_record(value="x"))


def test_cast_config_errors() -> None:
    for spec, message in (
        ("a:bytes", "does not support casting to BYTES"),
        ("a:uint8", "Invalid type found in casting spec: uint8"),
        ("int8,a:int16", "may only specify a single cast"),
        ("a:b:c", "Invalid cast mapping"),
        ("", "Must specify at least one field to cast"),
    ):
        with pytest.raises(ConfigException, match=message):
            configured(CastValue, spec=spec)
    errors = CastValue().config().validate_all({"spec": "a:array"})["spec"].error_messages
    assert errors and "ARRAY" in errors[0]


# --- TimestampConverter ---------------------------------------------------------------------------------

MOMENT = dt.datetime(2024, 3, 5, 6, 7, 8, 9000, tzinfo=UTC)
MILLIS = 1709618828009


@pytest.mark.parametrize(
    ("target", "props", "schema", "expected"),
    [
        ("unix", {}, Schema.INT64_SCHEMA, MILLIS),
        ("unix", {"unix.precision": "seconds"}, Schema.INT64_SCHEMA, MILLIS // 1000),
        ("unix", {"unix.precision": "microseconds"}, Schema.INT64_SCHEMA, MILLIS * 1000),
        ("unix", {"unix.precision": "nanoseconds"}, Schema.INT64_SCHEMA, MILLIS * 1_000_000),
        ("Date", {}, Date.SCHEMA, dt.date(2024, 3, 5)),
        ("Time", {}, Time.SCHEMA, dt.time(6, 7, 8, 9000)),
        ("Timestamp", {}, Timestamp.SCHEMA, MOMENT),
        ("string", {"format": "yyyy-MM-dd HH:mm:ss.SSS"}, Schema.STRING_SCHEMA, "2024-03-05 06:07:08.009"),
    ],
)
def test_timestamp_converter_targets(
    target: str, props: dict[str, str], schema: Schema, expected: object
) -> None:
    t: TimestampConverterValue[Any] = TimestampConverterValue()
    t.configure({"target.type": target, **props})
    out = t.apply(sink(MOMENT, schema=Timestamp.SCHEMA))
    assert out is not None and out.value == expected and out.value_schema == schema
    schemaless = t.apply(sink(MOMENT, schema=None))
    assert schemaless is not None and schemaless.value == expected and schemaless.value_schema is None


@pytest.mark.parametrize(
    ("value", "schema", "props"),
    [
        (MILLIS, Schema.INT64_SCHEMA, {}),
        (MILLIS // 1000, Schema.INT64_SCHEMA, {"unix.precision": "seconds"}),
        (MILLIS * 1_000_000 + 999, Schema.INT64_SCHEMA, {"unix.precision": "nanoseconds"}),
        ("2024-03-05T06:07:08.009Z", Schema.STRING_SCHEMA, {"format": "yyyy-MM-dd'T'HH:mm:ss.SSSX"}),
        ("05/Mar/2024:07:07:08.009 +0100", Schema.STRING_SCHEMA, {"format": "dd/MMM/yyyy:HH:mm:ss.SSS Z"}),
    ],
)
def test_timestamp_converter_sources(value: object, schema: Schema, props: dict[str, str]) -> None:
    t: TimestampConverterValue[Any] = TimestampConverterValue()
    t.configure({"target.type": "Timestamp", **props})
    out = t.apply(sink(value, schema=schema))
    expected = MOMENT.replace(microsecond=0) if props.get("unix.precision") == "seconds" else MOMENT
    assert out is not None and out.value == expected
    assert out.value_schema == Timestamp.SCHEMA


def test_unix_precision_truncates_toward_zero() -> None:
    seconds = configured(TimestampConverterValue, target_type="unix", unix_precision="seconds")
    before_epoch = dt.datetime(1969, 12, 31, 23, 59, 58, 500000, tzinfo=UTC)  # -1500 ms
    assert seconds.apply(sink(before_epoch, schema=None)).value == -1  # type: ignore[union-attr]
    micros = configured(TimestampConverterValue, target_type="Timestamp", unix_precision="microseconds")
    assert micros.apply(sink(-1999, schema=Schema.INT64_SCHEMA)).value == dt.datetime(  # type: ignore[union-attr]
        1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC
    )


def test_timestamp_converter_field_and_key() -> None:
    schema = (
        SchemaBuilder.struct()
        .field("id", Schema.INT32_SCHEMA)
        .field("ts", SchemaBuilder.int64().optional().build())
        .build()
    )
    t = configured(TimestampConverterValue, field="ts", target_type="Date")
    out = t.apply(sink(Struct(schema, {"id": 1, "ts": MILLIS}), schema=schema))
    assert out is not None
    assert out.value["ts"] == dt.date(2024, 3, 5) and out.value["id"] == 1
    ts_schema = out.value_schema.field("ts").schema  # type: ignore[union-attr]
    assert ts_schema.name == Date.LOGICAL_NAME and ts_schema.optional
    nulls = t.apply(sink(Struct(schema, {"id": 1}), schema=schema))
    assert nulls is not None and nulls.value["ts"] is None
    assert t.apply(sink(Struct(schema, {"id": 2}), schema=schema)).value_schema is out.value_schema  # type: ignore[union-attr]
    schemaless = t.apply(sink({"ts": MILLIS, "x": 1}, schema=None))
    assert schemaless is not None and schemaless.value == {"ts": dt.date(2024, 3, 5), "x": 1}
    key = configured(TimestampConverterKey, target_type="unix").apply(
        sink(key=dt.date(1970, 1, 2), key_schema=None)
    )
    assert key is not None and key.key == 86_400_000
    tomb = configured(TimestampConverterValue, target_type="unix").apply(sink(None, schema=None))
    assert tomb is not None and tomb.value is None


def test_timestamp_converter_errors() -> None:
    with pytest.raises(ConfigException, match="requires format option"):
        configured(TimestampConverterValue, target_type="string")
    with pytest.raises(ConfigException, match="SimpleDateFormat-compatible"):
        configured(TimestampConverterValue, target_type="unix", format="yyyy-qq")
    with pytest.raises(ConfigException):
        configured(TimestampConverterValue, target_type="epoch")
    t = configured(TimestampConverterValue, target_type="unix", format="yyyy-MM-dd")
    with pytest.raises(DataException, match=r"value \(yesterday\) does not match pattern \(yyyy-MM-dd\)"):
        t.apply(sink("yesterday", schema=Schema.STRING_SCHEMA))
    with pytest.raises(DataException, match="does not support float objects"):
        t.apply(sink(1.5, schema=None))
    with pytest.raises(DataException, match="does not correspond to a known timestamp type"):
        t.apply(sink(1, schema=Schema.INT32_SCHEMA))
    with pytest.raises(DataException, match="Expected Timestamp to be a datetime"):
        t.apply(sink(5, schema=Timestamp.SCHEMA).new_record(value="x"))
    no_format = configured(TimestampConverterValue, target_type="unix")
    with pytest.raises(DataException, match="requires the format option"):
        no_format.apply(sink("2024", schema=None))


# --- SimpleDateFormat -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("yyyyMMdd", "20240305"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T06:07:08.009Z"),
        ("EEE, d MMM yyyy HH:mm:ss Z", "Tue, 5 Mar 2024 06:07:08 +0000"),
        ("EEEE MMMM dd yy hh:mm a", "Tuesday March 05 24 06:07 AM"),
        ("D 'day' G", "65 day AD"),
        ("HH 'o''clock' z", "06 o'clock UTC"),
    ],
)
def test_simple_date_format_formats(pattern: str, text: str) -> None:
    assert SimpleDateFormat(pattern).format(MOMENT) == text


def test_simple_date_format_parses() -> None:
    f = SimpleDateFormat("yyyy-MM-dd HH:mm:ss")
    assert f.parse("2024-03-05 06:07:08") == MILLIS - 9
    assert f.parse("2024-03-05 06:07:08 trailing text is ignored, as in Java") == MILLIS - 9
    assert SimpleDateFormat("yyyyMMddHHmm").parse("202403050607") == MILLIS - 8009
    assert SimpleDateFormat("hh:mm a").parse("06:30 PM") == (18 * 60 + 30) * 60_000
    assert SimpleDateFormat("yyyy-MM-dd'T'HH:mmXXX").parse("2024-03-05T08:07+02:00") == MILLIS - 8009
    assert SimpleDateFormat("D yyyy").parse("65 2024") == 1709596800000
    with pytest.raises(ValueError, match="Unparseable"):
        f.parse("05.03.2024")
    with pytest.raises(ValueError, match="Illegal pattern character 'q'"):
        SimpleDateFormat("yyyy-qq")
    with pytest.raises(ValueError, match="Unterminated quote"):
        SimpleDateFormat("yyyy 'oops")


# --- TimestampRouter ------------------------------------------------------------------------------------


def test_timestamp_router() -> None:
    t = configured(TimestampRouter)
    out = t.apply(sink())
    assert out is not None and out.topic == "orders-20231114" and out.kafka_partition == 2
    custom = configured(TimestampRouter, topic_format="${timestamp}/${topic}", timestamp_format="yyyy-MM")
    assert custom.apply(source("x")).topic == "2023-11/orders"  # type: ignore[union-attr]
    with pytest.raises(DataException, match="Timestamp missing on record"):
        t.apply(source("x", timestamp=None))
    with pytest.raises(ConfigException):
        configured(TimestampRouter, timestamp_format="yyyy-qq")
