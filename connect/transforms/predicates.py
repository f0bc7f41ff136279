"""Predicates (KIP-585) and the Filter transformation that uses them.

Configure a predicate under ``predicates.<name>.*`` and attach it with ``transforms.<t>.predicate=<name>``
(``transforms.<t>.negate=true`` inverts it); e.g. drop tombstones with ``Filter`` + ``RecordIsTombstone``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from connect.api.config import ConfigDef, ConfigType, Importance, NonEmptyString
from connect.api.errors import ConfigException
from connect.api.transforms import Predicate, Transformation
from connect.transforms._util import KAFKA_PREFIX, R, java_regex

__all__ = ["Filter", "HasHeaderKey", "RecordIsTombstone", "TopicNameMatches"]

_PREDICATES: Final = KAFKA_PREFIX + "predicates."


class _RegexValidator:
    def ensure_valid(self, name: str, value: Any) -> None:
        if not value:
            raise ConfigException(name, value, "String must be non-empty")
        java_regex(str(value), name)

    def __str__(self) -> str:
        return "non-empty string, valid regex"


TOPIC_NAME_MATCHES_CONFIG: Final = ConfigDef().define(
    "pattern",
    ConfigType.STRING,
    importance=Importance.MEDIUM,
    doc="A Java regular expression for matching against the name of a record's topic.",
    validator=_RegexValidator(),
)


class TopicNameMatches(Predicate[R]):
    """True for records whose whole topic name matches ``pattern``."""

    aliases = ("TopicNameMatches", _PREDICATES + "TopicNameMatches")

    def __init__(self) -> None:
        self._pattern: re.Pattern[str] | None = None

    def config(self) -> ConfigDef:
        return TOPIC_NAME_MATCHES_CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        pattern = TOPIC_NAME_MATCHES_CONFIG.parse(props)["pattern"]
        self._pattern = java_regex(pattern, "pattern")

    def test(self, record: R) -> bool:
        assert self._pattern is not None, "TopicNameMatches used before configure()"
        return record.topic is not None and self._pattern.fullmatch(record.topic) is not None


HAS_HEADER_KEY_CONFIG: Final = ConfigDef().define(
    "name",
    ConfigType.STRING,
    importance=Importance.MEDIUM,
    doc="The header name.",
    validator=NonEmptyString(),
)


class HasHeaderKey(Predicate[R]):
    """True for records with at least one header called ``name``."""

    aliases = ("HasHeaderKey", _PREDICATES + "HasHeaderKey")

    def __init__(self) -> None:
        self._name = ""

    def config(self) -> ConfigDef:
        return HAS_HEADER_KEY_CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        self._name = HAS_HEADER_KEY_CONFIG.parse(props)["name"]

    def test(self, record: R) -> bool:
        return record.headers.last_with_name(self._name) is not None


class RecordIsTombstone(Predicate[R]):
    """True for tombstones: records whose value is null."""

    aliases = ("RecordIsTombstone", _PREDICATES + "RecordIsTombstone")

    def config(self) -> ConfigDef:
        return ConfigDef()

    def configure(self, props: Mapping[str, Any]) -> None:
        pass

    def test(self, record: R) -> bool:
        return record.value is None


class Filter(Transformation[R]):
    """Drop every record it is applied to; combine with a predicate to drop some (e.g. tombstones)."""

    aliases = ("Filter", KAFKA_PREFIX + "Filter")

    def config(self) -> ConfigDef:
        return ConfigDef()

    def configure(self, props: Mapping[str, Any]) -> None:
        pass

    def apply(self, record: R) -> None:
        return None
