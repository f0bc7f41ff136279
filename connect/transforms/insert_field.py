"""InsertField: add record metadata (topic, partition, offset, timestamp) and a static field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from connect.api.config import ConfigDef, ConfigType, Importance
from connect.api.data import Schema, SchemaBuilder, Struct, Timestamp
from connect.transforms._util import (
    KAFKA_PREFIX,
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    OnKey,
    OnValue,
    R,
    SchemaCache,
    copy_schema_basics,
    define_replace_null,
    require_map,
    require_sink_record,
    require_struct,
    struct_values,
)

__all__ = ["InsertField", "InsertFieldKey", "InsertFieldValue"]

_OPTIONALITY_DOC: Final = (
    "Suffix with '!' to make this a required field, or '?' to keep it optional (the default)."
)
PURPOSE: Final = "field insertion"
_OPTIONAL_TIMESTAMP: Final = Timestamp.builder().optional().build()

CONFIG: Final = define_replace_null(
    ConfigDef()
    .define(
        "topic.field",
        ConfigType.STRING,
        None,
        Importance.MEDIUM,
        "Field name for Kafka topic. " + _OPTIONALITY_DOC,
    )
    .define(
        "partition.field",
        ConfigType.STRING,
        None,
        Importance.MEDIUM,
        "Field name for Kafka partition. " + _OPTIONALITY_DOC,
    )
    .define(
        "offset.field",
        ConfigType.STRING,
        None,
        Importance.MEDIUM,
        "Field name for Kafka offset - only applicable to sink connectors. " + _OPTIONALITY_DOC,
    )
    .define(
        "timestamp.field",
        ConfigType.STRING,
        None,
        Importance.MEDIUM,
        "Field name for record timestamp. " + _OPTIONALITY_DOC,
    )
    .define(
        "static.field",
        ConfigType.STRING,
        None,
        Importance.MEDIUM,
        "Field name for static data field. " + _OPTIONALITY_DOC,
    )
    .define(
        "static.value",
        ConfigType.STRING,
        None,
        Importance.MEDIUM,
        "Static field value, if field name configured.",
    )
)


class _Spec(NamedTuple):
    name: str
    optional: bool


def _spec(raw: str | None) -> _Spec | None:
    if not raw:
        return None
    if raw.endswith("?"):
        return _Spec(raw[:-1], True)
    if raw.endswith("!"):
        return _Spec(raw[:-1], False)
    return _Spec(raw, True)


class InsertField(KeyOrValue[R]):
    """Insert field(s) using attributes from the record metadata or a configured static value.

    Works on a Struct (the schema gains the fields: topic STRING, partition INT32, offset INT64,
    timestamp as the Timestamp logical type, static STRING) or on a schemaless dict. Records whose
    key/value is null (tombstones) pass unchanged. Use :class:`InsertFieldKey` or
    :class:`InsertFieldValue`.
    """

    def __init__(self) -> None:
        self._topic: _Spec | None = None
        self._partition: _Spec | None = None
        self._offset: _Spec | None = None
        self._timestamp: _Spec | None = None
        self._static: _Spec | None = None
        self._static_value: str | None = None
        self._replace_null = True
        self._applicable = False
        self._cache: SchemaCache[tuple[Schema, tuple[str, ...]]] = SchemaCache()

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = CONFIG.parse(props)
        self._topic = _spec(values["topic.field"])
        self._partition = _spec(values["partition.field"])
        self._offset = _spec(values["offset.field"])
        self._timestamp = _spec(values["timestamp.field"])
        self._static = _spec(values["static.field"])
        self._static_value = values["static.value"]
        self._replace_null = values[REPLACE_NULL_WITH_DEFAULT]
        self._applicable = any((self._topic, self._partition, self._offset, self._timestamp, self._static))
        self._cache.clear()

    def apply(self, record: R) -> R:
        value = self.operating_value(record)
        if value is None or not self._applicable:
            return record
        schema = self.operating_schema(record)
        if schema is None:
            return self._schemaless(record, require_map(value, PURPOSE))
        return self._with_schema(record, require_struct(value, PURPOSE))

    def _schemaless(self, record: R, value: dict[str, Any]) -> R:
        updated = dict(value)
        if self._topic is not None:
            updated[self._topic.name] = record.topic
        if self._partition is not None and record.kafka_partition is not None:
            updated[self._partition.name] = record.kafka_partition
        if self._offset is not None:
            updated[self._offset.name] = require_sink_record(record, "offset insertion").kafka_offset
        if self._timestamp is not None and record.timestamp is not None:
            updated[self._timestamp.name] = record.timestamp
        if self._static is not None and self._static_value is not None:
            updated[self._static.name] = self._static_value
        return self.updated(record, None, updated)

    def _with_schema(self, record: R, value: Struct) -> R:
        schema = value.schema
        cached = self._cache.get(schema)
        if cached is None:
            cached = self._cache.put(
                schema, (self._updated_schema(schema), tuple(f.name for f in schema.fields))
            )
        updated_schema, names = cached
        values = struct_values(value, names, self._replace_null)
        if self._topic is not None:
            values[self._topic.name] = record.topic
        if self._partition is not None and record.kafka_partition is not None:
            values[self._partition.name] = record.kafka_partition
        if self._offset is not None:
            values[self._offset.name] = require_sink_record(record, "offset insertion").kafka_offset
        if self._timestamp is not None and record.timestamp is not None:
            values[self._timestamp.name] = Timestamp.to_logical(Timestamp.SCHEMA, record.timestamp)
        if self._static is not None and self._static_value is not None:
            values[self._static.name] = self._static_value
        return self.updated(record, updated_schema, Struct(updated_schema, values))

    def _updated_schema(self, schema: Schema) -> Schema:
        builder = copy_schema_basics(schema, SchemaBuilder.struct())
        for f in schema.fields:
            builder.field(f.name, f.schema)
        for spec, optional_schema, required_schema in (
            (self._topic, Schema.OPTIONAL_STRING_SCHEMA, Schema.STRING_SCHEMA),
            (self._partition, Schema.OPTIONAL_INT32_SCHEMA, Schema.INT32_SCHEMA),
            (self._offset, Schema.OPTIONAL_INT64_SCHEMA, Schema.INT64_SCHEMA),
            (self._timestamp, _OPTIONAL_TIMESTAMP, Timestamp.SCHEMA),
            (self._static, Schema.OPTIONAL_STRING_SCHEMA, Schema.STRING_SCHEMA),
        ):
            if spec is not None:
                builder.field(spec.name, optional_schema if spec.optional else required_schema)
        if schema.optional:
            builder.optional()
        return builder.build()

    def close(self) -> None:
        self._cache.clear()


class InsertFieldKey(InsertField[R], OnKey[R]):
    """Insert record metadata or a static value as fields of the record key."""

    aliases = ("InsertField$Key", KAFKA_PREFIX + "InsertField$Key")


class InsertFieldValue(InsertField[R], OnValue[R]):
    """Insert record metadata or a static value as fields of the record value."""

    aliases = ("InsertField$Value", KAFKA_PREFIX + "InsertField$Value")
