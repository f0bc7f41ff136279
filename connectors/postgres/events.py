"""Debezium change events: per-table schemas (Key, Value, Envelope) and the records built from rows.

A :class:`TableModel` is built for a table from its columns (from the catalog, or from a pgoutput
Relation message completed by the catalog) and turns raw text values into Connect Structs; an
:class:`EventFactory` wraps rows into Debezium envelopes ``{before, after, source, op, ts_ms}`` with
the key (primary key columns) and, after deletes, a tombstone. Called on the task thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from connect.api.cdc import debezium_source_schema
from connect.api.data import Schema, SchemaBuilder, Struct
from connect.api.records import SourceRecord
from connectors.postgres.pgoutput import UNCHANGED, RawValue
from connectors.postgres.types import ColumnType, Converter, TypeInfo, column_type

CONNECTOR_VERSION: Final = "2.7.0.headrace"
UNAVAILABLE: Final = "__debezium_unavailable_value"

SOURCE_SCHEMA: Final = (
    debezium_source_schema("io.debezium.connector.postgresql.Source")
    .field("schema", Schema.STRING_SCHEMA)
    .field("table", Schema.STRING_SCHEMA)
    .field("txId", Schema.OPTIONAL_INT64_SCHEMA)
    .field("lsn", Schema.OPTIONAL_INT64_SCHEMA)
    .field("xmin", Schema.OPTIONAL_INT64_SCHEMA)
    .build()
)


@dataclass(frozen=True)
class Column:
    """One column as the model needs it (from pgoutput's Relation message or the catalog)."""

    name: str
    type_oid: int
    typmod: int
    not_null: bool
    pk_position: int  # 1-based position in the primary key, 0 otherwise


class TableModel:
    """Schemas and row conversion of one captured table.

    ``columns`` are ALL columns in the order values arrive (pgoutput tuples and the snapshot's COPY
    both send every column in attribute order); excluded columns are skipped when converting.
    """

    def __init__(
        self,
        prefix: str,
        schema_name: str,
        table: str,
        columns: Sequence[Column],
        types: Callable[[int], TypeInfo | None],
        decimal_mode: str,
        time_mode: str,
        column_included: Callable[[str], bool] = lambda _c: True,
    ) -> None:
        self.schema_name = schema_name
        self.table = table
        self.topic = f"{prefix}.{schema_name}.{table}"
        self.columns = tuple(columns)
        base = self.topic
        row = SchemaBuilder.struct().name(f"{base}.Value").optional()
        key = SchemaBuilder.struct().name(f"{base}.Key")
        typed: list[tuple[int, Column, ColumnType]] = []
        for i, col in enumerate(self.columns):
            if col.pk_position == 0 and not column_included(col.name):
                continue
            ctype = column_type(col.type_oid, col.typmod, types, decimal_mode, time_mode)
            typed.append((i, col, ctype))
            field = ctype.builder()
            row.field(col.name, field.build() if col.not_null else field.optional().build())
        self.row_schema = row.build()
        pk = sorted((c for _, c, _ in typed if c.pk_position), key=lambda c: c.pk_position)
        self.key_names: tuple[str, ...] = tuple(c.name for c in pk)
        for c in pk:
            key.field(c.name, self.row_schema.field(c.name).schema)  # type: ignore[union-attr]
        self.key_schema: Schema | None = key.build() if pk else None
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
        plan: list[tuple[int, str, Converter, Any, Any]] = []
        for i, col, ctype in typed:
            field_schema = self.row_schema.field(col.name).schema  # type: ignore[union-attr]
            convert, zero = ctype.converter_for(field_schema)
            unavailable = _unavailable(field_schema, zero)
            plan.append((i, col.name, convert, zero if col.not_null else None, unavailable))
        self._plan = tuple(plan)

    def row(self, raw: Sequence[RawValue], key_only: bool = False) -> Struct:
        """A ``Value`` struct from raw text values (``key_only``: the old key of a DEFAULT-identity
        delete/update, whose other columns are absent; required ones get a zero value as Debezium does)."""
        return Struct(self.row_schema, self.values(raw, key_only))

    def values(self, raw: Sequence[RawValue], key_only: bool = False) -> dict[str, Any]:
        """Column values by name (in schema order) from raw text values; see :meth:`row`."""
        values: dict[str, Any] = {}
        for i, name, convert, _zero, unavailable in self._plan:
            v = raw[i]
            if v is None:
                values[name] = None
            elif v is UNCHANGED:
                values[name] = unavailable
            else:
                values[name] = convert(v)  # type: ignore[arg-type]
        if key_only:
            for _i, name, _convert, zero, _u in self._plan:
                if values[name] is None and name not in self.key_names:
                    values[name] = zero
        return values

    def key(self, row: Struct) -> Struct | None:
        if self.key_schema is None:
            return None
        return Struct(self.key_schema, {name: row.get_without_default(name) for name in self.key_names})

    def key_from_values(self, values: Mapping[str, Any]) -> Struct | None:
        """The ``Key`` struct (primary key columns) of a row's values; None without a primary key."""
        key_schema = self.key_schema
        if key_schema is None:
            return None
        names = self.key_names
        if len(names) == 1:
            name = names[0]
            return Struct(key_schema, {name: values[name]})
        return Struct(key_schema, {name: values[name] for name in names})


def _unavailable(schema: Schema, zero: Any) -> Any:
    """Debezium's placeholder for an unchanged TOASTed value the server did not send."""
    from connect.api.data import Type

    if schema.type is Type.STRING:
        return UNAVAILABLE
    if schema.type is Type.BYTES and schema.name is None:
        return UNAVAILABLE.encode()
    return None if schema.optional else zero


class EventFactory:
    """Builds Debezium records; holds what is constant for the connector (server name, database)."""

    def __init__(self, prefix: str, dbname: str, tombstones: bool) -> None:
        self.prefix = prefix
        self.dbname = dbname
        self.tombstones = tombstones
        self.partition: dict[str, Any] = {"server": prefix}

    def source(
        self,
        model: TableModel,
        ts_ms: int,
        snapshot: str,
        tx_id: int | None,
        lsn: int | None,
        sequence: str | None,
    ) -> Struct:
        return Struct(
            SOURCE_SCHEMA,
            {
                "version": CONNECTOR_VERSION,
                "connector": "postgresql",
                "name": self.prefix,
                "ts_ms": ts_ms,
                "snapshot": snapshot,
                "db": self.dbname,
                "sequence": sequence,
                "schema": model.schema_name,
                "table": model.table,
                "txId": tx_id,
                "lsn": lsn,
                "xmin": None,
            },
        )

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
        """Append the change record, and after a delete a tombstone (when enabled, with
        ``tombstone_offset``), to ``out``."""
        value = Struct(
            model.envelope_schema,
            {"before": before, "after": after, "source": source, "op": op, "ts_ms": ts_ms},
        )
        partition = self.partition
        key_schema = model.key_schema if key is not None else None  # truncates have no key
        out.append(
            SourceRecord(partition, offset, model.topic, None, key_schema, key, model.envelope_schema, value)
        )
        if tombstone_offset is not None and key is not None:
            out.append(
                SourceRecord(
                    partition, tombstone_offset, model.topic, None, model.key_schema, key, None, None
                )
            )
