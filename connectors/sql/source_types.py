"""Reflected column types -> record schemas and value converters for SqlSource.

Faithful types: values keep their precision, zone and bytes.

======================================  ==========================================================
column (SQLAlchemy's reflected type)    field schema
======================================  ==========================================================
BOOLEAN                                 BOOLEAN
SMALLINT / INTEGER / BIGINT             INT16 / INT32 / INT64 (SQLite INTEGER: INT64; TINYINT: INT8)
REAL / FLOAT(<=24) / DOUBLE             FLOAT32 / FLOAT32 / FLOAT64
NUMERIC(p, s), DECIMAL(p, s)            Connect Decimal (scale s, ``connect.decimal.precision`` p)
NUMERIC without scale                   io.debezium.data.VariableScaleDecimal (scale + unscaled bytes)
CHAR, VARCHAR, TEXT, ENUM               STRING
BYTEA, BLOB, BINARY, VARBINARY          BYTES
DATE                                    Connect Date
TIME                                    io.debezium.time.MicroTime (INT64 µs)
TIMESTAMP / DATETIME without zone       io.debezium.time.MicroTimestamp (INT64 µs; db.timezone UTC)
TIMESTAMP WITH TIME ZONE                io.debezium.time.ZonedTimestamp (ISO-8601 in UTC)
JSON, JSONB                             io.debezium.data.Json (STRING)
UUID                                    io.debezium.data.Uuid (STRING)
INTERVAL                                io.debezium.time.MicroDuration (INT64 µs)
anything else                           STRING (the value's text)
======================================  ==========================================================

The Debezium semantic types are the ones PostgresSource and MySqlSource emit, so SqlSink, ParquetSink and
ElasticsearchSink treat a polled table and a change stream alike. SQLite has no decimal type: NUMERIC
columns there are read as text and converted to exact decimals.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from connect.api import Date, Decimal, Schema, SchemaBuilder, Struct

__all__ = ["FieldType", "field_type", "infer_field_type"]

_EPOCH: Final = dt.datetime(1970, 1, 1)
_VSD: Final = (
    SchemaBuilder.struct()
    .name("io.debezium.data.VariableScaleDecimal")
    .version(1)
    .doc("Variable scaled decimal")
    .field("scale", Schema.INT32_SCHEMA)
    .field("value", Schema.BYTES_SCHEMA)
)


@dataclass(frozen=True)
class FieldType:
    schema: Schema
    convert: Callable[[Any], Any] | None = None
    select_as_text: bool = False  # read the column as text (SQLite decimals: no float rounding)


def _named(base: SchemaBuilder, name: str) -> SchemaBuilder:
    return base.name(name).version(1)


def _micros(v: dt.datetime) -> int:
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC).replace(tzinfo=None)
    d = v - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def _parse_dt(v: Any) -> dt.datetime:
    return v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(str(v))


def _time_micros(v: Any) -> int:
    if isinstance(v, dt.timedelta):  # MySQL TIME
        return int(v.total_seconds() * 1_000_000)
    t = v if isinstance(v, dt.time) else dt.time.fromisoformat(str(v))
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _zoned(v: Any) -> str:
    value = _parse_dt(v)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _json_text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))


def _decimal_conv(scale: int) -> Callable[[Any], decimal.Decimal]:
    q = decimal.Decimal(1).scaleb(-scale)

    def conv(v: Any) -> decimal.Decimal:
        d = v if isinstance(v, decimal.Decimal) else decimal.Decimal(str(v))
        return d.quantize(q)

    return conv


def _vsd_conv(schema: Schema) -> Callable[[Any], Struct]:
    def conv(v: Any) -> Struct:
        d = v if isinstance(v, decimal.Decimal) else decimal.Decimal(str(v))
        sign, digits, exp = d.as_tuple()
        assert isinstance(exp, int)
        n = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        scale = max(-exp, 0)
        if exp > 0:
            n *= 10**exp
        length = (n if n >= 0 else ~n).bit_length() // 8 + 1
        return Struct(schema, {"scale": scale, "value": n.to_bytes(length, "big", signed=True)})

    return conv


def field_type(t: Any, nullable: bool, backend: str) -> FieldType:
    """The field schema (optional when the column is nullable) and converter for a reflected type."""
    ft = _field_type(t, backend)
    if not nullable:
        return ft
    s = ft.schema
    b = SchemaBuilder(s.type)
    if s.type.name == "STRUCT":
        for f in s.fields:
            b = b.field(f.name, f.schema)
    if s.name:
        b = b.name(s.name)
    if s.version is not None:
        b = b.version(s.version)
    if s.parameters:
        b = b.parameters(s.parameters)
    built = b.optional().build()
    if ft.convert is not None and s.name == "io.debezium.data.VariableScaleDecimal":
        return FieldType(built, _vsd_conv(built), ft.select_as_text)
    return FieldType(built, ft.convert, ft.select_as_text)


def _field_type(t: Any, backend: str) -> FieldType:
    sqlite = backend == "sqlite"
    if isinstance(t, sa.Boolean):
        return FieldType(Schema.BOOLEAN_SCHEMA, bool)
    if isinstance(t, mysql.TINYINT):
        return FieldType(Schema.INT8_SCHEMA)
    if isinstance(t, sa.SmallInteger):
        return FieldType(Schema.INT16_SCHEMA)
    if isinstance(t, sa.BigInteger) or (sqlite and isinstance(t, sa.Integer)):
        return FieldType(Schema.INT64_SCHEMA)
    if isinstance(t, sa.Integer):
        return FieldType(Schema.INT32_SCHEMA)
    if isinstance(t, sa.Float):
        if isinstance(t, sa.REAL | postgresql.REAL) or (t.precision is not None and t.precision <= 24):
            return FieldType(Schema.FLOAT32_SCHEMA, float)
        return FieldType(Schema.FLOAT64_SCHEMA, float)
    if isinstance(t, sa.Numeric):
        if t.scale is None:
            vsd = _VSD.build()
            return FieldType(vsd, _vsd_conv(vsd), select_as_text=sqlite)
        b = Decimal.builder(t.scale)
        if t.precision:
            b = b.parameter("connect.decimal.precision", str(t.precision))
        return FieldType(b.build(), _decimal_conv(t.scale), select_as_text=sqlite)
    if isinstance(t, sa.DateTime):  # before Date: some dialects' DATETIME subclass Date? keep order
        if getattr(t, "timezone", False):
            return FieldType(
                _named(SchemaBuilder.string(), "io.debezium.time.ZonedTimestamp").build(), _zoned
            )
        return FieldType(
            _named(SchemaBuilder.int64(), "io.debezium.time.MicroTimestamp").build(),
            lambda v: _micros(_parse_dt(v)),
        )
    if isinstance(t, sa.Date):
        return FieldType(
            Date.SCHEMA, lambda v: v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))
        )
    if isinstance(t, sa.Time):
        if getattr(t, "timezone", False):
            return FieldType(_named(SchemaBuilder.string(), "io.debezium.time.ZonedTime").build(), str)
        return FieldType(_named(SchemaBuilder.int64(), "io.debezium.time.MicroTime").build(), _time_micros)
    if isinstance(t, sa.Interval | postgresql.INTERVAL):
        return FieldType(
            _named(SchemaBuilder.int64(), "io.debezium.time.MicroDuration").build(),
            lambda v: int(v.total_seconds() * 1_000_000) if isinstance(v, dt.timedelta) else int(v),
        )
    if isinstance(t, sa.JSON | postgresql.JSONB | postgresql.JSON):
        return FieldType(_named(SchemaBuilder.string(), "io.debezium.data.Json").build(), _json_text)
    if isinstance(t, sa.Uuid | postgresql.UUID):
        return FieldType(_named(SchemaBuilder.string(), "io.debezium.data.Uuid").build(), str)
    if isinstance(t, sa.LargeBinary | sa.types._Binary):
        return FieldType(Schema.BYTES_SCHEMA, bytes)
    if isinstance(t, sa.String | sa.Enum):
        return FieldType(Schema.STRING_SCHEMA)
    if isinstance(t, sa.types.NullType):  # a query's column: the value decides at run time
        return FieldType(Schema.STRING_SCHEMA, str)
    return FieldType(Schema.STRING_SCHEMA, str)


def infer_field_type(value: Any, backend: str) -> FieldType:
    """For a ``query``'s columns (no reflection): the optional field type of a sample value."""
    if value is None:
        return field_type(sa.types.NullType(), True, backend)
    if isinstance(value, bool):
        t: Any = sa.Boolean()
    elif isinstance(value, int):
        t = sa.BigInteger()
    elif isinstance(value, float):
        t = sa.Double()
    elif isinstance(value, decimal.Decimal):
        exp = value.as_tuple().exponent
        t = sa.Numeric(None, max(-exp, 0) if isinstance(exp, int) else 0)
    elif isinstance(value, bytes | bytearray | memoryview):
        t = sa.LargeBinary()
    elif isinstance(value, dt.datetime):
        t = sa.DateTime(timezone=value.tzinfo is not None)
    elif isinstance(value, dt.date):
        t = sa.Date()
    elif isinstance(value, dt.time):
        t = sa.Time()
    elif isinstance(value, dict | list):
        t = sa.JSON()
    else:
        t = sa.String()
    return field_type(t, True, backend)
