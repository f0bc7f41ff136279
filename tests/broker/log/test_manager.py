from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from broker.log.config import LogConfig
from broker.log.errors import (
    InvalidConfigError,
    InvalidPartitionsError,
    InvalidTopicError,
    LogDirLockedError,
    TopicExistsError,
    UnknownTopicError,
)
from broker.log.manager import LogManager

from .conftest import batch, read_all


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[LogManager]:
    mgr = LogManager(tmp_path, LogConfig(segment_bytes=10_000), default_partitions=2)
    yield mgr
    mgr.close()


def test_create_and_reopen(tmp_path: Path, manager: LogManager) -> None:
    info = manager.create_topic("orders", 3, {"retention.ms": "1000"})
    assert isinstance(info.topic_id, uuid.UUID)
    assert [p.partition for p in info.partitions] == [0, 1, 2]
    assert info.config.retention_ms == 1000 and info.config.segment_bytes == 10_000
    assert (tmp_path / "orders-2").is_dir()
    doc = json.loads((tmp_path / "__topics" / "orders.json").read_text())
    assert doc == {
        "name": "orders",
        "topic_id": str(info.topic_id),
        "partitions": 3,
        "configs": {"retention.ms": "1000"},
    }
    plog = manager.partition("orders", 1)
    assert plog is not None
    plog.append(batch(4), now_ms=1)
    manager.close()

    reopened = LogManager(tmp_path, LogConfig(segment_bytes=10_000))
    try:
        again = reopened.get("orders")
        assert again is not None
        assert again.topic_id == info.topic_id and again.overrides == {"retention.ms": "1000"}
        assert len(again.partitions) == 3
        plog = reopened.partition("orders", 1)
        assert plog is not None and read_all(plog) == [0, 1, 2, 3]
        assert reopened.partition("orders", 3) is None and reopened.partition("nope", 0) is None
    finally:
        reopened.close()


def test_create_errors(manager: LogManager) -> None:
    manager.create_topic("a.b", 1, {})
    with pytest.raises(TopicExistsError) as exists:
        manager.create_topic("a.b", 1, {})
    assert exists.value.error_code == ErrorCode.topic_already_exists
    with pytest.raises(InvalidTopicError):
        manager.create_topic("a_b", 1, {})  # collides with a.b
    for bad in ("", ".", "..", "a/b", "space here", "x" * 250, "ünïcode"):
        with pytest.raises(InvalidTopicError) as invalid:
            manager.create_topic(bad, 1, {})
        assert invalid.value.error_code == ErrorCode.invalid_topic_exception
    manager.create_topic("x" * 249, 1, {})
    with pytest.raises(InvalidPartitionsError) as partitions:
        manager.create_topic("zero", 0, {})
    assert partitions.value.error_code == ErrorCode.invalid_partitions
    with pytest.raises(InvalidConfigError) as config:
        manager.create_topic("badcfg", 1, {"segment.bytes": "tiny"})
    assert config.value.error_code == ErrorCode.invalid_config
    assert set(manager.topics()) == {"a.b", "x" * 249}


def test_validate_only_and_default_partitions(tmp_path: Path, manager: LogManager) -> None:
    info = manager.create_topic("dry", 4, {}, validate_only=True)
    assert info.name == "dry" and manager.get("dry") is None
    assert not (tmp_path / "dry-0").exists()
    assert len(manager.create_topic("defaulted", -1, {}).partitions) == 2


def test_auto_create(tmp_path: Path, manager: LogManager) -> None:
    info = manager.get_or_create("auto")
    assert info is not None and len(info.partitions) == 2
    manager.auto_create = False
    assert manager.get_or_create("other") is None


def test_delete_topic(tmp_path: Path, manager: LogManager) -> None:
    manager.create_topic("gone", 2, {})
    plog = manager.partition("gone", 0)
    assert plog is not None
    plog.append(batch(1), now_ms=1)
    manager.delete_topic("gone")
    assert manager.get("gone") is None
    assert not (tmp_path / "gone-0").exists() and not (tmp_path / "__topics" / "gone.json").exists()
    with pytest.raises(UnknownTopicError) as unknown:
        manager.delete_topic("gone")
    assert unknown.value.error_code == ErrorCode.unknown_topic_or_partition
    # Re-creating starts from scratch.
    info = manager.create_topic("gone", 1, {})
    assert info.partitions[0].log_end_offset == 0


