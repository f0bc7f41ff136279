"""Per-topic log configuration with Kafka's topic-config names, semantics and defaults.

``LogConfig`` is immutable by convention: derive new ones with ``from_overrides`` (topic overrides on top of
broker defaults) or ``dataclasses.replace``. Pure code, thread-safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from broker.log.errors import InvalidConfigError

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1

CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"


@dataclass(frozen=True)
class LogConfig:
    """Effective configuration of one topic's partitions (Kafka defaults).

    ``flush_interval_messages`` / ``flush_interval_ms`` of None mean "never forced" (Kafka's Long.MAX).
    ``retention_ms`` / ``retention_bytes`` of -1 mean unlimited. ``cleanup_policy`` is normalized to
    "delete", "compact" or "compact,delete". ``extra`` holds accepted Kafka topic configs that this
    single-node log does not act on (e.g. ``min.insync.replicas``), echoed back by ``describe``.
    """

    segment_bytes: int = 1024 * 1024 * 1024
    segment_ms: int = 7 * 24 * 3600 * 1000
    retention_ms: int = 7 * 24 * 3600 * 1000
    retention_bytes: int = -1
    index_interval_bytes: int = 4096
    flush_interval_messages: int | None = None
    flush_interval_ms: int | None = None
    message_timestamp_type: str = CREATE_TIME
    max_message_bytes: int = 1048588
    cleanup_policy: str = "delete"
    delete_retention_ms: int = 24 * 3600 * 1000
    min_compaction_lag_ms: int = 0
    min_cleanable_dirty_ratio: float = 0.5
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == LOG_APPEND_TIME

    @property
    def delete_enabled(self) -> bool:
        return "delete" in self.cleanup_policy.split(",")

    @property
    def compact_enabled(self) -> bool:
        return "compact" in self.cleanup_policy.split(",")

    @classmethod
    def from_overrides(cls, defaults: LogConfig, overrides: Mapping[str, str]) -> LogConfig:
        """Apply topic-level overrides (Kafka names, string values) to ``defaults``.

        Raises InvalidConfigError(key, reason) for an unknown key or an invalid value.
        """
        changes: dict[str, Any] = {}
        extra = dict(defaults.extra)
        for key, raw in overrides.items():
            spec = TOPIC_CONFIG_KEYS.get(key)
            if spec is not None:
                changes[spec.field] = spec.parse(key, raw)
                continue
            passthrough = PASSTHROUGH_TOPIC_CONFIGS.get(key)
            if passthrough is None:
                raise InvalidConfigError(key, "unknown topic config")
            _default, validate = passthrough
            extra[key] = validate(key, raw)
        changes["extra"] = extra
        return dataclasses.replace(defaults, **changes)

    @classmethod
    def from_broker_properties(cls, props: Mapping[str, str]) -> LogConfig:
        """Build the broker-wide defaults from broker properties (``log.segment.bytes``, ...).

        Unrelated properties are ignored; invalid values raise InvalidConfigError. Retention follows
        Kafka's precedence ``log.retention.ms`` > ``.minutes`` > ``.hours`` (same for ``log.roll.*``).
        """
        changes: dict[str, Any] = {}
        for prop, topic_key in BROKER_PROPERTY_KEYS.items():
            if prop in props:
                spec = TOPIC_CONFIG_KEYS[topic_key]
                changes[spec.field] = spec.parse(prop, props[prop])
        for field_name, chain in _BROKER_TIME_CHAINS.items():
            for prop, factor in chain:
                if prop in props:
                    value = _parse_int(prop, props[prop], minimum=-1)
                    changes[field_name] = value * factor if value >= 0 else -1
                    break
        if changes.get("segment_ms", 1) <= 0:
            raise InvalidConfigError("log.roll.ms", "must be at least 1")
        return dataclasses.replace(cls(), **changes)

    def describe(self) -> dict[str, str]:
        """All topic configs as Kafka names -> string values (DescribeConfigs)."""
        out: dict[str, str] = {}
        for key, spec in TOPIC_CONFIG_KEYS.items():
            out[key] = spec.render(getattr(self, spec.field))
        for key, (default, _validate) in PASSTHROUGH_TOPIC_CONFIGS.items():
            out[key] = self.extra.get(key, default)
        return out


@dataclass(frozen=True)
class ConfigKey:
    """How one Kafka topic config maps onto a LogConfig field."""

    field: str
    parse: Callable[[str, str], Any]
    render: Callable[[Any], str] = str


def _parse_int(key: str, raw: str, *, minimum: int | None = None, maximum: int = LONG_MAX) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise InvalidConfigError(key, f"{raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise InvalidConfigError(key, f"{value} is below the minimum {minimum}")
    if value > maximum:
        raise InvalidConfigError(key, f"{value} is above the maximum {maximum}")
    return value


def _int(minimum: int, maximum: int = LONG_MAX) -> Callable[[str, str], int]:
    return lambda key, raw: _parse_int(key, raw, minimum=minimum, maximum=maximum)


def _optional_long(minimum: int) -> Callable[[str, str], int | None]:
    def parse(key: str, raw: str) -> int | None:
        value = _parse_int(key, raw, minimum=minimum)
        return None if value == LONG_MAX else value

    return parse


def _render_optional_long(value: int | None) -> str:
    return str(LONG_MAX if value is None else value)


def _parse_ratio(key: str, raw: str) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise InvalidConfigError(key, f"{raw!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise InvalidConfigError(key, f"{value} is not between 0 and 1")
    return value


def _parse_timestamp_type(key: str, raw: str) -> str:
    value = str(raw).strip()
    if value not in (CREATE_TIME, LOG_APPEND_TIME):
        raise InvalidConfigError(key, f"{value!r} is not one of CreateTime, LogAppendTime")
    return value


def _parse_cleanup_policy(key: str, raw: str) -> str:
    items = {part.strip() for part in str(raw).split(",") if part.strip()}
    if not items or not items <= {"delete", "compact"}:
        raise InvalidConfigError(key, f"{raw!r} is not a list of delete, compact")
    return ",".join(sorted(items))


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(key: str, raw: str) -> str:
        value = str(raw).strip()
        if value not in allowed:
            raise InvalidConfigError(key, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return parse


def _bool(key: str, raw: str) -> str:
    value = str(raw).strip().lower()
    if value not in ("true", "false"):
        raise InvalidConfigError(key, f"{raw!r} is not true or false")
    return value


def _any_string(key: str, raw: str) -> str:
    return str(raw)


def _int_string(minimum: int) -> Callable[[str, str], str]:
    return lambda key, raw: str(_parse_int(key, raw, minimum=minimum))


TOPIC_CONFIG_KEYS: dict[str, ConfigKey] = {
    "segment.bytes": ConfigKey("segment_bytes", _int(14, INT_MAX)),
    "segment.ms": ConfigKey("segment_ms", _int(1)),
    "retention.ms": ConfigKey("retention_ms", _int(-1)),
    "retention.bytes": ConfigKey("retention_bytes", _int(-1)),
    "index.interval.bytes": ConfigKey("index_interval_bytes", _int(0, INT_MAX)),
    "flush.messages": ConfigKey("flush_interval_messages", _optional_long(1), _render_optional_long),
    "flush.ms": ConfigKey("flush_interval_ms", _optional_long(0), _render_optional_long),
    "message.timestamp.type": ConfigKey("message_timestamp_type", _parse_timestamp_type),
    "max.message.bytes": ConfigKey("max_message_bytes", _int(0, INT_MAX)),
    "cleanup.policy": ConfigKey("cleanup_policy", _parse_cleanup_policy),
    "delete.retention.ms": ConfigKey("delete_retention_ms", _int(0)),
    "min.compaction.lag.ms": ConfigKey("min_compaction_lag_ms", _int(0)),
    "min.cleanable.dirty.ratio": ConfigKey("min_cleanable_dirty_ratio", _parse_ratio),
}

# Kafka topic configs accepted (validated, stored, described) but without effect on a single-node log.
# ``compression.type`` only accepts "producer": batches are stored exactly as the producer sent them.
PASSTHROUGH_TOPIC_CONFIGS: dict[str, tuple[str, Callable[[str, str], str]]] = {
    "compression.type": ("producer", _choice("producer")),
    "min.insync.replicas": ("1", _int_string(1)),
    "unclean.leader.election.enable": ("false", _bool),
    "preallocate": ("false", _bool),
    "segment.index.bytes": ("10485760", _int_string(8)),
    "segment.jitter.ms": ("0", _int_string(0)),
    "file.delete.delay.ms": ("60000", _int_string(0)),
    "max.compaction.lag.ms": (str(LONG_MAX), _int_string(1)),
    "message.downconversion.enable": ("true", _bool),
    "message.timestamp.difference.max.ms": (str(LONG_MAX), _int_string(0)),
    "message.timestamp.before.max.ms": (str(LONG_MAX), _int_string(0)),
    "message.timestamp.after.max.ms": (str(LONG_MAX), _int_string(0)),
    "leader.replication.throttled.replicas": ("", _any_string),
    "follower.replication.throttled.replicas": ("", _any_string),
}

BROKER_PROPERTY_KEYS: dict[str, str] = {
    "log.segment.bytes": "segment.bytes",
    "log.retention.bytes": "retention.bytes",
    "log.flush.interval.messages": "flush.messages",
    "log.flush.interval.ms": "flush.ms",
    "log.index.interval.bytes": "index.interval.bytes",
    "log.message.timestamp.type": "message.timestamp.type",
    "message.max.bytes": "max.message.bytes",
    "log.cleanup.policy": "cleanup.policy",
    "log.cleaner.delete.retention.ms": "delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms": "min.compaction.lag.ms",
    "log.cleaner.min.cleanable.ratio": "min.cleanable.dirty.ratio",
}

_HOUR = 3600 * 1000
_BROKER_TIME_CHAINS: dict[str, list[tuple[str, int]]] = {
    "retention_ms": [
        ("log.retention.ms", 1),
        ("log.retention.minutes", 60 * 1000),
        ("log.retention.hours", _HOUR),
    ],
    "segment_ms": [("log.roll.ms", 1), ("log.roll.hours", _HOUR)],
}
