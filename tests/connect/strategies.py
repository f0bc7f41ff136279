"""Hypothesis strategies for Connect schemas and matching values (shared by the converter tests)."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from hypothesis import strategies as st

from connect.api import Date, Decimal, Schema, SchemaBuilder, Struct, Time, Timestamp, Type

_PRIMITIVES = [
    Type.INT8,
    Type.INT16,
    Type.INT32,
    Type.INT64,
    Type.FLOAT32,
    Type.FLOAT64,
    Type.BOOLEAN,
    Type.STRING,
    Type.BYTES,
]
_INT_BOUNDS = {Type.INT8: 7, Type.INT16: 15, Type.INT32: 31, Type.INT64: 63}
_UTC = dt.UTC

field_names = st.text(min_size=1, max_size=6)
small_text = st.text(max_size=8)


def non_null_values(schema: Schema, *, allow_nan: bool = False) -> st.SearchStrategy[Any]:
    """Valid non-None values of ``schema``."""
    name = schema.name
    if name == Decimal.LOGICAL_NAME:
        scale = Decimal.scale(schema)
        return st.integers(-(10**20), 10**20).map(lambda n: decimal.Decimal(f"{n}E{-scale}"))
    if name == Date.LOGICAL_NAME:
        return st.dates()
    if name == Time.LOGICAL_NAME:
        return st.times().map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
    if name == Timestamp.LOGICAL_NAME:
        return st.datetimes(
            min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(_UTC)
        ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
    t = schema.type
    if t in _INT_BOUNDS:
        bits = _INT_BOUNDS[t]
        return st.integers(-(2**bits), 2**bits - 1)
    if t is Type.FLOAT32:
        return st.floats(width=32, allow_nan=allow_nan)
    if t is Type.FLOAT64:
        return st.floats(allow_nan=allow_nan)
    if t is Type.BOOLEAN:
        return st.booleans()
    if t is Type.STRING:
        return st.text(max_size=12)
    if t is Type.BYTES:
        return st.binary(max_size=12)
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        return st.lists(values(schema.value_schema, allow_nan=allow_nan), max_size=4)
    if t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        return st.dictionaries(
            non_null_values(schema.key_schema, allow_nan=False),
            values(schema.value_schema, allow_nan=allow_nan),
            max_size=3,
        )
    assert t is Type.STRUCT
    return st.fixed_dictionaries({f.name: values(f.schema, allow_nan=allow_nan) for f in schema.fields}).map(
        lambda d: Struct(schema, d)
    )


def values(schema: Schema, *, allow_nan: bool = False) -> st.SearchStrategy[Any]:
    """Valid values of ``schema`` (None too when the schema allows it)."""
    base = non_null_values(schema, allow_nan=allow_nan)
    if schema.optional or schema.default_value is not None:
        return st.none() | base
    return base


@st.composite
def _decorated(draw: st.DrawFn, builder: SchemaBuilder, allow_default: bool) -> Schema:
    if draw(st.booleans()):
        builder.optional()
    if draw(st.integers(0, 4)) == 0:
        builder.name(draw(small_text))
    if draw(st.integers(0, 4)) == 0:
        builder.version(draw(st.integers(0, 10)))
    if draw(st.integers(0, 4)) == 0:
        builder.doc(draw(small_text))
    if draw(st.integers(0, 4)) == 0:
        builder.parameters(draw(st.dictionaries(small_text, small_text, max_size=2)))
    schema = builder.build()
    if allow_default and draw(st.integers(0, 3)) == 0:
        default = draw(non_null_values(schema))
        rebuilt = SchemaBuilder(schema.type) if schema.type.is_primitive else None
        if rebuilt is not None:
            if schema.optional:
                rebuilt.optional()
            if schema.name is not None:
                rebuilt.name(schema.name)
            if schema.version is not None:
                rebuilt.version(schema.version)
            if schema.doc is not None:
                rebuilt.doc(schema.doc)
            if schema.parameters is not None:
                rebuilt.parameters(schema.parameters)
            schema = rebuilt.default_value(default).build()
    return schema


def _logical(optional: bool, scale: int, which: int) -> Schema:
    b = [Decimal.builder(scale), Date.builder(), Time.builder(), Timestamp.builder()][which]
    if optional:
        b.optional()
    return b.build()


def primitive_schemas() -> st.SearchStrategy[Schema]:
    plain = st.sampled_from(_PRIMITIVES).flatmap(lambda t: _decorated(SchemaBuilder(t), True))
    logical = st.builds(_logical, st.booleans(), st.integers(-2, 6), st.integers(0, 3))
    return plain | logical


def _array(elem: Schema) -> st.SearchStrategy[Schema]:
    return _decorated(SchemaBuilder.array(elem), False)


def _map(key: Schema, val: Schema) -> st.SearchStrategy[Schema]:
    return _decorated(SchemaBuilder.map(key, val), False)


@st.composite
def _struct(draw: st.DrawFn, children: st.SearchStrategy[Schema]) -> Schema:
    names = draw(st.lists(field_names, max_size=5, unique=True))
    b = SchemaBuilder.struct()
    for n in names:
        b.field(n, draw(children))
    return draw(_decorated(b, False))


_map_keys = st.sampled_from(
    [Schema.STRING_SCHEMA, Schema.INT32_SCHEMA, Schema.INT64_SCHEMA, Schema.BOOLEAN_SCHEMA]
)


def schemas() -> st.SearchStrategy[Schema]:
    """Random schemas: primitives, logical types, and nested arrays/maps/structs."""
    return st.recursive(
        primitive_schemas(),
        lambda children: (
            children.flatmap(_array)
            | st.tuples(_map_keys, children).flatmap(lambda kv: _map(*kv))
            | _struct(children)
        ),
        max_leaves=8,
    )


def with_defaults(schema: Schema, value: Any) -> Any:
    """What a reader returns for ``value`` under replace.null.with.default (None -> default, deeply)."""
    if value is None:
        return schema.default_value
    if schema.type is Type.STRUCT and isinstance(value, Struct):
        return Struct(
            schema,
            {f.name: with_defaults(f.schema, value.get_without_default(f.name)) for f in schema.fields},
        )
    if schema.type is Type.ARRAY:
        assert schema.value_schema is not None
        return [with_defaults(schema.value_schema, v) for v in value]
    if schema.type is Type.MAP:
        assert schema.value_schema is not None
        return {k: with_defaults(schema.value_schema, v) for k, v in value.items()}
    return value
