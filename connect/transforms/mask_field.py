"""MaskField: replace field values with a type's "empty" value or a configured replacement."""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Callable, Mapping
from typing import Any, Final

from connect.api.config import ConfigDef, ConfigType, Importance, NonEmptyString
from connect.api.data import Schema, Struct
from connect.api.errors import DataException
from connect.transforms._util import (
    KAFKA_PREFIX,
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    OnKey,
    OnValue,
    R,
    SchemaCache,
    define_replace_null,
    non_empty_list,
    require_map,
    require_struct,
)

__all__ = ["MaskField", "MaskFieldKey", "MaskFieldValue"]

PURPOSE: Final = "mask fields"

CONFIG: Final = define_replace_null(
    ConfigDef()
    .define(
        "fields",
        ConfigType.LIST,
        importance=Importance.HIGH,
        doc="Names of fields to mask.",
        validator=non_empty_list(),
    )
    .define(
        "replacement",
        ConfigType.STRING,
        None,
        Importance.LOW,
        "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string "
        "values only).",
        validator=NonEmptyString(),
    )
)

_EPOCH_DATETIME: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_EPOCH_DATE: Final = _dt.date(1970, 1, 1)
_MIDNIGHT: Final = _dt.time(0, 0)


def _empty(value: Any) -> Any:
    """The "null-equivalent" value of the value's type (Kafka's primitive value mapping)."""
    cls = value.__class__
    if cls is bool:
        return False
    if cls is int:
        return 0
    if cls is float:
        return 0.0
    if cls is str:
        return ""
    if isinstance(value, decimal.Decimal):
        return decimal.Decimal(0)
    if isinstance(value, _dt.datetime):
        return _EPOCH_DATETIME
    if isinstance(value, _dt.date):
        return _EPOCH_DATE
    if isinstance(value, _dt.time):
        return _MIDNIGHT
    if isinstance(value, list | tuple):
        return []
    if isinstance(value, dict):
        return {}
    if isinstance(value, bytes | bytearray | memoryview):
        return b""
    if isinstance(value, int):
        return 0
    raise DataException(f"Cannot mask value of type: {type(value).__name__}")


def _to_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return int(decimal.Decimal(text))


_REPLACEMENTS: Final[dict[type, Callable[[str], Any]]] = {
    int: _to_int,
    float: float,
    str: str,
    decimal.Decimal: decimal.Decimal,
}


def _replacement(value: Any, replacement: str) -> Any:
    convert = _REPLACEMENTS.get(value.__class__)
    if convert is None:
        raise DataException(f"Cannot mask value of type {type(value).__name__} with custom replacement.")
    try:
        return convert(replacement)
    except (ValueError, ArithmeticError):
        raise DataException(f"Unable to convert {replacement} (str) to number") from None


class MaskField(KeyOrValue[R]):
    """Mask the configured fields: with the type's empty value (``0``, ``0.0``, ``False``, ``""``, an
    empty list/dict, the epoch for dates and times, ``b""`` for bytes) or, when ``replacement`` is set,
    with that value parsed as the field's type (numbers and strings only). Nulls stay null; the schema
    is unchanged. Null keys/values pass unchanged.
    """

    def __init__(self) -> None:
        self._fields: frozenset[str] = frozenset()
        self._replacement: str | None = None
        self._replace_null = True
        self._cache: SchemaCache[tuple[tuple[str, bool], ...]] = SchemaCache()

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = CONFIG.parse(props)
        self._fields = frozenset(values["fields"])
        self._replacement = values["replacement"]
        self._replace_null = values[REPLACE_NULL_WITH_DEFAULT]
        self._cache.clear()

    def _masked(self, value: Any) -> Any:
        if value is None:
            return None
        if self._replacement is None:
            return _empty(value)
        return _replacement(value, self._replacement)

    def apply(self, record: R) -> R:
        value = self.operating_value(record)
        if value is None:
            return record
        schema = self.operating_schema(record)
        if schema is None:
            updated = dict(require_map(value, PURPOSE))
            for name in self._fields:
                if name in updated:
                    updated[name] = self._masked(updated[name])
            return self.updated(record, None, updated)
        struct = require_struct(value, PURPOSE)
        plan = self._cache.get(struct.schema)
        if plan is None:
            plan = self._cache.put(struct.schema, self._plan(struct.schema))
        get = struct.get if self._replace_null else struct.get_without_default
        values = {name: self._masked(get(name)) if masked else get(name) for name, masked in plan}
        return self.updated(record, schema, Struct(struct.schema, values))

    def _plan(self, schema: Schema) -> tuple[tuple[str, bool], ...]:
        return tuple((f.name, f.name in self._fields) for f in schema.fields)

    def close(self) -> None:
        self._cache.clear()


class MaskFieldKey(MaskField[R], OnKey[R]):
    """Mask fields of the record key."""

    aliases = ("MaskField$Key", KAFKA_PREFIX + "MaskField$Key")


class MaskFieldValue(MaskField[R], OnValue[R]):
    """Mask fields of the record value."""

    aliases = ("MaskField$Value", KAFKA_PREFIX + "MaskField$Value")
