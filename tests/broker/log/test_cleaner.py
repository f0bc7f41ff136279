"""Log compaction: what survives a pass, tombstones, concurrency with the event loop, crash safety."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from crc32c import crc32c
from kio.schema.errors import ErrorCode

from broker.groups.state import OffsetAndMetadata
from broker.groups.store import TOPIC, GroupStore
from broker.log.cleaner import (
    COMMIT_STEP,
    DELETE_HORIZON_MASK,
    MAP_ENTRY_BYTES,
    SWAP_STEPS,
    CleanerConfig,
    LogCleaner,
)
from broker.log.config import LogConfig
from broker.log.errors import InvalidConfigError, InvalidRecordError
from broker.log.manager import LogManager
from broker.log.partition_log import PartitionLog
from broker.log.records import (
    COMPRESSION_GZIP,
    Record,
    build_batch,
    decode_records,
    iter_batch_headers,
)
from broker.log.recovery import SWAP_MANIFEST_FILE

from .conftest import OpenLog, crash

Row = tuple[int, bytes | None, bytes | None]
T0 = 1_700_000_000_000


class SimulatedCrash(BaseException):
    """Raised from the cleaner's step hook: a BaseException, so no clean-up code runs (like a crash)."""


def contents(plog: PartitionLog) -> list[Row]:
    """Every record from the log start, read through ``read`` as a consumer would."""
    rows: list[Row] = []
    offset = plog.log_start_offset
    while offset < plog.log_end_offset:
        data = plog.read(offset, 256 * 1024)
        headers = list(iter_batch_headers(data))
        assert headers and sum(h.size for h in headers) == len(data)
        for h in headers:
            for r in decode_records(data[h.position : h.position + h.size]):
                if r.offset >= offset:
                    rows.append((r.offset, r.key, r.value))
        offset = headers[-1].last_offset + 1
    return rows


def latest(rows: list[Row]) -> dict[bytes | None, tuple[int, bytes | None]]:
    out: dict[bytes | None, tuple[int, bytes | None]] = {}
    for offset, key, value in rows:
        out[key] = (offset, value)
    return out


def cleaner(plog: PartitionLog, **config: Any) -> LogCleaner:
    return LogCleaner(lambda: [plog], CleanerConfig(**config))


def stray_files(directory: Path) -> list[str]:
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name.endswith((".cleaned", ".swap", ".deleted")) or p.name == SWAP_MANIFEST_FILE
    )


def produce_updates(
    plog: PartitionLog, updates: int, keys: int, per_batch: int, *, ts: int = T0, value_pad: int = 20
) -> dict[int, tuple[bytes, bytes]]:
    """``updates`` records over ``keys`` keys in batches of ``per_batch``; returns offset -> (key, value)."""
    written: dict[int, tuple[bytes, bytes]] = {}
    n = 0
    while n < updates:
        records = []
        for _ in range(min(per_batch, updates - n)):
            key = b"key-%05d" % ((n * 7919) % keys)
            records.append((key, b"value-%07d-" % n + b"x" * value_pad))
            n += 1
        info = plog.append(build_batch(records, timestamp_ms=ts), now_ms=ts)
        for i, (key, value) in enumerate(records):
            written[info.base_offset + i] = (key, value)
    return written


# ------------------------------------------------------------------------------------------ what survives


