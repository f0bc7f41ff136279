"""Header transformations: HeaderFrom, InsertHeader and DropHeaders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connect.api.config import ConfigDef, ConfigType, Importance, NonNullValidator, ValidString
from connect.api.data import Schema, SchemaAndValue, SchemaBuilder, Struct
from connect.api.errors import ConfigException, DataException
from connect.api.records import Headers
from connect.api.transforms import Transformation
from connect.converters.header import parse_string
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
    non_empty_list,
    require_map,
    require_struct,
)

__all__ = ["DropHeaders", "HeaderFrom", "HeaderFromKey", "HeaderFromValue", "InsertHeader"]

HEADER_FROM_CONFIG: Final = define_replace_null(
    ConfigDef()
    .define(
        "fields",
        ConfigType.LIST,
        importance=Importance.HIGH,
        doc="Field names in the record whose values are to be copied or moved to headers.",
        validator=non_empty_list(),
    )
    .define(
        "headers",
        ConfigType.LIST,
        importance=Importance.HIGH,
        doc="Header names, in the same order as the field names listed in the fields configuration property.",
        validator=non_empty_list(),
    )
    .define(
        "operation",
        ConfigType.STRING,
        importance=Importance.HIGH,
        doc="Either move if the fields are to be moved to the headers (removed from the key/value), or "
        "copy if the fields are to be copied to the headers (retained in the key/value).",
        validator=ValidString.in_("move", "copy"),
    )
)

# (header name, field name, field schema) per moved/copied field, and the value's schema afterwards
_Plan = tuple[Schema, tuple[tuple[str, str, Schema], ...], tuple[str, ...]]


class HeaderFrom(KeyOrValue[R]):
    """Copy or move fields of the key/value into headers (with the field's schema when there is one).

    ``fields`` and ``headers`` pair up by position. Moving removes the fields from the Struct (its
    schema is derived once per input schema) or dict. Null keys/values pass unchanged.
    """

    def __init__(self) -> None:
        self._pairs: tuple[tuple[str, str], ...] = ()
        self._move = False
        self._replace_null = True
        self._cache: SchemaCache[_Plan] = SchemaCache()

    def config(self) -> ConfigDef:
        return HEADER_FROM_CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = HEADER_FROM_CONFIG.parse(props)
        fields, headers = values["fields"], values["headers"]
        if len(fields) != len(headers):
            raise ConfigException(
                "headers",
                ",".join(headers),
                f"'fields' config must have the same number of elements as 'headers' config "
                f"({len(fields)} != {len(headers)}).",
            )
        self._pairs = tuple(zip(headers, fields, strict=True))
        self._move = values["operation"] == "move"
        self._replace_null = values[REPLACE_NULL_WITH_DEFAULT]
        self._cache.clear()

    def apply(self, record: R) -> R:
        value = self.operating_value(record)
        if value is None:
            return record
        headers = record.headers.duplicate()
        if self.operating_schema(record) is None:
            mapping = require_map(value, "header " + ("move" if self._move else "copy"))
            for header, field in self._pairs:
                headers.add(header, mapping.get(field))
            if self._move:
                moved = {f for _, f in self._pairs}
                mapping = {k: v for k, v in mapping.items() if k not in moved}
            return self.updated(record, None, mapping, headers)
        struct = require_struct(value, "header " + ("move" if self._move else "copy"))
        plan = self._cache.get(struct.schema)
        if plan is None:
            plan = self._cache.put(struct.schema, self._plan(struct.schema))
        updated_schema, fields, kept = plan
        get = struct.get if self._replace_null else struct.get_without_default
        for header, field, schema in fields:
            headers.add(header, get(field), schema)
        if not self._move:
            return record.new_record(headers=headers)
        updated = Struct(updated_schema, {name: get(name) for name in kept})
        return self.updated(record, updated_schema, updated, headers)

    def _plan(self, schema: Schema) -> _Plan:
        fields: list[tuple[str, str, Schema]] = []
        for header, name in self._pairs:
            field = schema.field(name)
            if field is None:
                raise DataException(f"Field {name} not found in schema {schema!r}")
            fields.append((header, name, field.schema))
        moved = {name for _, name in self._pairs} if self._move else set()
        kept = tuple(f.name for f in schema.fields if f.name not in moved)
        if not self._move:
            return schema, tuple(fields), kept
        builder = copy_schema_basics(schema, SchemaBuilder.struct())
        for f in schema.fields:
            if f.name not in moved:
                builder.field(f.name, f.schema)
        if schema.optional:
            builder.optional()
        return builder.build(), tuple(fields), kept

    def close(self) -> None:
        self._cache.clear()


class HeaderFromKey(HeaderFrom[R], OnKey[R]):
    """Copy or move fields of the record key into headers."""

    aliases = ("HeaderFrom$Key", KAFKA_PREFIX + "HeaderFrom$Key")


class HeaderFromValue(HeaderFrom[R], OnValue[R]):
    """Copy or move fields of the record value into headers."""

    aliases = ("HeaderFrom$Value", KAFKA_PREFIX + "HeaderFrom$Value")


INSERT_HEADER_CONFIG: Final = (
    ConfigDef()
    .define(
        "header",
        ConfigType.STRING,
        importance=Importance.HIGH,
        doc="The name of the header.",
        validator=NonNullValidator(),
    )
    .define(
        "value.literal",
        ConfigType.STRING,
        importance=Importance.HIGH,
        doc="The literal value that is to be set as the header value on all records. Its schema is inferred "
        "as Kafka's Values.parseString does (true/false, numbers, ISO dates, [..] and {..}, else a string).",
        validator=NonNullValidator(),
    )
)


class InsertHeader(Transformation[R]):
    """Add a header with a literal value (parsed once into a typed value) to every record."""

    aliases = ("InsertHeader", KAFKA_PREFIX + "InsertHeader")

    def __init__(self) -> None:
        self._header = ""
        self._value = SchemaAndValue(Schema.STRING_SCHEMA, "")

    def config(self) -> ConfigDef:
        return INSERT_HEADER_CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = INSERT_HEADER_CONFIG.parse(props)
        self._header = values["header"]
        # ConfigDef trims strings; the literal keeps its spaces as Kafka's does.
        raw = props.get("value.literal")
        literal = raw if isinstance(raw, str) else values["value.literal"]
        self._value = parse_string(literal)

    def apply(self, record: R) -> R:
        headers = record.headers.duplicate()
        headers.add(self._header, self._value.value, self._value.schema)
        return record.new_record(headers=headers)


DROP_HEADERS_CONFIG: Final = ConfigDef().define(
    "headers",
    ConfigType.LIST,
    importance=Importance.HIGH,
    doc="The name of the headers to be removed.",
    validator=non_empty_list(),
)


class DropHeaders(Transformation[R]):
    """Remove every header whose key is listed in ``headers``."""

    aliases = ("DropHeaders", KAFKA_PREFIX + "DropHeaders")

    def __init__(self) -> None:
        self._names: frozenset[str] = frozenset()

    def config(self) -> ConfigDef:
        return DROP_HEADERS_CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        self._names = frozenset(DROP_HEADERS_CONFIG.parse(props)["headers"])

    def apply(self, record: R) -> R:
        names = self._names
        headers = record.headers
        if not any(h.key in names for h in headers):
            return record
        return record.new_record(headers=Headers(h for h in headers if h.key not in names))
