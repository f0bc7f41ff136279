"""Debezium change events for MySQL: per-table schemas (Key, Value, Envelope), the ``source`` block,
schema change events and heartbeats. Called on the task thread only.

Per-record cost: every row becomes up to five structs (key, before/after, source, envelope). Their
values are built here from already converted values (each column's converter yields the type its
schema declares), so they are assembled with the documented unchecked path of
:class:`~connect.api.data.Struct` (``values`` in schema order, every field present) instead of being
validated field by field; the row and key dicts come from functions compiled once per table shape
(:class:`TableModel`). ``connect.testing.check_source_records`` (used by the tests) validates every
record against its schema, so a converter yielding a wrong type fails the type round-trip tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from connect.api.cdc import HEARTBEAT_KEY_SCHEMA, HEARTBEAT_VALUE_SCHEMA, debezium_source_schema
from connect.api.data import Schema, SchemaBuilder, Struct
from connect.api.records import SourceRecord
from connectors.mysql.ddl import TableChange, TableDef
from connectors.mysql.types import Converter, column_schema

CONNECTOR_VERSION: Final = "2.7.0.headrace"

SOURCE_SCHEMA: Final = (
    debezium_source_schema("io.debezium.connector.mysql.Source")
    .field("table", Schema.OPTIONAL_STRING_SCHEMA)
    .field("server_id", Schema.INT64_SCHEMA)
    .field("gtid", Schema.OPTIONAL_STRING_SCHEMA)
    .field("file", Schema.STRING_SCHEMA)
    .field("pos", Schema.INT64_SCHEMA)
    .field("row", Schema.INT32_SCHEMA)
    .field("thread", Schema.OPTIONAL_INT64_SCHEMA)
    .field("query", Schema.OPTIONAL_STRING_SCHEMA)
    .build()
)

_COLUMN_SCHEMA: Final = (
    SchemaBuilder.struct()
    .name("io.debezium.connector.schema.Column")
    .field("name", Schema.STRING_SCHEMA)
    .field("jdbcType", Schema.INT32_SCHEMA)
    .field("nativeType", Schema.OPTIONAL_INT32_SCHEMA)
    .field("typeName", Schema.STRING_SCHEMA)
    .field("typeExpression", Schema.OPTIONAL_STRING_SCHEMA)
    .field("charsetName", Schema.OPTIONAL_STRING_SCHEMA)
    .field("length", Schema.OPTIONAL_INT32_SCHEMA)
    .field("scale", Schema.OPTIONAL_INT32_SCHEMA)
    .field("position", Schema.INT32_SCHEMA)
    .field("optional", Schema.OPTIONAL_BOOLEAN_SCHEMA)
    .field("autoIncremented", Schema.OPTIONAL_BOOLEAN_SCHEMA)
    .field("generated", Schema.OPTIONAL_BOOLEAN_SCHEMA)
    .field("comment", Schema.OPTIONAL_STRING_SCHEMA)
    .field("defaultValueExpression", Schema.OPTIONAL_STRING_SCHEMA)
    .field("enumValues", SchemaBuilder.array(Schema.STRING_SCHEMA).optional().build())
    .build()
)
_TABLE_SCHEMA: Final = (
    SchemaBuilder.struct()
    .name("io.debezium.connector.schema.Table")
    .optional()
    .field("defaultCharsetName", Schema.OPTIONAL_STRING_SCHEMA)
    .field("primaryKeyColumnNames", SchemaBuilder.array(Schema.STRING_SCHEMA).optional().build())
    .field("columns", SchemaBuilder.array(_COLUMN_SCHEMA).build())
    .field("comment", Schema.OPTIONAL_STRING_SCHEMA)
    .build()
)
_CHANGE_SCHEMA: Final = (
    SchemaBuilder.struct()
    .name("io.debezium.connector.schema.Change")
    .field("type", Schema.STRING_SCHEMA)
    .field("id", Schema.STRING_SCHEMA)
    .field("table", _TABLE_SCHEMA)
    .build()
)
SCHEMA_CHANGE_KEY: Final = (
    SchemaBuilder.struct()
    .name("io.debezium.connector.mysql.SchemaChangeKey")
    .field("databaseName", Schema.STRING_SCHEMA)
    .build()
)
SCHEMA_CHANGE_VALUE: Final = (
    SchemaBuilder.struct()
    .name("io.debezium.connector.mysql.SchemaChangeValue")
    .field("source", SOURCE_SCHEMA)
    .field("ts_ms", Schema.INT64_SCHEMA)
    .field("databaseName", Schema.OPTIONAL_STRING_SCHEMA)
    .field("schemaName", Schema.OPTIONAL_STRING_SCHEMA)
    .field("ddl", Schema.OPTIONAL_STRING_SCHEMA)
    .field("tableChanges", SchemaBuilder.array(_CHANGE_SCHEMA).build())
    .build()
)


_new = object.__new__


def unchecked_struct(schema: Schema, values: dict[str, Any]) -> Struct:
    """A struct from ``values`` that are known to be valid for ``schema``, in schema order with every
    field present (the unchecked construction documented on :attr:`Struct.values`)."""
    struct: Struct = _new(Struct)
    struct.schema = schema
    struct.values = values
    return struct


def _compile_values(
    plan: tuple[tuple[str, Converter | None, Any], ...],
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``row -> {column: converted value}`` for ``plan``, as one generated function (no loop, no
    per-column dispatch). Column names and converters are bound as default arguments, never
    spliced into the source."""
    params = []
    items = []
    bound: dict[str, Any] = {}
    for i, (name, convert, _zero) in enumerate(plan):
        bound[f"n{i}"] = name
        params.append(f"n{i}=n{i}")
        if convert is None:
            items.append(f"n{i}: get(n{i})")
        else:
            bound[f"c{i}"] = convert
            params.append(f"c{i}=c{i}")
            items.append(f"n{i}: None if (v{i} := get(n{i})) is None else c{i}(v{i})")
    source = f"def values(row, {', '.join(params)}):\n    get = row.get\n    return {{{', '.join(items)}}}\n"
    namespace: dict[str, Any] = dict(bound)
    exec(compile(source, "<mysql-row-values>", "exec"), namespace)  # generated from indices only
    return namespace["values"]  # type: ignore[no-any-return]