def test_compaction_keeps_latest_value_of_every_key(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=256 * 1024, cleanup_policy="compact", retention_ms=-1)
    written = produce_updates(plog, 100_000, 1_000, 100)
    active_base = plog.segment_count and plog._segments[-1].base_offset
    size_before, segments_before = plog.size_bytes, plog.segment_count
    assert segments_before > 15
    expected_latest = {key: (offset, value) for offset, (key, value) in sorted(written.items())}
    last_below_active = {k: o for o, (k, _v) in sorted(written.items()) if o < active_base}
    result = cleaner(plog).clean_once(now_ms=T0 + 1)
    assert result is not None
    rows = contents(plog)
    offsets = [o for o, _k, _v in rows]
    assert offsets == sorted(set(offsets)), "offsets must stay strictly increasing"
    for offset, key, value in rows:
        assert written[offset] == (key, value), "a survivor changed offset or content"
    cleaned_rows = [r for r in rows if r[0] < active_base]
    # One record per key outside the active segment: the latest one below it.
    assert len(cleaned_rows) == len(last_below_active) <= 1_000
    assert {k: o for o, k, _v in cleaned_rows} == last_below_active
    assert latest(rows) == expected_latest
    assert result.records_kept == len(cleaned_rows)
    assert result.records_kept + result.records_removed == active_base
    inactive_size = plog.size_bytes - plog._segments[-1].size
    assert result.bytes_after == inactive_size < result.bytes_before / 50
    assert plog.size_bytes < size_before / 4
    assert plog.segment_count == 2, "small cleaned segments are merged into one"
    assert plog.first_dirty_offset == active_base == result.end_offset
    print(
        f"\ncleaned {result.records_kept + result.records_removed} records "
        f"({result.bytes_before / 1e6:.1f} MB) in {result.duration_s:.3f}s: "
        f"{result.records_per_s:,.0f} records/s, {result.mb_per_s:.1f} MB/s, swap {result.swap_ms:.2f} ms"
    )
    assert cleaner(plog).clean_once(now_ms=T0 + 2) is None, "nothing dirty is left"
    plog.close()
    reopened = open_log(segment_bytes=256 * 1024, cleanup_policy="compact", retention_ms=-1)
    assert contents(reopened) == rows
    assert reopened.first_dirty_offset == active_base
    assert stray_files(reopened.directory) == []


def test_rebuilt_batches_keep_offsets_codec_timestamps_headers_and_producer_fields(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=100, cleanup_policy="compact")
    records = [
        Record(0, T0 + 5, b"a", b"a1", [("h", b"1")]),
        Record(1, T0 + 7, b"b", b"b1", [("h", None)]),
        Record(2, T0 + 9, b"c", b"c1", []),
    ]
    plog.append(
        build_batch(
            records,
            compression=COMPRESSION_GZIP,
            producer_id=5,
            producer_epoch=3,
            base_sequence=10,
            partition_leader_epoch=4,
        ),
        now_ms=T0,
    )
    plog.append(build_batch([(b"a", b"a2"), (b"c", b"c2")], timestamp_ms=T0 + 20), now_ms=T0)
    plog.append(build_batch([(b"z", b"z")], timestamp_ms=T0 + 30), now_ms=T0)  # active segment
    assert cleaner(plog).clean_once(now_ms=T0 + 100) is not None
    data = plog.read(0, 1 << 20)
    h = next(iter_batch_headers(data))
    batch = data[: h.size]
    assert (h.base_offset, h.last_offset_delta, h.record_count) == (0, 2, 1)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (5, 3, 10)
    assert h.compression == COMPRESSION_GZIP and not h.attributes & DELETE_HORIZON_MASK
    assert struct.unpack_from(">i", batch, 12)[0] == 4
    assert struct.unpack_from(">I", batch, 17)[0] == crc32c(batch[21:])
    assert decode_records(batch) == [Record(1, T0 + 7, b"b", b"b1", [("h", None)])]
    assert h.max_timestamp == T0 + 7
    assert [(o, k, v) for o, k, v in contents(plog)] == [
        (1, b"b", b"b1"),
        (3, b"a", b"a2"),
        (4, b"c", b"c2"),
        (5, b"z", b"z"),
    ]


def test_null_keys_are_rejected_on_compacted_topics(open_log: OpenLog, tmp_path: Path) -> None:
    for policy in ("compact", "compact,delete"):
        plog = PartitionLog(tmp_path / policy, "t", 0, LogConfig(cleanup_policy=policy))
        plog.append(build_batch([(b"k", b"v")]), now_ms=T0)
        for bad in (
            build_batch([(None, b"v")]),
            build_batch([(b"k", b"v"), (None, b"v")], compression=COMPRESSION_GZIP),
        ):
            with pytest.raises(InvalidRecordError, match="without key") as info:
                plog.append(bad, now_ms=T0)
            assert info.value.error_code == ErrorCode.invalid_record == 87
        assert plog.log_end_offset == 1
        plog.close()
    plog = open_log(cleanup_policy="delete")
    assert plog.append(build_batch([(None, b"v")]), now_ms=T0).base_offset == 0


