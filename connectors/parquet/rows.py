"""From Connect records to Arrow: row shapes, Connect -> Arrow schemas, columnar conversion, projection.

A *shape* says how the value of a record becomes one row: a STRUCT value is the row; a primitive value
is a row with one column ``value``; a Debezium envelope is, in ``flatten`` mode, its ``after`` image
(``before`` for deletes) plus ``__op``, ``__ts_ms``, ``__source_ts_ms`` and the source position fields
that exist (``__lsn``, ``__txId``, ``__file``, ``__pos``, ``__row``, ``__gtid``); in ``envelope`` mode
the envelope struct itself. Shapes are computed once per distinct value schema. Values without a schema
(JsonConverter with ``schemas.enable=false``) are rows of a *schemaless* shape whose Arrow schema is
inferred per file.

Conversion is columnar: for a run of records of one shape, each column is one list comprehension over
the records handed to ``pyarrow.array`` — no per-record dicts for flat structs.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from connect.api import DataException, Schema, SchemaBuilder, SinkRecord, Struct, Type
from connectors.parquet.rawjson import arrow_json_table, decode_payloads, raw_plain

__all__ = [
    "Shape",
    "arrow_schema",
    "arrow_type",
    "compatibility_action",
    "rows_to_table",
    "shape_of",
]

_SOURCE_POSITION = ("lsn", "txId", "file", "pos", "row", "gtid")
_DECIMAL = "org.apache.kafka.connect.data.Decimal"
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


def arrow_type(schema: Schema) -> pa.DataType:
    """The Arrow type of a Connect schema (logical types: decimal128, date32, time32[ms],
    timestamp[ms, UTC])."""
    name = schema.name
    if name == _DECIMAL:
        scale = int((schema.parameters or {}).get("scale", "0"))
        precision = int((schema.parameters or {}).get("connect.decimal.precision", "38"))
        return pa.decimal128(max(precision, scale, 1), scale)
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
        return pa.list_(arrow_type(schema.value_schema))
    if t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        return pa.map_(arrow_type(schema.key_schema), arrow_type(schema.value_schema))
    if t is Type.STRUCT:
        return pa.struct([pa.field(f.name, arrow_type(f.schema), nullable=True) for f in schema.fields])
    raise DataException(f"no Arrow type for {t}")


def arrow_schema(row: Schema) -> pa.Schema:
    """The Arrow schema of a row schema (a STRUCT); every column is nullable so projections can fill nulls."""
    return pa.schema([pa.field(f.name, arrow_type(f.schema), nullable=True) for f in row.fields])


def _plain(schema: Schema) -> Callable[[Any], Any] | None:
    """A function turning a Connect value of ``schema`` into what pyarrow accepts (None: as it is)."""
    t = schema.type
    if t is Type.STRUCT:
        subs = [(f.name, _plain(f.schema)) for f in schema.fields]

        def struct(v: Any) -> Any:
            if v is None:
                return None
            if isinstance(v, Struct):
                return {n: (c(v.get_without_default(n)) if c else v.get_without_default(n)) for n, c in subs}
            return {n: (c(v.get(n)) if c else v.get(n)) for n, c in subs}

        return struct
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        item = _plain(schema.value_schema)
        if item is None:
            return None
        return lambda v: None if v is None else [item(x) for x in v]
    if t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        k, val = _plain(schema.key_schema), _plain(schema.value_schema)
        return lambda v: (
            None
            if v is None
            else [
                (k(a) if k else a, val(b) if val else b) for a, b in (v.items() if isinstance(v, dict) else v)
            ]
        )
    if schema.name == _TIMESTAMP:
        return lambda v: v if v is None or isinstance(v, dt.datetime) else _ms_to_datetime(v)
    if schema.name == _DECIMAL:
        return lambda v: v if v is None or isinstance(v, decimal.Decimal) else decimal.Decimal(v)
    return None


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


def _columns_of(shape: Shape, values: list[Any], target: Schema) -> list[list[Any]]:
    """Column lists in ``target``'s field order for ``values`` of ``shape`` (missing fields: default)."""
    n = len(values)
    if shape.kind == "primitive":
        return [values if f.name == "value" else [f.schema.default_value] * n for f in target.fields]
    if shape.kind == "flat_envelope":
        images = [
            _field(v, "after") if _field(v, "after") is not None else _field(v, "before") for v in values
        ]
        rows = _struct_values(images)
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
                cols.append(_column(rows, f.name, f.schema.default_value))
        return cols
    rows = _struct_values(values)
    return [_column(rows, f.name, f.schema.default_value) for f in target.fields]


