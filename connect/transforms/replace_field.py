"""ReplaceField: keep, drop and rename fields."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from connect.api.config import ConfigDef, ConfigType, Importance
from connect.api.data import Schema, SchemaBuilder, Struct
from connect.api.errors import ConfigException
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
    require_struct,
)

__all__ = ["ReplaceField", "ReplaceFieldKey", "ReplaceFieldValue"]

log = logging.getLogger("connect.transforms.ReplaceField")

PURPOSE: Final = "field replacement"


def _parse_renames(name: str, mappings: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for mapping in mappings:
        parts = mapping.split(":")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ConfigException(name, ",".join(mappings), f"Invalid rename mapping: {mapping}")
        out[parts[0]] = parts[1]
    return out


class _RenamesValidator:
    def ensure_valid(self, name: str, value: Any) -> None:
        _parse_renames(name, list(value))

    def __str__(self) -> str:
        return "list of colon-delimited pairs, e.g. foo:bar,abc:xyz"


CONFIG: Final = define_replace_null(
    ConfigDef()
    .define(
        "exclude",
        ConfigType.LIST,
        "",
        Importance.MEDIUM,
        "Fields to exclude. This takes precedence over the fields to include.",
    )
    .define(
        "include",
        ConfigType.LIST,
        "",
        Importance.MEDIUM,
        "Fields to include. If specified, only these fields will be used.",
    )
    .define(
        "renames",
        ConfigType.LIST,
        "",
        Importance.MEDIUM,
        "Field rename mappings.",
        validator=_RenamesValidator(),
    )
    .define("blacklist", ConfigType.LIST, None, Importance.LOW, "Deprecated. Use exclude instead.")
    .define("whitelist", ConfigType.LIST, None, Importance.LOW, "Deprecated. Use include instead.")
)


class ReplaceField(KeyOrValue[R]):
    """Filter or rename fields of a Struct (the schema is derived once per input schema) or a dict.

    ``exclude`` wins over ``include``; an empty ``include`` keeps every field. ``blacklist`` and
    ``whitelist`` are accepted as the old names of ``exclude`` and ``include``. Null keys/values pass.
    """

    def __init__(self) -> None:
        self._exclude: frozenset[str] = frozenset()
        self._include: frozenset[str] = frozenset()
        self._renames: dict[str, str] = {}
        self._replace_null = True
        self._cache: SchemaCache[tuple[Schema, tuple[tuple[str, str], ...]]] = SchemaCache()

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = CONFIG.parse(props)
        exclude, include = values["exclude"], values["include"]
        for old, new in (("blacklist", "exclude"), ("whitelist", "include")):
            if values[old] is not None:
                if new in props:
                    log.warning("both %s and the deprecated %s are set; using %s", new, old, new)
                else:
                    log.warning("%s is deprecated; use %s", old, new)
                    if new == "exclude":
                        exclude = values[old]
                    else:
                        include = values[old]
        self._exclude = frozenset(exclude)
        self._include = frozenset(include)
        self._renames = _parse_renames("renames", values["renames"])
        self._replace_null = values[REPLACE_NULL_WITH_DEFAULT]
        self._cache.clear()

    def _keep(self, name: str) -> bool:
        return name not in self._exclude and (not self._include or name in self._include)

    def apply(self, record: R) -> R:
        value = self.operating_value(record)
        if value is None:
            return record
        if self.operating_schema(record) is None:
            renames = self._renames
            updated = {renames.get(k, k): v for k, v in require_map(value, PURPOSE).items() if self._keep(k)}
            return self.updated(record, None, updated)
        struct = require_struct(value, PURPOSE)
        schema = struct.schema
        cached = self._cache.get(schema)
        if cached is None:
            cached = self._cache.put(schema, self._updated_schema(schema))
        updated_schema, pairs = cached
        get = struct.get if self._replace_null else struct.get_without_default
        values = {new: get(old) for old, new in pairs}
        return self.updated(record, updated_schema, Struct(updated_schema, values))

    def _updated_schema(self, schema: Schema) -> tuple[Schema, tuple[tuple[str, str], ...]]:
        builder = copy_schema_basics(schema, SchemaBuilder.struct())
        pairs: list[tuple[str, str]] = []
        for f in schema.fields:
            if self._keep(f.name):
                new = self._renames.get(f.name, f.name)
                builder.field(new, f.schema)
                pairs.append((f.name, new))
        if schema.optional:
            builder.optional()
        return builder.build(), tuple(pairs)

    def close(self) -> None:
        self._cache.clear()


class ReplaceFieldKey(ReplaceField[R], OnKey[R]):
    """Filter or rename fields of the record key."""

    aliases = ("ReplaceField$Key", KAFKA_PREFIX + "ReplaceField$Key")


class ReplaceFieldValue(ReplaceField[R], OnValue[R]):
    """Filter or rename fields of the record value."""

    aliases = ("ReplaceField$Value", KAFKA_PREFIX + "ReplaceField$Value")
