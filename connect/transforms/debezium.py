"""Debezium's ``ExtractNewRecordState`` (event flattening): unwrap the change-event envelope.

A change event's value is an envelope ``{before, after, source, op, ts_ms, transaction}``; most sinks
want just the row. For creates, reads and updates the new value is ``after``. Deletes and the
tombstones that follow them are dropped, kept, or rewritten according to the configuration::

    transforms=unwrap
    transforms.unwrap.type=io.debezium.transforms.ExtractNewRecordState
    transforms.unwrap.drop.tombstones=false
    transforms.unwrap.delete.handling.mode=rewrite
    transforms.unwrap.add.fields=op,table,lsn,source.ts_ms

gives rows such as ``{"id": 2, ..., "__op": "d", "__table": "orders", "__lsn": 123,
"__source_ts_ms": 1700000000000, "__deleted": "true"}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from connect.api.config import ConfigDef, ConfigType, Importance, ValidString
from connect.api.data import Schema, SchemaBuilder, Struct, Type
from connect.api.errors import ConfigException, DataException
from connect.api.records import ConnectRecord, Headers
from connect.api.transforms import Transformation
from connect.transforms._util import R, SchemaCache, copy_schema_basics, require_map

__all__ = ["ExtractNewRecordState"]

log = logging.getLogger("connect.transforms.ExtractNewRecordState")

DELETED_FIELD: Final = "__deleted"
ENVELOPE_SUFFIX: Final = ".Envelope"
_TOP_LEVEL: Final = frozenset({"op", "ts_ms", "ts_us", "ts_ns"})
_TRANSACTION: Final = frozenset({"id", "total_order", "data_collection_order"})

_COMBINED_MODES: Final = {
    # delete.tombstone.handling.mode -> (drop.tombstones, delete.handling.mode)
    "drop": (True, "drop"),
    "tombstone": (False, "drop"),
    "rewrite": (True, "rewrite"),
    "rewrite-with-tombstone": (False, "rewrite"),
    "delete-to-tombstone": (True, "none"),
}

CONFIG: Final = (
    ConfigDef()
    .define(
        "drop.tombstones",
        ConfigType.BOOLEAN,
        True,
        Importance.LOW,
        "Debezium by default generates a tombstone record to enable Kafka compaction after a delete record "
        "was generated. This record is usually filtered out to avoid duplicates as a delete record is "
        "converted to a tombstone record, too.",
        group="Deletes",
    )
    .define(
        "delete.handling.mode",
        ConfigType.STRING,
        "drop",
        Importance.MEDIUM,
        "How to handle delete records. Options are: none - records are passed (value null), drop - records "
        "are removed (the default), rewrite - the row before the delete is passed with a __deleted field "
        "set to 'true' (and 'false' on every other record).",
        validator=ValidString.in_("drop", "rewrite", "none"),
        group="Deletes",
    )
    .define(
        "delete.tombstone.handling.mode",
        ConfigType.STRING,
        None,
        Importance.MEDIUM,
        "Newer single setting for deletes and tombstones; when set it overrides drop.tombstones and "
        "delete.handling.mode. drop - drop both; tombstone - keep only the tombstones; rewrite - rewrite "
        "deletes (see delete.handling.mode) and drop tombstones; rewrite-with-tombstone - rewrite deletes "
        "and keep tombstones; delete-to-tombstone - turn deletes into records with a null value and drop the "
        "original tombstones.",
        validator=ValidString.in_(*_COMBINED_MODES),
        group="Deletes",
    )
    .define(
        "add.fields",
        ConfigType.LIST,
        "",
        Importance.LOW,
        "Fields of the change event to add to the row, each prefixed with add.fields.prefix: 'op' and "
        "'ts_ms' are the envelope's own, 'id'/'total_order'/'data_collection_order' come from 'transaction', "
        "any other plain name from 'source' (e.g. 'table', 'lsn'); 'struct.field' names one explicitly and "
        "becomes '<prefix>struct_field' (e.g. source.ts_ms -> __source_ts_ms).",
        group="Metadata",
    )
    .define(
        "add.fields.prefix",
        ConfigType.STRING,
        "__",
        Importance.LOW,
        "Prefix of the fields added with add.fields.",
        group="Metadata",
    )
    .define(
        "add.headers",
        ConfigType.LIST,
        "",
        Importance.LOW,
        "Fields of the change event to add as headers (same names as add.fields).",
        group="Metadata",
    )
    .define(
        "add.headers.prefix",
        ConfigType.STRING,
        "__",
        Importance.LOW,
        "Prefix of the headers added with add.headers.",
        group="Metadata",
    )
    .define(
        "route.by.field",
        ConfigType.STRING,
        "",
        Importance.LOW,
        "Route each record to the topic named by this field of the row (of 'before' for deletes).",
        group="Routing",
    )
)


class _FieldRef(NamedTuple):
    struct: str | None  # None: a field of the envelope itself
    field: str
    name: str  # the added field's (or header's) name

    @property
    def path(self) -> str:
        return self.field if self.struct is None else f"{self.struct}.{self.field}"


def _field_ref(prefix: str, spec: str, key: str) -> _FieldRef:
    parts = spec.strip().split(".")
    if len(parts) == 1 and parts[0]:
        name = parts[0]
        struct = None if name in _TOP_LEVEL else "transaction" if name in _TRANSACTION else "source"
        return _FieldRef(struct, name, prefix + name)
    if len(parts) == 2 and all(parts):
        return _FieldRef(parts[0], parts[1], f"{prefix}{parts[0]}_{parts[1]}")
    raise ConfigException(key, spec, "Expected a field name or struct.field")


class _Plan(NamedTuple):
    """What is derived once per envelope schema."""

    row_schema: Schema  # the schema of 'after' (and 'before')
    out_schema: Schema  # the row plus the added fields
    names: tuple[str, ...]  # the row's field names
    fields: tuple[tuple[_FieldRef, Schema], ...]
    headers: tuple[tuple[_FieldRef, Schema], ...]


def _optional(schema: Schema) -> Schema:
    if schema.optional:
        return schema
    return Schema(
        schema.type,
        optional=True,
        default_value=schema.default_value,
        name=schema.name,
        version=schema.version,
        doc=schema.doc,
        parameters=schema.parameters,
        fields=schema.fields if schema.type is Type.STRUCT else None,
        key_schema=schema.key_schema,
        value_schema=schema.value_schema,
    )


class ExtractNewRecordState(Transformation[R]):
    """Unwrap Debezium change events (``io.debezium.transforms.ExtractNewRecordState``).

    Works on Struct envelopes (value schema named ``*.Envelope``) and on schemaless dict envelopes
    (with ``op`` and ``after``/``before``). Other records (heartbeats, schema changes) pass unchanged;
    truncate (``op=t``) and message (``op=m``) events are dropped. The key is kept.
    """

    aliases = ("ExtractNewRecordState", "io.debezium.transforms.ExtractNewRecordState")

    def __init__(self) -> None:
        self._drop_tombstones = True
        self._deletes = "drop"
        self._fields: tuple[_FieldRef, ...] = ()
        self._headers: tuple[_FieldRef, ...] = ()
        self._route = ""
        self._cache: SchemaCache[_Plan] = SchemaCache()

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = CONFIG.parse(props)
        self._drop_tombstones = values["drop.tombstones"]
        self._deletes = values["delete.handling.mode"]
        combined = values["delete.tombstone.handling.mode"]
        if combined is not None:
            self._drop_tombstones, self._deletes = _COMBINED_MODES[combined]
        self._fields = tuple(
            _field_ref(values["add.fields.prefix"], s, "add.fields") for s in values["add.fields"]
        )
        self._headers = tuple(
            _field_ref(values["add.headers.prefix"], s, "add.headers") for s in values["add.headers"]
        )
        self._route = values["route.by.field"]
        self._cache.clear()

    def apply(self, record: R) -> R | None:
        value = record.value
        if value is None:
            return None if self._drop_tombstones else record
        schema = record.value_schema
        if schema is None:
            if isinstance(value, dict) and "op" in value and ("after" in value or "before" in value):
                return self._schemaless(record, value)
            return record
        if (
            schema.type is not Type.STRUCT
            or not isinstance(value, Struct)
            or not (schema.name or "").endswith(ENVELOPE_SUFFIX)
        ):
            log.debug("Expected an Envelope for transformation, passing %s unchanged", schema)
            return record
        return self._with_schema(record, value)

    # -- Struct envelopes ------------------------------------------------------------------------------

    def _with_schema(self, record: R, envelope: Struct) -> R | None:
        plan = self._cache.get(envelope.schema)
        if plan is None:
            plan = self._cache.put(envelope.schema, self._plan(envelope.schema))
        op = envelope.get("op") if envelope.schema.field("op") is not None else None
        if op == "t" or op == "m":
            return None
        row: Struct | None = envelope.get("after")
        deleted = row is None
        if deleted:
            if self._deletes == "drop":
                return None
            if self._deletes == "rewrite":
                row = envelope.get("before")
        headers = self._added_headers(record, plan, envelope)
        topic = self._topic(record, row)
        if row is None:
            return _new(record, headers, topic=topic, value_schema=plan.row_schema, value=None)
        if not plan.fields and self._deletes != "rewrite":
            return _new(record, headers, topic=topic, value_schema=plan.row_schema, value=row)
        values = {name: row.get_without_default(name) for name in plan.names}
        for ref, _ in plan.fields:
            values[ref.name] = _envelope_value(envelope, ref)
        if self._deletes == "rewrite":
            values[DELETED_FIELD] = "true" if deleted else "false"
        return _new(
            record, headers, topic=topic, value_schema=plan.out_schema, value=Struct(plan.out_schema, values)
        )

    def _plan(self, envelope: Schema) -> _Plan:
        after = envelope.field("after") or envelope.field("before")
        if after is None or after.schema.type is not Type.STRUCT:
            raise DataException(f"Change event envelope {envelope.name} has no 'after' struct")
        row_schema = after.schema
        fields = tuple((ref, _optional(_ref_schema(envelope, ref, "add.fields"))) for ref in self._fields)
        headers = tuple((ref, _optional(_ref_schema(envelope, ref, "add.headers"))) for ref in self._headers)
        builder = copy_schema_basics(row_schema, SchemaBuilder.struct())
        for f in row_schema.fields:
            builder.field(f.name, f.schema)
        for ref, schema in fields:
            builder.field(ref.name, schema)
        if self._deletes == "rewrite":
            builder.field(DELETED_FIELD, Schema.OPTIONAL_STRING_SCHEMA)
        if row_schema.optional:
            builder.optional()
        names = tuple(f.name for f in row_schema.fields)
        return _Plan(row_schema, builder.build(), names, fields, headers)

    @staticmethod
    def _added_headers(record: ConnectRecord, plan: _Plan, envelope: Struct) -> Headers | None:
        if not plan.headers:
            return None
        headers = record.headers.duplicate()
        for ref, schema in plan.headers:
            headers.add(ref.name, _envelope_value(envelope, ref), schema)
        return headers

    def _topic(self, record: ConnectRecord, row: Any) -> str:
        if not self._route:
            return record.topic
        target = row.get(self._route) if isinstance(row, Struct | dict) else None
        if target is None:
            raise DataException(f"route.by.field: the row has no value for field {self._route!r}")
        return str(target)

    # -- dict envelopes --------------------------------------------------------------------------------

    def _schemaless(self, record: R, envelope: dict[str, Any]) -> R | None:
        op = envelope.get("op")
        if op == "t" or op == "m":
            return None
        row = envelope.get("after")
        deleted = row is None
        if deleted:
            if self._deletes == "drop":
                return None
            if self._deletes == "rewrite":
                row = envelope.get("before")
        headers = None
        if self._headers:
            headers = record.headers.duplicate()
            for ref in self._headers:
                headers.add(ref.name, _dict_value(envelope, ref))
        topic = self._topic(record, row)
        if row is None:
            return _new(record, headers, topic=topic, value=None)
        out = dict(require_map(row, "unwrapping the change event"))
        for ref in self._fields:
            out[ref.name] = _dict_value(envelope, ref)
        if self._deletes == "rewrite":
            out[DELETED_FIELD] = "true" if deleted else "false"
        return _new(record, headers, topic=topic, value=out)

    def close(self) -> None:
        self._cache.clear()


def _new(record: R, headers: Headers | None, **changes: Any) -> R:
    """A copy of ``record`` with ``changes``; its headers are replaced only when ``headers`` is given."""
    if headers is None:
        return record.new_record(**changes)
    return record.new_record(headers=headers, **changes)


def _ref_schema(envelope: Schema, ref: _FieldRef, key: str) -> Schema:
    if ref.struct is None:
        field = envelope.field(ref.field)
    else:
        parent = envelope.field(ref.struct)
        if parent is None or parent.schema.type is not Type.STRUCT:
            raise DataException(f"{key}: the change event {envelope.name} has no struct {ref.struct!r}")
        field = parent.schema.field(ref.field)
    if field is None:
        raise DataException(f"{key}: the change event {envelope.name} has no field {ref.path!r}")
    return field.schema


def _envelope_value(envelope: Struct, ref: _FieldRef) -> Any:
    if ref.struct is None:
        return envelope.get(ref.field)
    parent = envelope.get(ref.struct)
    return None if parent is None else parent.get(ref.field)


def _dict_value(envelope: dict[str, Any], ref: _FieldRef) -> Any:
    if ref.struct is None:
        return envelope.get(ref.field)
    parent = envelope.get(ref.struct)
    return parent.get(ref.field) if isinstance(parent, dict) else None
