"""Connect data -> JSON text exactly as Kafka's JsonConverter (Jackson) writes it: the exact writer
(every case, text directly) and the fast path (per-schema functions preparing values for orjson)."""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from connect.api.data import (
    Decimal,
    Schema,
    Struct,
    Type,
    timestamp_millis,
)
from connect.api.errors import DataException
from connect.converters._javafmt import (
    java_float,
    json_double,
    json_float,
    json_string,
)
from connect.converters.json._common import (
    _DATE_NAME,
    _DECIMAL_NAME,
    _EPOCH_ORDINAL,
    _INT_RANGES,
    _LOGICAL,
    _TIME_NAME,
)

_DUMPS_OPTS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class _Slow(Exception):
    """The fast path cannot produce Jackson's exact text for this value; use the exact writer."""


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
        values = value.values
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
            "    if s.schema is not S and s.schema != S:",
            "        raise DataException('Mismatching schema.')",
            "    v = s.values",
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
        return obj.values
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
