"""PostgreSQL column types -> Connect schemas and converters from PostgreSQL's text representation.

Both paths of the connector see values as text: pgoutput sends tuples in text format and the snapshot
reads tables with ``COPY ... TO STDOUT`` (text). The sessions run with ``DateStyle=ISO``,
``TimeZone=UTC``, ``IntervalStyle=iso_8601`` and ``extra_float_digits=3`` (see :data:`SESSION_OPTIONS`),
so the text is stable. :func:`column_type` picks a schema and a ``bytes -> value`` converter per column
the way Debezium maps them:

=====================  =====================================================================
bool                   BOOLEAN
int2 / int4 / int8     INT16 / INT32 / INT64 (oid: INT64)
float4 / float8        FLOAT32 / FLOAT64
numeric(p,s)           Decimal(scale=s) (precise), io.debezium.data.VariableScaleDecimal without
                       a scale; FLOAT64 (double) or STRING (string) per decimal.handling.mode
money                  Decimal(scale=2) (precise) / FLOAT64 / STRING
text, varchar, char    STRING
bytea                  BYTES
date                   io.debezium.time.Date (INT32 days) / Connect Date (connect mode)
time(p)                io.debezium.time.Time (INT32 ms, p <= 3) or MicroTime (INT64 µs) / Connect Time
timetz                 io.debezium.time.ZonedTime (STRING, UTC)
timestamp(p)           io.debezium.time.Timestamp (INT64 ms, p <= 3) or MicroTimestamp (INT64 µs) /
                       Connect Timestamp
timestamptz            io.debezium.time.ZonedTimestamp (STRING, ISO-8601 in UTC)
interval               io.debezium.time.MicroDuration (INT64 µs; a month is 30.4375 days)
uuid                   io.debezium.data.Uuid (STRING)
json / jsonb / xml     io.debezium.data.Json / Json / Xml (STRING)
enum types             io.debezium.data.Enum (STRING, ``allowed`` parameter lists the labels)
arrays                 ARRAY of the element's schema (optional elements; one dimension)
anything else          STRING (the text representation)
=====================  =====================================================================
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from connect.api.data import Date, Decimal, Schema, SchemaBuilder, Struct, Time, Timestamp
from connect.api.errors import DataException

SESSION_OPTIONS: Final = (
    "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=3 -c bytea_output=hex"
)

Converter = Callable[[bytes], Any]

_EPOCH_DATE_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()
_EPOCH: Final = dt.datetime(1970, 1, 1)
_US: Final = dt.timedelta(microseconds=1)


def variable_scale_decimal() -> SchemaBuilder:
    """Debezium's schema for NUMERIC without a declared scale: the scale and the unscaled value."""
    return (
        SchemaBuilder.struct()
        .name("io.debezium.data.VariableScaleDecimal")
        .version(1)
        .doc("Variable scaled decimal")
        .field("scale", Schema.INT32_SCHEMA)
        .field("value", Schema.BYTES_SCHEMA)
    )


@dataclass(frozen=True)
class TypeInfo:
    """What the catalog says about a type (for enums, arrays and domains)."""

    oid: int
    name: str
    kind: str  # pg_type.typtype: b(ase), e(num), d(omain), c(omposite), r(ange), m(ultirange)
    element_oid: int  # arrays: the element type, else 0
    base_oid: int  # domains: the base type, else 0
    enum_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ColumnType:
    """A column's Connect schema (``builder`` gives the required variant; the caller may make it
    optional), its converter from text, and the value used for a required column missing from a
    key-only before-image. Types whose values are structs need the final schema: ``bind(schema)``
    returns the converter and the zero value for it."""

    builder: Callable[[], SchemaBuilder]
    convert: Converter
    zero: Any
    bind: Callable[[Schema], tuple[Converter, Any]] | None = None

    def converter_for(self, schema: Schema) -> tuple[Converter, Any]:
        """The converter and zero value for a column whose final schema is ``schema``."""
        if self.bind is not None:
            return self.bind(schema)
        return self.convert, self.zero


def _text(b: bytes) -> str:
    return b.decode("utf-8")


def _bool(b: bytes) -> bool:
    return b == b"t"


def _bytea(b: bytes) -> bytes:
    if b.startswith(b"\\x"):
        return bytes.fromhex(b[2:].decode("ascii"))
    raise DataException("bytea value not in hex format (bytea_output must be 'hex')")


