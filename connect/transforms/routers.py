"""Topic routers: RegexRouter and TimestampRouter."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Any, Final

from connect.api.config import ConfigDef, ConfigType, Importance, NonEmptyString
from connect.api.errors import ConfigException, DataException
from connect.api.transforms import Transformation
from connect.transforms._util import KAFKA_PREFIX, R, SimpleDateFormat, java_regex, java_replacement

__all__ = ["RegexRouter", "TimestampRouter"]


class _RegexValidator:
    def ensure_valid(self, name: str, value: Any) -> None:
        java_regex(str(value), name)

    def __str__(self) -> str:
        return "valid regex"


REGEX_ROUTER_CONFIG: Final = (
    ConfigDef()
    .define(
        "regex",
        ConfigType.STRING,
        importance=Importance.HIGH,
        doc="Regular expression to use for matching.",
        validator=_RegexValidator(),
    )
    .define(
        "replacement",
        ConfigType.STRING,
        importance=Importance.HIGH,
        doc="Replacement string ($1, ${name} refer to groups of the match).",
    )
)


class RegexRouter(Transformation[R]):
    """Rename the topic when the whole topic name matches ``regex`` (Java ``Matcher.matches()``), using
    ``replacement`` with Java's ``$n`` / ``${name}`` group references; other records pass unchanged."""

    aliases = ("RegexRouter", KAFKA_PREFIX + "RegexRouter")

    def __init__(self) -> None:
        self._regex = java_regex("", "regex")
        self._replace: Callable[[Any], str] = lambda _m: ""

    def config(self) -> ConfigDef:
        return REGEX_ROUTER_CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = REGEX_ROUTER_CONFIG.parse(props)
        self._regex = java_regex(values["regex"], "regex")
        self._replace = java_replacement(values["replacement"], self._regex, "replacement")

    def apply(self, record: R) -> R:
        match = self._regex.fullmatch(record.topic)
        if match is None:
            return record
        return record.new_record(topic=self._replace(match))


class _DateFormatValidator:
    def ensure_valid(self, name: str, value: Any) -> None:
        try:
            SimpleDateFormat(str(value))
        except ValueError as exc:
            raise ConfigException(name, value, str(exc)) from None

    def __str__(self) -> str:
        return "SimpleDateFormat pattern"


TIMESTAMP_ROUTER_CONFIG: Final = (
    ConfigDef()
    .define(
        "topic.format",
        ConfigType.STRING,
        "${topic}-${timestamp}",
        Importance.HIGH,
        "Format string which can contain ${topic} and ${timestamp} as placeholders for the topic and "
        "timestamp, respectively.",
        validator=NonEmptyString(),
    )
    .define(
        "timestamp.format",
        ConfigType.STRING,
        "yyyyMMdd",
        Importance.HIGH,
        "Format string for the timestamp that is compatible with java.text.SimpleDateFormat (UTC).",
        validator=_DateFormatValidator(),
    )
)

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


class TimestampRouter(Transformation[R]):
    """Route to ``topic.format`` with ``${topic}`` and ``${timestamp}`` (the record timestamp formatted
    with ``timestamp.format`` in UTC) replaced, e.g. ``orders-20240131`` for time-partitioned sinks.
    A record without a timestamp is a DataException."""

    aliases = ("TimestampRouter", KAFKA_PREFIX + "TimestampRouter")

    def __init__(self) -> None:
        self._topic_format = "${topic}-${timestamp}"
        self._format = SimpleDateFormat("yyyyMMdd")
        self._last: tuple[int, str] = (-1, "")

    def config(self) -> ConfigDef:
        return TIMESTAMP_ROUTER_CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        values = TIMESTAMP_ROUTER_CONFIG.parse(props)
        self._topic_format = values["topic.format"]
        self._format = SimpleDateFormat(values["timestamp.format"])
        self._last = (-1, "")

    def apply(self, record: R) -> R:
        ts = record.timestamp
        if ts is None:
            raise DataException(f"Timestamp missing on record: {record!r}")
        last_ts, formatted = self._last
        if ts != last_ts:  # consecutive records usually share the timestamp's formatted form
            formatted = self._format.format(_EPOCH + _dt.timedelta(milliseconds=ts))
            self._last = (ts, formatted)
        topic = self._topic_format.replace("${topic}", record.topic).replace("${timestamp}", formatted)
        return record.new_record(topic=topic)