def _compile_in_place(
    plan: tuple[tuple[str, Converter | None, Any], ...],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``row -> row`` with the converted columns replaced in place (the row must hold exactly the
    plan's columns, in its order): no new dict per row."""
    bound: dict[str, Any] = {}
    params = []
    lines = []
    for i, (name, convert, _zero) in enumerate(plan):
        if convert is None:
            continue
        bound[f"n{i}"], bound[f"c{i}"] = name, convert
        params += [f"n{i}=n{i}", f"c{i}=c{i}"]
        lines += [f"    v = row[n{i}]", f"    if v is not None: row[n{i}] = c{i}(v)"]
    source = (
        f"def values(row, {', '.join(params)}):\n" + "".join(f"{x}\n" for x in lines) + "    return row\n"
    )
    namespace: dict[str, Any] = dict(bound)
    exec(compile(source, "<mysql-row-in-place>", "exec"), namespace)  # generated from indices only
    return namespace["values"]  # type: ignore[no-any-return]


def _compile_key(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``values -> {key column: value}`` as one generated function."""
    bound = {f"n{i}": name for i, name in enumerate(names)}
    params = ", ".join(f"n{i}=n{i}" for i in range(len(names)))
    items = ", ".join(f"n{i}: values[n{i}]" for i in range(len(names)))
    source = f"def key(values, {params}):\n    return {{{items}}}\n"
    namespace: dict[str, Any] = dict(bound)
    exec(compile(source, "<mysql-key-values>", "exec"), namespace)  # generated from indices only
    return namespace["key"]  # type: ignore[no-any-return]


class TableModel:
    """Schemas and row conversion of one captured table (its shape at one point of the binlog)."""

    def __init__(
        self,
        prefix: str,
        table: TableDef,
        decimal_mode: str,
        time_mode: str,
        bigint_mode: str,
        column_included: Callable[[str], bool],
        key_columns: tuple[str, ...] | None = None,
    ) -> None:
        self.table = table
        self.db = table.db
        self.name = table.name
        self.topic = f"{prefix}.{table.db}.{table.name}"
        base = self.topic
        row = SchemaBuilder.struct().name(f"{base}.Value").optional()
        key_names = key_columns or table.primary_key
        plan: list[tuple[str, Converter | None, Any]] = []
        for col in table.columns:
            if col.name not in key_names and not column_included(col.name):
                continue
            schema, convert, zero = column_schema(col, decimal_mode, time_mode, bigint_mode)
            row.field(col.name, schema)
            plan.append((col.name, convert, zero))
        self.row_schema = row.build()
        self._plan = tuple(plan)
        self._values = _compile_values(self._plan)
        # a binlog row (a fresh dict per row, every column of the table in table order) is converted in
        # place when the model keeps every column: no copy
        self.binlog_values: Callable[[dict[str, Any]], dict[str, Any]] = (
            _compile_in_place(self._plan)
            if [name for name, _c, _z in plan] == [c.name for c in table.columns]
            else self._values
        )
        self.column_names = frozenset(c.name for c in table.columns)
        self.key_names: tuple[str, ...] = tuple(k for k in key_names if self.row_schema.field(k) is not None)
        key_schema: Schema | None = None
        if self.key_names:
            key = SchemaBuilder.struct().name(f"{base}.Key")
            for name in self.key_names:
                field = self.row_schema.field(name)
                assert field is not None
                key.field(name, field.schema)
            key_schema = key.build()
        self.key_schema = key_schema
        self._key = _compile_key(self.key_names)
        self.envelope_schema = (
            SchemaBuilder.struct()
            .name(f"{base}.Envelope")
            .version(2)
            .field("before", self.row_schema)
            .field("after", self.row_schema)
            .field("source", SOURCE_SCHEMA)
            .field("op", Schema.STRING_SCHEMA)
            .field("ts_ms", Schema.OPTIONAL_INT64_SCHEMA)
            .build()
        )

    def values(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Column values by name from a decoded row (missing columns: None), converted; schema order."""
        return self._values(row)

    def row(self, values: dict[str, Any]) -> Struct:
        """The Value struct of :meth:`values` output (not validated again)."""
        return unchecked_struct(self.row_schema, values)

    def key(self, values: Mapping[str, Any]) -> Struct | None:
        key_schema = self.key_schema
        if key_schema is None:
            return None
        return unchecked_struct(key_schema, self._key(values))

    def matches(self, names: list[str] | tuple[str, ...]) -> bool:
        """Whether a binlog row with these column names fits this model."""
        return len(names) == len(self.table.columns) and all(
            n == c.name for n, c in zip(names, self.table.columns, strict=True)
        )


class EventFactory:
    """Builds Debezium records; holds what is constant for the connector."""

    def __init__(self, prefix: str, server_id: int, tombstones: bool) -> None:
        self.prefix = prefix
        self.server_id = server_id
        self.tombstones = tombstones
        self.partition: dict[str, Any] = {"server": prefix}
        self.heartbeat_topic = f"__debezium-heartbeat.{prefix}"

    def source(
        self,
        db: str,
        table: str | None,
        ts_ms: int,
        snapshot: str,
        server_id: int,
        gtid: str | None,
        file: str,
        pos: int,
        row: int,
        thread: int | None = None,
        query: str | None = None,
    ) -> Struct:
        return unchecked_struct(
            SOURCE_SCHEMA,
            self.source_values(db, table, ts_ms, snapshot, server_id, gtid, file, pos, row, thread, query),
        )

    def source_values(
        self,
        db: str,
        table: str | None,
        ts_ms: int,
        snapshot: str,
        server_id: int,
        gtid: str | None,
        file: str,
        pos: int,
        row: int,
        thread: int | None = None,
        query: str | None = None,
    ) -> dict[str, Any]:
        """The source block's values in schema order (a template: copy it, set ``row``, and wrap it
        with :func:`unchecked_struct`)."""
        return {
            "version": CONNECTOR_VERSION,
            "connector": "mysql",
            "name": self.prefix,
            "ts_ms": ts_ms,
            "snapshot": snapshot,
            "db": db,
            "sequence": None,
            "table": table,
            "server_id": server_id,
            "gtid": gtid,
            "file": file,
            "pos": pos,
            "row": row,
            "thread": thread,
            "query": query,
        }

    def change(
        self,
        model: TableModel,
        op: str,
        key: Struct | None,
        before: Struct | None,
        after: Struct | None,
        source: Struct,
        ts_ms: int,
        offset: dict[str, Any],
        tombstone_offset: dict[str, Any] | None,
        out: list[SourceRecord],
    ) -> None:
        value = unchecked_struct(
            model.envelope_schema,
            {"before": before, "after": after, "source": source, "op": op, "ts_ms": ts_ms},
        )
        out.append(
            SourceRecord(
                self.partition,
                offset,
                model.topic,
                None,
                model.key_schema if key is not None else None,
                key,
                model.envelope_schema,
                value,
            )
        )
        if tombstone_offset is not None and key is not None:
            out.append(
                SourceRecord(
                    self.partition, tombstone_offset, model.topic, None, model.key_schema, key, None, None
                )
            )

    def schema_change(
        self,
        database: str,
        ddl: str,
        changes: list[TableChange],
        source: Struct,
        ts_ms: int,
        offset: dict[str, Any],
    ) -> SourceRecord:
        value = Struct(
            SCHEMA_CHANGE_VALUE,
            {
                "source": source,
                "ts_ms": ts_ms,
                "databaseName": database,
                "schemaName": None,
                "ddl": ddl,
                "tableChanges": [_change_struct(c) for c in changes],
            },
        )
        return SourceRecord(
            self.partition,
            offset,
            self.prefix,
            0,
            SCHEMA_CHANGE_KEY,
            Struct(SCHEMA_CHANGE_KEY, {"databaseName": database}),
            SCHEMA_CHANGE_VALUE,
            value,
        )

    def heartbeat(self, offset: dict[str, Any], ts_ms: int) -> SourceRecord:
        return SourceRecord(
            self.partition,
            offset,
            self.heartbeat_topic,
            None,
            HEARTBEAT_KEY_SCHEMA,
            Struct(HEARTBEAT_KEY_SCHEMA, {"serverName": self.prefix}),
            HEARTBEAT_VALUE_SCHEMA,
            Struct(HEARTBEAT_VALUE_SCHEMA, {"ts_ms": ts_ms}),
        )


def _change_struct(change: TableChange) -> Struct:
    d = change.to_debezium()
    table = None
    if d["table"] is not None:
        t = d["table"]
        table = Struct(
            _TABLE_SCHEMA,
            {
                "defaultCharsetName": t["defaultCharsetName"],
                "primaryKeyColumnNames": t["primaryKeyColumnNames"],
                "columns": [
                    Struct(
                        _COLUMN_SCHEMA,
                        {
                            "name": c["name"],
                            "jdbcType": c["jdbcType"],
                            "nativeType": c["nativeType"],
                            "typeName": c["typeName"],
                            "typeExpression": c["typeExpression"],
                            "charsetName": c["charsetName"],
                            "length": c["length"],
                            "scale": c["scale"],
                            "position": c["position"],
                            "optional": c["optional"],
                            "autoIncremented": c["autoIncremented"],
                            "generated": c["generated"],
                            "comment": c["comment"],
                            "defaultValueExpression": None,
                            "enumValues": c["enumValues"],
                        },
                    )
                    for c in t["columns"]
                ],
                "comment": None,
            },
        )
    return Struct(_CHANGE_SCHEMA, {"type": d["type"], "id": d["id"], "table": table})
