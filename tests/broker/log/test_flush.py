from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from broker.log.partition_log import PartitionLog

from .conftest import OpenLog, batch, crash, read_all


def test_flush_advances_the_recovery_point(open_log: OpenLog) -> None:
    plog = open_log()
    assert plog.flush() == 0
    plog.append(batch(3), now_ms=1)
    assert plog.unflushed_messages == 3
    assert plog.flush() == 3
    assert plog.unflushed_messages == 0 and plog.recovery_point == 3


def test_needs_flush_policies(open_log: OpenLog) -> None:
    plog = open_log(flush_interval_messages=5)
    plog.flush()
    plog.append(batch(4), now_ms=1)
    assert not plog.needs_flush(now_ms=10**13)
    plog.append(batch(1), now_ms=1)
    assert plog.needs_flush(now_ms=0)
    plog.flush()
    assert not plog.needs_flush(now_ms=10**13)

    timed = open_log(flush_interval_ms=1_000)
    timed.flush()
    assert not timed.needs_flush(now_ms=10**13)  # nothing unflushed
    timed.append(batch(1), now_ms=1)
    assert not timed.needs_flush(now_ms=0)
    assert timed.needs_flush(now_ms=10**13)


def test_default_policy_flushes_after_a_roll_only(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=500)
    assert plog.roll_flush_pending  # the new segment files' directory entries
    plog.flush()
    assert not plog.roll_flush_pending
    plog.append(batch(1), now_ms=1)
    assert not plog.needs_flush(now_ms=10**13) and not plog.roll_flush_pending
    while plog.segment_count == 1:
        plog.append(batch(1), now_ms=1)
    assert plog.roll_flush_pending
    assert not plog.needs_flush(now_ms=10**13)  # produce requests do not wait for it
    plog.flush()
    assert not plog.roll_flush_pending


def test_flush_from_a_thread_while_appending(
    open_log: OpenLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plog = open_log(segment_bytes=4_000, index_interval_bytes=200)
    synced: list[int] = []
    real_fdatasync = os.fdatasync

    def slow_fdatasync(fd: int) -> None:
        synced.append(fd)
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    stop = threading.Event()
    flushed: list[int] = []
    failures: list[BaseException] = []

    def flusher() -> None:
        try:
            while not stop.is_set():
                flushed.append(plog.flush())
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    thread = threading.Thread(target=flusher)
    thread.start()
    try:
        for i in range(400):
            plog.append(batch(1 + i % 3), now_ms=i)
            if i % 50 == 0:
                assert read_all(plog)[-1] == plog.log_end_offset - 1
    finally:
        stop.set()
        thread.join()
    assert not failures
    assert flushed == sorted(flushed), "the recovery point never moves backwards"
    assert plog.segment_count > 10
    end = plog.log_end_offset
    assert plog.flush() == end
    assert synced
    # Everything below the recovery point survives a crash without a CRC scan of the old segments.
    crash(plog)
    reopened = open_log(segment_bytes=4_000, index_interval_bytes=200)
    assert reopened.log_end_offset == end
    assert read_all(reopened) == list(range(end))


def test_close_waits_for_a_running_flush(tmp_path: Path) -> None:
    from broker.log.config import LogConfig

    plog = PartitionLog(tmp_path / "t-0", "t", 0, LogConfig())
    plog.append(batch(2), now_ms=1)
    threads = [threading.Thread(target=plog.flush) for _ in range(4)]
    for t in threads:
        t.start()
    plog.close()
    for t in threads:
        t.join()
    assert plog.closed
    reopened = PartitionLog(tmp_path / "t-0", "t", 0, LogConfig())
    assert reopened.log_end_offset == 2 and reopened.unflushed_messages == 0
    reopened.close()


def test_flush_races_with_retention_and_truncation(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=1_500, index_interval_bytes=100, retention_bytes=6_000, retention_ms=-1)
    stop = threading.Event()
    failures: list[BaseException] = []

    def flusher() -> None:
        try:
            while not stop.is_set():
                plog.flush()
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    thread = threading.Thread(target=flusher)
    thread.start()
    try:
        for i in range(600):
            plog.append(batch(1 + i % 3), now_ms=i)
            if i % 7 == 0:
                plog.maintain(now_ms=i)
            if i % 97 == 96:
                plog.delete_records(plog.log_end_offset - 3)
            if i % 151 == 0 and plog.log_end_offset - plog.log_start_offset > 10:
                plog.truncate_to(plog.log_end_offset - 5)
    finally:
        stop.set()
        thread.join()
    assert not failures
    end, start = plog.log_end_offset, plog.log_start_offset
    assert plog.flush() == end
    assert read_all(plog) == list(range(start, end))
    crash(plog)
    reopened = open_log(segment_bytes=1_500, index_interval_bytes=100)
    assert (reopened.log_start_offset, reopened.log_end_offset) == (start, end)
    assert read_all(reopened) == list(range(start, end))
