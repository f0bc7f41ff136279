"""Flatten: nested Structs (or dicts) become top-level fields named ``outer<delimiter>inner``."""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Mapping
from typing import Any, Final

from connect.api.config import ConfigDef, ConfigType, Importance
from connect.api.data import Schema, SchemaBuilder, Struct, Type
from connect.api.errors import DataException
from connect.transforms._util import (
    KAFKA_PREFIX,
    KeyOrValue,
    OnKey,
    OnValue,
    R,
    SchemaCache,
    copy_schema_basics,
    require_map,
    require_struct,
)

__all__ = ["Flatten", "FlattenKey", "FlattenValue"]

PURPOSE: Final = "flattening"

CONFIG: Final = ConfigDef().define(
    "delimiter",
    ConfigType.STRING,
    ".",
    Importance.MEDIUM,
    "Delimiter to insert between field names from the input record when generating field names for the "
    "output record",
)

_LEAF_TYPES: Final = (
    str,
    int,
    float,
    bytes,
    bytearray,
    memoryview,
    list,
    tuple,
    decimal.Decimal,
    _dt.date,
    _dt.time,
)

# One step of the plan that copies a struct's leaves: (output name, path of field names to the leaf).
_Plan = tuple[tuple[str, tuple[str, ...]], ...]


class Flatten(KeyOrValue[R]):
    """Flatten nested structures.

    With a schema, nested STRUCT fields are expanded recursively; fields below an optional struct
    become optional, and defaults of ancestors carry over; ARRAY and MAP fields are kept as they are.
    Without a schema, nested dicts are expanded and other values kept (a Struct inside a dict is a
    DataException). Null keys/values pass unchanged.
    """

    def __init__(self) -> None:
        self._delimiter = "."
        self._cache: SchemaCache[tuple[Schema, _Plan]] = SchemaCache()

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        self._delimiter = CONFIG.parse(props)["delimiter"]
        self._cache.clear()

    def _name(self, prefix: str, name: str) -> str:
        return f"{prefix}{self._delimiter}{name}" if prefix else name

    def apply(self, record: R) -> R:
        value = self.operating_value(record)
        if value is None:
            return record
        if self.operating_schema(record) is None:
            out: dict[str, Any] = {}
            self._flatten_map(require_map(value, PURPOSE), "", out)
            return self.updated(record, None, out)
        struct = require_struct(value, PURPOSE)
        cached = self._cache.get(struct.schema)
        if cached is None:
            cached = self._cache.put(struct.schema, self._build(struct.schema))
        updated_schema, plan = cached
        values: dict[str, Any] = {}
        for name, path in plan:
            current: Any = struct
            for step in path:
                current = current.get(step)
                if current is None:
                    break
            values[name] = current
        return self.updated(record, updated_schema, Struct(updated_schema, values))

    # -- schemaless ------------------------------------------------------------------------------------

    def _flatten_map(self, value: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
        for key, item in value.items():
            name = self._name(prefix, str(key))
            if item is None or isinstance(item, _LEAF_TYPES):  # bool is an int
                out[name] = item
            elif isinstance(item, dict):
                self._flatten_map(item, name, out)
            else:
                raise DataException(
                    f"Flatten transformation does not support {type(item).__name__} for record without "
                    f"schemas (for field {name})."
                )

    # -- with schema -----------------------------------------------------------------------------------

    def _build(self, schema: Schema) -> tuple[Schema, _Plan]:
        builder = copy_schema_basics(schema, SchemaBuilder.struct())
        plan: list[tuple[str, tuple[str, ...]]] = []
        default = schema.default_value if isinstance(schema.default_value, Struct) else None
        self._build_fields(schema, "", (), builder, schema.optional, default, plan)
        if schema.optional:
            builder.optional()
        return builder.build(), tuple(plan)

    def _build_fields(
        self,
        schema: Schema,
        prefix: str,
        path: tuple[str, ...],
        builder: SchemaBuilder,
        optional: bool,
        parent_default: Struct | None,
        plan: list[tuple[str, tuple[str, ...]]],
    ) -> None:
        for field in schema.fields:
            name = self._name(prefix, field.name)
            fs = field.schema
            field_optional = optional or fs.optional
            default = fs.default_value
            if default is None and parent_default is not None:
                default = parent_default.get(field.name)
            if fs.type is Type.STRUCT:
                self._build_fields(
                    fs,
                    name,
                    (*path, field.name),
                    builder,
                    field_optional,
                    default if isinstance(default, Struct) else None,
                    plan,
                )
                continue
            builder.field(name, _converted(fs, field_optional, default))
            plan.append((name, (*path, field.name)))

    def close(self) -> None:
        self._cache.clear()


def _converted(schema: Schema, optional: bool, default: Any) -> Schema:
    if optional == schema.optional and default is schema.default_value:
        return schema
    return Schema(
        schema.type,
        optional=optional,
        default_value=default,
        name=schema.name,
        version=schema.version,
        doc=schema.doc,
        parameters=schema.parameters,
        key_schema=schema.key_schema,
        value_schema=schema.value_schema,
    )


class FlattenKey(Flatten[R], OnKey[R]):
    """Flatten a nested record key."""

    aliases = ("Flatten$Key", KAFKA_PREFIX + "Flatten$Key")


class FlattenValue(Flatten[R], OnValue[R]):
    """Flatten a nested record value."""

    aliases = ("Flatten$Value", KAFKA_PREFIX + "Flatten$Value")
