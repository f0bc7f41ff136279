"""Debezium's and Kafka Connect's semantic types as the Parquet types query engines use.

A Connect schema named ``io.debezium.time.ZonedTimestamp`` is a STRING on the wire, but its values are
instants: writing them as strings makes every query parse them. :class:`ArrowTypes` maps each semantic
type the PostgreSQL (and MySQL) sources emit to the natural Arrow type, which pyarrow writes as the
matching Parquet logical type:

=======================================  ===============  =============================================
Connect schema name                      on the wire      Arrow type (Parquet logical type)
=======================================  ===============  =============================================
org.apache.kafka.connect.data.Decimal    BYTES            decimal128(precision parameter or 38, scale)
io.debezium.data.VariableScaleDecimal    STRUCT           decimal128(decimal.precision, decimal.scale)
org.apache.kafka.connect.data.Date       INT32 days       date32 (DATE)
io.debezium.time.Date                    INT32 days       date32 (DATE)
org.apache.kafka.connect.data.Time       INT32 ms         time32[ms] (TIME millis)
io.debezium.time.Time                    INT32 ms         time32[ms] (TIME millis)
io.debezium.time.MicroTime               INT64 µs         time64[us] (TIME micros)
io.debezium.time.NanoTime                INT64 ns         time64[ns] (TIME nanos)
org.apache.kafka.connect.data.Timestamp  INT64 ms         timestamp[ms, UTC] (TIMESTAMP, UTC-adjusted)
io.debezium.time.Timestamp               INT64 ms         timestamp[ms] (TIMESTAMP, local: no zone)
io.debezium.time.MicroTimestamp          INT64 µs         timestamp[us] (TIMESTAMP, local)
io.debezium.time.NanoTimestamp           INT64 ns         timestamp[ns] (TIMESTAMP, local)
io.debezium.time.ZonedTimestamp          STRING ISO-8601  timestamp[us, UTC] (TIMESTAMP, UTC-adjusted)
io.debezium.time.MicroDuration           INT64 µs         duration[us] (INT64; pyarrow reads a duration)
io.debezium.data.Json                    STRING           arrow.json (JSON)
=======================================  ===============  =============================================

``decimal.handling.mode`` = double / string writes both decimals as float64 / string instead;
``json.handling.mode`` = string writes Json as string.

Kept as they are, because no Parquet type says the same thing: ``io.debezium.time.ZonedTime`` (a time
of day with a zone; Arrow times have none), ``io.debezium.time.Interval`` (ISO-8601 text with months;
Parquet's INTERVAL cannot be written by pyarrow), ``io.debezium.data.Uuid`` (a string: Parquet's UUID
type is unreadable for Spark and Hive), ``io.debezium.data.Xml``, ``Enum``, ``EnumSet`` (strings),
``io.debezium.data.Bits`` (bytes), ``io.debezium.time.Year`` (int32).

Values are converted column by column: a column is built with its *storage* type (the Connect wire
type: int64 for MicroTimestamp, string for ZonedTimestamp and Json) and cast to the final type by
Arrow (:func:`cast_column`), which also reaches into lists and structs. Only VariableScaleDecimal needs
a per-value conversion (:meth:`ArrowTypes.variable_decimal`).
"""

from __future__ import annotations

import base64
import decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from connect.api import DataException, Schema, Struct

__all__ = [
    "DECIMAL",
    "DECIMAL_MODES",
    "JSON_MODES",
    "VARIABLE_SCALE_DECIMAL",
    "ZONED_TIMESTAMP",
    "ArrowTypes",
    "cast_column",
]

DECIMAL = "org.apache.kafka.connect.data.Decimal"
VARIABLE_SCALE_DECIMAL = "io.debezium.data.VariableScaleDecimal"
JSON = "io.debezium.data.Json"
ZONED_TIMESTAMP = "io.debezium.time.ZonedTimestamp"
DECIMAL_MODES = ("precise", "double", "string")
JSON_MODES = ("json", "string")

#: Semantic types whose values pyarrow builds from the wire value (ints, strings) once the column has
#: the wire type: the final type is a cast away.
_CAST: dict[str, pa.DataType] = {
    "io.debezium.time.Date": pa.date32(),
    "io.debezium.time.Time": pa.time32("ms"),
    "io.debezium.time.MicroTime": pa.time64("us"),
    "io.debezium.time.NanoTime": pa.time64("ns"),
    "io.debezium.time.Timestamp": pa.timestamp("ms"),
    "io.debezium.time.MicroTimestamp": pa.timestamp("us"),
    "io.debezium.time.NanoTimestamp": pa.timestamp("ns"),
    "io.debezium.time.MicroDuration": pa.duration("us"),
    ZONED_TIMESTAMP: pa.timestamp("us", tz="UTC"),
}
_UTC_NANOS = pa.timestamp("ns", tz="UTC")
#: Arrow's JSON extension type (pyarrow >= 19), written as Parquet's JSON logical type; older pyarrow
#: writes Json as string whatever json.handling.mode says.
_JSON_TYPE: pa.DataType = pa.json_() if hasattr(pa, "json_") else pa.string()


