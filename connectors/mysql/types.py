"""MySQL/MariaDB column types -> Connect schemas and converters, the way Debezium maps them.

Values arrive as Python objects from two decoders: PyMySQL (the snapshot) and pymysqlreplication (the
binlog). A converter accepts both forms (e.g. BIT as bytes from PyMySQL, as a string of '0'/'1' from the
binlog; SET as ``"a,b"`` or as a Python set):

====================================  ==============================================================
BIT(1) / BIT(n)                       BOOLEAN / io.debezium.data.Bits (BYTES, little-endian, length=n)
TINYINT, SMALLINT                     INT16 (SMALLINT UNSIGNED: INT32)
MEDIUMINT, INT                        INT32 (INT UNSIGNED: INT64)
BIGINT                                INT64; UNSIGNED per bigint.unsigned.handling.mode: INT64
                                      (wraps above 2^63-1) or Decimal(scale 0)
FLOAT / DOUBLE                        FLOAT32 / FLOAT64
DECIMAL(p,s)                          Decimal (scale, connect.decimal.precision) / FLOAT64 / STRING
DATE                                  io.debezium.time.Date (INT32 days) / Connect Date
TIME(fsp)                             io.debezium.time.MicroTime (INT64 µs) / Connect Time
DATETIME(fsp)                         io.debezium.time.Timestamp (INT64 ms, fsp <= 3) or
                                      MicroTimestamp (INT64 µs) / Connect Timestamp
TIMESTAMP(fsp)                        io.debezium.time.ZonedTimestamp (STRING, ISO-8601 in UTC)
YEAR                                  io.debezium.time.Year (INT32)
CHAR, VARCHAR, TEXT types             STRING
BINARY, VARBINARY, BLOB types         BYTES
ENUM / SET                            io.debezium.data.Enum / io.debezium.data.EnumSet (STRING, allowed)
JSON                                  io.debezium.data.Json (STRING)
POINT / other spatial types           io.debezium.data.geometry.Point {x, y, wkb, srid} /
                                      io.debezium.data.geometry.Geometry {wkb, srid}
====================================  ==============================================================
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import struct
from collections.abc import Callable
from typing import Any, Final

from connect.api.data import Date, Decimal, Schema, SchemaBuilder, Struct, Time, Timestamp
from connectors.mysql.ddl import ColumnDef

Converter = Callable[[Any], Any]

_EPOCH: Final = dt.datetime(1970, 1, 1)
_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()
_US: Final = dt.timedelta(microseconds=1)
_MS: Final = dt.timedelta(milliseconds=1)

INTEGER_TYPES: Final = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint"})
STRING_TYPES: Final = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext"})
BINARY_TYPES: Final = frozenset({"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"})
SPATIAL_TYPES: Final = frozenset(
    {"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
     "geometrycollection"}
)  # fmt: skip


def _named(base: SchemaBuilder, name: str, **params: str) -> SchemaBuilder:
    b = base.name(name).version(1)
    if params:
        b = b.parameters(params)
    return b


def geometry_schema(optional: bool) -> Schema:
    b = (
        SchemaBuilder.struct()
        .name("io.debezium.data.geometry.Geometry")
        .version(1)
        .doc("Geometry")
        .field("wkb", Schema.BYTES_SCHEMA)
        .field("srid", Schema.OPTIONAL_INT32_SCHEMA)
    )
    return (b.optional() if optional else b).build()


def point_schema(optional: bool) -> Schema:
    b = (
        SchemaBuilder.struct()
        .name("io.debezium.data.geometry.Point")
        .version(1)
        .doc("Geometry (POINT)")
        .field("x", Schema.FLOAT64_SCHEMA)
        .field("y", Schema.FLOAT64_SCHEMA)
        .field("wkb", Schema.OPTIONAL_BYTES_SCHEMA)
        .field("srid", Schema.OPTIONAL_INT32_SCHEMA)
    )
    return (b.optional() if optional else b).build()


def _text(v: Any) -> str:
    return v if isinstance(v, str) else bytes(v).decode("utf-8", errors="replace")


def _bytes(v: Any) -> bytes:
    return v if isinstance(v, bytes) else (v.encode("utf-8") if isinstance(v, str) else bytes(v))


def _bit_bytes(v: Any, length: int) -> bytes:
    if isinstance(v, str):  # pymysqlreplication: '0101...' most significant bit first
        number = int(v, 2) if v else 0
    elif isinstance(v, int):
        number = v
    else:
        number = int.from_bytes(bytes(v), "big")
    size = max(1, (length + 7) // 8)
    return number.to_bytes(size, "little")  # Debezium: java.util.BitSet.toByteArray(), little-endian


def _bit_bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip("0") != ""
    if isinstance(v, int):
        return v != 0
    return any(bytes(v))


def _date_days(v: Any) -> int | None:
    if isinstance(v, dt.datetime):
        v = v.date()
    if not isinstance(v, dt.date):
        return None  # '0000-00-00' and other invalid dates
    return v.toordinal() - _EPOCH_ORDINAL


def _date(v: Any) -> dt.date | None:
    return v if isinstance(v, dt.date) else None


def _time_micros(v: Any) -> int | None:
    if isinstance(v, dt.timedelta):
        return v // _US
    if isinstance(v, dt.time):
        return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond
    return None


def _time(v: Any) -> dt.time | None:
    micros = _time_micros(v)
    if micros is None:
        return None
    micros %= 86_400_000_000
    seconds, us = divmod(micros, 1_000_000)
    return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60, us)


def _datetime_micros(v: Any) -> int | None:
    if not isinstance(v, dt.datetime):
        return None
    return (v.replace(tzinfo=None) - _EPOCH) // _US


def _datetime_millis(v: Any) -> int | None:
    if not isinstance(v, dt.datetime):
        return None
    return (v.replace(tzinfo=None) - _EPOCH) // _MS


def _datetime(v: Any) -> dt.datetime | None:
    return v.replace(tzinfo=None) if isinstance(v, dt.datetime) else None


def zoned_timestamp(v: Any) -> str | None:
    """A TIMESTAMP value (naive UTC) as Debezium's ZonedTimestamp text, e.g. 2024-01-02T03:04:05.12Z."""
    if not isinstance(v, dt.datetime):
        return None
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC).replace(tzinfo=None)
    out = f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    if v.microsecond:
        out += f".{v.microsecond:06d}".rstrip("0")
    return out + "Z"


