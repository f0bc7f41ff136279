"""Shared pieces of the built-in SMTs: key/value targeting, requirement checks, the schema-update cache,
Java regex/replacement and ``SimpleDateFormat`` compatibility (Kafka's ``transforms.util`` package)."""

from __future__ import annotations

import abc
import datetime as _dt
import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Final, Generic, TypeVar

from connect.api.config import ConfigDef, ConfigType, Importance, Validator
from connect.api.data import Schema, SchemaBuilder, Struct
from connect.api.errors import ConfigException, DataException
from connect.api.records import ConnectRecord, Headers, SinkRecord
from connect.api.transforms import Transformation

__all__ = [
    "KAFKA_PREFIX",
    "REPLACE_NULL_WITH_DEFAULT",
    "KeyOrValue",
    "OnKey",
    "OnValue",
    "R",
    "SchemaCache",
    "SimpleDateFormat",
    "copy_schema_basics",
    "define_replace_null",
    "java_regex",
    "java_replacement",
    "logical_name",
    "non_empty_list",
    "require_map",
    "require_map_or_null",
    "require_schema",
    "require_sink_record",
    "require_struct",
    "require_struct_or_null",
    "struct_values",
    "type_name",
]

R = TypeVar("R", bound=ConnectRecord)
_Rec = TypeVar("_Rec", bound=ConnectRecord)

KAFKA_PREFIX: Final = "org.apache.kafka.connect.transforms."
REPLACE_NULL_WITH_DEFAULT: Final = "replace.null.with.default"
_REPLACE_NULL_DOC: Final = (
    "Whether to replace fields that have a default value and that are null to the default value. "
    "When set to true, the default value is used, otherwise null is used."
)


def define_replace_null(config: ConfigDef) -> ConfigDef:
    """Add Kafka's (KIP-1040) ``replace.null.with.default`` key."""
    return config.define(
        REPLACE_NULL_WITH_DEFAULT, ConfigType.BOOLEAN, True, Importance.MEDIUM, _REPLACE_NULL_DOC
    )


# --- key / value targeting ----------------------------------------------------------------------------


class KeyOrValue(Transformation[R], abc.ABC):
    """A transformation that works on the record key (``...Key``) or the value (``...Value``) alike.

    Subclasses mix in :class:`OnKey` or :class:`OnValue`; the base stays abstract so plugin discovery
    never registers it.
    """

    target: ClassVar[str]

    @staticmethod
    @abc.abstractmethod
    def operating_schema(record: ConnectRecord) -> Schema | None: ...

    @staticmethod
    @abc.abstractmethod
    def operating_value(record: ConnectRecord) -> Any: ...

    @staticmethod
    @abc.abstractmethod
    def updated(record: _Rec, schema: Schema | None, value: Any, headers: Headers | None = None) -> _Rec:
        """A copy of ``record`` with the key or value replaced (and the headers, when given)."""


class OnKey(KeyOrValue[R]):
    """Operate on ``record.key`` / ``record.key_schema``."""

    target: ClassVar[str] = "key"

    @staticmethod
    def operating_schema(record: ConnectRecord) -> Schema | None:
        return record.key_schema

    @staticmethod
    def operating_value(record: ConnectRecord) -> Any:
        return record.key

    @staticmethod
    def updated(record: _Rec, schema: Schema | None, value: Any, headers: Headers | None = None) -> _Rec:
        if headers is None:
            return record.new_record(key_schema=schema, key=value)
        return record.new_record(key_schema=schema, key=value, headers=headers)


class OnValue(KeyOrValue[R]):
    """Operate on ``record.value`` / ``record.value_schema``."""

    target: ClassVar[str] = "value"

    @staticmethod
    def operating_schema(record: ConnectRecord) -> Schema | None:
        return record.value_schema

    @staticmethod
    def operating_value(record: ConnectRecord) -> Any:
        return record.value

    @staticmethod
    def updated(record: _Rec, schema: Schema | None, value: Any, headers: Headers | None = None) -> _Rec:
        if headers is None:
            return record.new_record(value_schema=schema, value=value)
        return record.new_record(value_schema=schema, value=value, headers=headers)


