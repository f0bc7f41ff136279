"""SetSchemaMetadata: set the name and/or version of the key/value schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connect.api.config import ConfigDef, ConfigType, Importance
from connect.api.data import Schema, Struct, Type
from connect.api.errors import ConfigException
from connect.transforms._util import (
    KAFKA_PREFIX,
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    OnKey,
    OnValue,
    R,
    SchemaCache,
    define_replace_null,
    require_schema,
)

__all__ = ["SetSchemaMetadata", "SetSchemaMetadataKey", "SetSchemaMetadataValue"]

PURPOSE: Final = "updating schema metadata"

CONFIG: Final = define_replace_null(
    ConfigDef()
    .define("schema.name", ConfigType.STRING, None, Importance.HIGH, "Schema name to set.")
    .define("schema.version", ConfigType.INT, None, Importance.HIGH, "Schema version to set.")
)


class SetSchemaMetadata(KeyOrValue[R]):
    """Replace the schema's name and/or version, keeping everything else (a schema is required).

    A Struct key/value is rebuilt on the new schema so that it stays valid; other values are kept.
    """

    def __init__(self) -> None:
        self._name: str | None = None
        self._version: int | None = None
        self._replace_null = True
        self._cache: SchemaCache[Schema] = SchemaCache()

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = CONFIG.parse(props)
        self._name = values["schema.name"] or None
        self._version = values["schema.version"]
        if self._name is None and self._version is None:
            raise ConfigException("Neither schema name nor version configured")
        self._replace_null = values[REPLACE_NULL_WITH_DEFAULT]
        self._cache.clear()

    def apply(self, record: R) -> R:
        schema = require_schema(self.operating_schema(record), PURPOSE)
        updated_schema = self._cache.get(schema)
        if updated_schema is None:
            updated_schema = self._cache.put(schema, self._updated_schema(schema))
        value = self.operating_value(record)
        if isinstance(value, Struct) and schema.type is Type.STRUCT:
            get = value.get if self._replace_null else value.get_without_default
            value = Struct(updated_schema, {f.name: get(f.name) for f in schema.fields})
        return self.updated(record, updated_schema, value)

    def _updated_schema(self, schema: Schema) -> Schema:
        return Schema(
            schema.type,
            optional=schema.optional,
            default_value=schema.default_value,
            name=self._name if self._name is not None else schema.name,
            version=self._version if self._version is not None else schema.version,
            doc=schema.doc,
            parameters=schema.parameters,
            fields=schema.fields if schema.type is Type.STRUCT else None,
            key_schema=schema.key_schema,
            value_schema=schema.value_schema,
        )

    def close(self) -> None:
        self._cache.clear()


class SetSchemaMetadataKey(SetSchemaMetadata[R], OnKey[R]):
    """Set the name and/or version of the record key's schema."""

    aliases = ("SetSchemaMetadata$Key", KAFKA_PREFIX + "SetSchemaMetadata$Key")


class SetSchemaMetadataValue(SetSchemaMetadata[R], OnValue[R]):
    """Set the name and/or version of the record value's schema."""

    aliases = ("SetSchemaMetadata$Value", KAFKA_PREFIX + "SetSchemaMetadata$Value")