# ------------------------------------------------------------------------------------------ tombstones


def _tombstone_log(open_log: OpenLog, **config: Any) -> PartitionLog:
    plog = open_log(segment_bytes=100, cleanup_policy="compact", delete_retention_ms=10_000, **config)
    for key, value in [(b"a", b"a1"), (b"b", b"b1"), (b"a", b"a2"), (b"a", None), (b"b", b"b2")]:
        plog.append(build_batch([(key, value)], timestamp_ms=T0), now_ms=T0)
    plog.append(build_batch([(b"z", b"z")], timestamp_ms=T0), now_ms=T0)  # the active segment
    return plog


def test_tombstones_are_kept_until_delete_retention_passed(open_log: OpenLog) -> None:
    plog = _tombstone_log(open_log)
    lc = cleaner(plog)
    first = lc.clean_once(now_ms=T0 + 1_000)
    assert first is not None and first.tombstones_removed == 0
    assert contents(plog) == [(3, b"a", None), (4, b"b", b"b2"), (5, b"z", b"z")]
    assert plog.tombstone_horizon_ms == T0 + 11_000
    tomb = next(iter_batch_headers(plog.read(3, 1 << 20)))
    assert tomb.attributes & DELETE_HORIZON_MASK and tomb.base_timestamp == T0 + 11_000
    assert decode_records(plog.read(3, 1 << 20))[0].timestamp == T0, "record timestamps are unchanged"
    assert lc.clean_once(now_ms=T0 + 10_999) is None
    assert (3, b"a", None) in contents(plog)
    second = lc.clean_once(now_ms=T0 + 11_000)
    assert second is not None and second.tombstones_removed == 1
    assert contents(plog) == [(4, b"b", b"b2"), (5, b"z", b"z")]
    assert plog.tombstone_horizon_ms is None
    assert plog.log_start_offset == 0


def test_delete_horizon_survives_a_restart(open_log: OpenLog) -> None:
    plog = _tombstone_log(open_log)
    assert cleaner(plog).clean_once(now_ms=T0) is not None
    plog.close()
    plog = open_log(
        segment_bytes=100, cleanup_policy="compact", delete_retention_ms=10_000, min_cleanable_dirty_ratio=0.3
    )
    assert plog.tombstone_horizon_ms is None  # not known after a restart: the next ratio-driven pass
    assert cleaner(plog).clean_once(now_ms=T0 + 20_000) is None
    plog.append(build_batch([(b"b", b"b3")], timestamp_ms=T0), now_ms=T0)  # more dirty data
    plog.append(build_batch([(b"z", b"z2")], timestamp_ms=T0), now_ms=T0)
    result = cleaner(plog).clean_once(now_ms=T0 + 20_000)
    assert result is not None and result.tombstones_removed == 1
    assert [k for _o, k, _v in contents(plog)] == [b"z", b"b", b"z"]


def test_a_segment_emptied_by_cleaning_keeps_the_log_start_offset(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=100, cleanup_policy="compact", delete_retention_ms=0)
    for i in range(4):
        plog.append(build_batch([(b"k%d" % i, None)], timestamp_ms=T0), now_ms=T0)
    plog.append(build_batch([(b"z", b"z")], timestamp_ms=T0), now_ms=T0)
    lc = cleaner(plog)
    assert lc.clean_once(now_ms=T0) is not None  # stamps the horizon (now + 0)
    result = lc.clean_once(now_ms=T0 + 1)
    assert result is not None and result.tombstones_removed == 4 and result.bytes_after == 0
    assert plog.log_start_offset == 0 and plog.segment_count == 2
    assert contents(plog) == [(4, b"z", b"z")]
    assert plog.read(0, 1 << 20) == plog.read(4, 1 << 20)
    plog.close()
    assert contents(open_log(segment_bytes=100, cleanup_policy="compact")) == [(4, b"z", b"z")]