def test_orphan_partition_dirs_are_removed_at_start(tmp_path: Path) -> None:
    mgr = LogManager(tmp_path, LogConfig())
    mgr.create_topic("t", 1, {})
    mgr.close()
    (tmp_path / "__topics" / "t.json").unlink()  # as if a deletion was interrupted after this step
    (tmp_path / "not-a-partition-0").mkdir()  # unrelated directory without log files: left alone
    mgr = LogManager(tmp_path, LogConfig())
    try:
        assert not (tmp_path / "t-0").exists()
        assert (tmp_path / "not-a-partition-0").exists()
    finally:
        mgr.close()


def test_create_partitions(tmp_path: Path, manager: LogManager) -> None:
    manager.create_topic("grow", 2, {"segment.bytes": "5000"})
    with pytest.raises(InvalidPartitionsError):
        manager.create_partitions("grow", 2)
    with pytest.raises(InvalidPartitionsError):
        manager.create_partitions("grow", 1)
    with pytest.raises(UnknownTopicError):
        manager.create_partitions("nope", 3)
    info = manager.create_partitions("grow", 5)
    assert len(info.partitions) == 5 and info.partitions[4].config.segment_bytes == 5000
    manager.close()
    reopened = LogManager(tmp_path, LogConfig())
    try:
        again = reopened.get("grow")
        assert again is not None and len(again.partitions) == 5
    finally:
        reopened.close()


def test_alter_configs(tmp_path: Path, manager: LogManager) -> None:
    manager.create_topic("cfg", 2, {"retention.ms": "1000", "segment.bytes": "5000"})
    info = manager.alter_configs(
        "cfg", {"retention.ms": "2000", "cleanup.policy": "compact"}, ["segment.bytes"]
    )
    assert info.overrides == {"retention.ms": "2000", "cleanup.policy": "compact"}
    assert info.config.segment_bytes == 10_000  # back to the broker default
    assert all(p.config.retention_ms == 2000 for p in info.partitions)
    with pytest.raises(InvalidConfigError):
        manager.alter_configs("cfg", {"retention.ms": "soon"}, [])
    with pytest.raises(InvalidConfigError):
        manager.alter_configs("cfg", {}, ["no.such.key"])
    with pytest.raises(UnknownTopicError):
        manager.alter_configs("nope", {}, [])
    assert info.overrides == {"retention.ms": "2000", "cleanup.policy": "compact"}  # unchanged on error
    manager.alter_configs("cfg", {"retention.ms": "3"}, [], validate_only=True)
    assert info.config.retention_ms == 2000
    manager.close()
    reopened = LogManager(tmp_path, LogConfig(segment_bytes=10_000))
    try:
        again = reopened.get("cfg")
        assert again is not None and again.config.cleanup_policy == "compact"
        assert again.config.retention_ms == 2000
    finally:
        reopened.close()


def test_lock_prevents_two_managers(tmp_path: Path, manager: LogManager) -> None:
    with pytest.raises(LogDirLockedError, match="in use by another broker"):
        LogManager(tmp_path, LogConfig())


def test_flush_due_flush_all_and_maintain(manager: LogManager) -> None:
    manager.create_topic("f", 2, {"flush.messages": "2", "retention.ms": "1000", "segment.bytes": "500"})
    manager.create_topic("g", 1, {})
    manager.flush_all()
    assert manager.flush_due(now_ms=0) == []
    f0 = manager.partition("f", 0)
    assert f0 is not None
    f0.append(batch(2, ts=0), now_ms=0)
    assert manager.flush_due(now_ms=0) == [f0]
    manager.flush_all()
    assert manager.flush_due(now_ms=0) == []
    for _ in range(10):
        f0.append(batch(2, ts=0), now_ms=0)
    manager.maintain(now_ms=10_000)
    assert f0.log_start_offset > 0
