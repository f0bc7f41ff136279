"""Parsed JSON -> Connect data: per-schema reader functions, generated on first use and cached."""

from __future__ import annotations

import base64
import binascii
import decimal
from collections.abc import Callable
from typing import Any

import orjson

from connect.api.data import (
    Date,
    Decimal,
    Schema,
    Struct,
    Time,
    Type,
    datetime_from_millis,
)
from connect.api.errors import DataException
from connect.converters._javafmt import (
    f32,
)
from connect.converters.json._common import (
    _DATE_NAME,
    _DECIMAL_NAME,
    _INT_RANGES,
    _LOGICAL,
    _TIME_NAME,
    _TIMESTAMP_NAME,
)


class _Reparse(Exception):
    """A JSON number must be read exactly (NUMERIC decimal); parse again with Decimal floats."""


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

    def non_null_reader(self, schema: Schema) -> Reader:
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
        convert = self.non_null_reader(schema)
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
                env[f"N{i}"] = self.non_null_reader(fs)
                in_place.append(f"        if {x} is not None: j[{key}] = N{i}({x})")
                by_key.append(f"        {x} = g({key})\n        if {x} is not None: {x} = N{i}({x})")
            else:
                env[f"N{i}"] = self.non_null_reader(fs)
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
            "    s.schema = S",
            "    s.values = v",
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
