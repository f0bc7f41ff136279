"""Kafka Connect's JSON form of a schema: what ``JsonConverter`` writes as an envelope's ``"schema"``
(Kafka's ``JsonConverter.asJsonSchema`` / ``asConnectSchema``), for converters and for sinks that
read JSON envelopes themselves (e.g. ParquetSink's ``value.format=json``).

The form, members in this order: ``"type"`` (``"int8"`` … ``"int64"``, ``"float"``, ``"double"``,
``"boolean"``, ``"string"``, ``"bytes"``, ``"array"``, ``"map"``, ``"struct"``), then ``"items"``
(array) / ``"keys"``, ``"values"`` (map) / ``"fields"`` (struct: each field's schema followed by
``"field": name``), then ``"optional"``, ``"name"``, ``"version"``, ``"doc"``, ``"parameters"`` and
``"default"`` (the default value in JSON form, as the payload would hold it)::

    >>> schema_to_json(SchemaBuilder.array(Schema.STRING_SCHEMA).optional().build())
    {'type': 'array', 'items': {'type': 'string', 'optional': False}, 'optional': True}

Default values use Kafka's JSON forms of Connect data: bytes and Decimal as base64 text (Decimal also
read from a JSON number), Date as days, Time and Timestamp as milliseconds, maps with string keys as
objects and other maps as ``[key, value]`` pairs, structs as objects. A converter with its own value
encoding passes ``default_to_json`` / ``default_from_json``.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import struct
from collections.abc import Callable, Mapping
from typing import Any, Final

from connect.api.data import Date, Decimal, Schema, SchemaBuilder, Struct, Time, Timestamp, Type
from connect.api.errors import DataException

__all__ = ["schema_from_json", "schema_to_json"]

_TYPE_NAMES: Final[Mapping[Type, str]] = {
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
_TYPES: Final = {v: k for k, v in _TYPE_NAMES.items()}
_LOGICAL: Final[Mapping[str, type[Date] | type[Time] | type[Timestamp]]] = {
    Date.LOGICAL_NAME: Date,
    Time.LOGICAL_NAME: Time,
    Timestamp.LOGICAL_NAME: Timestamp,
}

_F32: Final = struct.Struct("<f")

DefaultToJson = Callable[[Schema, Any], Any]
"""``(schema, default value) -> its JSON form`` (any object the caller's JSON writer accepts)."""
DefaultFromJson = Callable[[Schema, Any], Any]
"""``(schema without its default, parsed JSON) -> the Connect value`` (DataException if invalid)."""


def schema_to_json(schema: Schema, default_to_json: DefaultToJson | None = None) -> dict[str, Any]:
    """The JSON form of ``schema`` as a dict (members in Kafka's order; ``json.dumps`` it)."""
    to_json = _value_to_json if default_to_json is None else default_to_json
    return _members(schema, to_json)


def _members(schema: Schema, to_json: DefaultToJson) -> dict[str, Any]:
    out: dict[str, Any] = {"type": _TYPE_NAMES[schema.type]}
    t = schema.type
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        out["items"] = _members(schema.value_schema, to_json)
    elif t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        out["keys"] = _members(schema.key_schema, to_json)
        out["values"] = _members(schema.value_schema, to_json)
    elif t is Type.STRUCT:
        out["fields"] = [{**_members(f.schema, to_json), "field": f.name} for f in schema.fields]
    out["optional"] = schema.optional
    if schema.name is not None:
        out["name"] = schema.name
    if schema.version is not None:
        out["version"] = schema.version
    if schema.doc is not None:
        out["doc"] = schema.doc
    if schema.parameters is not None:
        out["parameters"] = dict(schema.parameters)
    if schema.default_value is not None:
        out["default"] = to_json(schema, schema.default_value)
    return out


def schema_from_json(obj: Any, default_from_json: DefaultFromJson | None = None) -> Schema:
    """A Connect schema from its parsed JSON form; :class:`DataException` naming what is wrong (Kafka's
    messages). A JSON null means "no schema" to a caller; it is not a schema and is rejected here."""
    from_json = _value_from_json if default_from_json is None else default_from_json
    if obj is None:
        raise DataException("Schema must be a JSON object")
    return _schema(obj, from_json)


def _schema(node: Any, from_json: DefaultFromJson) -> Schema:
    if not isinstance(node, dict):
        raise DataException("Schema must be a JSON object")
    type_name = node.get("type")
    if not isinstance(type_name, str):
        raise DataException("Schema must contain 'type' field")
    t = _TYPES.get(type_name)
    if t is None:
        raise DataException(f"Unknown schema type: {type_name}")
    if t is Type.ARRAY:
        items = node.get("items")
        if items is None:
            raise DataException("Array schema did not specify the element type")
        builder = SchemaBuilder.array(_nested(items, from_json))
    elif t is Type.MAP:
        if "keys" not in node:
            raise DataException("Map schema did not specify the key type")
        if "values" not in node:
            raise DataException("Map schema did not specify the value type")
        builder = SchemaBuilder.map(_nested(node["keys"], from_json), _nested(node["values"], from_json))
    else:
        builder = SchemaBuilder(t)
        if t is Type.STRUCT:
            fields = node.get("fields")
            if not isinstance(fields, list):
                raise DataException('Struct schema\'s "fields" argument is not an array.')
            for f in fields:
                field_name = f.get("field") if isinstance(f, dict) else None
                if not isinstance(field_name, str):
                    raise DataException("Struct schema's field name not specified properly")
                builder.field(field_name, _nested(f, from_json))
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
        builder.default_value(from_json(builder.build(), node["default"]))
    return builder.build()


def _nested(node: Any, from_json: DefaultFromJson) -> Schema:
    if node is None:
        raise DataException("Nested schema must not be null")
    return _schema(node, from_json)


# --- default values: Connect data <-> parsed JSON --------------------------------------------------------


def _b64(data: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(data).decode("ascii")


def _value_to_json(schema: Schema, value: Any) -> Any:
    """Kafka's JSON form of a Connect value of ``schema`` (BASE64 decimals), as parsed JSON."""
    if value is None:
        return None
    name = schema.name
    if name == Decimal.LOGICAL_NAME:
        return _b64(Decimal.from_logical(schema, value))
    logical = _LOGICAL.get(name or "")
    if logical is not None:
        return logical.from_logical(schema, value)
    t = schema.type
    if t is Type.BYTES:
        return _b64(value)
    if t is Type.FLOAT32 or t is Type.FLOAT64:
        return float(value)
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        return [_value_to_json(schema.value_schema, v) for v in value]
    if t is Type.MAP:
        ks, vs = schema.key_schema, schema.value_schema
        assert ks is not None and vs is not None
        if ks.type is Type.STRING:
            return {k: _value_to_json(vs, v) for k, v in value.items()}
        return [[_value_to_json(ks, k), _value_to_json(vs, v)] for k, v in value.items()]
    if t is Type.STRUCT:
        values = value.values
        return {f.name: _value_to_json(f.schema, values[f.name]) for f in schema.fields}
    return value


def _value_from_json(schema: Schema, node: Any) -> Any:
    """The Connect value of ``schema`` for its parsed JSON form (inverse of :func:`_value_to_json`)."""
    if node is None:
        return None
    try:
        return _from_json(schema, node)
    except (TypeError, ValueError, AttributeError, KeyError, binascii.Error) as e:
        raise DataException(f"Invalid JSON value for {schema.type.name} schema: {e}") from e


def _from_json(schema: Schema, node: Any) -> Any:
    if node is None:
        return None
    name = schema.name
    if name == Decimal.LOGICAL_NAME:
        if isinstance(node, str):
            return Decimal.to_logical(schema, base64.b64decode(node, validate=True))
        return decimal.Decimal(str(node))
    logical = _LOGICAL.get(name or "")
    if logical is not None:
        return logical.to_logical(schema, node)
    t = schema.type
    if t is Type.BYTES:
        return base64.b64decode(node, validate=True)
    if t is Type.FLOAT32:
        return _F32.unpack(_F32.pack(float(node)))[0]  # the nearest single-precision value, as Java reads it
    if t is Type.FLOAT64:
        return float(node)
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        return [_from_json(schema.value_schema, v) for v in node]
    if t is Type.MAP:
        ks, vs = schema.key_schema, schema.value_schema
        assert ks is not None and vs is not None
        pairs = node.items() if isinstance(node, dict) else node
        return {_from_json(ks, k): _from_json(vs, v) for k, v in pairs}
    if t is Type.STRUCT:
        return Struct(schema, {f.name: _from_json(f.schema, node.get(f.name)) for f in schema.fields})
    return node