# ------------------------------------------------------------------------------------------ eligibility


def test_min_compaction_lag_is_respected(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=2_000, cleanup_policy="compact", min_compaction_lag_ms=60_000)
    produce_updates(plog, 400, 20, 10, ts=T0)
    young_base = plog.log_end_offset
    produce_updates(plog, 400, 20, 10, ts=T0 + 50_000)
    end = plog.log_end_offset
    lc = cleaner(plog)
    assert lc.clean_once(now_ms=T0 + 59_999) is None, "every record is younger than the lag"
    result = lc.clean_once(now_ms=T0 + 60_001)
    assert result is not None
    assert 0 < result.end_offset <= young_base, "segments with records younger than the lag stay dirty"
    offsets = [o for o, _k, _v in contents(plog)]
    assert len([o for o in offsets if o < result.end_offset]) <= 20
    assert [o for o in offsets if o >= result.end_offset] == list(range(result.end_offset, end))
    assert plog.first_dirty_offset == result.end_offset
    assert lc.clean_once(now_ms=T0 + 110_001) is not None  # now the rest is old enough


def test_min_cleanable_dirty_ratio(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=2_000, cleanup_policy="compact", min_cleanable_dirty_ratio=0.5)
    produce_updates(plog, 3_000, 1_000, 10)
    lc = cleaner(plog)
    assert lc.clean_once(now_ms=T0) is not None
    produce_updates(plog, 600, 1_000, 10)  # a dirty part well below half of the log
    assert lc.clean_once(now_ms=T0) is None
    plog.config = LogConfig(segment_bytes=2_000, cleanup_policy="compact", min_cleanable_dirty_ratio=0.2)
    assert lc.clean_once(now_ms=T0) is not None
    plog.config = LogConfig(segment_bytes=2_000, cleanup_policy="delete")
    produce_updates(plog, 2_000, 20, 10)
    assert lc.clean_once(now_ms=T0) is None, "delete-only topics are not compacted"


def test_full_offset_map_cleans_in_several_passes(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=4_000, cleanup_policy="compact", min_cleanable_dirty_ratio=0.01)
    written = produce_updates(plog, 6_000, 500, 25)
    lc = cleaner(plog, dedupe_buffer_size=200 * MAP_ENTRY_BYTES)
    assert lc.config.map_capacity == 200
    active_base = plog._segments[-1].base_offset
    ends = []
    while (result := lc.clean_once(now_ms=T0)) is not None:
        ends.append(result.end_offset)
        assert latest(contents(plog)) == latest([(o, k, v) for o, (k, v) in sorted(written.items())])
        assert len(ends) < 50
    assert len(ends) > 2 and ends == sorted(ends) and ends[-1] == active_base
    assert len([o for o, _k, _v in contents(plog) if o < active_base]) <= 500


def test_compact_delete_applies_retention(open_log: OpenLog) -> None:
    plog = open_log(
        segment_bytes=2_000, cleanup_policy="compact,delete", retention_ms=60_000, retention_bytes=-1
    )
    produce_updates(plog, 500, 50, 10, ts=T0)
    old_end = plog.log_end_offset
    produce_updates(plog, 500, 50, 10, ts=T0 + 100_000)
    plog.maintain(now_ms=T0 + 100_000)
    assert plog.log_start_offset >= old_end - 50, "segments past retention.ms are deleted"
    assert cleaner(plog).clean_once(now_ms=T0 + 100_000) is not None
    rows = contents(plog)
    assert rows and rows[0][0] >= plog.log_start_offset and len(rows) < 500
    assert {k for _o, k, _v in rows} == {b"key-%05d" % i for i in range(50)}
    # The merged cleaned segment expires by its newest record, as in Kafka.
    plog.maintain(now_ms=T0 + 160_001)
    assert plog.segment_count == 1 and plog.log_start_offset == plog._segments[0].base_offset
    # retention.bytes as well
    plog.config = LogConfig(
        segment_bytes=2_000, cleanup_policy="compact,delete", retention_ms=-1, retention_bytes=3_000
    )
    produce_updates(plog, 1_000, 50, 10, ts=T0 + 200_000)
    plog.maintain(now_ms=T0 + 200_000)
    assert plog.size_bytes <= 3_000 + 2_000


