from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from broker.log import errors
from broker.log.config import LogConfig
from broker.log.errors import InvalidRecordError, OffsetOutOfRangeError
from broker.log.records import (
    Record,
    build_batch,
    decode_records,
    iter_batch_headers,
    validate_produce_records,
)

from .conftest import OpenLog, batch, read_all


def test_append_assigns_offsets_and_round_trips(open_log: OpenLog) -> None:
    plog = open_log()
    assert (plog.log_start_offset, plog.log_end_offset, plog.size_bytes) == (0, 0, 0)
    info = plog.append(batch(3), now_ms=10)
    assert (info.base_offset, info.last_offset, info.record_count) == (0, 2, 3)
    assert info.log_append_time_ms == -1 and info.log_start_offset == 0
    blob = batch(2) + batch(4)
    info = plog.append(memoryview(blob), now_ms=11)
    assert (info.base_offset, info.last_offset, info.record_count) == (3, 8, 6)
    assert plog.log_end_offset == 9
    data = plog.read(0, 1 << 20)
    headers = list(iter_batch_headers(data))
    assert [(h.base_offset, h.last_offset) for h in headers] == [(0, 2), (3, 4), (5, 8)]
    validate_produce_records(data, 1 << 20)  # offsets patched, CRC still valid (it excludes baseOffset)
    assert [r.offset for h in headers for r in decode_records(data[h.position :])] == list(range(9))
    assert plog.read(9, 100) == b""
    assert plog.size_bytes == len(data)


def test_invalid_append_writes_nothing(open_log: OpenLog, tmp_path: Path) -> None:
    plog = open_log()
    plog.append(batch(1), now_ms=1)
    bad = bytearray(batch(2))
    bad[-1] ^= 1
    with pytest.raises(InvalidRecordError) as info:
        plog.append(batch(1) + bytes(bad), now_ms=2)
    assert info.value.error_code == ErrorCode.corrupt_message
    assert plog.log_end_offset == 1
    assert (tmp_path / "t-0" / f"{0:020d}.log").stat().st_size == plog.size_bytes


def test_message_too_large(open_log: OpenLog) -> None:
    plog = open_log(max_message_bytes=500)
    with pytest.raises(InvalidRecordError) as info:
        plog.append(batch(1, value_size=1000), now_ms=1)
    assert info.value.error_code == ErrorCode.message_too_large
    assert plog.log_end_offset == 0


def test_segments_roll_and_reads_cross_them(open_log: OpenLog, tmp_path: Path) -> None:
    plog = open_log(segment_bytes=2_000, index_interval_bytes=200)
    for i in range(60):
        plog.append(batch(1 + i % 4), now_ms=i)
    total = sum(1 + i % 4 for i in range(60))
    assert plog.log_end_offset == total
    assert plog.segment_count >= 4
    logs = sorted(p.name for p in (tmp_path / "t-0").glob("*.log"))
    assert len(logs) == plog.segment_count and logs[0] == f"{0:020d}.log"
    for path in (tmp_path / "t-0").glob("*.index"):
        assert path.stat().st_size % 8 == 0
    for max_bytes in (1, 150, 700, 5_000, 1 << 20):
        assert read_all(plog, max_bytes=max_bytes) == list(range(total))


def test_read_at_every_offset_returns_the_containing_batch(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=3_000, index_interval_bytes=100)
    for i in range(40):
        plog.append(batch(1 + i % 5), now_ms=i)
    for offset in range(plog.log_end_offset):
        data = plog.read(offset, 1)
        (h,) = iter_batch_headers(data)
        assert h.base_offset <= offset <= h.last_offset


def test_read_size_limits_kip74(open_log: OpenLog) -> None:
    plog = open_log()
    sizes = []
    for n in (1, 10, 1, 1):
        blob = batch(n, value_size=100)
        sizes.append(len(blob))
        plog.append(blob, now_ms=1)
    # First batch bigger than max_bytes: returned whole with min_one_batch, nothing without it.
    assert len(plog.read(1, 10)) == sizes[1]
    assert plog.read(1, 10, min_one_batch=False) == b""
    assert plog.read(1, 0) == plog.read(1, 10)
    # Never a partial batch, and as many whole batches as fit.
    assert len(plog.read(0, sizes[0] + sizes[1] - 1)) == sizes[0]
    assert len(plog.read(0, sizes[0] + sizes[1])) == sizes[0] + sizes[1]
    assert len(plog.read(0, sum(sizes) - 1)) == sum(sizes[:3])
    assert len(plog.read(0, 1 << 30)) == sum(sizes)