@dataclass(frozen=True)
class ArrowTypes:
    """How semantic types become Arrow types (the ParquetSink settings ``json.handling.mode``,
    ``decimal.handling.mode``, ``decimal.precision``, ``decimal.scale``)."""

    json_mode: str = "json"
    decimal_mode: str = "precise"
    decimal_precision: int = 38
    decimal_scale: int = 10

    def logical(self, schema: Schema) -> pa.DataType | None:
        """The final Arrow type of a semantic type handled here (None: not one of them)."""
        name = schema.name
        if name is None:
            return None
        if name in _CAST:
            return _CAST[name]
        if name == JSON:
            return _JSON_TYPE if self.json_mode == "json" else pa.string()
        if name in (DECIMAL, VARIABLE_SCALE_DECIMAL):
            if self.decimal_mode == "double":
                return pa.float64()
            if self.decimal_mode == "string":
                return pa.string()
            if name == VARIABLE_SCALE_DECIMAL:
                return pa.decimal128(self.decimal_precision, self.decimal_scale)
            scale = int((schema.parameters or {}).get("scale", "0"))
            precision = int((schema.parameters or {}).get("connect.decimal.precision", "38"))
            return pa.decimal128(max(precision, scale, 1), scale)
        return None

    def is_cast(self, schema: Schema) -> bool:
        """Whether columns of ``schema`` are built with the wire type and cast (see the module doc)."""
        return schema.name in _CAST or schema.name == JSON

    def variable_decimal(self) -> Callable[[Any], Any]:
        """The value conversion of VariableScaleDecimal: a Struct, or a decoded JSON object whose
        ``value`` is base64 text, to what the column holds per ``decimal.handling.mode``."""
        mode = self.decimal_mode
        precision, scale = self.decimal_precision, self.decimal_scale
        exponent = decimal.Decimal(1).scaleb(-scale)

        def convert(v: Any) -> Any:
            if v is None:
                return None
            number = _variable_decimal(v)
            if mode == "double":
                return float(number)
            if mode == "string":
                return str(number)
            # More fractional digits than decimal.scale: rounded half-even; too many integer digits
            # for decimal.precision: an error (nothing written), never a wrong number.
            if number and number.adjusted() >= precision - scale:
                raise DataException(
                    f"{number} does not fit decimal({precision},{scale}): raise decimal.precision or "
                    "set decimal.handling.mode=string"
                )
            return number.quantize(exponent, rounding=decimal.ROUND_HALF_EVEN)

        return convert

    def fixed_decimal(self) -> Callable[[Any], Any] | None:
        """The value conversion of Connect Decimal values (decimal.Decimal) for non-precise modes."""
        if self.decimal_mode == "double":
            return lambda v: None if v is None else float(v)
        if self.decimal_mode == "string":
            return lambda v: None if v is None else str(v)
        return None


def _variable_decimal(v: Any) -> decimal.Decimal:
    if isinstance(v, Struct | dict):
        scale, raw = v.get("scale"), v.get("value")
    else:
        raise DataException(f"not a VariableScaleDecimal value: {str(v)[:100]}")
    if isinstance(raw, str):
        raw = base64.b64decode(raw)
    if not isinstance(raw, bytes | bytearray) or not isinstance(scale, int):
        raise DataException(f"not a VariableScaleDecimal value: {str(v)[:100]}")
    return decimal.Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale)


def cast_column(array: pa.Array, target: pa.DataType) -> pa.Array:
    """``array`` (built with storage types) cast to ``target``; ISO-8601 text with more than six
    fractional digits (nanoseconds) is truncated to microseconds."""
    try:
        return array.cast(target)
    except pa.ArrowInvalid:
        if not _has_zoned_timestamp(target):
            raise
        nanos = _replace_type(target, pa.timestamp("us", tz="UTC"), _UTC_NANOS)
        return array.cast(nanos).cast(target, safe=False)


def _has_zoned_timestamp(t: pa.DataType) -> bool:
    if t == _CAST[ZONED_TIMESTAMP]:
        return True
    return any(_has_zoned_timestamp(t.field(i).type) for i in range(t.num_fields))


def _replace_type(t: pa.DataType, old: pa.DataType, new: pa.DataType) -> pa.DataType:
    if t == old:
        return new
    if pa.types.is_list(t):
        return pa.list_(_replace_type(t.value_type, old, new))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_replace_type(f.type, old, new)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(_replace_type(t.key_type, old, new), _replace_type(t.item_type, old, new))
    return t