def test_retention_waits_while_a_log_is_being_cleaned(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=1_000, cleanup_policy="compact,delete", retention_ms=1)
    produce_updates(plog, 200, 10, 10, ts=T0)
    segments = plog.segment_count
    snap = plog.begin_cleaning()
    assert snap is not None and plog.begin_cleaning() is None, "one pass at a time"
    plog.maintain(now_ms=T0 + 10_000)
    plog.delete_records(50)
    assert plog.segment_count == segments and plog.log_start_offset == 50
    plog.end_cleaning(snap)
    plog.maintain(now_ms=T0 + 10_000)
    assert plog.segment_count == 1


# ------------------------------------------------------------------------------------------ producers, groups


def test_last_batch_of_an_idempotent_producer_survives_as_an_empty_batch(open_log: OpenLog) -> None:
    # Producer state is rebuilt from the last two segments: keep the producer's batches within them.
    plog = open_log(segment_bytes=300, cleanup_policy="compact")
    for seq in range(3):
        plog.append(
            build_batch([(b"p", b"v%d" % seq)], producer_id=7, producer_epoch=0, base_sequence=seq),
            now_ms=T0,
        )
    plog.append(build_batch([(b"p", b"other")]), now_ms=T0)  # supersedes every record of producer 7
    plog.append(build_batch([(b"z", b"z")]), now_ms=T0)
    assert cleaner(plog).clean_once(now_ms=T0) is not None
    headers = list(iter_batch_headers(plog.read(0, 1 << 20)))
    assert [(h.base_offset, h.record_count, h.producer_id, h.base_sequence) for h in headers] == [
        (2, 0, 7, 2),
        (3, 1, -1, -1),
    ]
    assert contents(plog) == [(3, b"p", b"other"), (4, b"z", b"z")]
    assert plog.segment_count == 2
    plog.close()
    plog = open_log(segment_bytes=300, cleanup_policy="compact")
    retry = build_batch([(b"p", b"v2")], producer_id=7, producer_epoch=0, base_sequence=2)
    info = plog.append(retry, now_ms=T0)
    assert info.base_offset == 2 and plog.log_end_offset == 5, "the retry is still a duplicate"
    nxt = build_batch([(b"p", b"v3")], producer_id=7, producer_epoch=0, base_sequence=3)
    assert plog.append(nxt, now_ms=T0).base_offset == 5