def _float(b: bytes) -> float:
    return float(b)


def _date_days(b: bytes) -> int:
    return dt.date.fromisoformat(b.decode("ascii")).toordinal() - _EPOCH_DATE_ORDINAL


def _date(b: bytes) -> dt.date:
    return dt.date.fromisoformat(b.decode("ascii"))


def _time_parts(b: bytes) -> int:
    """Microseconds since midnight of ``HH:MM:SS[.ffffff]`` (24:00:00 allowed)."""
    text = b.decode("ascii")
    hh, mm, rest = text.split(":")
    if "." in rest:
        ss, frac = rest.split(".")
        micros = int((frac + "000000")[:6])
    else:
        ss, micros = rest, 0
    return ((int(hh) * 60 + int(mm)) * 60 + int(ss)) * 1_000_000 + micros


def _time_micros(b: bytes) -> int:
    return _time_parts(b)


def _time_millis(b: bytes) -> int:
    return _time_parts(b) // 1000


def _time(b: bytes) -> dt.time:
    micros = min(_time_parts(b), 86_400_000_000 - 1)
    seconds, us = divmod(micros, 1_000_000)
    return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60, us)


_TZ_SUFFIX: Final = re.compile(r"([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?$")


def _split_zone(text: str) -> tuple[str, dt.timedelta]:
    m = _TZ_SUFFIX.search(text)
    if m is None:
        return text, dt.timedelta(0)
    sign = -1 if m.group(1) == "-" else 1
    offset = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0), seconds=int(m.group(4) or 0))
    return text[: m.start()], sign * offset


def _zoned_time(b: bytes) -> str:
    text, offset = _split_zone(b.decode("ascii"))
    micros = (_time_parts(text.encode()) - offset // _US) % 86_400_000_000
    seconds, us = divmod(micros, 1_000_000)
    out = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return (out + f".{us:06d}".rstrip("0") if us else out) + "Z"


def _parse_timestamp(b: bytes) -> dt.datetime:
    text = b.decode("ascii")
    if text.endswith(" BC") or text in ("infinity", "-infinity"):
        raise DataException(f"timestamp {text!r} is outside the supported range")
    return dt.datetime.fromisoformat(text)


def _timestamp_micros(b: bytes) -> int:
    return (_parse_timestamp(b) - _EPOCH) // _US


def _timestamp_millis(b: bytes) -> int:
    return (_parse_timestamp(b) - _EPOCH) // dt.timedelta(milliseconds=1)


def _timestamp(b: bytes) -> dt.datetime:
    return _parse_timestamp(b)


def _zoned_timestamp(b: bytes) -> str:
    value = _parse_timestamp(b)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    out = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        out += f".{value.microsecond:06d}".rstrip("0")
    return out + "Z"


_ISO_INTERVAL: Final = re.compile(
    r"P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)W)?(?:(-?\d+)D)?"
    r"(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d+)?)S)?)?$"
)
_MICROS_PER_DAY: Final = 86_400_000_000


def _interval_micros(b: bytes) -> int:
    text = b.decode("ascii")
    m = _ISO_INTERVAL.match(text)
    if m is None:
        raise DataException(f"interval {text!r} is not in ISO-8601 form (IntervalStyle must be iso_8601)")
    years, months, weeks, days, hours, minutes = (int(g) if g else 0 for g in m.groups()[:6])
    seconds = decimal.Decimal(m.group(7) or 0)
    total_days = decimal.Decimal(years * 12 + months) * decimal.Decimal("30.4375") + weeks * 7 + days
    micros = total_days * _MICROS_PER_DAY + (hours * 3600 + minutes * 60) * 1_000_000 + seconds * 1_000_000
    return int(micros)


def _money_text(b: bytes) -> str:
    text = b.decode("utf-8").replace(",", "").replace("$", "")
    if text.startswith("(") and text.endswith(")"):
        text = "-" + text[1:-1]
    return text


def _decimal_converter(scale: int | None, mode: str, money: bool = False) -> ColumnType:
    text_of: Callable[[bytes], str] = _money_text if money else (lambda b: b.decode("ascii"))
    if mode == "double":
        return ColumnType(SchemaBuilder.float64, lambda b: float(text_of(b)), 0.0)
    if mode == "string":
        return ColumnType(SchemaBuilder.string, text_of, "")
    if scale is not None:
        exponent = decimal.Decimal(1).scaleb(-scale)

        def exact(b: bytes) -> decimal.Decimal | None:
            value = decimal.Decimal(text_of(b))
            if not value.is_finite():
                return None  # NaN/Infinity have no Decimal representation in Connect
            return value.quantize(exponent)

        return ColumnType(lambda: Decimal.builder(scale), exact, decimal.Decimal(0).quantize(exponent))

    def bind(schema: Schema) -> tuple[Converter, Any]:
        def variable(b: bytes) -> Struct | None:
            value = decimal.Decimal(text_of(b))
            if not value.is_finite():
                return None
            exp = value.as_tuple().exponent
            scale_ = max(0, -exp) if isinstance(exp, int) else 0
            unscaled = int(value.scaleb(scale_))
            raw = unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)
            return Struct(schema, {"scale": scale_, "value": raw})

        return variable, Struct(schema, {"scale": 0, "value": b"\x00"})

    def unbound(b: bytes) -> Any:
        raise AssertionError("VariableScaleDecimal converters must be bound to their schema")

    return ColumnType(variable_scale_decimal, unbound, None, bind)


