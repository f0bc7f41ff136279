"""HoistField: wrap the key/value in a Struct (or dict) with a single field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connect.api.config import ConfigDef, ConfigType, Importance, NonEmptyString
from connect.api.data import Schema, SchemaBuilder, Struct
from connect.transforms._util import KAFKA_PREFIX, KeyOrValue, OnKey, OnValue, R, SchemaCache

__all__ = ["HoistField", "HoistFieldKey", "HoistFieldValue"]

CONFIG: Final = ConfigDef().define(
    "field",
    ConfigType.STRING,
    importance=Importance.MEDIUM,
    doc="Field name for the single field that will be created in the resulting Struct or Map.",
    validator=NonEmptyString(),
)


class HoistField(KeyOrValue[R]):
    """``{field: value}``: a Struct whose one field has the original schema, or a dict (schemaless)."""

    def __init__(self) -> None:
        self._field = ""
        self._cache: SchemaCache[Schema] = SchemaCache()

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        self._field = CONFIG.parse(props)["field"]
        self._cache.clear()

    def apply(self, record: R) -> R:
        schema = self.operating_schema(record)
        value = self.operating_value(record)
        if schema is None:
            return self.updated(record, None, {self._field: value})
        updated_schema = self._cache.get(schema)
        if updated_schema is None:
            updated_schema = self._cache.put(
                schema, SchemaBuilder.struct().field(self._field, schema).build()
            )
        return self.updated(record, updated_schema, Struct(updated_schema, {self._field: value}))

    def close(self) -> None:
        self._cache.clear()


class HoistFieldKey(HoistField[R], OnKey[R]):
    """Wrap the record key in a single-field Struct or dict."""

    aliases = ("HoistField$Key", KAFKA_PREFIX + "HoistField$Key")


class HoistFieldValue(HoistField[R], OnValue[R]):
    """Wrap the record value in a single-field Struct or dict."""

    aliases = ("HoistField$Value", KAFKA_PREFIX + "HoistField$Value")