def test_group_store_restores_latest_offsets_after_cleaning(tmp_path: Path) -> None:
    manager = LogManager(tmp_path / "data", LogConfig())
    manager.create_topic(
        TOPIC, 1, {"cleanup.policy": "compact", "segment.bytes": "3000", "delete.retention.ms": "1000"}
    )

    def no_flush(parts: list[Any]) -> Any:
        raise AssertionError("no flush policy is set")

    store = GroupStore(manager, 1, no_flush)
    for i in range(200):
        store.append_offsets("g1", {("t", p): OffsetAndMetadata(i * 10 + p, -1, "m", T0) for p in range(3)})
        store.append_offsets("g2", {("t", 0): OffsetAndMetadata(i, -1, "", T0)})
    store.append_offsets("g1", {("u", 0): OffsetAndMetadata(42, -1, "", T0)})

    def load() -> dict[tuple[str, str, int], int]:
        state: dict[tuple[str, str, int], int] = {}

        def restore(
            group_id: str,
            generation: int | None,
            protocol_type: str | None,
            offsets: dict[tuple[str, int], OffsetAndMetadata | None],
            deleted: bool,
        ) -> None:
            if deleted:
                for k in [k for k in state if k[0] == group_id]:
                    del state[k]
            for (topic, partition), om in offsets.items():
                if om is None:
                    state.pop((group_id, topic, partition), None)
                else:
                    state[(group_id, topic, partition)] = om.offset

        store.load(restore)
        return state

    before = load()
    assert before[("g1", "t", 2)] == 1992 and before[("g2", "t", 0)] == 199
    plog = manager.partition(TOPIC, 0)
    assert plog is not None
    lc = LogCleaner(manager._all_partitions, CleanerConfig())
    assert lc.clean_once(now_ms=T0) is not None
    assert load() == before
    assert plog.size_bytes < 6_000
    # g2 is deleted (tombstones); once delete.retention.ms passed they vanish from the log too
    from broker.groups.state import Group

    group = Group("g2")
    group.offsets = {("t", 0): OffsetAndMetadata(199)}
    store.delete_group(group)
    store.append_offsets("g1", {("t", 0): OffsetAndMetadata(7)})
    for i in range(100):  # roll the tombstones out of the active segment
        store.append_offsets("g1", {("t", 1): OffsetAndMetadata(i)})
    after_delete = load()
    assert ("g2", "t", 0) not in after_delete and after_delete[("g1", "t", 0)] == 7
    assert lc.clean_once(now_ms=T0) is not None
    assert lc.clean_once(now_ms=T0 + 2_000) is not None
    assert load() == after_delete
    assert all(not k.startswith(b"\x00\x01\x00\x02g2") for _o, k, _v in contents(plog) if k)
    manager.close()


# ------------------------------------------------------------------------------------------ concurrency


def test_concurrent_appends_reads_and_flushes_while_the_cleaner_thread_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="broker.log.cleaner")
    manager = LogManager(tmp_path / "data", LogConfig())
    info = manager.create_topic(
        "c",
        1,
        {"cleanup.policy": "compact", "segment.bytes": "30000", "min.cleanable.dirty.ratio": "0.2"},
    )
    plog = info.partitions[0]
    written: dict[int, tuple[bytes, bytes]] = {}
    expected: dict[bytes | None, tuple[int, bytes | None]] = {}
    cleaners: list[LogCleaner] = []
    errors_seen: list[BaseException] = []
    stop = threading.Event()

    def flusher() -> None:
        while not stop.is_set():
            try:
                plog.flush()
            except BaseException as exc:
                errors_seen.append(exc)
                return
            time.sleep(0.0005)

    async def main() -> None:
        started = manager.start_cleaner(CleanerConfig(backoff_ms=2), asyncio.get_running_loop())
        assert started is not None
        cleaners.append(started)
        thread = threading.Thread(target=flusher)
        thread.start()
        deadline = time.monotonic() + 15
        n = 0
        try:
            while manager.cleaner_stats().passes < 8 and time.monotonic() < deadline:
                records = [(b"k%03d" % ((n + i) * 37 % 300), b"v%08d" % (n + i)) for i in range(40)]
                appended = plog.append(build_batch(records), now_ms=int(time.time() * 1000))
                for i, (key, value) in enumerate(records):
                    written[appended.base_offset + i] = (key, value)
                    expected[key] = (appended.base_offset + i, value)
                n += len(records)
                if n % 400 == 0:
                    rows = contents(plog)  # a full read while swaps happen
                    assert [o for o, _k, _v in rows] == sorted({o for o, _k, _v in rows})
                    for offset, key, value in rows:
                        assert written[offset] == (key, value)
                    assert latest(rows) == expected
                await asyncio.sleep(0)  # let the cleaner's swap callbacks run
        finally:
            stop.set()
            await asyncio.get_running_loop().run_in_executor(None, manager.stop_cleaner)
            thread.join()

    asyncio.run(main())
    assert not errors_seen
    stats = cleaners[0].stats()
    assert stats.passes >= 8 and stats.failed_passes == 0 and stats.bytes_reclaimed > 0
    rows = contents(plog)
    assert latest(rows) == expected, "nothing acknowledged was lost"
    assert len(rows) < len(written) / 2
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Cleaned c-0")]
    assert len(lines) >= 8 and "records kept" in lines[0] and "MB/s" in lines[0]
    manager.close()
    reopened = LogManager(tmp_path / "data", LogConfig())
    partition = reopened.partition("c", 0)
    assert partition is not None and latest(contents(partition)) == expected
    assert stray_files(partition.directory) == []
    reopened.close()


