"""ValueToKey: replace the record key with a new key formed from fields of the value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connect.api.config import ConfigDef, ConfigType, Importance
from connect.api.data import Schema, SchemaBuilder, Struct
from connect.api.errors import DataException
from connect.api.transforms import Transformation
from connect.transforms._util import (
    KAFKA_PREFIX,
    REPLACE_NULL_WITH_DEFAULT,
    R,
    SchemaCache,
    define_replace_null,
    non_empty_list,
    require_map_or_null,
    require_struct,
)

__all__ = ["ValueToKey"]

PURPOSE: Final = "copying fields from value to key"

CONFIG: Final = define_replace_null(
    ConfigDef().define(
        "fields",
        ConfigType.LIST,
        importance=Importance.HIGH,
        doc="Field names on the record value to extract as the record key.",
        validator=non_empty_list(unique=True),
    )
)


class ValueToKey(Transformation[R]):
    """The key becomes a Struct (or, schemaless, a dict) of the configured value fields.

    With a schema, every field must exist in the value's schema (DataException otherwise); the key
    schema is derived once per value schema. A schemaless tombstone gives a key of nulls.
    """

    aliases = ("ValueToKey", KAFKA_PREFIX + "ValueToKey")

    def __init__(self) -> None:
        self._fields: tuple[str, ...] = ()
        self._replace_null = True
        self._cache: SchemaCache[Schema] = SchemaCache()

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = CONFIG.parse(props)
        self._fields = tuple(values["fields"])
        self._replace_null = values[REPLACE_NULL_WITH_DEFAULT]
        self._cache.clear()

    def apply(self, record: R) -> R:
        if record.value_schema is None:
            value = require_map_or_null(record.value, PURPOSE)
            key_map = {f: None if value is None else value.get(f) for f in self._fields}
            return record.new_record(key_schema=None, key=key_map)
        struct = require_struct(record.value, PURPOSE)
        key_schema = self._cache.get(struct.schema)
        if key_schema is None:
            key_schema = self._cache.put(struct.schema, self._key_schema(struct.schema))
        get = struct.get if self._replace_null else struct.get_without_default
        key = Struct(key_schema, {f: get(f) for f in self._fields})
        return record.new_record(key_schema=key_schema, key=key)

    def _key_schema(self, value_schema: Schema) -> Schema:
        builder = SchemaBuilder.struct()
        for name in self._fields:
            field = value_schema.field(name)
            if field is None:
                known = ", ".join(f.name for f in value_schema.fields)
                raise DataException(f"Field does not exist: {name} (the value has: {known})")
            builder.field(name, field.schema)
        return builder.build()

    def close(self) -> None:
        self._cache.clear()
