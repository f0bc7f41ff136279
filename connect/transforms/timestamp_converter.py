"""TimestampConverter: convert timestamps between Unix epoch numbers, strings and the Date, Time and
Timestamp logical types."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Any, Final

from connect.api.config import ConfigDef, ConfigType, Importance, ValidString
from connect.api.data import Date, Schema, SchemaBuilder, Struct, Time, Timestamp, Type
from connect.api.errors import ConfigException, DataException
from connect.transforms._util import (
    KAFKA_PREFIX,
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    OnKey,
    OnValue,
    R,
    SchemaCache,
    SimpleDateFormat,
    copy_schema_basics,
    define_replace_null,
    require_map,
    require_struct_or_null,
)

__all__ = ["TimestampConverter", "TimestampConverterKey", "TimestampConverterValue"]

PURPOSE: Final = "converting timestamp formats"

TYPE_STRING: Final = "string"
TYPE_UNIX: Final = "unix"
TYPE_DATE: Final = "Date"
TYPE_TIME: Final = "Time"
TYPE_TIMESTAMP: Final = "Timestamp"

_PRECISIONS: Final = ("nanoseconds", "microseconds", "milliseconds", "seconds")

CONFIG: Final = define_replace_null(
    ConfigDef()
    .define(
        "field",
        ConfigType.STRING,
        "",
        Importance.HIGH,
        "The field containing the timestamp, or empty if the entire value is a timestamp",
    )
    .define(
        "target.type",
        ConfigType.STRING,
        importance=Importance.HIGH,
        doc="The desired timestamp representation: string, unix, Date, Time, or Timestamp",
        validator=ValidString.in_(TYPE_STRING, TYPE_UNIX, TYPE_DATE, TYPE_TIME, TYPE_TIMESTAMP),
    )
    .define(
        "format",
        ConfigType.STRING,
        "",
        Importance.MEDIUM,
        "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when "
        "type=string or used to parse the input if the input is a string.",
    )
    .define(
        "unix.precision",
        ConfigType.STRING,
        "milliseconds",
        Importance.LOW,
        "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds. "
        "Used to generate the output when type=unix or used to parse the input if the input is a Long. Note: "
        "This SMT will cause precision loss during conversions from, and to, values with sub-millisecond "
        "components.",
        validator=ValidString.in_(*_PRECISIONS),
    )
)

_MILLIS_PER_DAY: Final = 86_400_000
_OPTIONAL_DATE: Final = Date.builder().optional().build()
_OPTIONAL_TIME: Final = Time.builder().optional().build()
_OPTIONAL_TIMESTAMP: Final = Timestamp.builder().optional().build()
_TYPE_SCHEMAS: Final = {
    TYPE_STRING: (Schema.STRING_SCHEMA, Schema.OPTIONAL_STRING_SCHEMA),
    TYPE_UNIX: (Schema.INT64_SCHEMA, Schema.OPTIONAL_INT64_SCHEMA),
    TYPE_DATE: (Date.SCHEMA, _OPTIONAL_DATE),
    TYPE_TIME: (Time.SCHEMA, _OPTIONAL_TIME),
    TYPE_TIMESTAMP: (Timestamp.SCHEMA, _OPTIONAL_TIMESTAMP),
}


def _tdiv(a: int, b: int) -> int:
    """Integer division truncating toward zero (Java's ``TimeUnit`` conversions)."""
    q = abs(a) // b
    return q if a >= 0 else -q


class TimestampConverter(KeyOrValue[R]):
    """Convert a timestamp (the whole key/value, or the field ``field``) to ``target.type``.

    Inputs are recognised from the schema (Timestamp/Date/Time logical types, STRING parsed with
    ``format``, INT64 as Unix time in ``unix.precision``) or, without a schema, from the Python type
    (``datetime``, ``date``, ``time``, ``int``, ``str``). Everything is UTC, at millisecond precision.
    """

    def __init__(self) -> None:
        self._field = ""
        self._target = TYPE_TIMESTAMP
        self._format: SimpleDateFormat | None = None
        self._precision = "milliseconds"
        self._replace_null = True
        self._cache: SchemaCache[tuple[Schema, tuple[tuple[str, str | None], ...]]] = SchemaCache()
        self._to_type: Callable[[int], Any] = self._to_timestamp

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = CONFIG.parse(props)
        self._field = values["field"]
        self._target = values["target.type"]
        pattern = values["format"]
        self._precision = values["unix.precision"]
        self._replace_null = values[REPLACE_NULL_WITH_DEFAULT]
        if self._target == TYPE_STRING and not pattern.strip():
            raise ConfigException(
                "TimestampConverter requires format option to be specified when using string timestamps"
            )
        self._format = None
        if pattern.strip():
            try:
                self._format = SimpleDateFormat(pattern)
            except ValueError as exc:
                raise ConfigException(
                    "format",
                    pattern,
                    "TimestampConverter requires a SimpleDateFormat-compatible pattern for string "
                    f"timestamps: {exc}",
                ) from None
        self._to_type = {
            TYPE_STRING: self._to_string,
            TYPE_UNIX: self._to_unix,
            TYPE_DATE: self._to_date,
            TYPE_TIME: self._to_time,
            TYPE_TIMESTAMP: self._to_timestamp,
        }[self._target]
        self._cache.clear()

    # -- to and from the raw form (milliseconds since the epoch, UTC) -----------------------------------

    def _raw(self, value: Any, kind: str) -> int:
        if kind == TYPE_TIMESTAMP:
            if not isinstance(value, _dt.datetime):
                raise DataException(f"Expected Timestamp to be a datetime, but found {type(value).__name__}")
            return Timestamp.from_logical(Timestamp.SCHEMA, value)
        if kind == TYPE_DATE:
            if not isinstance(value, _dt.date):
                raise DataException(f"Expected Date to be a date, but found {type(value).__name__}")
            if isinstance(value, _dt.datetime):
                return Timestamp.from_logical(Timestamp.SCHEMA, value)
            return Date.from_logical(Date.SCHEMA, value) * _MILLIS_PER_DAY
        if kind == TYPE_TIME:
            if not isinstance(value, _dt.time):
                raise DataException(f"Expected Time to be a time, but found {type(value).__name__}")
            return Time.from_logical(Time.SCHEMA, value)
        if kind == TYPE_UNIX:
            if not isinstance(value, int) or isinstance(value, bool):
                raise DataException(f"Expected Unix timestamp to be an int, but found {type(value).__name__}")
            p = self._precision
            if p == "seconds":
                return value * 1000
            if p == "microseconds":
                return _tdiv(value, 1000)
            if p == "nanoseconds":
                return _tdiv(value, 1_000_000)
            return value
        # string
        if not isinstance(value, str):
            raise DataException(f"Expected string timestamp to be a str, but found {type(value).__name__}")
        if self._format is None:
            raise DataException("TimestampConverter requires the format option to parse string timestamps")
        try:
            return self._format.parse(value)
        except ValueError:
            raise DataException(
                f"Could not parse timestamp: value ({value}) does not match pattern ({self._format.pattern})"
            ) from None

    def _to_string(self, millis: int) -> str:
        assert self._format is not None
        return self._format.format(Timestamp.to_logical(Timestamp.SCHEMA, millis))

    def _to_unix(self, millis: int) -> int:
        p = self._precision
        if p == "seconds":
            return _tdiv(millis, 1000)
        if p == "microseconds":
            return millis * 1000
        if p == "nanoseconds":
            return millis * 1_000_000
        return millis

    @staticmethod
    def _to_date(millis: int) -> _dt.date:
        return Date.to_logical(Date.SCHEMA, millis // _MILLIS_PER_DAY)

    @staticmethod
    def _to_time(millis: int) -> _dt.time:
        return Time.to_logical(Time.SCHEMA, millis % _MILLIS_PER_DAY)

    @staticmethod
    def _to_timestamp(millis: int) -> _dt.datetime:
        return Timestamp.to_logical(Timestamp.SCHEMA, millis)

    def _convert(self, value: Any, kind: str | None) -> Any:
        if value is None:
            return None
        return self._to_type(self._raw(value, kind or _inferred(value)))

    # -- records ---------------------------------------------------------------------------------------

    def apply(self, record: R) -> R:
        schema = self.operating_schema(record)
        value = self.operating_value(record)
        if schema is None:
            if value is None or not self._field:
                return self.updated(record, None, self._convert(value, None))
            updated = dict(require_map(value, PURPOSE))
            updated[self._field] = self._convert(updated.get(self._field), None)
            return self.updated(record, None, updated)
        if not self._field:
            target_schema = _TYPE_SCHEMAS[self._target][1 if schema.optional else 0]
            return self.updated(record, target_schema, self._convert(value, _kind_of(schema)))
        cached = self._cache.get(schema)
        if cached is None:
            cached = self._cache.put(schema, self._derive(schema))
        updated_schema, plan = cached
        struct = require_struct_or_null(value, PURPOSE)
        if struct is None:
            return self.updated(record, updated_schema, None)
        get = struct.get if self._replace_null else struct.get_without_default
        values = {name: get(name) if kind is None else self._convert(get(name), kind) for name, kind in plan}
        return self.updated(record, updated_schema, Struct(updated_schema, values))

    def _derive(self, schema: Schema) -> tuple[Schema, tuple[tuple[str, str | None], ...]]:
        if schema.type is not Type.STRUCT:
            raise DataException(
                f"Only Struct objects supported for [{PURPOSE}], found schema of type {schema.type.name}"
            )
        builder = copy_schema_basics(schema, SchemaBuilder.struct())
        plan: list[tuple[str, str | None]] = []
        for f in schema.fields:
            if f.name == self._field:
                builder.field(f.name, _TYPE_SCHEMAS[self._target][1 if f.schema.optional else 0])
                plan.append((f.name, _kind_of(f.schema)))
            else:
                builder.field(f.name, f.schema)
                plan.append((f.name, None))
        if schema.optional:
            builder.optional()
        return builder.build(), tuple(plan)

    def close(self) -> None:
        self._cache.clear()


def _kind_of(schema: Schema) -> str:
    """The timestamp representation a schema declares."""
    if schema.name == Timestamp.LOGICAL_NAME:
        return TYPE_TIMESTAMP
    if schema.name == Date.LOGICAL_NAME:
        return TYPE_DATE
    if schema.name == Time.LOGICAL_NAME:
        return TYPE_TIME
    if schema.type is Type.STRING:
        return TYPE_STRING
    if schema.type is Type.INT64:
        return TYPE_UNIX
    raise DataException(f"Schema {schema!r} does not correspond to a known timestamp type format")


def _inferred(value: Any) -> str:
    """The timestamp representation of a schemaless value, from its Python type."""
    if isinstance(value, _dt.datetime):
        return TYPE_TIMESTAMP
    if isinstance(value, _dt.date):
        return TYPE_DATE
    if isinstance(value, _dt.time):
        return TYPE_TIME
    if isinstance(value, int) and not isinstance(value, bool):
        return TYPE_UNIX
    if isinstance(value, str):
        return TYPE_STRING
    raise DataException(f"TimestampConverter does not support {type(value).__name__} objects as timestamps")


class TimestampConverterKey(TimestampConverter[R], OnKey[R]):
    """Convert a timestamp in the record key."""

    aliases = ("TimestampConverter$Key", KAFKA_PREFIX + "TimestampConverter$Key")


class TimestampConverterValue(TimestampConverter[R], OnValue[R]):
    """Convert a timestamp in the record value."""

    aliases = ("TimestampConverter$Value", KAFKA_PREFIX + "TimestampConverter$Value")
