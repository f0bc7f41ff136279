"""Cast: change the type of fields, or of the whole key/value, following Java's conversions."""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import math
import struct as _struct
from collections.abc import Callable, Mapping
from typing import Any, Final

from connect.api.config import ConfigDef, ConfigType, Importance
from connect.api.data import Date, Schema, SchemaBuilder, Struct, Time, Timestamp, Type
from connect.api.errors import ConfigException, DataException
from connect.converters.header import convert_to_string
from connect.transforms._util import (
    KAFKA_PREFIX,
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    OnKey,
    OnValue,
    R,
    SchemaCache,
    copy_schema_basics,
    define_replace_null,
    logical_name,
    require_map,
    require_struct,
)

__all__ = ["Cast", "CastKey", "CastValue", "cast_value"]

PURPOSE: Final = "cast types"

_INPUT_TYPES: Final = frozenset(
    {
        Type.INT8,
        Type.INT16,
        Type.INT32,
        Type.INT64,
        Type.FLOAT32,
        Type.FLOAT64,
        Type.BOOLEAN,
        Type.STRING,
        Type.BYTES,
    }
)
_OUTPUT_TYPES: Final = _INPUT_TYPES - {Type.BYTES}
_ORDER: Final = [t for t in Type if t in _INPUT_TYPES]


def _type_list(types: frozenset[Type]) -> str:
    return "[" + ", ".join(t.name for t in _ORDER if t in types) + "]"


def _output_type(name: str, spec: str) -> Type:
    try:
        target = Type[name.strip().upper()]
    except KeyError:
        raise ConfigException(f"Invalid type found in casting spec: {name.strip()}") from None
    if target not in _OUTPUT_TYPES:
        raise ConfigException(
            f"Cast transformation does not support casting to {target.name}; supported types are "
            f"{_type_list(_OUTPUT_TYPES)}"
        )
    return target


def parse_spec(mappings: list[str]) -> tuple[dict[str, Type], Type | None]:
    """``field:type`` pairs, or a single ``type`` for the whole value (ConfigException when invalid)."""
    if not mappings:
        raise ConfigException("Must specify at least one field to cast.")
    casts: dict[str, Type] = {}
    whole: Type | None = None
    for mapping in mappings:
        parts = mapping.split(":")
        if len(parts) > 2:
            raise ConfigException("spec", ",".join(mappings), f"Invalid cast mapping: {mapping}")
        if len(parts) == 1:
            whole = _output_type(parts[0], mapping)
        else:
            casts[parts[0].strip()] = _output_type(parts[1], mapping)
    if whole is not None and len(mappings) > 1:
        raise ConfigException(
            "Cast transformations that specify a type to cast the entire value to may only specify a single "
            "cast in their spec"
        )
    return casts, whole


class _SpecValidator:
    def ensure_valid(self, name: str, value: Any) -> None:
        parse_spec(list(value))

    def __str__(self) -> str:
        return "list of colon-delimited pairs, e.g. foo:bar,abc:xyz"


CONFIG: Final = define_replace_null(
    ConfigDef().define(
        "spec",
        ConfigType.LIST,
        importance=Importance.HIGH,
        doc="List of fields and the type to cast them to of the form field1:type,field2:type to cast "
        "fields of Maps or Structs. A single type to cast the entire value. Valid types are int8, int16, "
        "int32, int64, float32, float64, boolean, and string. Note that binary fields can only be cast to "
        "string.",
        validator=_SpecValidator(),
    )
)

# --- Java's narrowing conversions ---------------------------------------------------------------------

_F32: Final = _struct.Struct("<f")
_INT_BITS: Final = {Type.INT8: 8, Type.INT16: 16, Type.INT32: 32, Type.INT64: 64}


def _wrap(n: int, bits: int) -> int:
    """Keep the low ``bits`` bits as a two's-complement number (Java's integer narrowing)."""
    mask = (1 << bits) - 1
    n &= mask
    return n - (1 << bits) if n >> (bits - 1) else n


def _float_to_long(x: float, bits: int) -> int:
    """Java's ``(long) d`` / ``(int) d``: truncate toward zero, NaN is 0, saturate at the bounds."""
    if math.isnan(x):
        return 0
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if math.isinf(x):
        return hi if x > 0 else lo
    return max(lo, min(hi, math.trunc(x)))