def test_manager_exposes_cleaner_stats(tmp_path: Path) -> None:
    manager = LogManager(tmp_path / "data", LogConfig())
    info = manager.create_topic("s", 1, {"cleanup.policy": "compact", "segment.bytes": "2000"})
    produce_updates(info.partitions[0], 1_000, 10, 10)

    async def main() -> None:
        cleaner_ = manager.start_cleaner(CleanerConfig(backoff_ms=1), asyncio.get_running_loop())
        assert cleaner_ is not None and cleaner_.running
        for _ in range(500):
            if manager.cleaner_stats().passes:
                break
            await asyncio.sleep(0.01)

    asyncio.run(main())
    stats = manager.cleaner_stats()
    assert stats.passes == 1 and stats.bytes_reclaimed > 10_000 and stats.records_removed > 900
    assert stats.bytes_read > stats.bytes_written > 0 and stats.segments_cleaned > 1
    manager.stop_cleaner()
    assert manager.cleaner is None and manager.cleaner_stats().passes == 0
    loop = asyncio.new_event_loop()
    try:
        assert manager.start_cleaner(CleanerConfig(enable=False), loop) is None
        assert manager.start_cleaner(CleanerConfig(threads=0), loop) is None
    finally:
        loop.close()
    manager.close()


def test_an_old_segment_descriptor_stays_readable_after_the_swap(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=2_000, cleanup_policy="compact")
    produce_updates(plog, 500, 10, 10)
    old = plog._segments[0]
    held = os.dup(old.fd)  # a reader in the middle of a read
    try:
        original = os.pread(held, old.size, 0)
        assert cleaner(plog).clean_once(now_ms=T0) is not None
        assert not old.log_path.with_name(old.log_path.name + ".deleted").exists()
        assert os.pread(held, len(original), 0) == original
    finally:
        os.close(held)


# ------------------------------------------------------------------------------------------ crash safety


def _crash_fixture_log(directory: Path) -> PartitionLog:
    plog = PartitionLog(directory, "t", 0, _CRASH_CONFIG)
    produce_updates(plog, 3_000, 100, 20)
    for key in (b"key-00001", b"key-00002"):
        plog.append(build_batch([(key, None)], timestamp_ms=T0), now_ms=T0)
    produce_updates(plog, 200, 100, 20)
    plog.close()
    return plog


_CRASH_CONFIG = LogConfig(segment_bytes=8_000, cleanup_policy="compact", delete_retention_ms=1_000)


@pytest.fixture(scope="module")
def crash_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Row], list[Row]]:
    """A prepared partition directory and its contents before and after one cleaning pass."""
    base = tmp_path_factory.mktemp("crash")
    _crash_fixture_log(base / "pristine")
    shutil.copytree(base / "pristine", base / "reference")
    plog = PartitionLog(base / "reference", "t", 0, _CRASH_CONFIG)
    before = contents(plog)
    assert LogCleaner(lambda: [plog], CleanerConfig()).clean_once(now_ms=T0) is not None
    after = contents(plog)
    plog.close()
    assert len(after) < len(before)
    return base / "pristine", before, after


