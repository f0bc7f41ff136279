"""``JsonConverter``: byte-for-byte compatible with Kafka's ``org.apache.kafka.connect.json.JsonConverter``.

With ``schemas.enable=true`` (the default) every message is an envelope
``{"schema":{...},"payload":...}`` carrying Kafka's JSON form of the Connect schema (``"type"``, then
``"items"`` / ``"keys"``,``"values"`` / ``"fields"``, then ``"optional"``, ``"name"``, ``"version"``,
``"doc"``, ``"parameters"``, ``"default"``; struct fields end with ``"field"``). With
``schemas.enable=false`` the payload is plain JSON and reads are schemaless (objects -> dict, integers ->
int, other numbers -> float). Logical types are written as Kafka does: Decimal as base64 of the unscaled
two's-complement bytes (or a JSON number with ``decimal.format=NUMERIC``), Date as INT32 days, Time as
INT32 milliseconds, Timestamp as INT64 milliseconds. Output is compact JSON exactly as Jackson writes it
(Java number formatting, ``\\u00XX`` escapes in upper case).

How it is fast: the JSON form of each schema is built once per :class:`Schema` object and cached as
bytes; values go through a per-schema function generated on first use (checks required fields, converts
logical types, fills defaults) that hands structs' own field dicts to orjson, copying only what must
change. Values Jackson would print differently from orjson (doubles outside ``[1e-3, 1e7)``,
non-finite numbers, NUMERIC decimals that are not short floats) take an exact, slower path. Reading
recognises messages that start with an already-seen schema and parses only their payload;
``to_connect_batch`` does that for a whole consumed batch (the sink runtime's path), and plain
primitive readers return a valid value without a second call.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import decimal
import enum
import json as _stdjson
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import orjson

from connect.api.config import AbstractConfig, CaseInsensitiveValidString, ConfigDef, Range, ValidString
from connect.api.converter import BatchConverter, HeaderConverter
from connect.api.data import (
    Date,
    Decimal,
    Schema,
    SchemaAndValue,
    SchemaBuilder,
    Struct,
    Time,
    Timestamp,
    Type,
    datetime_from_millis,
    timestamp_millis,
)
from connect.api.errors import DataException
from connect.api.records import Headers
from connect.converters._javafmt import (
    f32,
    jacksonize,
    java_float,
    json_double,
    json_float,
    json_string,
)

__all__ = ["DecimalFormat", "JsonConverter", "JsonConverterConfig"]


class DecimalFormat(enum.Enum):
    BASE64 = "BASE64"
    NUMERIC = "NUMERIC"


class JsonConverterConfig:
    """Configuration keys of :class:`JsonConverter` (Kafka's names and defaults)."""

    SCHEMAS_ENABLE_CONFIG: Final = "schemas.enable"
    SCHEMAS_CACHE_SIZE_CONFIG: Final = "schemas.cache.size"
    DECIMAL_FORMAT_CONFIG: Final = "decimal.format"
    REPLACE_NULL_WITH_DEFAULT_CONFIG: Final = "replace.null.with.default"
    TYPE_CONFIG: Final = "converter.type"

    CONFIG_DEF: Final = (
        ConfigDef()
        .define(
            "converter.type",
            "string",
            None,
            "low",
            "How this converter will be used (set by the runtime).",
            validator=ValidString.in_("key", "value", "header"),
        )
        .define(
            "schemas.enable",
            "boolean",
            True,
            "high",
            "Include schemas within each of the serialized values and keys.",
            group="Schemas",
            display_name="Enable Schemas",
        )
        .define(
            "schemas.cache.size",
            "int",
            1000,
            "high",
            "The maximum number of schemas that can be cached in this converter instance.",
            validator=Range.at_least(0),
            group="Schemas",
            display_name="Schema Cache Size",
        )
        .define(
            "decimal.format",
            "string",
            "BASE64",
            "low",
            "Controls which format this converter will serialize decimals in. This value is case insensitive "
            "and can be either 'BASE64' (default) or 'NUMERIC'",
            validator=CaseInsensitiveValidString.in_("BASE64", "NUMERIC"),
            group="Serialization",
            display_name="Decimal Format",
        )
        .define(
            "replace.null.with.default",
            "boolean",
            True,
            "low",
            "Whether to replace fields that have a default value and that are null to the default value. "
            "When set to true, the default value is used, otherwise null is used.",
            group="Serialization",
            display_name="Replace null with default",
        )
    )


# --- shared helpers -------------------------------------------------------------------------------------

_DECIMAL_NAME: Final = Decimal.LOGICAL_NAME
_DATE_NAME: Final = Date.LOGICAL_NAME
_TIME_NAME: Final = Time.LOGICAL_NAME
_TIMESTAMP_NAME: Final = Timestamp.LOGICAL_NAME
_LOGICAL: Final = frozenset({_DECIMAL_NAME, _DATE_NAME, _TIME_NAME, _TIMESTAMP_NAME})
_EPOCH_ORDINAL: Final = _dt.date(1970, 1, 1).toordinal()

_JSON_TYPE_NAMES: Final = {
    Type.BOOLEAN: "boolean",
    Type.INT8: "int8",
    Type.INT16: "int16",
    Type.INT32: "int32",
    Type.INT64: "int64",
    Type.FLOAT32: "float",
    Type.FLOAT64: "double",
    Type.BYTES: "bytes",
    Type.STRING: "string",
    Type.ARRAY: "array",
    Type.MAP: "map",
    Type.STRUCT: "struct",
}
_FROM_JSON_TYPE_NAMES: Final = {v: k for k, v in _JSON_TYPE_NAMES.items()}
_INT_RANGES: Final = {
    Type.INT8: (-(2**7), 2**7 - 1),
    Type.INT16: (-(2**15), 2**15 - 1),
    Type.INT32: (-(2**31), 2**31 - 1),
    Type.INT64: (-(2**63), 2**63 - 1),
}
_DUMPS_OPTS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_ENVELOPE_START: Final = b'{"schema":'
_PAYLOAD_KEY: Final = b',"payload":'


class _Slow(Exception):
    """The fast path cannot produce Jackson's exact text for this value; use the exact writer."""


class _Reparse(Exception):
    """A JSON number must be read exactly (NUMERIC decimal); parse again with Decimal floats."""


def _b64(data: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(data).decode("ascii")


def _date_days(value: Any) -> int:
    if not isinstance(value, _dt.date) or isinstance(value, _dt.datetime):
        raise DataException(f"Invalid type for Date, expected datetime.date but was {type(value).__name__}")
    return value.toordinal() - _EPOCH_ORDINAL


def _time_millis(value: Any) -> int:
    if not isinstance(value, _dt.time):
        raise DataException(f"Invalid type for Time, expected datetime.time but was {type(value).__name__}")
    return (value.hour * 3600 + value.minute * 60 + value.second) * 1000 + value.microsecond // 1000


def _timestamp_millis(value: Any) -> int:
    if not isinstance(value, _dt.datetime):
        raise DataException(f"Invalid type for Timestamp, expected datetime but was {type(value).__name__}")
    return timestamp_millis(value)


def _decimal_bytes(schema: Schema, value: Any) -> bytes:
    if not isinstance(value, decimal.Decimal):
        raise DataException(
            f"Invalid type for Decimal, expected decimal.Decimal but was {type(value).__name__}"
        )
    return Decimal.from_logical(schema, value)


def _decimal_text(value: Any) -> str:
    if not isinstance(value, decimal.Decimal) or not value.is_finite():
        raise DataException(f"Invalid type for Decimal, expected a finite decimal.Decimal but was {value!r}")
    return str(value)


def _null_required() -> DataException:
    return DataException("Conversion error: null value for field that is required and has no default value")


def _invalid_type(schema: Schema | None, value: Any) -> DataException:
    what = schema.type.name if schema is not None else "unknown schema"
    return DataException(f"Invalid type for {what}: {type(value).__name__}")


# --- exact writer (Jackson's output, every case) --------------------------------------------------------


class _Exact:
    """Kafka's ``convertToJson`` + Jackson's compact serialization, producing text directly."""

    def __init__(self, numeric: bool, replace_null: bool) -> None:
        self.numeric = numeric
        self.replace_null = replace_null

    def write(self, schema: Schema | None, value: Any) -> str:
        if value is None:
            if schema is None:
                return "null"
            if schema.default_value is not None and self.replace_null:
                return self.write(schema, schema.default_value)
            if schema.optional:
                return "null"
            raise _null_required()
        if schema is not None and schema.name in _LOGICAL:
            name = schema.name
            if name == _DECIMAL_NAME:
                if self.numeric:
                    return _decimal_text(value)
                return json_string(_b64(_decimal_bytes(schema, value)))
            if name == _DATE_NAME:
                return str(_date_days(value))
            if name == _TIME_NAME:
                return str(_time_millis(value))
            return str(_timestamp_millis(value))
        t = schema.type if schema is not None else _schemaless_type(value)
        if t in _INT_RANGES:
            if not isinstance(value, int) or isinstance(value, bool):
                raise _invalid_type(schema, value)
            return str(int(value))
        if t is Type.FLOAT64 or t is Type.FLOAT32:
            if not isinstance(value, float | int) or isinstance(value, bool):
                raise _invalid_type(schema, value)
            return json_double(float(value)) if t is Type.FLOAT64 else json_float(float(value))
        if t is Type.BOOLEAN:
            if not isinstance(value, bool):
                raise _invalid_type(schema, value)
            return "true" if value else "false"
        if t is Type.STRING:
            if not isinstance(value, str):
                raise _invalid_type(schema, value)
            return json_string(value)
        if t is Type.BYTES:
            if not isinstance(value, bytes | bytearray | memoryview):
                raise DataException(f"Invalid type for bytes type: {type(value).__name__}")
            return json_string(_b64(value))
        if t is Type.ARRAY:
            if not isinstance(value, list | tuple):
                raise _invalid_type(schema, value)
            vs = schema.value_schema if schema is not None else None
            return "[" + ",".join(self.write(vs, e) for e in value) + "]"
        if t is Type.MAP:
            if not isinstance(value, Mapping):
                raise _invalid_type(schema, value)
            ks = schema.key_schema if schema is not None else None
            vs = schema.value_schema if schema is not None else None
            if schema is not None:
                assert ks is not None
                object_mode = ks.type is Type.STRING
            else:
                object_mode = all(isinstance(k, str) for k in value)
            if object_mode:
                parts = []
                for k, v in value.items():
                    key_text = self.write(ks, k)
                    if not key_text.startswith('"'):  # a null key, as Jackson's asText() gives "null"
                        key_text = json_string(key_text)
                    parts.append(key_text + ":" + self.write(vs, v))
                return "{" + ",".join(parts) + "}"
            return (
                "["
                + ",".join("[" + self.write(ks, k) + "," + self.write(vs, v) + "]" for k, v in value.items())
                + "]"
            )
        # STRUCT
        if not isinstance(value, Struct) or schema is None or value.schema != schema:
            raise DataException("Mismatching schema.")
        values = value._values
        return (
            "{"
            + ",".join(
                json_string(f.name) + ":" + self.write(f.schema, values[f.name]) for f in schema.fields
            )
            + "}"
        )


def _schemaless_type(value: Any) -> Type:
    if isinstance(value, bool):
        return Type.BOOLEAN
    if isinstance(value, int):
        return Type.INT64
    if isinstance(value, float):
        return Type.FLOAT64
    if isinstance(value, str):
        return Type.STRING
    if isinstance(value, bytes | bytearray | memoryview):
        return Type.BYTES
    if isinstance(value, list | tuple):
        return Type.ARRAY
    if isinstance(value, Mapping):
        return Type.MAP
    if isinstance(value, Struct):
        raise DataException("Mismatching schema.")
    raise DataException(f"Python class {type(value).__name__} does not have corresponding schema type.")


def schema_to_json(schema: Schema, exact: _Exact) -> str:
    """Kafka's JSON form of a schema (``asJsonSchema``), as compact text."""
    return "{" + ",".join(_schema_members(schema, exact)) + "}"


def _schema_members(schema: Schema, exact: _Exact) -> list[str]:
    members = [f'"type":"{_JSON_TYPE_NAMES[schema.type]}"']
    if schema.type is Type.ARRAY:
        assert schema.value_schema is not None
        members.append('"items":' + schema_to_json(schema.value_schema, exact))
    elif schema.type is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        members.append('"keys":' + schema_to_json(schema.key_schema, exact))
        members.append('"values":' + schema_to_json(schema.value_schema, exact))
    elif schema.type is Type.STRUCT:
        fields = []
        for f in schema.fields:
            inner = _schema_members(f.schema, exact)
            inner.append('"field":' + json_string(f.name))
            fields.append("{" + ",".join(inner) + "}")
        members.append('"fields":[' + ",".join(fields) + "]")
    members.append('"optional":' + ("true" if schema.optional else "false"))
    if schema.name is not None:
        members.append('"name":' + json_string(schema.name))
    if schema.version is not None:
        members.append(f'"version":{schema.version}')
    if schema.doc is not None:
        members.append('"doc":' + json_string(schema.doc))
    if schema.parameters is not None:
        params = ",".join(json_string(k) + ":" + json_string(v) for k, v in schema.parameters.items())
        members.append('"parameters":{' + params + "}")
    if schema.default_value is not None:
        members.append('"default":' + exact.write(schema, schema.default_value))
    return members


# --- fast writer: per-schema "prep" functions feeding orjson ---------------------------------------------

Prep = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _check_double(value: Any) -> Any:
    if value.__class__ is float:
        if 1e-3 <= value < 1e7 or -1e7 < value <= -1e-3 or value == 0.0:
            return value
        raise _Slow
    if isinstance(value, int) and not isinstance(value, bool):
        return _check_double(float(value))
    if isinstance(value, float):
        return _check_double(float(value))
    raise _invalid_type(Schema.FLOAT64_SCHEMA, value)


_F32_CANONICAL: dict[float, float | None] = {}


def _check_float32(value: Any) -> Any:
    if value.__class__ is not float:
        if isinstance(value, float | int) and not isinstance(value, bool):
            value = float(value)
        else:
            raise _invalid_type(Schema.FLOAT32_SCHEMA, value)
    if value == 0.0:
        return value  # 0.0 and -0.0 are one dict key; both print the same in Java and orjson
    canonical = _F32_CANONICAL.get(value, _F32_CANONICAL)
    if canonical is _F32_CANONICAL:
        text = java_float(value)
        canonical = None
        if "E" not in text and text[-1] not in "yN":
            candidate = float(text)
            if repr(candidate) == text:
                canonical = candidate
        if len(_F32_CANONICAL) > 4096:
            _F32_CANONICAL.clear()
        _F32_CANONICAL[value] = canonical
    if canonical is None:
        raise _Slow
    return canonical


class _FastCompiler:
    """Builds and caches, per schema, a function turning a Connect value into an orjson-ready value.

    The result may still contain Struct objects (serialized via ``_default`` as their own field dict,
    which the function has checked and found needing no change) and bytes (base64 via ``_default``).
    """

    def __init__(self, numeric: bool, replace_null: bool) -> None:
        self.numeric = numeric
        self.replace_null = replace_null
        self.cache: dict[Schema, Prep] = {}
        self.nn_cache: dict[Schema, Prep] = {}

    def prep(self, schema: Schema) -> Prep:
        """The conversion of a value of ``schema``, None included (cached)."""
        fn = self.cache.get(schema)
        if fn is None:
            fn = self.cache[schema] = self._compile(schema)
        return fn

    def _nn(self, schema: Schema) -> Prep:
        """The conversion of a non-None value of ``schema`` (cached)."""
        fn = self.nn_cache.get(schema)
        if fn is None:
            fn = self.nn_cache[schema] = self._non_null(schema)
        return fn

    def clear(self) -> None:
        self.cache.clear()
        self.nn_cache.clear()

    def _null_handler(self, schema: Schema) -> Callable[[], Any]:
        if schema.default_value is not None and self.replace_null:
            default = schema.default_value
            try:
                ready = self._nn(schema)(default)
            except _Slow:

                def slow() -> Any:
                    raise _Slow

                return slow
            return lambda: ready
        if schema.optional:
            return lambda: None

        def fail() -> Any:
            raise _null_required()

        return fail

    def _compile(self, schema: Schema) -> Prep:
        non_null = self._nn(schema)
        on_null = self._null_handler(schema)
        if (
            non_null is _identity
            and schema.optional
            and (schema.default_value is None or not self.replace_null)
        ):
            return _identity

        def prep(value: Any) -> Any:
            if value is None:
                return on_null()
            return non_null(value)

        return prep

    def _non_null(self, schema: Schema) -> Prep:
        """Conversion of a non-None value."""
        name = schema.name
        if name in _LOGICAL:
            if name == _DECIMAL_NAME:
                return self._decimal(schema)
            if name == _DATE_NAME:
                return _date_days
            if name == _TIME_NAME:
                return _time_millis
            return _timestamp_millis
        t = schema.type
        if t is Type.FLOAT64:
            return _check_double
        if t is Type.FLOAT32:
            return _check_float32
        if t is Type.ARRAY:
            assert schema.value_schema is not None
            return self._array(schema.value_schema)
        if t is Type.MAP:
            assert schema.key_schema is not None and schema.value_schema is not None
            return self._map(schema.key_schema, schema.value_schema)
        if t is Type.STRUCT:
            return self._struct(schema)
        return _identity  # ints, booleans, strings: validated when put; bytes: base64 in _default

    def _decimal(self, schema: Schema) -> Prep:
        if not self.numeric:
            return lambda value: _b64(_decimal_bytes(schema, value))

        def numeric(value: Any) -> Any:
            text = _decimal_text(value)
            as_float = float(value)
            if repr(as_float) == text and (1e-3 <= abs(as_float) < 1e7):
                return as_float
            raise _Slow

        return numeric

    def _array(self, elem: Schema) -> Prep:
        p = self.prep(elem)
        if p is _identity:

            def plain_array(value: Any) -> Any:
                if value.__class__ is list or isinstance(value, list | tuple):
                    return value
                raise _invalid_type(Schema(Type.ARRAY, value_schema=elem), value)

            return plain_array

        def array(value: Any) -> Any:
            if not isinstance(value, list | tuple):
                raise _invalid_type(Schema(Type.ARRAY, value_schema=elem), value)
            return [p(e) for e in value]

        return array

    def _map(self, key: Schema, val: Schema) -> Prep:
        pk = self.prep(key)
        pv = self.prep(val)
        if key.type is Type.STRING:
            if pv is _identity and key.optional is False:

                def plain_map(value: Any) -> Any:
                    if isinstance(value, dict):
                        return value
                    raise DataException(f"Invalid type for MAP: {type(value).__name__}")

                return plain_map

            def object_map(value: Any) -> Any:
                if not isinstance(value, Mapping):
                    raise DataException(f"Invalid type for MAP: {type(value).__name__}")
                out = {}
                for k, v in value.items():
                    if k.__class__ is not str:
                        raise _Slow
                    out[k] = pv(v)
                return out

            return object_map

        def pair_map(value: Any) -> Any:
            if not isinstance(value, Mapping):
                raise DataException(f"Invalid type for MAP: {type(value).__name__}")
            return [[pk(k), pv(v)] for k, v in value.items()]

        return pair_map

    def _struct(self, schema: Schema) -> Prep:
        """Generate the prep function of a struct schema (straight-line code, one block per field)."""
        env: dict[str, Any] = {
            "Struct": Struct,
            "DataException": DataException,
            "null_required": _null_required,
        }
        env["S"] = schema
        lines = [
            "def prep(s):",
            "    if s.__class__ is not Struct:",
            "        raise DataException('Mismatching schema.')",
            "    if s._schema is not S and s._schema != S:",
            "        raise DataException('Mismatching schema.')",
            "    v = s._values",
            "    o = None",
        ]
        for i, f in enumerate(schema.fields):
            key = repr(f.name)
            fs = f.schema
            non_null = self._nn(fs)
            has_default = fs.default_value is not None and self.replace_null
            if non_null is _identity and not has_default:
                if not fs.optional:
                    lines.append(f"    if v[{key}] is None: raise null_required()")
                continue
            env[f"P{i}"] = self.prep(fs)
            lines += [
                f"    x = v[{key}]",
                f"    y = P{i}(x)",
                "    if y is not x:",
                "        if o is None: o = dict(v)",
                f"        o[{key}] = y",
            ]
        lines.append("    return s if o is None else o")
        exec("\n".join(lines), env)
        fn: Prep = env["prep"]
        return fn


def _default(obj: Any) -> Any:
    """orjson hook for the schema path: structs already checked by their prep, bytes."""
    if obj.__class__ is Struct:
        return obj._values
    if isinstance(obj, bytes | bytearray | memoryview):
        return _b64(obj)
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")


def _schemaless_default(obj: Any) -> Any:
    if isinstance(obj, bytes | bytearray | memoryview):
        return _b64(obj)
    raise TypeError(type(obj).__name__)


def _prep_schemaless(value: Any) -> Any:
    """Check a schemaless value for the fast path; raise _Slow for anything orjson would print differently."""
    c = value.__class__
    if c is str or c is int or c is bool or value is None:
        return value
    if c is float:
        return _check_double(value)
    if c is dict:
        out = None
        for k, x in value.items():
            if k.__class__ is not str:
                raise _Slow
            cx = x.__class__
            if cx is str or cx is int or cx is bool or x is None:
                continue
            y = _prep_schemaless(x)
            if y is not x:
                if out is None:
                    out = dict(value)
                out[k] = y
        return value if out is None else out
    if c is list or c is tuple:
        items = None
        for i, x in enumerate(value):
            cx = x.__class__
            if cx is str or cx is int or cx is bool or x is None:
                continue
            y = _prep_schemaless(x)
            if y is not x:
                if items is None:
                    items = list(value)
                items[i] = y
        return value if items is None else items
    if c is bytes or c is bytearray:
        return value
    raise _Slow


# --- reading: schema JSON -> Schema, payload -> Connect value --------------------------------------------

Reader = Callable[[Any], Any]


def _node_type(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int | float | decimal.Decimal):
        return "NUMBER"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, list):
        return "ARRAY"
    if isinstance(value, dict):
        return "OBJECT"
    return type(value).__name__


def _bad(schema: Schema, value: Any) -> DataException:
    return DataException(f"Invalid JSON value for {schema.type.name} schema: {_node_type(value)}")


class _ReadCompiler:
    """Builds and caches, per schema, a function turning parsed JSON into Connect data (validated)."""

    def __init__(self, replace_null: bool) -> None:
        self.replace_null = replace_null
        self.cache: dict[Schema, Reader] = {}
        self.nn_cache: dict[Schema, Reader] = {}

    def reader(self, schema: Schema) -> Reader:
        """The reader of a value of ``schema``, JSON null included (cached)."""
        fn = self.cache.get(schema)
        if fn is None:
            fn = self.cache[schema] = self._compile(schema)
        return fn

    def _nn_reader(self, schema: Schema) -> Reader:
        """The reader of a non-null JSON value of ``schema`` (cached)."""
        fn = self.nn_cache.get(schema)
        if fn is None:
            fn = self.nn_cache[schema] = self._non_null(schema)
        return fn

    def _compile(self, schema: Schema) -> Reader:
        general = self._general(schema)
        if schema.name in _LOGICAL:
            return general
        # Plain primitives: the common, valid value is returned at once (one call instead of two,
        # e.g. per key); anything else goes through the general reader, which gives the same result
        # for such a value (it returns it unchanged).
        t = schema.type
        if t in _INT_RANGES:
            lo, hi = _INT_RANGES[t]

            def plain_int(value: Any) -> Any:
                if value.__class__ is int and lo <= value <= hi:
                    return value
                return general(value)

            return plain_int
        if t is Type.STRING:

            def plain_string(value: Any) -> Any:
                return value if value.__class__ is str else general(value)

            return plain_string
        if t is Type.FLOAT64:

            def plain_double(value: Any) -> Any:
                return value if value.__class__ is float else general(value)

            return plain_double
        if t is Type.BOOLEAN:

            def plain_boolean(value: Any) -> Any:
                return value if value is True or value is False else general(value)

            return plain_boolean
        return general

    def _general(self, schema: Schema) -> Reader:
        convert = self._nn_reader(schema)
        if schema.default_value is not None and self.replace_null:
            default = schema.default_value

            def with_default(value: Any) -> Any:
                return default if value is None else convert(value)

            return with_default
        if schema.optional:

            def optional(value: Any) -> Any:
                return None if value is None else convert(value)

            return optional
        type_name = schema.type.name

        def required(value: Any) -> Any:
            if value is None:
                raise DataException(f"Invalid null value for required {type_name} field")
            return convert(value)

        return required

    def _non_null(self, schema: Schema) -> Reader:
        name = schema.name
        if name in _LOGICAL:
            return self._logical(schema)
        t = schema.type
        if t in _INT_RANGES:
            lo, hi = _INT_RANGES[t]

            def integer(value: Any) -> Any:
                if value.__class__ is int and lo <= value <= hi:
                    return value
                if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
                    return integer(int(value))
                if value.__class__ is int:
                    raise DataException(f"Value {value} out of range for {t.name}")
                raise _bad(schema, value)

            return integer
        if t is Type.FLOAT64 or t is Type.FLOAT32:
            single = t is Type.FLOAT32

            def floating(value: Any) -> Any:
                c = value.__class__
                if (
                    c is float
                    or c is int
                    or c is decimal.Decimal
                    or (c is str and value in ("NaN", "Infinity", "-Infinity"))
                ):
                    x = float(value)
                else:
                    raise _bad(schema, value)
                return f32(x) if single else x

            return floating
        if t is Type.BOOLEAN:

            def boolean(value: Any) -> Any:
                if value is True or value is False:
                    return value
                raise _bad(schema, value)

            return boolean
        if t is Type.STRING:

            def string(value: Any) -> Any:
                if value.__class__ is str:
                    return value
                raise _bad(schema, value)

            return string
        if t is Type.BYTES:
            return _read_bytes
        if t is Type.ARRAY:
            assert schema.value_schema is not None
            elem = self.reader(schema.value_schema)

            def array(value: Any) -> Any:
                if value.__class__ is not list:
                    raise _bad(schema, value)
                return [elem(e) for e in value]

            return array
        if t is Type.MAP:
            assert schema.key_schema is not None and schema.value_schema is not None
            rk = self.reader(schema.key_schema)
            rv = self.reader(schema.value_schema)
            if schema.key_schema.type is Type.STRING:

                def object_map(value: Any) -> Any:
                    if value.__class__ is not dict:
                        raise DataException(
                            "Maps with string fields should be encoded as JSON objects, but found "
                            + _node_type(value)
                        )
                    return {k: rv(v) for k, v in value.items()}

                return object_map

            def pair_map(value: Any) -> Any:
                if value.__class__ is not list:
                    raise DataException(
                        "Maps with non-string fields should be encoded as JSON array of tuples, but found "
                        + _node_type(value)
                    )
                out = {}
                for entry in value:
                    if entry.__class__ is not list:
                        raise DataException(
                            f"Found invalid map entry instead of array tuple: {_node_type(entry)}"
                        )
                    if len(entry) != 2:
                        raise DataException(
                            f"Found invalid map entry, expected length 2 but found :{len(entry)}"
                        )
                    out[rk(entry[0])] = rv(entry[1])
                return out

            return pair_map
        return self._struct(schema)

    def _logical(self, schema: Schema) -> Reader:
        name = schema.name
        if name == _DECIMAL_NAME:
            scale = Decimal.scale(schema)

            def dec(value: Any) -> Any:
                c = value.__class__
                if c is str:
                    try:
                        raw = base64.b64decode(value, validate=True)
                    except (binascii.Error, ValueError):
                        raise DataException("Invalid bytes for Decimal field") from None
                    if not raw:
                        raise DataException("Invalid bytes for Decimal field")
                    return decimal.Decimal(f"{int.from_bytes(raw, 'big', signed=True)}E{-scale}")
                if c is int:
                    return decimal.Decimal(value)
                if c is decimal.Decimal:
                    return value
                if c is float:
                    raise _Reparse
                raise DataException(
                    "Invalid type for Decimal, underlying representation should be numeric or bytes but was "
                    + _node_type(value)
                )

            return dec
        lo, hi = _INT_RANGES[Type.INT32] if name != _TIMESTAMP_NAME else _INT_RANGES[Type.INT64]
        what = {_DATE_NAME: "Date", _TIME_NAME: "Time", _TIMESTAMP_NAME: "Timestamp"}[name or ""]
        kind = "integral" if name == _TIMESTAMP_NAME else "integer"

        def check(value: Any) -> int:
            if value.__class__ is not int or not lo <= value <= hi:
                raise DataException(
                    f"Invalid type for {what}, underlying representation should be {kind} "
                    f"but was {_node_type(value)}"
                )
            return value  # type: ignore[no-any-return]

        if name == _DATE_NAME:
            return lambda value: Date.to_logical(schema, check(value))
        if name == _TIME_NAME:
            return lambda value: Time.to_logical(schema, check(value))
        return lambda value: datetime_from_millis(check(value))

    def _struct(self, schema: Schema) -> Reader:
        """Generate the reader of a struct schema (straight-line code, one block per field).

        When the JSON object has exactly the schema's fields in order (as Kafka and Headrace write
        them), its dict is checked in place and becomes the struct's field dict; otherwise fields are
        looked up one by one (missing ones read as null).
        """
        fields = schema.fields
        env: dict[str, Any] = {
            "S": schema,
            "new": object.__new__,
            "Struct": Struct,
            "DataException": DataException,
            "node_type": _node_type,
            "NAMES": _orjson_keys(tuple(f.name for f in fields)),
        }
        in_place: list[str] = []
        by_key: list[str] = []
        names = []
        for i, f in enumerate(fields):
            key = repr(f.name)
            fs = f.schema
            x = f"x{i}"
            env[f"R{i}"] = self.reader(fs)
            t = fs.type
            plain = fs.name not in _LOGICAL
            fast: str | None = None
            if plain and t is Type.STRING:
                fast = f"{x}.__class__ is not str"
            elif plain and t is Type.BOOLEAN:
                fast = f"{x}.__class__ is not bool"
            elif plain and t is Type.FLOAT64:
                fast = f"{x}.__class__ is not float"
            elif plain and t in _INT_RANGES:
                lo, hi = _INT_RANGES[t]
                fast = f"{x}.__class__ is not int or not {lo} <= {x} <= {hi}"
            if fast is not None and fs.optional and (fs.default_value is None or not self.replace_null):
                # null reads as null: no call for it (R would return None)
                in_place.append(f"        if {x} is not None and ({fast}): j[{key}] = R{i}({x})")
                by_key.append(
                    f"        {x} = g({key})\n        if {x} is not None and ({fast}): {x} = R{i}({x})"
                )
            elif fast is not None:
                in_place.append(f"        if {fast}: j[{key}] = R{i}({x})")
                by_key.append(f"        {x} = g({key})\n        if {fast}: {x} = R{i}({x})")
            elif fs.optional and (fs.default_value is None or not self.replace_null):
                env[f"N{i}"] = self._nn_reader(fs)
                in_place.append(f"        if {x} is not None: j[{key}] = N{i}({x})")
                by_key.append(f"        {x} = g({key})\n        if {x} is not None: {x} = N{i}({x})")
            else:
                env[f"N{i}"] = self._nn_reader(fs)
                in_place.append(f"        j[{key}] = R{i}({x}) if {x} is None else N{i}({x})")
                by_key.append(
                    f"        {x} = g({key})\n        {x} = R{i}({x}) if {x} is None else N{i}({x})"
                )
            names.append(f"{key}: {x}")
        unpack = ", ".join(f"x{i}" for i in range(len(fields)))
        lines = [
            "def read(j):",
            "    if j.__class__ is not dict:",
            "        raise DataException('Structs should be encoded as JSON objects, but found '"
            " + node_type(j))",
            "    if tuple(j) == NAMES:",
        ]
        if fields:
            lines.append(f"        {unpack}, = j.values()")
        lines += in_place
        lines += ["        v = j", "    else:", "        g = j.get"]
        lines += by_key
        lines += [
            "        v = {" + ", ".join(names) + "}",
            "    s = new(Struct)",
            "    s._schema = S",
            "    s._values = v",
            "    return s",
        ]
        exec("\n".join(lines), env)  # generated; field names embedded via repr()
        fn: Reader = env["read"]
        return fn


def _orjson_keys(names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` as the very string objects orjson returns for those object keys (it caches short
    keys), so that comparing a parsed object's keys with them mostly compares identical objects."""
    try:
        keys = tuple(orjson.loads(orjson.dumps(dict.fromkeys(names))))
    except orjson.JSONEncodeError:  # e.g. a lone surrogate in a name: compare by value
        return names
    return keys if keys == names else names


def _read_bytes(value: Any) -> bytes:
    if value.__class__ is not str:
        raise DataException(f"Invalid bytes field: {_node_type(value)}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DataException("Invalid bytes field") from None


def schema_from_json(node: Any, read: _ReadCompiler) -> Schema | None:
    """Kafka's ``asConnectSchema``: a Connect schema from its JSON form (None for JSON null)."""
    if node is None:
        return None
    if not isinstance(node, dict):
        raise DataException("Schema must be a JSON object")
    type_name = node.get("type")
    if not isinstance(type_name, str):
        raise DataException("Schema must contain 'type' field")
    t = _FROM_JSON_TYPE_NAMES.get(type_name)
    if t is None:
        raise DataException(f"Unknown schema type: {type_name}")
    builder = SchemaBuilder(t)
    if t is Type.ARRAY:
        items = node.get("items")
        if items is None:
            raise DataException("Array schema did not specify the element type")
        builder = SchemaBuilder.array(_required_schema(items, read))
    elif t is Type.MAP:
        if "keys" not in node:
            raise DataException("Map schema did not specify the key type")
        if "values" not in node:
            raise DataException("Map schema did not specify the value type")
        builder = SchemaBuilder.map(
            _required_schema(node["keys"], read), _required_schema(node["values"], read)
        )
    elif t is Type.STRUCT:
        fields = node.get("fields")
        if not isinstance(fields, list):
            raise DataException('Struct schema\'s "fields" argument is not an array.')
        for f in fields:
            field_name = f.get("field") if isinstance(f, dict) else None
            if not isinstance(field_name, str):
                raise DataException("Struct schema's field name not specified properly")
            builder.field(field_name, _required_schema(f, read))
    if node.get("optional") is True:
        builder.optional()
    else:
        builder.required()
    name = node.get("name")
    if isinstance(name, str):
        builder.name(name)
    version = node.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        builder.version(version)
    doc = node.get("doc")
    if isinstance(doc, str):
        builder.doc(doc)
    params = node.get("parameters")
    if isinstance(params, dict):
        if not all(isinstance(v, str) for v in params.values()):
            raise DataException("Schema parameters must have string values.")
        builder.parameters(params)
    if node.get("default") is not None:
        without_default = builder.build()
        builder.default_value(read._nn_reader(without_default)(node["default"]))
    return builder.build()


def _required_schema(node: Any, read: _ReadCompiler) -> Schema:
    schema = schema_from_json(node, read)
    if schema is None:
        raise DataException("Nested schema must not be null")
    return schema


# --- the converter ----------------------------------------------------------------------------------------


class JsonConverter(BatchConverter, HeaderConverter):
    """Kafka's JSON converter (also usable as a header converter). See the module docstring."""

    def __init__(self) -> None:
        self._configure_from(AbstractConfig(JsonConverterConfig.CONFIG_DEF, {}))

    def config(self) -> ConfigDef:
        return JsonConverterConfig.CONFIG_DEF

    def configure(self, configs: Mapping[str, Any], is_key: bool = False) -> None:
        """``configure(configs, is_key)`` as a Converter; ``configure(configs)`` as a HeaderConverter."""
        props = dict(configs)
        props.setdefault("converter.type", "key" if is_key else "value")
        self._configure_from(AbstractConfig(JsonConverterConfig.CONFIG_DEF, props))

    def _configure_from(self, config: AbstractConfig) -> None:
        self.schemas_enabled: bool = bool(config.get("schemas.enable"))
        self.cache_size: int = int(config.get("schemas.cache.size"))
        fmt = str(config.get("decimal.format")).upper()
        self.decimal_format = DecimalFormat(fmt)
        self.replace_null_with_default: bool = bool(config.get("replace.null.with.default"))
        numeric = self.decimal_format is DecimalFormat.NUMERIC
        self._exact = _Exact(numeric, self.replace_null_with_default)
        self._fast = _FastCompiler(numeric, self.replace_null_with_default)
        self._read = _ReadCompiler(self.replace_null_with_default)
        # schema -> (bytes before the payload, prep function)
        self._from_cache: dict[Schema, tuple[bytes, Prep]] = {}
        # JSON text of a schema -> (schema, reader)
        self._to_cache: dict[bytes, tuple[Schema, Reader]] = {}
        # recently seen message prefixes '{"schema":<schema>,"payload":' -> (schema, reader)
        self._prefixes: list[tuple[bytes, int, Schema, Reader]] = []

    # --- Connect -> bytes ---------------------------------------------------------------------------------

    def as_json_schema(self, schema: Schema) -> bytes:
        """Kafka's JSON form of ``schema`` (compact UTF-8)."""
        return schema_to_json(schema, self._exact).encode()

    def _compile_from(self, schema: Schema) -> tuple[bytes, Prep]:
        if self.schemas_enabled:
            head = _ENVELOPE_START + self.as_json_schema(schema) + _PAYLOAD_KEY
        else:
            head = b""
        prep = self._fast.prep(schema)
        if schema.type is not Type.STRUCT:
            # struct fields were validated when put; a bare value is checked here, as Kafka's casts do
            check = schema._value_checker()
            inner = prep

            def prep(value: Any) -> Any:
                check(value, "")
                return inner(value)

        entry = (head, prep)
        cache = self._from_cache
        if len(cache) >= self.cache_size > 0:
            del cache[next(iter(cache))]
            if len(self._fast.cache) > 4 * self.cache_size:
                self._fast.clear()
        if self.cache_size > 0:
            cache[schema] = entry
        return entry

    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if schema is None:
            if value is None:
                return None
            body = self._schemaless_body(value)
            return b'{"schema":null,"payload":' + body + b"}" if self.schemas_enabled else body
        entry = self._from_cache.get(schema)
        if entry is None:
            entry = self._compile_from(schema)
        head, prep = entry
        try:
            body = orjson.dumps(prep(value), default=_default, option=_DUMPS_OPTS)
        except _Slow:
            body = self._exact_body(schema, value)
        except orjson.JSONEncodeError as e:
            raise DataException(
                f"Converting Kafka Connect data to byte[] failed due to serialization error: {e}"
            ) from e
        if b"\\u00" in body or not body.isascii():
            body = jacksonize(body)
        if self.schemas_enabled:
            return b"".join((head, body, b"}"))
        return body

    def _exact_body(self, schema: Schema | None, value: Any) -> bytes:
        try:
            return self._exact.write(schema, value).encode()
        except UnicodeEncodeError as e:
            raise DataException(
                f"Converting Kafka Connect data to byte[] failed due to serialization error: {e}"
            ) from e

    def _schemaless_body(self, value: Any) -> bytes:
        try:
            body = orjson.dumps(_prep_schemaless(value), default=_schemaless_default, option=_DUMPS_OPTS)
        except (_Slow, orjson.JSONEncodeError):
            return self._exact_body(None, value)
        if b"\\u00" in body or not body.isascii():
            body = jacksonize(body)
        return body

    # --- bytes -> Connect ---------------------------------------------------------------------------------

    def to_connect_data(
        self, topic: str, value: bytes | None, headers: Headers | None = None
    ) -> SchemaAndValue:
        if value is None:
            return SchemaAndValue.NULL
        if value.__class__ is not bytes:
            value = bytes(value)
        if not self.schemas_enabled:
            try:
                return SchemaAndValue(None, orjson.loads(value))
            except orjson.JSONDecodeError:
                return self._to_connect_slow(value)
        if value.startswith(_ENVELOPE_START) and value.endswith(b"}"):
            prefixes = self._prefixes
            for i, (prefix, n, schema, reader) in enumerate(prefixes):
                if value.startswith(prefix):
                    try:
                        payload = orjson.loads(memoryview(value)[n:-1])
                    except orjson.JSONDecodeError:
                        break
                    if i:
                        prefixes.insert(0, prefixes.pop(i))
                    try:
                        return SchemaAndValue(schema, reader(payload))
                    except _Reparse:
                        return SchemaAndValue(schema, self._reparse(reader, value))
        return self._to_connect_slow(value)

    def to_connect_batch(
        self, topics: Sequence[str], values: Sequence[bytes | None]
    ) -> tuple[list[Schema | None], list[Any]]:
        """``to_connect_data(topics[i], values[i])`` for every i, as two lists (schemas, values).

        The same results, exceptions included (the first failing value's exception propagates and the
        rest are not read), and no side effect other than on this converter's caches, so a caller may
        convert the same values again one by one after an exception (the
        :class:`~connect.api.converter.BatchConverter` contract). Values that start with the most
        recently used schema prefix are read inline; any other value goes through ``to_connect_data``.
        """
        schemas: list[Schema | None] = []
        out: list[Any] = []
        add_schema = schemas.append
        add = out.append
        if not self.schemas_enabled:
            return self.to_connect_each(topics, values)
        one = self.to_connect_data
        prefixes = self._prefixes
        loads = orjson.loads
        prefix, n, schema, reader = prefixes[0] if prefixes else _NO_PREFIX
        for topic, value in zip(topics, values, strict=True):
            # The inline read is to_connect_data's prefix path: exactly one cached prefix can match
            # (a complete JSON object cannot be a proper prefix of another), and anything it cannot
            # read (JSON errors, _Reparse, invalid data) is redone by to_connect_data itself.
            if value.__class__ is bytes and value.startswith(prefix) and value[-1] == 125:  # type: ignore[union-attr,index]
                try:
                    read = reader(loads(value[n:-1]))  # type: ignore[index]
                except Exception:
                    pass
                else:
                    add_schema(schema)
                    add(read)
                    continue
            sv = one(topic, value)
            add_schema(sv.schema)
            add(sv.value)
            prefix, n, schema, reader = prefixes[0] if prefixes else _NO_PREFIX
        return schemas, out

    def _to_connect_slow(self, value: bytes) -> SchemaAndValue:
        try:
            doc = orjson.loads(value) if value.strip() else _MISSING
        except orjson.JSONDecodeError as e:
            doc = self._stdlib_loads(value, e)
        if not self.schemas_enabled:
            return SchemaAndValue(None, None if doc is _MISSING else doc)
        if doc.__class__ is not dict or len(doc) != 2 or "schema" not in doc or "payload" not in doc:
            raise DataException(
                'JsonConverter with schemas.enable requires "schema" and "payload" fields and may not '
                "contain additional fields. If you are trying to deserialize plain JSON data, set "
                "schemas.enable=false in your converter configuration."
            )
        schema_node = doc["schema"]
        payload = doc["payload"]
        if schema_node is None:
            return SchemaAndValue(None, payload)
        key = orjson.dumps(schema_node)
        entry = self._to_cache.get(key)
        if entry is None:
            schema = schema_from_json(schema_node, self._read)
            assert schema is not None
            entry = (schema, self._read.reader(schema))
            if len(self._to_cache) >= self.cache_size > 0:
                del self._to_cache[next(iter(self._to_cache))]
                if len(self._read.cache) > 4 * self.cache_size:
                    self._read.cache.clear()
                    self._read.nn_cache.clear()
            if self.cache_size > 0:
                self._to_cache[key] = entry
        schema, reader = entry
        prefix = _ENVELOPE_START + key + _PAYLOAD_KEY
        if value.startswith(prefix) and self.cache_size > 0:
            self._prefixes.insert(0, (prefix, len(prefix), schema, reader))
            del self._prefixes[8:]
        return SchemaAndValue(schema, self._read_payload(reader, payload, value))

    def _read_payload(self, reader: Reader, payload: Any, raw: bytes) -> Any:
        try:
            return reader(payload)
        except _Reparse:
            return self._reparse(reader, raw)

    def _reparse(self, reader: Reader, raw: bytes) -> Any:
        """Read again with exact decimals (a NUMERIC Decimal field held a non-integral JSON number)."""
        exact = _stdjson.loads(raw, parse_float=decimal.Decimal, parse_constant=_reject_constant)
        return reader(exact["payload"] if self.schemas_enabled else exact)

    @staticmethod
    def _stdlib_loads(value: bytes, error: Exception) -> Any:
        # orjson rejects numbers outside the double range (Jackson reads them as BigDecimal/BigInteger).
        try:
            return _stdjson.loads(value, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError):
            raise DataException(
                f"Converting byte[] to Kafka Connect data failed due to serialization error: {error}"
            ) from error

    # --- HeaderConverter ----------------------------------------------------------------------------------

    def from_connect_header(
        self, topic: str, header_key: str, schema: Schema | None, value: Any
    ) -> bytes | None:
        return self.from_connect_data(topic, schema, value)

    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue:
        return self.to_connect_data(topic, value)

    def close(self) -> None:
        self._from_cache.clear()
        self._to_cache.clear()
        self._prefixes.clear()


_MISSING: Final[Any] = object()


def _no_schema_reader(value: Any) -> Any:
    raise DataException("no cached schema")


# No cached prefix yet: a prefix no envelope starts with (they start with '{'); a value that does start
# with it fails in the reader and goes through to_connect_data like any other unread value.
_NO_PREFIX: Final[tuple[bytes, int, Schema | None, Reader]] = (b"\x00", 1, None, _no_schema_reader)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}'")