def f32(x: float) -> float:
    """``x`` rounded to the nearest binary32 value (±inf beyond its range)."""
    try:
        return float(_F32.unpack(_F32.pack(x))[0])
    except OverflowError:
        return math.copysign(math.inf, x)


def _to_int(value: Any, target: Type) -> int:
    bits = _INT_BITS[target]
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return _wrap(value, bits)
    if isinstance(value, float):
        # Java: byte/short values go through int first.
        return _wrap(_float_to_long(value, 64 if bits == 64 else 32), bits)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise DataException(f"Value ({value}) was out of range for requested data type")
        return _wrap(int(value), bits)
    if isinstance(value, str):
        text = value
        try:
            if text != text.strip() or "_" in text:
                raise ValueError(text)
            n = int(text)
        except ValueError:
            raise DataException(f"Value ({value}) was out of range for requested data type") from None
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if not lo <= n <= hi:
            raise DataException(f"Value ({value}) was out of range for requested data type")
        return n
    raise DataException(f"Unexpected type in Cast transformation: {type(value).__name__}")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float | decimal.Decimal):
        try:
            return float(value)
        except OverflowError:
            return math.copysign(math.inf, value)
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("f", "F", "d", "D") and not text.lower().endswith("inf"):
            text = text[:-1]
        try:
            return float(text)
        except ValueError:
            raise DataException(f"Value ({value}) was out of range for requested data type") from None
    raise DataException(f"Unexpected type in Cast transformation: {type(value).__name__}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, float):
        return _float_to_long(value, 64) != 0
    if isinstance(value, decimal.Decimal):
        return value.is_finite() and int(value) != 0
    if isinstance(value, str):
        return value.lower() == "true"
    raise DataException(f"Unexpected type in Cast transformation: {type(value).__name__}")


def _to_string(value: Any, schema: Schema | None) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    return convert_to_string(schema, value)


_CASTS: Final[dict[Type, Callable[[Any, Schema | None], Any]]] = {
    Type.INT8: lambda v, _s: _to_int(v, Type.INT8),
    Type.INT16: lambda v, _s: _to_int(v, Type.INT16),
    Type.INT32: lambda v, _s: _to_int(v, Type.INT32),
    Type.INT64: lambda v, _s: _to_int(v, Type.INT64),
    Type.FLOAT32: lambda v, _s: f32(_to_float(v)),
    Type.FLOAT64: lambda v, _s: _to_float(v),
    Type.BOOLEAN: lambda v, _s: _to_bool(v),
    Type.STRING: _to_string,
}


def _inferred_type(value: Any) -> Type | None:
    if isinstance(value, bool):
        return Type.BOOLEAN
    if isinstance(value, int):
        return Type.INT64
    if isinstance(value, float):
        return Type.FLOAT64
    if isinstance(value, str):
        return Type.STRING
    if isinstance(value, bytes | bytearray | memoryview | decimal.Decimal):
        return Type.BYTES
    if isinstance(value, list | tuple):
        return Type.ARRAY
    if isinstance(value, dict):
        return Type.MAP
    if isinstance(value, Struct):
        return Type.STRUCT
    return None


def _encode_logical(schema: Schema, value: Any) -> Any:
    """Date/Time/Timestamp values as their integer encoding (for numeric targets)."""
    name = schema.name
    if name == Timestamp.LOGICAL_NAME:
        if not isinstance(value, _dt.datetime):
            raise DataException(f"Timestamp value must be a datetime, got {type(value).__name__}")
        return Timestamp.from_logical(schema, value)
    if name == Date.LOGICAL_NAME:
        if not isinstance(value, _dt.date):
            raise DataException(f"Date value must be a date, got {type(value).__name__}")
        return Date.from_logical(schema, value)
    if name == Time.LOGICAL_NAME:
        if not isinstance(value, _dt.time):
            raise DataException(f"Time value must be a time, got {type(value).__name__}")
        return Time.from_logical(schema, value)
    return value


def cast_value(schema: Schema | None, value: Any, target: Type) -> Any:
    """``value`` (described by ``schema``, or inferred when None) cast to ``target`` as Kafka's Cast does."""
    if value is None:
        return None
    source = schema.type if schema is not None else _inferred_type(value)
    if source is None:
        raise DataException(
            f"Cast transformation was passed a value of type {type(value).__name__} which is not "
            "supported by Connect's data API"
        )
    if source not in _INPUT_TYPES:
        raise DataException(
            f"Cast transformation does not support casting from {source.name}; supported types are "
            f"{_type_list(_INPUT_TYPES)}"
        )
    if schema is not None and schema.name is not None and target is not Type.STRING:
        value = _encode_logical(schema, value)
    return _CASTS[target](value, schema)


def _builder(target: Type) -> SchemaBuilder:
    return SchemaBuilder(target)


class Cast(KeyOrValue[R]):
    """Cast fields (``spec=f1:int32,f2:string``) or the whole key/value (``spec=int32``).

    Inputs: integers, floats, booleans, strings (and bytes, to string only, as base64); Decimal, Date,
    Time and Timestamp values are cast through their numeric encoding, or to their ISO text. Narrowing
    follows Java (``300`` to int8 is ``44``); an unparsable string is a DataException. The output schema
    is derived once per input schema. Null keys/values pass unchanged.
    """

    def __init__(self) -> None:
        self._casts: dict[str, Type] = {}
        self._whole: Type | None = None
        self._replace_null = True
        self._cache: SchemaCache[tuple[Schema, tuple[tuple[str, Type | None, Schema], ...]]] = SchemaCache()

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = CONFIG.parse(props)
        self._casts, self._whole = parse_spec(values["spec"])
        self._replace_null = values[REPLACE_NULL_WITH_DEFAULT]
        self._cache.clear()

    def apply(self, record: R) -> R:
        value = self.operating_value(record)
        if value is None:
            return record
        schema = self.operating_schema(record)
        if schema is None:
            if self._whole is not None:
                return self.updated(record, None, cast_value(None, value, self._whole))
            updated = dict(require_map(value, PURPOSE))
            for name, target in self._casts.items():
                if name in updated:
                    updated[name] = cast_value(None, updated[name], target)
            return self.updated(record, None, updated)
        cached = self._cache.get(schema)
        if cached is None:
            cached = self._cache.put(schema, self._derive(schema))
        updated_schema, plan = cached
        if self._whole is not None:
            return self.updated(record, updated_schema, cast_value(schema, value, self._whole))
        struct = require_struct(value, PURPOSE)
        get = struct.get if self._replace_null else struct.get_without_default
        values = {
            name: get(name) if target is None else cast_value(field_schema, get(name), target)
            for name, target, field_schema in plan
        }
        return self.updated(record, updated_schema, Struct(updated_schema, values))

    def _derive(self, schema: Schema) -> tuple[Schema, tuple[tuple[str, Type | None, Schema], ...]]:
        plan: list[tuple[str, Type | None, Schema]] = []
        if self._whole is not None:
            builder = _builder(self._whole)
            if logical_name(schema) is None:
                copy_schema_basics(schema, builder)
        else:
            if schema.type is not Type.STRUCT:
                raise DataException(
                    f"Only Struct objects supported for [{PURPOSE}], found schema of type {schema.type.name}"
                )
            builder = copy_schema_basics(schema, SchemaBuilder.struct())
            for f in schema.fields:
                target = self._casts.get(f.name)
                plan.append((f.name, target, f.schema))
                if target is None:
                    builder.field(f.name, f.schema)
                    continue
                fb = _builder(target)
                if f.schema.optional:
                    fb.optional()
                if f.schema.default_value is not None:
                    fb.default_value(cast_value(f.schema, f.schema.default_value, target))
                builder.field(f.name, fb.build())
        if schema.optional:
            builder.optional()
        if schema.default_value is not None and self._whole is not None:
            builder.default_value(cast_value(schema, schema.default_value, self._whole))
        return builder.build(), tuple(plan)

    def close(self) -> None:
        self._cache.clear()


class CastKey(Cast[R], OnKey[R]):
    """Cast fields of the record key, or the whole key."""

    aliases = ("Cast$Key", KAFKA_PREFIX + "Cast$Key")


class CastValue(Cast[R], OnValue[R]):
    """Cast fields of the record value, or the whole value."""

    aliases = ("Cast$Value", KAFKA_PREFIX + "Cast$Value")