def _year(v: Any) -> int | None:
    if isinstance(v, int):
        return v
    if isinstance(v, dt.date):
        return v.year
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _json(v: Any) -> str:
    if isinstance(v, (str, bytes, bytearray)):
        return _text(v)
    return json.dumps(_json_ready(v), separators=(",", ":"))  # MySQL's binary JSON, decoded


def _json_ready(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, dict):
        return {_json_ready(k): _json_ready(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_ready(x) for x in v]
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v


def _set_text(order: tuple[str, ...]) -> Converter:
    rank = {label: i for i, label in enumerate(order)}

    def convert(v: Any) -> str:
        if isinstance(v, (set, frozenset, list, tuple)):
            items = [_text(x) for x in v]
        else:
            text = _text(v)
            items = text.split(",") if text else []
        return ",".join(sorted(items, key=lambda x: rank.get(x, len(rank))))

    return convert


def _srid_wkb(v: Any) -> tuple[int, bytes]:
    raw = _bytes(v)
    if len(raw) >= 4 + 5:  # MySQL's internal format: SRID (4 bytes, little-endian), then WKB
        return int.from_bytes(raw[:4], "little"), raw[4:]
    return 0, raw


def _geometry(schema: Schema) -> Converter:
    def convert(v: Any) -> Struct:
        srid, wkb = _srid_wkb(v)
        return Struct(schema, {"wkb": wkb, "srid": srid or None})

    return convert


def _point(schema: Schema) -> Converter:
    def convert(v: Any) -> Struct:
        srid, wkb = _srid_wkb(v)
        x = y = 0.0
        if len(wkb) >= 21:
            order = "<" if wkb[0] == 1 else ">"
            x, y = struct.unpack_from(order + "dd", wkb, 5)
        return Struct(schema, {"x": x, "y": y, "wkb": wkb, "srid": srid or None})

    return convert


def _wrap_signed64(v: Any) -> int:
    n = int(v)
    return n - (1 << 64) if n >= 1 << 63 else n


def column_schema(
    col: ColumnDef, decimal_mode: str, time_mode: str, bigint_mode: str
) -> tuple[Schema, Converter | None, Any]:
    """The column's Connect schema (optional per the column), its converter (None: the value is used
    as is) and the value a required column gets when none is known."""
    optional = col.optional
    t = col.type
    convert: Converter | None = None
    zero: Any = None
    builder: SchemaBuilder
    if t == "bit" and (col.length or 1) == 1:
        builder, convert, zero = SchemaBuilder.boolean(), _bit_bool, False
    elif t == "bit":
        length = col.length or 1
        builder = _named(SchemaBuilder.bytes(), "io.debezium.data.Bits", length=str(length))
        convert, zero = (lambda v, n=length: _bit_bytes(v, n)), b""
    elif t in INTEGER_TYPES:
        zero = 0
        if t == "tinyint" or (t == "smallint" and not col.unsigned):
            builder = SchemaBuilder.int16()
        elif t in ("smallint", "mediumint") or (t == "int" and not col.unsigned):
            builder = SchemaBuilder.int32()
        elif t == "bigint" and col.unsigned and bigint_mode == "precise":
            builder = Decimal.builder(0).parameter("connect.decimal.precision", "20")
            convert, zero = (lambda v: decimal.Decimal(int(v))), decimal.Decimal(0)
        else:
            builder = SchemaBuilder.int64()
            if t == "bigint" and col.unsigned:
                convert = _wrap_signed64
    elif t == "float":
        builder, convert, zero = SchemaBuilder.float32(), float, 0.0
    elif t == "double":
        builder, convert, zero = SchemaBuilder.float64(), float, 0.0
    elif t == "decimal":
        scale = col.scale or 0
        if decimal_mode == "double":
            builder, convert, zero = SchemaBuilder.float64(), float, 0.0
        elif decimal_mode == "string":
            builder, zero = SchemaBuilder.string(), "0"
            convert = lambda v: format(decimal.Decimal(v), "f")  # noqa: E731
        else:
            builder = Decimal.builder(scale).parameter("connect.decimal.precision", str(col.length or 10))
            exponent = decimal.Decimal(1).scaleb(-scale)
            convert = lambda v, e=exponent: decimal.Decimal(v).quantize(e)  # noqa: E731
            zero = decimal.Decimal(0).quantize(exponent)
    elif t == "date":
        if time_mode == "connect":
            builder, convert, zero = Date.builder(), _date, dt.date(1970, 1, 1)
        else:
            builder, convert, zero = _named(SchemaBuilder.int32(), "io.debezium.time.Date"), _date_days, 0
    elif t == "time":
        if time_mode == "connect":
            builder, convert, zero = Time.builder(), _time, dt.time(0)
        else:
            builder = _named(SchemaBuilder.int64(), "io.debezium.time.MicroTime")
            convert, zero = _time_micros, 0
    elif t == "datetime":
        if time_mode == "connect":
            builder, convert, zero = Timestamp.builder(), _datetime, _EPOCH
        elif (col.scale or 0) <= 3:
            builder = _named(SchemaBuilder.int64(), "io.debezium.time.Timestamp")
            convert, zero = _datetime_millis, 0
        else:
            builder = _named(SchemaBuilder.int64(), "io.debezium.time.MicroTimestamp")
            convert, zero = _datetime_micros, 0
    elif t == "timestamp":
        builder = _named(SchemaBuilder.string(), "io.debezium.time.ZonedTimestamp")
        convert, zero = zoned_timestamp, "1970-01-01T00:00:00Z"
    elif t == "year":
        builder, convert, zero = _named(SchemaBuilder.int32(), "io.debezium.time.Year"), _year, 1970
    elif t == "enum":
        builder = _named(SchemaBuilder.string(), "io.debezium.data.Enum", allowed=",".join(col.enum_values))
        convert, zero = _text, ""
    elif t == "set":
        builder = _named(
            SchemaBuilder.string(), "io.debezium.data.EnumSet", allowed=",".join(col.enum_values)
        )
        convert, zero = _set_text(col.enum_values), ""
    elif t == "json":
        builder, convert, zero = _named(SchemaBuilder.string(), "io.debezium.data.Json"), _json, "{}"
    elif t in SPATIAL_TYPES:
        schema = point_schema(optional) if t == "point" else geometry_schema(optional)
        convert = _point(schema) if t == "point" else _geometry(schema)
        return schema, convert, None
    elif t in BINARY_TYPES:
        builder, convert, zero = SchemaBuilder.bytes(), _bytes, b""
    else:  # char, varchar, text types and anything unknown: text
        builder, convert, zero = SchemaBuilder.string(), _text, ""
    return (builder.optional() if optional else builder).build(), convert, zero
