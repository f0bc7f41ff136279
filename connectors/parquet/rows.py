"""From Connect records to Arrow: row shapes, Connect -> Arrow schemas, columnar conversion, projection.

A *shape* says how the value of a record becomes one row: a STRUCT value is the row; a primitive value
is a row with one column ``value``; a Debezium envelope is, in ``flatten`` mode, its ``after`` image
(``before`` for deletes) plus ``__op``, ``__ts_ms``, ``__source_ts_ms`` and the source position fields
that exist (``__lsn``, ``__txId``, ``__file``, ``__pos``, ``__row``, ``__gtid``); in ``envelope`` mode
the envelope struct itself. Shapes are computed once per distinct value schema. Values without a schema
(JsonConverter with ``schemas.enable=false``) are rows of a *schemaless* shape whose Arrow schema is
inferred per file.

Conversion is columnar: for a run of records of one shape, each column is one list comprehension over
the records handed to ``pyarrow.array`` — no per-record dicts for flat structs. Semantic types (Debezium's
ZonedTimestamp, Json, VariableScaleDecimal, MicroTimestamp, ...) become their natural Arrow types per
:class:`~connectors.parquet.logical.ArrowTypes`: a column is built with its storage type and cast.

In a flattened delete whose before image holds only the key (REPLICA IDENTITY DEFAULT), the other
columns are null, not the zero values the source fills required fields with (see
:func:`_key_only_deletes`).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from connect.api import DataException, Schema, SchemaBuilder, SinkRecord, Struct, Type
from connectors.parquet.logical import (
    DECIMAL,
    VARIABLE_SCALE_DECIMAL,
    ZONED_TIMESTAMP,
    ArrowTypes,
    cast_column,
)
from connectors.parquet.rawjson import arrow_json_table, decode_payloads, raw_plain

DEFAULT_TYPES = ArrowTypes()

__all__ = [
    "Shape",
    "arrow_schema",
    "arrow_type",
    "compatibility_action",
    "rows_to_table",
    "shape_of",
    "storage_type",
]

_SOURCE_POSITION = ("lsn", "txId", "file", "pos", "row", "gtid")
_DATE = "org.apache.kafka.connect.data.Date"
_TIME = "org.apache.kafka.connect.data.Time"
_TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"
_PRIMITIVE = {
    Type.INT8: pa.int8(),
    Type.INT16: pa.int16(),
    Type.INT32: pa.int32(),
    Type.INT64: pa.int64(),
    Type.FLOAT32: pa.float32(),
    Type.FLOAT64: pa.float64(),
    Type.BOOLEAN: pa.bool_(),
    Type.STRING: pa.string(),
    Type.BYTES: pa.binary(),
}


def arrow_type(schema: Schema, types: ArrowTypes = DEFAULT_TYPES) -> pa.DataType:
    """The Arrow type of a Connect schema (semantic types per :mod:`connectors.parquet.logical`:
    decimal128, date32, time32/64, timestamp, arrow.json, ...)."""
    return _arrow(schema, types, False)


def storage_type(schema: Schema, types: ArrowTypes = DEFAULT_TYPES) -> pa.DataType:
    """The Arrow type columns of ``schema`` are built with from plain values: :func:`arrow_type`, except
    that semantic types reached by a cast (:meth:`ArrowTypes.is_cast`) keep their wire type."""
    return _arrow(schema, types, True)


def _arrow(schema: Schema, types: ArrowTypes, storage: bool) -> pa.DataType:
    name = schema.name
    if name is not None and not (storage and types.is_cast(schema)):
        logical = types.logical(schema)
        if logical is not None:
            return logical
        if name == _DATE:
            return pa.date32()
        if name == _TIME:
            return pa.time32("ms")
        if name == _TIMESTAMP:
            return pa.timestamp("ms", tz="UTC")
    t = schema.type
    if t in _PRIMITIVE:
        return _PRIMITIVE[t]
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        return pa.list_(_arrow(schema.value_schema, types, storage))
    if t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        return pa.map_(_arrow(schema.key_schema, types, storage), _arrow(schema.value_schema, types, storage))
    if t is Type.STRUCT:
        return pa.struct(
            [pa.field(f.name, _arrow(f.schema, types, storage), nullable=True) for f in schema.fields]
        )
    raise DataException(f"no Arrow type for {t}")


def arrow_schema(row: Schema, types: ArrowTypes = DEFAULT_TYPES, storage: bool = False) -> pa.Schema:
    """The Arrow schema of a row schema (a STRUCT); every column is nullable so projections can fill
    nulls (and deletes can leave out what their before image does not have). ``storage``: with
    :func:`storage_type` columns."""
    return pa.schema([pa.field(f.name, _arrow(f.schema, types, storage), nullable=True) for f in row.fields])


def _plain(schema: Schema, types: ArrowTypes, raw: bool = False) -> Callable[[Any], Any] | None:
    """A function turning a value of ``schema`` into what pyarrow accepts for its storage type (None: as
    it is): a Connect value, or with ``raw`` a decoded JSON value (base64 bytes and decimals decoded by
    :func:`raw_plain`, logical ints kept: pyarrow takes epoch days/ms for date32/time32/timestamp)."""
    name = schema.name
    if name == VARIABLE_SCALE_DECIMAL:
        return types.variable_decimal()
    if name == DECIMAL:
        base = raw_plain(schema) if raw else _connect_decimal
        then = types.fixed_decimal()
        return base if then is None or base is None else (lambda v: then(base(v)))
    if name == ZONED_TIMESTAMP:
        return _instant_text  # cast by Arrow; '' (a key-only image's zero value) is no instant
    if name == _TIMESTAMP and not raw:
        return lambda v: v if v is None or isinstance(v, dt.datetime) else _ms_to_datetime(v)
    t = schema.type
    if t is Type.BYTES and raw:
        return raw_plain(schema)
    if t is Type.STRUCT:
        subs = [(f.name, _plain(f.schema, types, raw)) for f in schema.fields]
        if raw and all(c is None for _, c in subs):
            return None  # decoded JSON objects are what pyarrow takes

        def struct(v: Any) -> Any:
            if v is None:
                return None
            if isinstance(v, Struct):
                return {n: (c(v.get_without_default(n)) if c else v.get_without_default(n)) for n, c in subs}
            return {n: (c(v.get(n)) if c else v.get(n)) for n, c in subs}

        return struct
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        item = _plain(schema.value_schema, types, raw)
        if item is None:
            return None
        return lambda v: None if v is None else [item(x) for x in v]
    if t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        k, val = _plain(schema.key_schema, types, raw), _plain(schema.value_schema, types, raw)
        return lambda v: (
            None
            if v is None
            else [
                (k(a) if k else a, val(b) if val else b) for a, b in (v.items() if isinstance(v, dict) else v)
            ]
        )
    return None


def _instant_text(v: Any) -> Any:
    return v or None


def _connect_decimal(v: Any) -> Any:
    return v if v is None or isinstance(v, decimal.Decimal) else decimal.Decimal(v)


def _ms_to_datetime(ms: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(ms))


@dataclass(frozen=True, eq=False)
class Shape:
    """How records of one value schema become rows.

    ``kind``: ``struct`` (the value is the row), ``primitive`` (one column ``value``), ``flat_envelope``
    (a Debezium envelope flattened), ``schemaless`` (dict values, Arrow schema inferred per file).
    ``row`` is the Connect schema of the row (None when schemaless); ``meta`` the flattened envelope's
    extra columns as (column, source struct or "", field). ``raw_start`` >= 0 marks values that are
    still JSON text (``value.format=json``): the payload starts at that index (0: the whole value).
    """

    kind: str
    row: Schema | None
    meta: tuple[tuple[str, str, str], ...] = ()
    raw_start: int = -1

    def as_raw(self, start: int) -> Shape:
        return Shape(self.kind, self.row, self.meta, start)


def _is_envelope(schema: Schema) -> bool:
    if schema.type is not Type.STRUCT:
        return False
    names = {f.name for f in schema.fields}
    return {"op", "after", "source"} <= names or bool(schema.name and schema.name.endswith(".Envelope"))


def shape_of(schema: Schema | None, value: Any, envelope_mode: str) -> Shape:
    """The shape of records whose value schema is ``schema`` (``value`` is one such value)."""
    if schema is None:
        return Shape("schemaless", None)
    if schema.type is Type.STRUCT:
        if envelope_mode == "flatten" and _is_envelope(schema):
            return _flat_envelope(schema)
        return Shape("struct", schema)
    return Shape("primitive", SchemaBuilder.struct().field("value", schema).build())


def _flat_envelope(envelope: Schema) -> Shape:
    image = envelope.field("after") or envelope.field("before")
    if image is None or image.schema.type is not Type.STRUCT:
        return Shape("struct", envelope)
    builder = SchemaBuilder.struct().name((image.schema.name or "row") + ".Flattened")
    if image.schema.version is not None:
        builder.version(image.schema.version)
    for f in image.schema.fields:
        builder.field(f.name, f.schema)
    meta: list[tuple[str, str, str]] = [("__op", "", "op")]
    builder.field("__op", Schema.OPTIONAL_STRING_SCHEMA)
    if envelope.field("ts_ms") is not None:
        meta.append(("__ts_ms", "", "ts_ms"))
        builder.field("__ts_ms", Schema.OPTIONAL_INT64_SCHEMA)
    source = envelope.field("source")
    if source is not None and source.schema.type is Type.STRUCT:
        if source.schema.field("ts_ms") is not None:
            meta.append(("__source_ts_ms", "source", "ts_ms"))
            builder.field("__source_ts_ms", Schema.OPTIONAL_INT64_SCHEMA)
        for name in _SOURCE_POSITION:
            position = source.schema.field(name)
            if position is not None:
                meta.append((f"__{name}", "source", name))
                builder.field(f"__{name}", _optional(position.schema))
    builder.field("__deleted", Schema.OPTIONAL_BOOLEAN_SCHEMA)
    return Shape("flat_envelope", builder.build(), tuple(meta))


def _optional(schema: Schema) -> Schema:
    if schema.optional:
        return schema
    b = SchemaBuilder(schema.type).optional()
    if schema.name:
        b.name(schema.name)
    if schema.parameters:
        b.parameters(schema.parameters)
    return b.build()


# -- rows ---------------------------------------------------------------------------------------------


def _field(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Struct):
        return value.get_without_default(name)
    if isinstance(value, dict):
        return value.get(name)
    return None


def flat_dict(value: dict[str, Any]) -> dict[str, Any] | None:
    """A schemaless Debezium envelope flattened like :func:`shape_of` does with schemas (else None)."""
    if not {"op", "after", "source"} <= value.keys():
        return None
    op = value.get("op")
    image = value.get("after") if value.get("after") is not None else value.get("before")
    row: dict[str, Any] = dict(image) if isinstance(image, dict) else {}
    row["__op"] = op
    row["__ts_ms"] = value.get("ts_ms")
    source = value.get("source")
    if isinstance(source, dict):
        row["__source_ts_ms"] = source.get("ts_ms")
        for name in _SOURCE_POSITION:
            if name in source:
                row[f"__{name}"] = source[name]
    row["__deleted"] = op == "d"
    return row


def _struct_values(values: Sequence[Any]) -> list[Any]:
    """The field-value mappings of Struct values (a live read-only view each, no copy); decoded JSON
    objects are mappings already."""
    return [v if v is None or v.__class__ is dict else v.field_values() for v in values]


def _values_of(shape: Shape, records: Sequence[SinkRecord]) -> list[Any]:
    """The Connect values of ``records``, or for raw JSON values their decoded payloads."""
    if shape.raw_start < 0:
        return [r.value for r in records]
    values = [r.value for r in records]
    if any(v.__class__ is str for v in values):
        values = [v.encode() if v.__class__ is str else v for v in values]
    return decode_payloads(values, shape.raw_start)


def _columns_of(
    shape: Shape, values: list[Any], target: Schema, records: Sequence[SinkRecord]
) -> list[list[Any]]:
    """Column lists in ``target``'s field order for ``values`` of ``shape`` (missing fields: default;
    the columns of a delete's key-only before image that are not in the key: null, see
    :func:`_key_only_deletes`)."""
    n = len(values)
    if shape.kind == "primitive":
        return [values if f.name == "value" else [f.schema.default_value] * n for f in target.fields]
    if shape.kind == "flat_envelope":
        images = [
            _field(v, "after") if _field(v, "after") is not None else _field(v, "before") for v in values
        ]
        rows = _struct_values(images)
        blank = _key_only_deletes(values, rows, records)
        meta = {col: (src, name) for col, src, name in shape.meta}
        cols: list[list[Any]] = []
        for f in target.fields:
            if f.name == "__deleted":
                cols.append([_field(v, "op") == "d" for v in values])
            elif f.name in meta:
                src, name = meta[f.name]
                holders = values if not src else [_field(v, src) for v in values]
                cols.append([_field(h, name) for h in holders])
            else:
                col = _column(rows, f.name, f.schema.default_value)
                for i, keys in blank:
                    if f.name not in keys:
                        col[i] = None
                cols.append(col)
        return cols
    rows = _struct_values(values)
    return [_column(rows, f.name, f.schema.default_value) for f in target.fields]


def _key_only_deletes(
    values: list[Any], images: list[Any], records: Sequence[SinkRecord]
) -> list[tuple[int, frozenset[str]]]:
    """The deletes among ``values`` (envelopes) whose before image (in ``images``) holds nothing but
    the key, as (index, key column names).

    With REPLICA IDENTITY DEFAULT PostgreSQL sends only the key of a deleted row; the source fills the
    other NOT NULL columns with zero values ('' / 0 / epoch / '{}', as Debezium does). Written as they
    are, they would read as real data, so they become nulls. An image is key-only when every column
    outside the record key is null or such a zero value; a full image (REPLICA IDENTITY FULL) is kept.
    The key columns are the fields of the record key (a Struct, or a JSON object, also inside a
    JsonConverter envelope); without a key nothing is blanked.
    """
    out: list[tuple[int, frozenset[str]]] = []
    for i, v in enumerate(values):
        if _field(v, "op") != "d" or _field(v, "after") is not None:
            continue
        image = images[i]
        keys = _key_names(records[i].key)
        if image is None or not keys or not keys <= image.keys():
            continue
        if all(_is_zero(x) for name, x in image.items() if name not in keys):
            out.append((i, keys))
    return out


def _key_names(key: Any) -> frozenset[str] | None:
    if isinstance(key, Struct):
        return frozenset(key.field_values())
    if isinstance(key, bytes | str):
        try:
            key = orjson.loads(key)
        except orjson.JSONDecodeError:
            return None
    if isinstance(key, dict):
        if key.keys() == {"schema", "payload"}:
            return _key_names(key["payload"])
        return frozenset(key)
    return None


#: The values a key-only before image has in required columns it does not carry (see the Connect and
#: the JSON form: fixed-scale Decimal zero is base64 "AA==" in JSON).
_ZEROS = frozenset(
    {0, "", b"", "{}", "AA==", b"\x00", dt.date(1970, 1, 1), dt.time(0), dt.datetime(1970, 1, 1)}
)


def _is_zero(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, Struct | dict):  # VariableScaleDecimal {scale: 0, value: 0}
        return not _field(v, "scale") and _is_zero(_field(v, "value"))
    if isinstance(v, list):
        return not v
    try:
        return v in _ZEROS
    except TypeError:
        return False


def _column(rows: list[Any], name: str, default: Any) -> list[Any]:
    try:
        return [r[name] for r in rows]  # the common case: every row has the field
    except (KeyError, TypeError):
        return [r.get(name, default) if r is not None else None for r in rows]


def rows_to_table(
    runs: Sequence[tuple[Shape, Sequence[SinkRecord]]],
    target: Schema | None,
    envelope_mode: str,
    types: ArrowTypes = DEFAULT_TYPES,
) -> pa.Table:
    """One Arrow table of ``runs`` (consecutive records of one shape each), projected to ``target``
    (None: schemaless, the Arrow schema is inferred from the rows); semantic types per ``types``."""
    if target is None:
        rows: list[dict[str, Any]] = []
        for shape, records in runs:
            values = _values_of(shape, records)
            for v in values:
                if isinstance(v, dict):
                    flat = flat_dict(v) if envelope_mode == "flatten" else None
                    rows.append(flat if flat is not None else v)
                else:
                    rows.append({"value": v})
            if envelope_mode == "flatten":
                start = len(rows) - len(values)
                befores = [_field(v, "before") for v in values]
                for i, keys in _key_only_deletes(values, befores, records):
                    row = rows[start + i]
                    for name in befores[i].keys() - keys:
                        row[name] = None
        try:
            return pa.Table.from_pylist(rows)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise DataException(f"cannot infer one Arrow schema for schemaless values: {exc}") from exc
    schema = arrow_schema(target, types)
    storage = arrow_schema(target, types, storage=True)
    connect_plain = [_plain(f.schema, types) for f in target.fields]
    json_plain: list[Callable[[Any], Any] | None] | None = None
    tables = []
    for shape, records in runs:
        if shape.raw_start >= 0 and shape.kind == "struct" and shape.row is not None:
            fast = _arrow_parsed(shape, shape.row, records, target, schema, types)
            if fast is not None:
                tables.append(fast)
                continue
        cols = _columns_of(shape, _values_of(shape, records), target, records)
        if shape.raw_start < 0:
            converters = connect_plain
        else:
            if json_plain is None:
                json_plain = [_plain(f.schema, types, raw=True) for f in target.fields]
            converters = json_plain
        arrays = []
        for col, conv, field, built in zip(cols, converters, schema, storage, strict=True):
            if conv is not None:
                col = [conv(v) for v in col]
            try:
                array = pa.array(col, type=built.type)
                arrays.append(array if built.type == field.type else cast_column(array, field.type))
            except (pa.ArrowException, TypeError, ValueError, ArithmeticError) as exc:
                raise DataException(f"column {field.name!r}: {exc}") from exc
        tables.append(pa.Table.from_arrays(arrays, schema=schema))
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _arrow_parsed(
    shape: Shape,
    row: Schema,
    records: Sequence[SinkRecord],
    target: Schema,
    schema: pa.Schema,
    types: ArrowTypes,
) -> pa.Table | None:
    """Raw JSON struct values parsed by Arrow's JSON reader (into storage types), projected to
    ``target`` and cast to its final types (None: cannot)."""
    if _has_variable_decimal(row):
        return None  # per-value decoding (base64 unscaled values)
    values = [r.value for r in records]
    if any(v.__class__ is not bytes for v in values):
        values = [v.encode() if v.__class__ is str else v for v in values]
    parsed = arrow_json_table(values, shape.raw_start, row, arrow_schema(row, types, storage=True))
    if parsed is None:
        return None
    n = parsed.num_rows
    columns = []
    try:
        for f, field in zip(target.fields, schema, strict=True):
            if f.name in parsed.column_names:
                col = parsed.column(f.name)
            else:
                default = pa.array([f.schema.default_value] * n, type=storage_type(f.schema, types))
                col = pa.chunked_array([default])
            columns.append(col if col.type == field.type else _cast_chunks(col, field.type))
    except (pa.ArrowException, ValueError):
        return None  # the value-by-value path names the bad record
    return pa.Table.from_arrays(columns, schema=schema)


def _has_variable_decimal(schema: Schema) -> bool:
    if schema.name == VARIABLE_SCALE_DECIMAL:
        return True
    if schema.type is Type.STRUCT:
        return any(_has_variable_decimal(f.schema) for f in schema.fields)
    if schema.type is Type.ARRAY:
        assert schema.value_schema is not None
        return _has_variable_decimal(schema.value_schema)
    return False


def _cast_chunks(col: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    return pa.chunked_array([cast_column(chunk, target) for chunk in col.chunks], type=target)


# -- schema compatibility ---------------------------------------------------------------------------------


def _optional_or_default(schema: Schema) -> bool:
    return schema.optional or schema.default_value is not None


def _same_type(a: Schema, b: Schema, types: ArrowTypes) -> bool:
    return a.type is b.type and a.name == b.name and arrow_type(a, types) == arrow_type(b, types)


def compatibility_action(
    current: Schema, incoming: Schema, mode: str, types: ArrowTypes = DEFAULT_TYPES
) -> str:
    """What to do with a record of row schema ``incoming`` while files of ``current`` are open.

    ``same``; ``project`` (write it into the current files, projected to ``current``); ``rotate`` (commit
    the open files, continue with ``incoming``). Raises DataException for an incompatible change under
    BACKWARD/FORWARD/FULL. Newer/older: by schema version when both have one, else a schema that adds
    fields (or removes none) is the newer one.
    """
    if incoming == current:
        return "same"
    if mode == "NONE":
        return "rotate"
    cur = {f.name: f.schema for f in current.fields}
    inc = {f.name: f.schema for f in incoming.fields}
    changed = [n for n in cur.keys() & inc.keys() if not _same_type(cur[n], inc[n], types)]
    if changed:
        raise DataException(f"schema.compatibility={mode}: the type of column(s) {sorted(changed)} changed")
    added = [n for n in inc if n not in cur]
    removed = [n for n in cur if n not in inc]
    if current.version is not None and incoming.version is not None:
        newer = incoming.version > current.version
    else:
        newer = bool(added) or not removed
    missing_in_current = [n for n in removed if not _optional_or_default(cur[n])]
    required_added = [n for n in added if not _optional_or_default(inc[n])]
    if mode == "FORWARD":
        if missing_in_current:
            raise DataException(
                f"schema.compatibility=FORWARD: the new schema lacks required column(s) {missing_in_current}"
            )
        return "project"
    if newer:
        if required_added or (mode == "FULL" and missing_in_current):
            raise DataException(
                f"schema.compatibility={mode}: added column(s) {required_added or missing_in_current} "
                "are required (old data cannot be read with the new schema)"
            )
        return "rotate"
    if missing_in_current:
        raise DataException(
            f"schema.compatibility={mode}: an older schema lacks required column(s) {missing_in_current}"
        )
    return "project"
