"""``value.format=json``: record values that are JSON text (bytes from ByteArrayConverter, or str from
StringConverter), decoded by the sink itself, a round at a time, instead of by the runtime's converter.

A value in JsonConverter's envelope form ``{"schema":{...},"payload":...}`` carries Kafka Connect's JSON
schema; the sink turns that schema into a Connect :class:`Schema` once per distinct schema text (with
:func:`connect.api.schema_from_json`, the parser JsonConverter uses, so
schema evolution, projection and Debezium flattening work exactly as with Connect data) and keeps, per
record, only the offset where the payload starts. Committing a round decodes the payloads with orjson
and builds the Arrow columns directly from the decoded dicts. Other JSON values are schemaless rows.

This is the fast path for high-volume topics: the runtime does no per-record JSON work at all.
"""

from __future__ import annotations

import base64
import decimal
import io
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pajson

from connect.api import DataException, Schema, Type, schema_from_json

__all__ = ["EnvelopeReader", "arrow_json_table", "decode_payloads", "raw_plain"]

_HEAD = b'{"schema":'
_PAYLOAD = b',"payload":'


class EnvelopeReader:
    """Finds the schema of JSON values and where their payload starts; remembers schemas by text.

    ``read(value)`` -> ``(schema or None, payload start)``: for an envelope, its Connect schema and the
    offset after ``"payload":``; for any other JSON, ``(None, 0)``. Values are bytes or str.
    """

    def __init__(self) -> None:
        self._last_prefix: bytes = b"\x00"
        self._last: tuple[Schema | None, int] = (None, 0)
        self._schemas: dict[bytes, Schema | None] = {}

    def read(self, value: bytes) -> tuple[Schema | None, int]:
        if value.startswith(self._last_prefix):
            return self._last
        if not value.startswith(_HEAD):
            return None, 0
        cut = value.find(_PAYLOAD, len(_HEAD))
        if cut < 0:
            return None, 0
        key = value[len(_HEAD) : cut]
        if key not in self._schemas:
            try:
                obj = orjson.loads(key)
                self._schemas[key] = None if obj is None else schema_from_json(obj)
            except (orjson.JSONDecodeError, DataException, KeyError, TypeError):
                self._schemas[key] = None
        schema = self._schemas[key]
        start = cut + len(_PAYLOAD)
        self._last_prefix = value[:start]
        self._last = (schema, start)
        return self._last


def decode_payloads(values: list[Any], start: int) -> list[Any]:
    """The decoded payloads (``value[start:-1]``) of envelope values, or whole values when start is 0."""
    loads = orjson.loads
    try:
        if start:
            return [loads(v[start:-1]) for v in values]
        return [loads(v) for v in values]
    except orjson.JSONDecodeError as exc:
        raise DataException(f"a record value is not valid JSON: {exc}") from exc


def raw_plain(schema: Schema) -> Callable[[Any], Any] | None:
    """Like :func:`rows._plain` for decoded JSON: base64 bytes and decimals decoded, logical ints kept
    (pyarrow takes epoch days/ms for date32/time32/timestamp), nested values converted. None: as is."""
    t = schema.type
    if schema.name == "org.apache.kafka.connect.data.Decimal":
        scale = int((schema.parameters or {}).get("scale", "0"))

        def dec(v: Any) -> Any:
            if v is None or isinstance(v, int | float):
                return None if v is None else decimal.Decimal(str(v))
            unscaled = int.from_bytes(base64.b64decode(v), "big", signed=True)
            return decimal.Decimal(unscaled).scaleb(-scale)

        return dec
    if t is Type.BYTES:
        return lambda v: None if v is None else base64.b64decode(v)
    if t is Type.STRUCT:
        subs = [(f.name, raw_plain(f.schema)) for f in schema.fields]
        if all(c is None for _, c in subs):
            return None
        return lambda v: None if v is None else {n: (c(v.get(n)) if c else v.get(n)) for n, c in subs}
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        item = raw_plain(schema.value_schema)
        return None if item is None else (lambda v: None if v is None else [item(x) for x in v])
    if t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        k, val = raw_plain(schema.key_schema), raw_plain(schema.value_schema)
        items: Callable[[Any], Any] = lambda v: v.items() if isinstance(v, dict) else v  # noqa: E731
        return lambda v: (
            None if v is None else [(k(a) if k else a, val(b) if val else b) for a, b in items(v)]
        )
    return None


_LOGICAL_PHYSICAL = {
    "org.apache.kafka.connect.data.Date": pa.int32(),
    "org.apache.kafka.connect.data.Time": pa.int32(),
    "org.apache.kafka.connect.data.Timestamp": pa.int64(),
}


def _physical(t: pa.DataType, schema: Schema) -> pa.DataType | None:
    """The type Arrow's JSON reader should parse a column of ``schema`` as (None: it cannot)."""
    if schema.name in _LOGICAL_PHYSICAL:
        return _LOGICAL_PHYSICAL[schema.name]
    if schema.type in (Type.BYTES, Type.MAP) or schema.name == "org.apache.kafka.connect.data.Decimal":
        return None  # base64 text and [key, value] pairs need per-value decoding
    if schema.type is Type.STRUCT:
        fields = []
        for f in schema.fields:
            sub = _physical(t.field(f.name).type, f.schema)
            if sub is None:
                return None
            fields.append(pa.field(f.name, sub))
        return pa.struct(fields)
    if schema.type is Type.ARRAY:
        assert schema.value_schema is not None
        item = _physical(t.value_type, schema.value_schema)
        return None if item is None else pa.list_(item)
    return t


def arrow_json_table(values: Sequence[bytes], start: int, row: Schema, target: pa.Schema) -> pa.Table | None:
    """Parse the JSON objects ``value[start:-1]`` (whole values when ``start`` is 0) of a STRUCT ``row``
    with Arrow's multi-threaded JSON reader into ``target`` (``row``'s Arrow schema). None when a column
    type needs per-value decoding (bytes, decimals, maps) or the text does not parse: the caller then
    decodes value by value, which also names the bad record."""
    physical = []
    for field, f in zip(target, row.fields, strict=True):
        t = _physical(field.type, f.schema)
        if t is None:
            return None
        physical.append(pa.field(field.name, t))
    lines = b"\n".join([v[start:-1] for v in values] if start else values)
    try:
        table = pajson.read_json(
            io.BytesIO(lines),
            read_options=pajson.ReadOptions(use_threads=True, block_size=1 << 20),
            parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema(physical),
                unexpected_field_behavior="ignore",
                newlines_in_values=False,
            ),
        )
        if table.num_rows != len(values):
            return None
        return table.select(target.names).cast(target)
    except (pa.ArrowException, ValueError):
        return None