def test_offset_out_of_range(open_log: OpenLog) -> None:
    plog = open_log()
    plog.append(batch(5), now_ms=1)
    with pytest.raises(OffsetOutOfRangeError) as info:
        plog.read(6, 100)
    assert info.value.error_code == ErrorCode.offset_out_of_range
    with pytest.raises(OffsetOutOfRangeError):
        plog.read(-1, 100)
    plog.delete_records(3)
    with pytest.raises(OffsetOutOfRangeError):
        plog.read(2, 100)
    assert plog.read(3, 100) != b""  # the batch holding offset 3 (it starts at 0)


def test_log_append_time_sets_timestamp_and_recomputes_crc(open_log: OpenLog) -> None:
    plog = open_log(message_timestamp_type="LogAppendTime")
    info = plog.append(build_batch([(b"k", b"v")] * 3, timestamp_ms=5) + batch(2), now_ms=123_456)
    assert info.log_append_time_ms == 123_456
    data = plog.read(0, 1 << 20)
    headers = validate_produce_records(data, 1 << 20)  # would raise on a stale CRC
    assert all(h.timestamp_type == 1 and h.max_timestamp == 123_456 for h in headers)
    assert {r.timestamp for r in decode_records(data)} == {123_456}
    assert plog.offset_for_timestamp(123_456) == (0, 123_456)
    assert plog.offset_for_timestamp(123_457) is None


def test_offset_for_timestamp(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=1_500, index_interval_bytes=100)
    expected: list[tuple[int, int]] = []
    offset = 0
    for i in range(50):
        ts = 1_000 + 10 * i
        records = [Record(j, ts + j, None, b"x" * 30) for j in range(3)]
        plog.append(build_batch(records), now_ms=ts)
        expected += [(offset + j, ts + j) for j in range(3)]
        offset += 3
    for target in (0, 1_000, 1_001, 1_003, 1_005, 1_250, 1_252, 1_490, 1_492):
        want = next(((o, t) for o, t in expected if t >= target), None)
        assert plog.offset_for_timestamp(target) == want, target
    assert plog.offset_for_timestamp(10_000) is None
    assert plog.max_timestamp_and_offset() == (149, 1_492)


def test_max_timestamp_finds_the_exact_record(open_log: OpenLog) -> None:
    plog = open_log()
    assert plog.max_timestamp_and_offset() is None
    plog.append(
        build_batch([Record(0, 5, None, b"a"), Record(1, 50, None, b"b"), Record(2, 7, None, b"c")]), now_ms=1
    )
    plog.append(build_batch([Record(0, 20, None, b"d")]), now_ms=1)
    assert plog.max_timestamp_and_offset() == (1, 50)
    assert plog.offset_for_timestamp(8) == (1, 50)


def test_time_retention_deletes_old_inactive_segments(
    open_log: OpenLog, caplog: pytest.LogCaptureFixture
) -> None:
    plog = open_log(segment_bytes=1_000, retention_ms=10_000)
    for i in range(30):
        plog.append(batch(2, ts=1_000 * i), now_ms=1_000 * i)
    segments_before = plog.segment_count
    plog.maintain(now_ms=10_000)
    assert plog.segment_count == segments_before  # nothing older than 10 s yet
    with caplog.at_level("INFO", logger="broker.log"):
        plog.maintain(now_ms=30_000)
    assert plog.segment_count < segments_before
    assert "retention.ms" in caplog.text
    assert plog.log_start_offset > 0
    # Every remaining inactive segment is younger than the retention; offsets stay readable.
    assert read_all(plog) == list(range(plog.log_start_offset, 60))
    # The active segment is never deleted, even when everything is old.
    plog.maintain(now_ms=10**9)
    assert plog.segment_count == 1 and plog.log_end_offset == 60


def test_size_retention(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=1_000, retention_bytes=2_500, retention_ms=-1)
    for i in range(40):
        plog.append(batch(2, key=b"k"), now_ms=i)
    plog.maintain(now_ms=10**12)
    assert plog.size_bytes <= 2_500 + 1_000
    assert plog.size_bytes > 2_500 - 1_000
    assert read_all(plog) == list(range(plog.log_start_offset, 80))


def test_compact_only_topics_skip_retention(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=1_000, retention_ms=1, cleanup_policy="compact")
    for i in range(20):
        plog.append(batch(2, key=b"k"), now_ms=i)
    before = plog.segment_count
    plog.maintain(now_ms=10**12)
    assert plog.segment_count == before and plog.log_start_offset == 0


