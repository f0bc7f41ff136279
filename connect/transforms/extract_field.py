"""ExtractField: replace the key/value with one of its fields (nested with ``field.syntax.version=V2``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connect.api.config import CaseInsensitiveValidString, ConfigDef, ConfigType, Importance, NonEmptyString
from connect.api.data import Schema, Type
from connect.api.errors import ConfigException, DataException
from connect.transforms._util import (
    KAFKA_PREFIX,
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    OnKey,
    OnValue,
    R,
    SchemaCache,
    define_replace_null,
    require_map_or_null,
    require_struct_or_null,
)

__all__ = ["ExtractField", "ExtractFieldKey", "ExtractFieldValue", "parse_field_path"]

PURPOSE: Final = "field extraction"

CONFIG: Final = define_replace_null(
    ConfigDef()
    .define(
        "field",
        ConfigType.STRING,
        importance=Importance.MEDIUM,
        doc="Field name to extract.",
        validator=NonEmptyString(),
    )
    .define(
        "field.syntax.version",
        ConfigType.STRING,
        "V1",
        Importance.HIGH,
        "Defines the syntax for accessing fields. V1 limits field paths to elements at the root level of the "
        "struct or map. V2 supports accessing nested elements using dotted notation, with backticks around a "
        "name that contains dots (a backtick inside such a name is written \\`).",
        validator=CaseInsensitiveValidString.in_("V1", "V2"),
    )
)


def parse_field_path(path: str, version: str = "V1") -> tuple[str, ...]:
    """The steps of a field path: ``V1`` is one root-level name, ``V2`` is dotted with backtick quoting."""
    if version.upper() == "V1":
        return (path,)
    steps: list[str] = []
    i, n = 0, len(path)
    while i <= n:
        if i < n and path[i] == "`":
            name: list[str] = []
            j = i + 1
            while j < n:
                if path[j] == "\\" and j + 1 < n and path[j + 1] == "`":
                    name.append("`")
                    j += 2
                elif path[j] == "`" and (j + 1 == n or path[j + 1] == "."):
                    break
                else:
                    name.append(path[j])
                    j += 1
            if j >= n:
                raise ConfigException("field", path, "Unclosed backtick in field path")
            steps.append("".join(name))
            i = j + 2
        else:
            end = path.find(".", i)
            end = n if end < 0 else end
            steps.append(path[i:end])
            i = end + 1
    if any(not s for s in steps):
        raise ConfigException("field", path, "Empty field name in field path")
    return tuple(steps)


class ExtractField(KeyOrValue[R]):
    """Extract a field from a Struct (the result's schema is the field's) or a dict (schemaless).

    A null key/value gives null; in schemaless mode a missing field gives null; with a schema an
    unknown field is a DataException. With ``field.syntax.version=V2``, ``after.id`` reads ``id`` of
    the ``after`` struct (null when ``after`` is null).
    """

    def __init__(self) -> None:
        self._path: tuple[str, ...] = ()
        self._replace_null = True
        self._cache: SchemaCache[Schema] = SchemaCache()

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = CONFIG.parse(props)
        self._path = parse_field_path(values["field"], values["field.syntax.version"])
        self._replace_null = values[REPLACE_NULL_WITH_DEFAULT]
        self._cache.clear()

    def apply(self, record: R) -> R:
        schema = self.operating_schema(record)
        value = self.operating_value(record)
        if schema is None:
            current: Any = require_map_or_null(value, PURPOSE)
            for step in self._path:
                if not isinstance(current, dict):
                    current = None
                    break
                current = current.get(step)
            return self.updated(record, None, current)
        field_schema = self._cache.get(schema)
        if field_schema is None:
            field_schema = self._cache.put(schema, self._field_schema(schema))
        struct = require_struct_or_null(value, PURPOSE)
        result: Any = struct
        for step in self._path:
            if result is None:
                break
            result = result.get(step) if self._replace_null else result.get_without_default(step)
        return self.updated(record, field_schema, result)

    def _field_schema(self, schema: Schema) -> Schema:
        current = schema
        walked: list[str] = []
        for step in self._path:
            if current.type is not Type.STRUCT:
                raise DataException(
                    f"Unknown field: {'.'.join((*walked, step))} ({'.'.join(walked)} is not a struct)"
                )
            field = current.field(step)
            if field is None:
                raise DataException(f"Unknown field: {'.'.join((*walked, step))}")
            current = field.schema
            walked.append(step)
        return current

    def close(self) -> None:
        self._cache.clear()


class ExtractFieldKey(ExtractField[R], OnKey[R]):
    """Replace the record key with one of its fields."""

    aliases = ("ExtractField$Key", KAFKA_PREFIX + "ExtractField$Key")


class ExtractFieldValue(ExtractField[R], OnValue[R]):
    """Replace the record value with one of its fields."""

    aliases = ("ExtractField$Value", KAFKA_PREFIX + "ExtractField$Value")