def _named(base: Callable[[], SchemaBuilder], name: str, **params: str) -> Callable[[], SchemaBuilder]:
    def build() -> SchemaBuilder:
        b = base().name(name).version(1)
        if params:
            b = b.parameters(params)
        return b

    return build


def _parse_array(text: str) -> list[str | None]:
    """Elements of a one-dimensional array literal ``{a,"b c",NULL}`` (nested arrays stay literals)."""
    if not text.startswith("{") or not text.endswith("}"):
        if "=" in text and text.startswith("["):  # explicit bounds: [0:1]={...}
            return _parse_array(text[text.index("=") + 1 :])
        raise DataException(f"not an array literal: {text[:50]!r}")
    out: list[str | None] = []
    i, n = 1, len(text) - 1
    if n == 1:
        return out
    while i <= n:
        if text[i] == '"':
            i += 1
            chars: list[str] = []
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                chars.append(text[i])
                i += 1
            out.append("".join(chars))
            i += 2  # closing quote and the separator
        elif text[i] == "{":
            depth, start = 0, i
            while True:
                if text[i] == "{":
                    depth += 1
                elif text[i] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            out.append(text[start : i + 1])
            i += 2
        else:
            end = text.find(",", i)
            if end == -1 or end > n:
                end = n
            item = text[i:end]
            out.append(None if item == "NULL" else item)
            i = end + 1
    return out


_BASE: dict[str, Callable[[str, str, int], ColumnType]] = {}


def _fixed(
    builder: Callable[[], SchemaBuilder], convert: Converter, zero: Any
) -> Callable[[str, str, int], ColumnType]:
    column = ColumnType(builder, convert, zero)
    return lambda _decimal, _time, _typmod: column


_BASE.update(
    {
        "bool": _fixed(SchemaBuilder.boolean, _bool, False),
        "int2": _fixed(SchemaBuilder.int16, int, 0),
        "int4": _fixed(SchemaBuilder.int32, int, 0),
        "int8": _fixed(SchemaBuilder.int64, int, 0),
        "oid": _fixed(SchemaBuilder.int64, int, 0),
        "float4": _fixed(SchemaBuilder.float32, _float, 0.0),
        "float8": _fixed(SchemaBuilder.float64, _float, 0.0),
        "text": _fixed(SchemaBuilder.string, _text, ""),
        "varchar": _fixed(SchemaBuilder.string, _text, ""),
        "bpchar": _fixed(SchemaBuilder.string, _text, ""),
        "char": _fixed(SchemaBuilder.string, _text, ""),
        "name": _fixed(SchemaBuilder.string, _text, ""),
        "citext": _fixed(SchemaBuilder.string, _text, ""),
        "bytea": _fixed(SchemaBuilder.bytes, _bytea, b""),
        "uuid": _fixed(_named(SchemaBuilder.string, "io.debezium.data.Uuid"), _text, ""),
        "json": _fixed(_named(SchemaBuilder.string, "io.debezium.data.Json"), _text, "{}"),
        "jsonb": _fixed(_named(SchemaBuilder.string, "io.debezium.data.Json"), _text, "{}"),
        "xml": _fixed(_named(SchemaBuilder.string, "io.debezium.data.Xml"), _text, ""),
        "timetz": _fixed(_named(SchemaBuilder.string, "io.debezium.time.ZonedTime"), _zoned_time, ""),
        "timestamptz": _fixed(
            _named(SchemaBuilder.string, "io.debezium.time.ZonedTimestamp"), _zoned_timestamp, ""
        ),
        "interval": _fixed(
            _named(SchemaBuilder.int64, "io.debezium.time.MicroDuration"), _interval_micros, 0
        ),
    }
)