def test_segment_ms_rolls_only_on_append(open_log: OpenLog) -> None:
    plog = open_log(segment_ms=1_000)
    plog.append(batch(1), now_ms=0)
    plog.maintain(now_ms=5_000)
    assert plog.segment_count == 1
    plog.append(batch(1), now_ms=999)
    assert plog.segment_count == 1
    plog.append(batch(1), now_ms=5_000)
    assert plog.segment_count == 2
    assert read_all(plog) == [0, 1, 2]


def test_delete_records(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=1_000)
    for i in range(30):
        plog.append(batch(2, key=b"k"), now_ms=i)
    segments = plog.segment_count
    assert plog.delete_records(7) == 7
    assert plog.log_start_offset == 7
    assert plog.delete_records(3) == 7  # never moves backwards
    assert read_all(plog)[0] == 7
    assert plog.delete_records(40) == 40
    assert plog.segment_count < segments
    assert read_all(plog) == list(range(40, 60))
    with pytest.raises(OffsetOutOfRangeError):
        plog.delete_records(61)
    assert plog.delete_records(-1) == 60  # -1 = high watermark
    assert plog.segment_count == 1
    assert plog.read(60, 100) == b""
    info = plog.append(batch(1), now_ms=1)
    assert info.base_offset == 60 and info.log_start_offset == 60


def test_reopen_preserves_offsets_and_log_start(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=1_000)
    for i in range(25):
        plog.append(batch(2, key=b"k"), now_ms=i)
    plog.delete_records(5)
    plog.close()
    plog = open_log(segment_bytes=1_000)
    assert (plog.log_start_offset, plog.log_end_offset) == (5, 50)
    assert read_all(plog) == list(range(5, 50))
    assert plog.append(batch(1), now_ms=1).base_offset == 50
    assert plog.offset_for_timestamp(0) == (5, 1_000)


def test_truncate_to(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=1_000, index_interval_bytes=100)
    for i in range(30):
        plog.append(batch(2, key=b"k"), now_ms=i)  # batches [0,1], [2,3], ...
    plog.truncate_to(41)  # inside the batch [40, 41]: the whole batch goes
    assert plog.log_end_offset == 40
    assert read_all(plog) == list(range(40))
    assert plog.append(batch(1), now_ms=1).base_offset == 40
    plog.truncate_to(10)
    assert read_all(plog) == list(range(10))
    plog.close()
    plog = open_log(segment_bytes=1_000, index_interval_bytes=100)
    assert plog.log_end_offset == 10
    plog.truncate_to(0)
    assert (plog.log_start_offset, plog.log_end_offset, plog.size_bytes) == (0, 0, 0)
    assert plog.append(batch(1), now_ms=1).base_offset == 0


def test_delete_removes_directory(open_log: OpenLog, tmp_path: Path) -> None:
    plog = open_log()
    plog.append(batch(1), now_ms=1)
    plog.delete()
    assert not (tmp_path / "t-0").exists()


def test_index_files_use_kafka_layout(open_log: OpenLog, tmp_path: Path) -> None:
    plog = open_log(index_interval_bytes=0)
    positions = []
    for i in range(5):
        positions.append(plog.size_bytes)
        plog.append(batch(2, ts=100 + i), now_ms=1)
    plog.close()
    raw = (tmp_path / "t-0" / f"{0:020d}.index").read_bytes()
    entries = [struct.unpack_from(">ii", raw, i) for i in range(0, len(raw), 8)]
    # Kafka: no entry for the first batch, then (relative last offset, position) per batch.
    assert entries == [(2 * i + 1, positions[i]) for i in range(1, 5)]
    raw = (tmp_path / "t-0" / f"{0:020d}.timeindex").read_bytes()
    times = [struct.unpack_from(">qi", raw, i) for i in range(0, len(raw), 12)]
    assert times == [(100 + i, 2 * i + 1) for i in range(1, 5)]
    assert os.path.exists(tmp_path / "t-0" / "partition.checkpoint")


def test_closed_log_rejects_appends(open_log: OpenLog) -> None:
    plog = open_log()
    plog.close()
    with pytest.raises(errors.KafkaStorageError):
        plog.append(batch(1), now_ms=1)
    plog.close()  # idempotent
    assert plog.flush() == 0


def test_config_update(open_log: OpenLog) -> None:
    plog = open_log()
    plog.update_config(LogConfig(segment_bytes=500))
    for _ in range(10):
        plog.append(batch(2), now_ms=1)
    assert plog.segment_count > 1
    plog.config = LogConfig()
    assert plog.config.segment_bytes == LogConfig().segment_bytes
