from __future__ import annotations

import pytest
from kio.schema.errors import ErrorCode

from broker.log.config import LONG_MAX, TOPIC_CONFIG_KEYS, LogConfig
from broker.log.errors import InvalidConfigError


def test_defaults_are_kafkas() -> None:
    described = LogConfig().describe()
    assert described["segment.bytes"] == "1073741824"
    assert described["retention.ms"] == "604800000"
    assert described["retention.bytes"] == "-1"
    assert described["flush.messages"] == str(LONG_MAX)
    assert described["flush.ms"] == str(LONG_MAX)
    assert described["max.message.bytes"] == "1048588"
    assert described["message.timestamp.type"] == "CreateTime"
    assert described["cleanup.policy"] == "delete"
    assert described["min.cleanable.dirty.ratio"] == "0.5"
    assert described["compression.type"] == "producer"
    assert set(TOPIC_CONFIG_KEYS) <= set(described)


def test_overrides() -> None:
    cfg = LogConfig.from_overrides(
        LogConfig(),
        {
            "segment.bytes": "1000",
            "flush.messages": "1",
            "flush.ms": str(LONG_MAX),
            "cleanup.policy": "delete, compact",
            "message.timestamp.type": "LogAppendTime",
            "min.insync.replicas": "2",
        },
    )
    assert cfg.segment_bytes == 1000
    assert cfg.flush_interval_messages == 1 and cfg.flush_interval_ms is None
    assert cfg.cleanup_policy == "compact,delete" and cfg.compact_enabled and cfg.delete_enabled
    assert cfg.log_append_time
    assert cfg.describe()["min.insync.replicas"] == "2"
    assert LogConfig.from_overrides(cfg, {}) == cfg


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("segment.bytes", "abc"),
        ("segment.bytes", "10"),
        ("retention.ms", "-2"),
        ("flush.messages", "0"),
        ("message.timestamp.type", "Whenever"),
        ("cleanup.policy", "keep"),
        ("cleanup.policy", ""),
        ("min.cleanable.dirty.ratio", "1.5"),
        ("compression.type", "gzip"),
        ("no.such.config", "1"),
    ],
)
def test_invalid_overrides(key: str, value: str) -> None:
    with pytest.raises(InvalidConfigError) as info:
        LogConfig.from_overrides(LogConfig(), {key: value})
    assert info.value.key == key and info.value.error_code == ErrorCode.invalid_config


def test_broker_properties() -> None:
    cfg = LogConfig.from_broker_properties(
        {
            "log.segment.bytes": "2048",
            "log.retention.hours": "1",
            "log.flush.interval.messages": "10",
            "message.max.bytes": "5000",
            "log.cleanup.policy": "compact",
            "log.roll.hours": "2",
            "broker.id": "ignored",
        }
    )
    assert cfg.segment_bytes == 2048
    assert cfg.retention_ms == 3_600_000
    assert cfg.flush_interval_messages == 10
    assert cfg.max_message_bytes == 5000
    assert cfg.cleanup_policy == "compact"
    assert cfg.segment_ms == 7_200_000
    ms_wins = LogConfig.from_broker_properties({"log.retention.ms": "5", "log.retention.hours": "1"})
    assert ms_wins.retention_ms == 5
    assert LogConfig.from_broker_properties({"log.retention.hours": "-1"}).retention_ms == -1
    with pytest.raises(InvalidConfigError):
        LogConfig.from_broker_properties({"log.segment.bytes": "x"})
