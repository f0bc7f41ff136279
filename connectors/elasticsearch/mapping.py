"""Index mappings from Connect schemas (``schema.ignore=false``), created before the first write to an
index that does not exist yet: as Confluent's ``Mapping.buildMapping``, plus Debezium's semantic types.

int8/16/32/64 -> byte/short/integer/long, float32/64 -> float/double, boolean, string -> text with a
``keyword`` sub-field, bytes -> binary, Decimal and VariableScaleDecimal -> double, Date/Timestamp (and
Debezium's Date, Timestamp, MicroTimestamp, NanoTimestamp, ZonedTimestamp) -> date, Time -> keyword
(no date part), struct -> object, map -> object (compact string-keyed maps) or key/value objects,
array -> its element's mapping. A Debezium envelope maps its ``after`` image.
"""

from __future__ import annotations

from typing import Any, Final

from connect.api import Date, Decimal, Schema, Time, Timestamp, Type
from connectors.elasticsearch.convert import is_envelope

__all__ = ["mapping_for", "record_schema"]

_TEXT: Final = {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
_PRIMITIVES: Final = {
    Type.INT8: "byte",
    Type.INT16: "short",
    Type.INT32: "integer",
    Type.INT64: "long",
    Type.FLOAT32: "float",
    Type.FLOAT64: "double",
    Type.BOOLEAN: "boolean",
    Type.BYTES: "binary",
}
_DATES: Final = {
    Date.LOGICAL_NAME,
    Timestamp.LOGICAL_NAME,
    "io.debezium.time.Date",
    "io.debezium.time.Timestamp",
    "io.debezium.time.MicroTimestamp",
    "io.debezium.time.NanoTimestamp",
    "io.debezium.time.ZonedTimestamp",
}
_DOUBLES: Final = {Decimal.LOGICAL_NAME, "io.debezium.data.VariableScaleDecimal"}
_KEYWORDS: Final = {Time.LOGICAL_NAME, "io.debezium.time.ZonedTime", "io.debezium.data.Uuid"}


def _field_mapping(schema: Schema, compact_maps: bool) -> dict[str, Any] | None:
    name = schema.name
    if name in _DATES:
        return {"type": "date"}
    if name in _DOUBLES:
        return {"type": "double"}
    if name in _KEYWORDS:
        return {"type": "keyword"}
    t = schema.type
    if t in _PRIMITIVES:
        return {"type": _PRIMITIVES[t]}
    if t is Type.STRING:
        return dict(_TEXT)
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        return _field_mapping(schema.value_schema, compact_maps)
    if t is Type.STRUCT:
        return {"type": "object", "properties": _properties(schema, compact_maps)}
    if t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        if compact_maps and schema.key_schema.type is Type.STRING:
            return {"type": "object"}  # dynamic keys: let Elasticsearch map the entries
        props = {}
        for part, sub in (("key", schema.key_schema), ("value", schema.value_schema)):
            m = _field_mapping(sub, compact_maps)
            if m is not None:
                props[part] = m
        return {"type": "object", "properties": props}
    return None


def _properties(schema: Schema, compact_maps: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in schema.fields:
        m = _field_mapping(f.schema, compact_maps)
        if m is not None:
            out[f.name] = m
    return out


def record_schema(value: Any, schema: Schema | None) -> Schema | None:
    """The schema of the document a record becomes (the ``after`` image of a Debezium event)."""
    if schema is None or schema.type is not Type.STRUCT:
        return None
    if is_envelope(value) or (schema.field("after") is not None and schema.field("op") is not None):
        after = schema.field("after")
        return after.schema if after is not None and after.schema.type is Type.STRUCT else None
    return schema


def mapping_for(schema: Schema, compact_maps: bool = True) -> dict[str, Any]:
    """The ``mappings`` body of an index for documents of ``schema`` (a STRUCT)."""
    return {"properties": _properties(schema, compact_maps)}