@pytest.mark.parametrize("step", SWAP_STEPS)
def test_crash_at_each_step_recovers_the_log_before_or_after_the_pass(
    step: str, tmp_path: Path, crash_reference: tuple[Path, list[Row], list[Row]]
) -> None:
    pristine, before, after = crash_reference
    directory = tmp_path / "t-0"
    shutil.copytree(pristine, directory)
    plog = PartitionLog(directory, "t", 0, _CRASH_CONFIG)

    def on_step(name: str) -> None:
        if name == step:
            raise SimulatedCrash(name)

    with pytest.raises(SimulatedCrash):
        LogCleaner(lambda: [plog], CleanerConfig(), on_step=on_step).clean_once(now_ms=T0)
    crash(plog)
    reopened = PartitionLog(directory, "t", 0, _CRASH_CONFIG)
    committed = SWAP_STEPS.index(step) >= SWAP_STEPS.index(COMMIT_STEP)
    assert contents(reopened) == (after if committed else before)
    assert stray_files(directory) == []
    # The log works on: the next pass gives the cleaned contents, appends and restarts are fine.
    LogCleaner(lambda: [reopened], CleanerConfig()).clean_once(now_ms=T0)
    assert contents(reopened) == after
    reopened.append(build_batch([(b"new", b"n")]), now_ms=T0)
    reopened.close()
    again = PartitionLog(directory, "t", 0, _CRASH_CONFIG)
    assert contents(again) == [*after, (after[-1][0] + 1, b"new", b"n")]
    again.close()


def test_truncation_during_a_pass_rolls_the_pass_back(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=2_000, cleanup_policy="compact")
    produce_updates(plog, 500, 10, 10)

    def on_step(name: str) -> None:
        if name == COMMIT_STEP:
            plog.truncate_to(120)

    lc = LogCleaner(lambda: [plog], CleanerConfig(), on_step=on_step)
    assert lc.clean_once(now_ms=T0) is None
    assert lc.stats().aborted_passes == 1 and lc.stats().passes == 0
    assert stray_files(plog.directory) == []
    assert [o for o, _k, _v in contents(plog)] == list(range(120))
    assert plog.first_dirty_offset == 0
    plog.close()
    reopened = open_log(segment_bytes=2_000, cleanup_policy="compact")
    assert [o for o, _k, _v in contents(reopened)] == list(range(120))


def test_truncating_the_active_segment_during_a_pass_withdraws_the_swap(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=2_000, cleanup_policy="compact")
    produce_updates(plog, 500, 10, 10)
    end = plog.log_end_offset

    def on_step(name: str) -> None:
        if name == COMMIT_STEP:
            assert plog._segments[-1].base_offset < end - 10
            plog.truncate_to(end - 10)  # only the active segment: the segments being cleaned are intact

    lc = LogCleaner(lambda: [plog], CleanerConfig(), on_step=on_step)
    assert lc.clean_once(now_ms=T0) is None, "no swap without its commit record on disk"
    assert stray_files(plog.directory) == []
    assert [o for o, _k, _v in contents(plog)] == list(range(end - 10))
    assert LogCleaner(lambda: [plog], CleanerConfig()).clean_once(now_ms=T0) is not None


# ------------------------------------------------------------------------------------------ config


def test_cleaner_config_from_broker_properties() -> None:
    cfg = CleanerConfig.from_broker_properties(
        {
            "log.cleaner.threads": "2",
            "log.cleaner.dedupe.buffer.size": str(1 << 20),
            "log.cleaner.backoff.ms": "100",
            "log.cleaner.io.buffer.size": "65536",
            "num.partitions": "3",
        }
    )
    assert (cfg.enable, cfg.threads, cfg.backoff_ms, cfg.io_buffer_size) == (True, 2, 100, 65536)
    assert cfg.map_capacity == (1 << 20) // 2 // MAP_ENTRY_BYTES
    assert not CleanerConfig.from_broker_properties({"log.cleaner.enable": "false"}).enable
    for key, value in [
        ("log.cleaner.threads", "-1"),
        ("log.cleaner.enable", "yes"),
        ("log.cleaner.backoff.ms", "x"),
    ]:
        with pytest.raises(InvalidConfigError) as info:
            CleanerConfig.from_broker_properties({key: value})
        assert info.value.key == key