def _numeric(decimal_mode: str, _time_mode: str, typmod: int) -> ColumnType:
    scale = (typmod - 4) & 0xFFFF if typmod >= 4 else None
    return _decimal_converter(scale, decimal_mode)


def _money(decimal_mode: str, _time_mode: str, _typmod: int) -> ColumnType:
    return _decimal_converter(2, decimal_mode, money=True)


def _date_type(_decimal_mode: str, time_mode: str, _typmod: int) -> ColumnType:
    if time_mode == "connect":
        return ColumnType(Date.builder, _date, dt.date(1970, 1, 1))
    return ColumnType(_named(SchemaBuilder.int32, "io.debezium.time.Date"), _date_days, 0)


def _time_type(_decimal_mode: str, time_mode: str, typmod: int) -> ColumnType:
    precision = typmod if typmod >= 0 else 6
    if time_mode == "connect":
        return ColumnType(Time.builder, _time, dt.time(0))
    if time_mode == "adaptive" and precision <= 3:
        return ColumnType(_named(SchemaBuilder.int32, "io.debezium.time.Time"), _time_millis, 0)
    return ColumnType(_named(SchemaBuilder.int64, "io.debezium.time.MicroTime"), _time_micros, 0)


def _timestamp_type(_decimal_mode: str, time_mode: str, typmod: int) -> ColumnType:
    precision = typmod if typmod >= 0 else 6
    if time_mode == "connect":
        return ColumnType(Timestamp.builder, _timestamp, _EPOCH)
    if precision <= 3:
        return ColumnType(_named(SchemaBuilder.int64, "io.debezium.time.Timestamp"), _timestamp_millis, 0)
    return ColumnType(_named(SchemaBuilder.int64, "io.debezium.time.MicroTimestamp"), _timestamp_micros, 0)


_BASE.update(
    {
        "numeric": _numeric,
        "money": _money,
        "date": _date_type,
        "time": _time_type,
        "timestamp": _timestamp_type,
    }
)

_STRING_FALLBACK: Final = ColumnType(SchemaBuilder.string, _text, "")


def column_type(
    oid: int,
    typmod: int,
    types: Callable[[int], TypeInfo | None],
    decimal_mode: str,
    time_mode: str,
) -> ColumnType:
    """The schema and converter of a column of type ``oid`` (``types`` looks up the catalog)."""
    info = types(oid)
    if info is None:
        return _STRING_FALLBACK
    if info.kind == "d" and info.base_oid:
        return column_type(info.base_oid, typmod, types, decimal_mode, time_mode)
    if info.kind == "e":
        allowed = ",".join(info.enum_labels)
        return ColumnType(_named(SchemaBuilder.string, "io.debezium.data.Enum", allowed=allowed), _text, "")
    if info.element_oid:
        element = column_type(info.element_oid, typmod, types, decimal_mode, time_mode)

        def build_array() -> SchemaBuilder:
            return SchemaBuilder.array(element.builder().optional().build())

        def bind_array(schema: Schema) -> tuple[Converter, Any]:
            assert schema.value_schema is not None
            convert_element, _ = element.converter_for(schema.value_schema)

            def convert_array(b: bytes) -> list[Any]:
                return [
                    None if item is None else convert_element(item.encode("utf-8"))
                    for item in _parse_array(b.decode("utf-8"))
                ]

            return convert_array, []

        return ColumnType(build_array, lambda b: None, [], bind_array)
    factory = _BASE.get(info.name)
    if factory is None:
        return _STRING_FALLBACK
    return factory(decimal_mode, time_mode, typmod)