def _column(rows: list[Any], name: str, default: Any) -> list[Any]:
    try:
        return [r[name] for r in rows]  # the common case: every row has the field
    except (KeyError, TypeError):
        return [r.get(name, default) if r is not None else None for r in rows]


def rows_to_table(
    runs: Sequence[tuple[Shape, Sequence[SinkRecord]]], target: Schema | None, envelope_mode: str
) -> pa.Table:
    """One Arrow table of ``runs`` (consecutive records of one shape each), projected to ``target``
    (None: schemaless, the Arrow schema is inferred from the rows)."""
    if target is None:
        rows: list[dict[str, Any]] = []
        for shape, records in runs:
            for v in _values_of(shape, records):
                if isinstance(v, dict):
                    flat = flat_dict(v) if envelope_mode == "flatten" else None
                    rows.append(flat if flat is not None else v)
                else:
                    rows.append({"value": v})
        try:
            return pa.Table.from_pylist(rows)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise DataException(f"cannot infer one Arrow schema for schemaless values: {exc}") from exc
    schema = arrow_schema(target)
    connect_plain = [_plain(f.schema) for f in target.fields]
    json_plain: list[Callable[[Any], Any] | None] | None = None
    tables = []
    for shape, records in runs:
        if shape.raw_start >= 0 and shape.kind == "struct" and shape.row is not None:
            fast = _arrow_parsed(shape, shape.row, records, target, schema)
            if fast is not None:
                tables.append(fast)
                continue
        cols = _columns_of(shape, _values_of(shape, records), target)
        if shape.raw_start < 0:
            converters = connect_plain
        else:
            if json_plain is None:
                json_plain = [raw_plain(f.schema) for f in target.fields]
            converters = json_plain
        arrays = []
        for col, conv, field in zip(cols, converters, schema, strict=True):
            if conv is not None:
                col = [conv(v) for v in col]
            try:
                arrays.append(pa.array(col, type=field.type))
            except (pa.ArrowException, TypeError, ValueError) as exc:
                raise DataException(f"column {field.name!r}: {exc}") from exc
        tables.append(pa.Table.from_arrays(arrays, schema=schema))
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _arrow_parsed(
    shape: Shape, row: Schema, records: Sequence[SinkRecord], target: Schema, schema: pa.Schema
) -> pa.Table | None:
    """Raw JSON struct values parsed by Arrow's JSON reader, projected to ``target`` (None: cannot)."""
    values = [r.value for r in records]
    if any(v.__class__ is not bytes for v in values):
        values = [v.encode() if v.__class__ is str else v for v in values]
    parsed = arrow_json_table(values, shape.raw_start, row, arrow_schema(row))
    if parsed is None:
        return None
    n = parsed.num_rows
    columns = []
    for f, field in zip(target.fields, schema, strict=True):
        if f.name in parsed.column_names:
            col = parsed.column(f.name)
            columns.append(col if col.type == field.type else col.cast(field.type))
        else:
            columns.append(pa.array([f.schema.default_value] * n, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)


# -- schema compatibility ---------------------------------------------------------------------------------


def _optional_or_default(schema: Schema) -> bool:
    return schema.optional or schema.default_value is not None


def _same_type(a: Schema, b: Schema) -> bool:
    return a.type is b.type and a.name == b.name and arrow_type(a) == arrow_type(b)


def compatibility_action(current: Schema, incoming: Schema, mode: str) -> str:
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
    changed = [n for n in cur.keys() & inc.keys() if not _same_type(cur[n], inc[n])]
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
