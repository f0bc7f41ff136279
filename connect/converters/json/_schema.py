"""Schemas <-> Kafka's JSON form, through the one shared definition in :mod:`connect.api.json_schema`;
this module adds only JsonConverter's own encodings: Jackson's exact text for the schema (defaults
written by the exact writer, so decimals follow ``decimal.format``) and defaults read by the
converter's compiled readers."""

from __future__ import annotations

from typing import Any

from connect.api.data import Schema
from connect.api.json_schema import schema_from_json as _schema_from_json
from connect.api.json_schema import schema_to_json as _schema_to_json
from connect.converters._javafmt import json_string
from connect.converters.json._reader import _ReadCompiler
from connect.converters.json._writer import _Exact


class _Text:
    """JSON text already written (a default value), embedded as is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def schema_to_json(schema: Schema, exact: _Exact) -> str:
    """Kafka's JSON form of a schema (``asJsonSchema``), as compact text exactly as Jackson writes it."""
    return _render(_schema_to_json(schema, lambda s, v: _Text(exact.write(s, v))))


def _render(node: Any) -> str:
    """Compact JSON text of a schema's JSON form (strings, booleans, ints, dicts, lists, written text)."""
    if node.__class__ is str:
        return json_string(node)
    if node is True or node is False:
        return "true" if node else "false"
    if node.__class__ is dict:
        return "{" + ",".join(json_string(k) + ":" + _render(v) for k, v in node.items()) + "}"
    if node.__class__ is list:
        return "[" + ",".join(_render(v) for v in node) + "]"
    if node.__class__ is _Text:
        return node.text  # type: ignore[no-any-return]
    return str(node)  # int (version)


def schema_from_json(node: Any, read: _ReadCompiler) -> Schema:
    """Kafka's ``asConnectSchema`` for a non-null schema node, defaults read by ``read``'s readers."""
    return _schema_from_json(node, lambda s, v: read.non_null_reader(s)(v))