# --- requirements -------------------------------------------------------------------------------------


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def require_map(value: Any, purpose: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataException(
            f"Only Map objects supported in absence of schema for [{purpose}], found: {type_name(value)}"
        )
    return value


def require_map_or_null(value: Any, purpose: str) -> dict[str, Any] | None:
    return None if value is None else require_map(value, purpose)


def require_struct(value: Any, purpose: str) -> Struct:
    if not isinstance(value, Struct):
        raise DataException(f"Only Struct objects supported for [{purpose}], found: {type_name(value)}")
    return value


def require_struct_or_null(value: Any, purpose: str) -> Struct | None:
    return None if value is None else require_struct(value, purpose)


def require_schema(schema: Schema | None, purpose: str) -> Schema:
    if schema is None:
        raise DataException(f"Schema required for [{purpose}]")
    return schema


def require_sink_record(record: ConnectRecord, purpose: str) -> SinkRecord:
    if not isinstance(record, SinkRecord):
        raise DataException(f"Only SinkRecord supported for [{purpose}], found: {type(record).__name__}")
    return record


def struct_values(
    struct: Struct, names: Iterable[str], replace_null_with_default: bool = True
) -> dict[str, Any]:
    """The values of the named fields (defaults applied to unset fields when asked)."""
    get = struct.get if replace_null_with_default else struct.get_without_default
    return {name: get(name) for name in names}


# --- schemas ------------------------------------------------------------------------------------------


def copy_schema_basics(source: Schema, builder: SchemaBuilder) -> SchemaBuilder:
    """Copy name, version, doc and parameters (Kafka's ``SchemaUtil.copySchemaBasics``)."""
    if source.name is not None:
        builder.name(source.name)
    if source.version is not None:
        builder.version(source.version)
    if source.doc is not None:
        builder.doc(source.doc)
    if source.parameters:
        builder.parameters(source.parameters)
    return builder


_V = TypeVar("_V")


class SchemaCache(Generic[_V]):
    """A small bounded map from an input schema to what a transformation derived from it.

    Kafka keeps an LRU of 16 schemas per transformation; schemas are hashable with a precomputed hash
    and compared by identity first, so a hit costs one dict lookup. When full, the oldest entry goes.
    """

    __slots__ = ("_data", "_max")

    def __init__(self, max_size: int = 64) -> None:
        self._data: dict[Schema, _V] = {}
        self._max = max_size

    def get(self, schema: Schema) -> _V | None:
        return self._data.get(schema)

    def put(self, schema: Schema, derived: _V) -> _V:
        data = self._data
        if len(data) >= self._max:
            del data[next(iter(data))]
        data[schema] = derived
        return derived

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()


# --- validators ---------------------------------------------------------------------------------------


class _NonEmptyList:
    """A non-empty list of non-blank strings (optionally without duplicates)."""

    def __init__(self, unique: bool) -> None:
        self.unique = unique

    def ensure_valid(self, name: str, value: Any) -> None:
        if not isinstance(value, list) or not value:
            raise ConfigException(name, value, "Empty list")
        if any(not str(v).strip() for v in value):
            raise ConfigException(name, value, "List must not contain blank values")
        if self.unique and len(set(value)) != len(value):
            raise ConfigException(name, value, "Values must not be duplicated")

    def __str__(self) -> str:
        return "non-empty list" + (" without duplicates" if self.unique else "")


def non_empty_list(unique: bool = False) -> Validator:
    return _NonEmptyList(unique)


# --- Java regular expressions -------------------------------------------------------------------------

_NAMED_GROUP: Final = re.compile(r"(?<!\\)\(\?<([A-Za-z][A-Za-z0-9]*)>")


def java_regex(pattern: str, name: str) -> re.Pattern[str]:
    """Compile a ``java.util.regex`` pattern (named groups ``(?<n>...)`` become ``(?P<n>...)``)."""
    try:
        return re.compile(_NAMED_GROUP.sub(r"(?P<\1>", pattern))
    except re.error as exc:
        raise ConfigException(name, pattern, f"Invalid regex: {exc}") from None


def java_replacement(replacement: str, pattern: re.Pattern[str], name: str) -> Callable[[re.Match[str]], str]:
    """Compile a ``Matcher.replaceFirst`` replacement.

    ``$1`` and ``${name}`` refer to groups of the match; ``\\x`` is a literal ``x``.
    """
    parts: list[str | int] = []  # literal text or a group reference
    text: list[str] = []
    i, n = 0, len(replacement)
    while i < n:
        c = replacement[i]
        if c == "\\":
            if i + 1 >= n:
                raise ConfigException(name, replacement, "character to be escaped is missing")
            text.append(replacement[i + 1])
            i += 2
        elif c == "$":
            if i + 1 >= n:
                raise ConfigException(name, replacement, "Illegal group reference: group index is missing")
            if replacement[i + 1] == "{":
                end = replacement.find("}", i + 2)
                group_name = replacement[i + 2 : end] if end > 0 else ""
                if not group_name or group_name not in pattern.groupindex:
                    raise ConfigException(name, replacement, f"No group with name {{{group_name}}}")
                ref: int = pattern.groupindex[group_name]
                i = end + 1
            else:
                if not replacement[i + 1].isdigit():
                    raise ConfigException(name, replacement, "Illegal group reference")
                ref = int(replacement[i + 1])
                if ref > pattern.groups:
                    raise ConfigException(name, replacement, f"No group {ref}")
                i += 2
                # Java keeps taking digits while the number still names an existing group.
                while i < n and replacement[i].isdigit() and ref * 10 + int(replacement[i]) <= pattern.groups:
                    ref = ref * 10 + int(replacement[i])
                    i += 1
            if text:
                parts.append("".join(text))
                text = []
            parts.append(ref)
        else:
            text.append(c)
            i += 1
    if text:
        parts.append("".join(text))
    if all(isinstance(p, str) for p in parts):
        constant = "".join(str(p) for p in parts)
        return lambda _m: constant

    def expand(match: re.Match[str]) -> str:
        return "".join(p if isinstance(p, str) else (match.group(p) or "") for p in parts)

    return expand


# --- java.text.SimpleDateFormat -----------------------------------------------------------------------

_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NUMERIC: Final = frozenset("yYuMLdDHkKhmsSFwW")
_SUPPORTED: Final = frozenset("GyYuMLdDEaHkKhmsSFzZX")
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def _tokens(pattern: str) -> list[tuple[str, int | str]]:
    """(letter, count) for pattern fields, ("'", text) for literal text."""
    out: list[tuple[str, int | str]] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            if i + 1 < n and pattern[i + 1] == "'":
                out.append(("'", "'"))
                i += 2
                continue
            end = i + 1
            text: list[str] = []
            while True:
                if end >= n:
                    raise ValueError("Unterminated quote")
                if pattern[end] == "'":
                    if end + 1 < n and pattern[end + 1] == "'":
                        text.append("'")
                        end += 2
                        continue
                    break
                text.append(pattern[end])
                end += 1
            out.append(("'", "".join(text)))
            i = end + 1
        elif c.isascii() and c.isalpha():
            if c not in _SUPPORTED:
                raise ValueError(f"Illegal pattern character '{c}'")
            j = i
            while j < n and pattern[j] == c:
                j += 1
            out.append((c, j - i))
            i = j
        else:
            out.append(("'", c))
            i += 1
    return out


class SimpleDateFormat:
    """The common subset of ``java.text.SimpleDateFormat``, always in UTC (as Kafka's SMTs use it).

    Supported letters: ``G y Y u M L d D E a H k K h m s S F z Z X`` and quoted text. ``S`` is the
    number of milliseconds, as in Java. Parsing follows Java in ignoring trailing text and in using the
    letter count as the exact width only between adjacent numeric fields; unlike Java it is not
    lenient about out-of-range values (month 13 is an error, not January of the next year).
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        try:
            self._tokens = _tokens(pattern)
        except ValueError as exc:
            raise ValueError(f"{exc} in pattern {pattern!r}") from None
        self._regex, self._fields = self._parser()

    def __repr__(self) -> str:
        return f"SimpleDateFormat({self.pattern!r})"

    # -- formatting ------------------------------------------------------------------------------------

    def format(self, value: _dt.datetime) -> str:
        """Format an instant (a naive datetime is UTC)."""
        t = value.astimezone(_dt.UTC) if value.tzinfo is not None else value
        out: list[str] = []
        for letter, arg in self._tokens:
            if letter == "'":
                out.append(str(arg))
                continue
            count = int(arg)
            out.append(self._field(letter, count, t))
        return "".join(out)

    @staticmethod
    def _field(letter: str, count: int, t: _dt.datetime) -> str:
        if letter in "yY":
            year = t.year
            return f"{year % 100:02d}" if count == 2 else str(year).zfill(count)
        if letter == "u":
            return str(t.isoweekday()).zfill(count)
        if letter in "ML":
            if count >= 4:
                return _MONTHS[t.month - 1]
            if count == 3:
                return _MONTHS[t.month - 1][:3]
            return str(t.month).zfill(count)
        if letter == "d":
            return str(t.day).zfill(count)
        if letter == "D":
            return str(t.timetuple().tm_yday).zfill(count)
        if letter == "F":
            return str((t.day - 1) // 7 + 1).zfill(count)
        if letter == "E":
            name = _DAYS[t.weekday()]
            return name if count >= 4 else name[:3]
        if letter == "a":
            return "AM" if t.hour < 12 else "PM"
        if letter == "H":
            return str(t.hour).zfill(count)
        if letter == "k":
            return str(t.hour or 24).zfill(count)
        if letter == "K":
            return str(t.hour % 12).zfill(count)
        if letter == "h":
            return str(t.hour % 12 or 12).zfill(count)
        if letter == "m":
            return str(t.minute).zfill(count)
        if letter == "s":
            return str(t.second).zfill(count)
        if letter == "S":
            return str(t.microsecond // 1000).zfill(count)
        if letter == "G":
            return "AD"
        if letter == "z":
            return "Coordinated Universal Time" if count >= 4 else "UTC"
        if letter == "Z":
            return "+0000"
        return "Z"  # X: ISO 8601 zone, UTC

    # -- parsing ---------------------------------------------------------------------------------------

    def _parser(self) -> tuple[re.Pattern[str], list[tuple[str, int]]]:
        parts: list[str] = []
        fields: list[tuple[str, int]] = []
        tokens = self._tokens
        for idx, (letter, arg) in enumerate(tokens):
            if letter == "'":
                parts.append(re.escape(str(arg)))
                continue
            count = int(arg)
            nxt = tokens[idx + 1][0] if idx + 1 < len(tokens) else ""
            adjacent = nxt in _NUMERIC
            if letter in _NUMERIC:
                if letter in "ML" and count >= 3:
                    names = "|".join(m for m in _MONTHS) + "|" + "|".join(m[:3] for m in _MONTHS)
                    parts.append(f"({names})")
                else:
                    parts.append(rf"(\d{{{count}}})" if adjacent else r"(\d+)")
            elif letter == "E":
                parts.append("(" + "|".join(_DAYS) + "|" + "|".join(d[:3] for d in _DAYS) + ")")
            elif letter == "a":
                parts.append("(AM|PM)")
            elif letter == "G":
                parts.append("(AD|BC)")
            elif letter == "Z":
                parts.append(r"([+-]\d{4}|Z)")
            elif letter == "X":
                parts.append(r"(Z|[+-]\d{2}(?::?\d{2})?)")
            else:  # z
                parts.append(r"(UTC|GMT(?:[+-]\d{1,2}(?::?\d{2})?)?|Z|Coordinated Universal Time)")
            fields.append((letter, count))
        return re.compile("".join(parts), re.IGNORECASE), fields

    def parse(self, text: str) -> int:
        """Milliseconds since the epoch; ``ValueError`` if ``text`` does not start with a match."""
        m = self._regex.match(text)
        if m is None:
            raise ValueError(f"Unparseable date: {text!r}")
        year, month, day, yday = 1970, 1, 1, 0
        hour, minute, second, millis = 0, 0, 0, 0
        pm: bool | None = None
        hour12 = False
        offset_min = 0
        for (letter, count), raw in zip(self._fields, m.groups(), strict=True):
            if letter in "yY":
                year = int(raw)
                if count == 2 and len(raw) == 2:
                    year = _two_digit_year(year)
            elif letter in "ML":
                month = _month(raw) if count >= 3 else int(raw)
            elif letter == "d":
                day = int(raw)
            elif letter == "D":
                yday = int(raw)
            elif letter in "Hk":
                hour = int(raw) % 24
            elif letter in "Kh":
                hour = int(raw) % 12
                hour12 = True
            elif letter == "a":
                pm = raw.upper() == "PM"
            elif letter == "m":
                minute = int(raw)
            elif letter == "s":
                second = int(raw)
            elif letter == "S":
                millis = int(raw)
            elif letter in "zZX":
                offset_min = _offset_minutes(raw)
        if hour12 and pm:
            hour += 12
        if yday:
            base = _dt.datetime(year, 1, 1, tzinfo=_dt.UTC) + _dt.timedelta(days=yday - 1)
            month, day = base.month, base.day
        moment = _dt.datetime(year, month, day, hour, minute, second, tzinfo=_dt.UTC)
        moment -= _dt.timedelta(minutes=offset_min)
        return (moment - _EPOCH) // _dt.timedelta(milliseconds=1) + millis


def _two_digit_year(yy: int) -> int:
    # Java: within 80 years before and 20 years after the current date.
    now = _dt.datetime.now(_dt.UTC).year
    century = now - now % 100
    year = century + yy
    if year > now + 20:
        year -= 100
    elif year <= now - 80:
        year += 100
    return year


def _month(name: str) -> int:
    lowered = name.lower()
    for i, full in enumerate(_MONTHS):
        if lowered in (full.lower(), full[:3].lower()):
            return i + 1
    raise ValueError(f"Unknown month {name!r}")  # pragma: no cover - the regex only matches names


def _offset_minutes(zone: str) -> int:
    z = zone.upper()
    if z in ("Z", "UTC", "GMT", "COORDINATED UNIVERSAL TIME"):
        return 0
    if z.startswith("GMT"):
        z = z[3:]
    sign = -1 if z[0] == "-" else 1
    digits = z[1:].replace(":", "")
    if len(digits) <= 2:
        hours, minutes = int(digits), 0
    else:
        hours, minutes = int(digits[:-2]), int(digits[-2:])
    return sign * (hours * 60 + minutes)


def logical_name(schema: Schema | None) -> str | None:
    """The schema's name when it is one of Connect's logical types (Decimal, Date, Time, Timestamp)."""
    if schema is None or schema.name is None:
        return None
    return schema.name if schema.name.startswith("org.apache.kafka.connect.data.") else None
