"""The on-disk log of one topic-partition: ``<data_dir>/<topic>-<partition>/`` in Kafka's file layout.

Threading contract: one event-loop thread calls everything (``append``, ``read``, ``maintain``,
``delete_records``, ``truncate_to``, the lookups, ``needs_flush``), except ``flush()`` which may also run on
a worker thread concurrently with them, and ``close()``/``delete()`` which wait for a running flush. The
state ``flush()`` shares with the event loop is guarded by a short lock that is never held across I/O
system calls that can block for long (fsync is done on duplicated descriptors outside it).

Log compaction (``broker.log.cleaner``): a cleaner thread reserves the log (``begin_cleaning``), reads
its inactive segments through descriptors duplicated under the lock and writes the cleaned segments on its
own; only the swap, ``replace_segments``, runs on the event-loop thread (the cleaner hands it over with
``loop.call_soon_threadsafe``), so ``append``/``read``/``maintain`` never see a half-replaced segment list
and the flusher, which takes the lock to pick segments, sees either the old or the new list. While a log is
reserved, retention and DeleteRecords leave its segments in place (the next ``maintain`` deletes them), so
a committed swap never resurrects deleted data. Compacted topics reject records without a key.

Durability: ``append`` writes to the page cache only. ``flush()`` fdatasyncs every segment with unflushed
bytes (plus the index files of rolled segments and the directory after new segments appeared) and then
advances the recovery point. After a crash, start-up CRC-scans from the segment holding the recovery point,
truncating a torn or corrupt tail; a clean ``close()`` lets start-up skip that scan.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crc32c import crc32c
from kio.schema.errors import ErrorCode

from broker.log.batch import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    CRC_OFFSET,
    MAX_TIMESTAMP_OFFSET,
    TIMESTAMP_TYPE_MASK,
    BatchHeader,
    BatchScanner,
    iter_batch_headers,
    parse_header,
    validate_produce_records,
)
from broker.log.checkpoint import PartitionCheckpoint, fsync_dir
from broker.log.codec import decode_records
from broker.log.config import LogConfig
from broker.log.errors import InvalidRecordError, KafkaStorageError, OffsetOutOfRangeError
from broker.log.producer_state import ProducerStateTable
from broker.log.recovery import (
    SWAP_MANIFEST_FILE,
    SwapManifest,
    init_empty_indexes,
    load_cleaner_offset,
    load_partition,
    store_cleaner_offset,
)
from broker.log.segment import (
    DELETED_SUFFIX,
    INDEX_ENTRY,
    INT32_MAX,
    SWAP_SUFFIX,
    TIME_INDEX_ENTRY,
    CleanedSegment,
    Segment,
    segment_paths,
)

log = logging.getLogger("broker.log")

_pack_i64 = struct.Struct(">q").pack_into
_pack_i16 = struct.Struct(">h").pack_into
_pack_u32 = struct.Struct(">I").pack_into
_SIZE_HEADER = struct.Struct(">qiibIhi")
_READ_CACHE_MAX = 512


@dataclass(frozen=True, slots=True)
class AppendInfo:
    """Result of an append: offsets assigned, LogAppendTime used (-1 for CreateTime topics), the log
    start offset at that moment and the number of records appended."""

    base_offset: int
    last_offset: int
    log_append_time_ms: int
    log_start_offset: int
    record_count: int


@dataclass(slots=True)
class _FlushJob:
    segment: Segment
    log_fd: int
    size: int
    index_fds: list[int]
    index_bytes: int
    timeindex_bytes: int
    sync_indexes: bool


@dataclass(slots=True)
class CleaningSnapshot:
    """What the log cleaner may use of a reserved log during one pass (taken under the state lock).

    ``segments`` are the inactive segments, oldest first (never the active one), with their sizes, max
    timestamps and duplicated descriptors ``fds`` (owned by the cleaner until ``end_cleaning``).
    ``producer_last_offsets`` maps each idempotent producer the log knows to the last offset it wrote.
    """

    segments: list[Segment]
    sizes: list[int]
    max_timestamps: list[int]
    active_base: int
    log_start: int
    first_dirty_offset: int
    tombstone_horizon_ms: int | None
    config: LogConfig
    fds: list[int] = field(default_factory=list)
    producer_last_offsets: dict[int, int] = field(default_factory=dict)


def _now_ms() -> int:
    return int(time.time() * 1000)


class PartitionLog:
    """Segmented log of one partition. See the module docstring for threading and durability."""

    def __init__(self, directory: Path, topic: str, partition: int, config: LogConfig) -> None:
        self.directory = Path(directory)
        self.topic = topic
        self.partition = partition
        self._config = config
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        self._segments: list[Segment] = []
        self._bases: list[int] = []
        self._leo = 0
        self._log_start = 0
        self._recovery_point = 0
        self._size_bytes = 0
        self._generation = 0
        self._dir_dirty = False
        self._indexes_dirty = False  # a rolled/rebuilt segment has index bytes not yet fsynced
        self._last_flush_ms = _now_ms()
        self._read_cache: dict[int, tuple[Segment, int]] = {}
        self._checkpointed: tuple[int, int] | None = None  # (recovery-point segment base, log start)
        self._closed = False
        self._cleaning = False  # reserved by a log-cleaner thread (see begin_cleaning)
        self._first_dirty_offset = 0  # everything below was compacted (cleaner-offset-checkpoint)
        self._tombstone_horizon_ms: int | None = None  # earliest delete horizon of a kept tombstone
        self._open()

    def __repr__(self) -> str:
        return (
            f"PartitionLog({self.topic}-{self.partition}, start={self._log_start}, end={self._leo}, "
            f"segments={len(self._segments)})"
        )

    # ------------------------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    @property
    def config(self) -> LogConfig:
        return self._config

    @config.setter
    def config(self, config: LogConfig) -> None:
        self._config = config

    def update_config(self, config: LogConfig) -> None:
        """Apply a new topic config; it takes effect from the next append/maintain."""
        self._config = config

    @property
    def log_start_offset(self) -> int:
        return self._log_start

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record gets."""
        return self._leo

    @property
    def recovery_point(self) -> int:
        """Every offset below this is fsynced."""
        return self._recovery_point

    @property
    def size_bytes(self) -> int:
        return self._size_bytes

    @property
    def unflushed_messages(self) -> int:
        return self._leo - self._recovery_point

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------------------------ start-up

    def _open(self) -> None:
        loaded = load_partition(self.directory, self.name, self._config.index_interval_bytes)
        self._segments = loaded.segments
        self._bases = [s.base_offset for s in self._segments]
        self._leo = loaded.log_end_offset
        self._log_start = loaded.log_start_offset
        self._recovery_point = loaded.recovery_point
        self._indexes_dirty = loaded.indexes_dirty
        self._dir_dirty = loaded.dir_dirty
        if self._log_start > self._leo:
            log.warning(
                "Log start offset %d of %s is above its log end offset %d; starting an empty log there",
                self._log_start,
                self.name,
                self._leo,
            )
            self._truncate_fully(self._log_start)
        self._size_bytes = sum(s.size for s in self._segments)
        active = self._segments[-1]
        active.open_index_fds()
        if active.size and active.rolling_base_ms is None:
            active.rolling_base_ms = active.first_batch_rolling_base()
        self._write_checkpoint(durable=False)
        self._first_dirty_offset = min(load_cleaner_offset(self.directory), self._leo)
        self.producer_state = ProducerStateTable()
        self._rebuild_producer_state()

    def _rebuild_producer_state(self) -> None:
        """Replay the batch headers of the last two segments into the idempotent-producer table.

        Producers idle for longer than two segments are forgotten (as Kafka expires producer state);
        their next batch is accepted as from a new producer.
        """
        table = self.producer_state
        for seg in self._segments[-2:]:
            pos = 0
            while pos < seg.size:
                chunk = os.pread(seg.fd, min(1 << 20, seg.size - pos), pos)
                advanced = 0
                for h in iter_batch_headers(chunk):
                    if h.producer_id >= 0:
                        table.record(h, h.base_offset)
                    advanced = h.position + h.size
                if advanced == 0:  # one batch larger than the chunk: read its header alone
                    header = parse_header(os.pread(seg.fd, BATCH_HEADER_SIZE, pos))
                    if header is None:
                        break
                    if header.producer_id >= 0:
                        table.record(header, header.base_offset)
                    advanced = header.size
                pos += advanced

    # ------------------------------------------------------------------------------------ append

    def append(self, records: bytes | bytearray | memoryview, *, now_ms: int) -> AppendInfo:
        """Validate and append a Produce request's record batches; return the offsets assigned.

        Raises InvalidRecordError (nothing written) or KafkaStorageError (I/O failure; nothing written).
        Event-loop thread only. Writes to the page cache; durability comes from ``flush()``.

        A writable ``memoryview`` (a Produce request's records inside the receive buffer) is patched in
        place (base offsets; with LogAppendTime also attributes, max timestamp and CRC) and written
        straight from there: the caller hands that memory over and must not expect its old contents.
        Anything else is copied first.
        """
        if self._closed:
            raise KafkaStorageError(f"Log {self.name} is closed")
        cfg = self._config
        headers = validate_produce_records(records, cfg.max_message_bytes)
        if cfg.compact_enabled:
            self._check_keys(records, headers)
        if headers[0].producer_id >= 0:
            duplicate = self._check_producer(headers)
            if duplicate is not None:
                return duplicate
        buf: bytearray | memoryview
        if (
            isinstance(records, memoryview)
            and not records.readonly
            and records.format == "B"
            and records.c_contiguous
        ):
            buf = records
        else:
            buf = bytearray(records)
        n = len(buf)
        seg = self._active_segment()
        if seg.size and (
            seg.size + n > cfg.segment_bytes
            or (seg.rolling_base_ms is not None and now_ms - seg.rolling_base_ms > cfg.segment_ms)
            or self._leo - seg.base_offset + n > INT32_MAX
        ):
            seg = self._roll()
        base_offset = offset = self._leo
        seg_pos = seg.size
        interval = cfg.index_interval_bytes
        since = seg.bytes_since_index
        max_ts = seg.max_timestamp
        off_max = seg.offset_of_max_timestamp
        last_entry_ts = seg.last_time_entry_ts
        seg_base = seg.base_offset
        index_buf: bytearray | None = None
        time_buf: bytearray | None = None
        new_index: list[tuple[int, int]] = []
        new_time: list[tuple[int, int]] = []
        log_append_time = cfg.log_append_time
        view = memoryview(buf) if log_append_time else None
        record_count = 0
        producer_state = self.producer_state
        for h in headers:
            p = h.position
            _pack_i64(buf, p, offset)
            if h.producer_id >= 0:
                producer_state.record(h, offset)
            last = offset + h.last_offset_delta
            if view is not None:
                _pack_i16(buf, p + ATTRIBUTES_OFFSET, h.attributes | TIMESTAMP_TYPE_MASK)
                _pack_i64(buf, p + MAX_TIMESTAMP_OFFSET, now_ms)
                _pack_u32(buf, p + CRC_OFFSET, crc32c(view[p + ATTRIBUTES_OFFSET : p + h.size]))
                ts = now_ms
            else:
                ts = h.max_timestamp
            if ts > max_ts:
                max_ts = ts
                off_max = last
            if since > interval:
                new_index.append((last - seg_base, seg_pos + p))
                if max_ts > last_entry_ts:
                    new_time.append((max_ts, off_max - seg_base))
                    last_entry_ts = max_ts
                since = 0
            since += h.size
            record_count += h.record_count
            offset = last + 1
        if view is not None:
            view.release()
        self._write_all(seg, buf)
        if new_index:
            index_buf = bytearray()
            for rel, pos in new_index:
                index_buf += INDEX_ENTRY.pack(rel, pos)
            time_buf = bytearray()
            for ts, rel in new_time:
                time_buf += TIME_INDEX_ENTRY.pack(ts, rel)
            self._write_indexes(seg, index_buf, time_buf)
        with self._lock:
            seg.size = seg_pos + n
            self._leo = offset
            self._size_bytes += n
            if index_buf is not None and time_buf is not None:
                seg.index_bytes += len(index_buf)
                seg.timeindex_bytes += len(time_buf)
        if seg_pos == 0:
            seg.rolling_base_ms = now_ms
        seg.bytes_since_index = since
        seg.max_timestamp = max_ts
        seg.offset_of_max_timestamp = off_max
        seg.last_time_entry_ts = last_entry_ts
        if new_index:
            assert seg.rel_offsets is not None and seg.positions is not None
            assert seg.time_ts is not None and seg.time_rel is not None
            for rel, pos in new_index:
                seg.rel_offsets.append(rel)
                seg.positions.append(pos)
            for ts, rel in new_time:
                seg.time_ts.append(ts)
                seg.time_rel.append(rel)
        return AppendInfo(
            base_offset, offset - 1, now_ms if log_append_time else -1, self._log_start, record_count
        )

    def _check_keys(self, records: bytes | bytearray | memoryview, headers: list[BatchHeader]) -> None:
        """Compacted topics reject records without a key (Kafka's LogValidator; decodes the records)."""
        view = memoryview(records)
        for h in headers:
            for record in decode_records(view[h.position : h.position + h.size]):
                if record.key is None:
                    raise InvalidRecordError(
                        f"Compacted topic cannot accept message without key in topic partition {self.name}",
                        ErrorCode.invalid_record,
                    )

    def _check_producer(self, headers: list[BatchHeader]) -> AppendInfo | None:
        """Idempotence: the original AppendInfo when every batch is a retry of an appended one."""
        originals = [self.producer_state.check(h) for h in headers]
        if all(o is None for o in originals):
            return None
        if any(o is None for o in originals):
            raise InvalidRecordError(
                "a produce request mixes new and duplicate batches", ErrorCode.duplicate_sequence_number
            )
        first, last = originals[0], originals[-1]
        assert first is not None and last is not None
        log.debug(
            "duplicate batch from producer %d acknowledged at offset %d",
            headers[0].producer_id,
            first.base_offset,
        )
        return AppendInfo(
            first.base_offset, last.last_offset, -1, self._log_start, sum(h.record_count for h in headers)
        )

    def _active_segment(self) -> Segment:
        return self._segments[-1]

    def _write_all(self, seg: Segment, buf: bytearray | memoryview) -> None:
        try:
            written = os.write(seg.fd, buf)
            if written < len(buf):
                view = memoryview(buf)
                while written < len(buf):
                    written += os.write(seg.fd, view[written:])
        except OSError as exc:
            try:
                os.ftruncate(seg.fd, seg.size)
            except OSError:
                log.exception("Cannot undo a partial append to %s", seg.log_path)
            raise KafkaStorageError(f"Append to {seg.log_path} failed: {exc}") from exc

    def _write_indexes(self, seg: Segment, index_buf: bytearray, time_buf: bytearray) -> None:
        assert seg.index_fd is not None and seg.timeindex_fd is not None
        try:
            os.write(seg.index_fd, index_buf)
            if time_buf:
                os.write(seg.timeindex_fd, time_buf)
        except OSError:
            # The log write succeeded; a missing index entry only makes start-up rebuild the index.
            log.exception("Cannot write index entries of %s", seg.log_path)

    def _roll(self) -> Segment:
        """Start a new active segment at the log end offset (event-loop thread)."""
        old = self._active_segment()
        new = Segment(self.directory, self._leo)
        if new.size:
            log.warning("Discarding stale data in new segment file %s", new.log_path)
            new.truncate_log(0)
        init_empty_indexes(new)
        new.open_index_fds()
        with self._lock:
            old.append_final_time_entry()
            old.close_index_fds()
            self._segments.append(new)
            self._bases.append(new.base_offset)
            self._dir_dirty = True
            self._indexes_dirty = True
        return new

    # ------------------------------------------------------------------------------------ read

    def read(self, offset: int, max_bytes: int, *, min_one_batch: bool = True) -> bytes:
        """Whole batches starting with the one containing ``offset``, at most ``max_bytes`` in total unless
        ``min_one_batch`` and the first batch alone is larger (KIP-74). Never spans a segment boundary.

        Returns b"" at the log end offset; raises OffsetOutOfRangeError outside [log start, log end].
        Event-loop thread only.
        """
        if offset < self._log_start or offset > self._leo:
            raise OffsetOutOfRangeError(
                f"Offset {offset} is out of range for {self.name} [{self._log_start}, {self._leo}]"
            )
        if offset == self._leo:
            return b""
        located = self._read_cache.get(offset)
        if located is None or located[0].closed or located[1] >= located[0].size:
            located = self._locate(offset)
            if located is None:
                return b""
        seg, pos = located
        avail = seg.size - pos
        if max_bytes >= avail:
            end = seg.size
            if seg is self._segments[-1]:
                next_offset = self._leo
            else:
                # Cache the start of the next segment under its base offset (the usual next fetch offset).
                nxt = self._segments[bisect_right(self._bases, seg.base_offset)]
                self._remember(nxt.base_offset, nxt, 0)
                next_offset = -1
        else:
            self._ensure_index(seg)
            end, next_offset = seg.cut_point(pos, pos + max(max_bytes, 0))
            if end == pos:
                if not min_one_batch:
                    return b""
                base, blen, _ple, _magic, _crc, _attrs, lod = _SIZE_HEADER.unpack(
                    os.pread(seg.fd, _SIZE_HEADER.size, pos)
                )
                end = pos + blen + 12
                next_offset = base + lod + 1
        data = os.pread(seg.fd, end - pos, pos)
        if next_offset >= 0:
            self._remember(next_offset, seg, end)
        return data

    def _remember(self, offset: int, seg: Segment, pos: int) -> None:
        cache = self._read_cache
        if len(cache) >= _READ_CACHE_MAX:
            cache.clear()
        cache[offset] = (seg, pos)

    def _locate(self, offset: int) -> tuple[Segment, int] | None:
        """Segment and position of the batch containing ``offset`` (or the first one after it)."""
        segments = self._segments
        i = max(0, bisect_right(self._bases, offset) - 1)
        while i < len(segments):
            seg = segments[i]
            self._ensure_index(seg)
            start = seg.index_position(offset) if offset >= seg.base_offset else 0
            pos, _next = seg.find_batch(offset, start)
            if pos < seg.size:
                return seg, pos
            i += 1
        return None

    def _ensure_index(self, seg: Segment) -> None:
        if seg.rel_offsets is not None:
            return
        if seg.load_indexes():
            return
        log.warning("Index files of %s are torn or inconsistent; rebuilding them", seg.log_path)
        final = seg is not self._segments[-1]
        result = seg.rebuild(
            self._config.index_interval_bytes, verify_crc=False, min_offset=seg.base_offset, final=final
        )
        if result.valid_end != seg.size:
            log.error(
                "Segment %s is corrupt at position %d (%s); data after it is unreadable",
                seg.log_path,
                result.valid_end,
                result.stop_reason,
            )
        with self._lock:
            self._indexes_dirty = True

    # ------------------------------------------------------------------------------------ timestamps

    def offset_for_timestamp(self, ts_ms: int) -> tuple[int, int] | None:
        """``(offset, timestamp)`` of the first record with timestamp >= ``ts_ms`` at or after the log start
        offset, or None. Decodes at most a few batches. Event-loop thread only."""
        log_start = self._log_start
        for seg in list(self._segments):
            if seg.max_timestamp < ts_ms or seg.size == 0:
                continue
            self._ensure_index(seg)
            start_offset = max(seg.time_index_offset(ts_ms), log_start)
            pos = seg.index_position(start_offset) if start_offset >= seg.base_offset else 0
            scanner = BatchScanner(seg.fd, pos, seg.size, verify_crc=False, chunk=64 * 1024)
            for h in scanner:
                if h.max_timestamp < ts_ms or h.base_offset + h.last_offset_delta < log_start:
                    continue
                for record in decode_records(os.pread(seg.fd, h.size, h.position)):
                    if record.offset >= log_start and record.timestamp >= ts_ms:
                        return record.offset, record.timestamp
        return None

    def max_timestamp_and_offset(self) -> tuple[int, int] | None:
        """``(offset, timestamp)`` of the (first) record with the largest timestamp (ListOffsets -3), or
        None for an empty log. Event-loop thread only."""
        best: Segment | None = None
        for seg in self._segments:
            if (
                seg.max_timestamp >= 0
                and seg.offset_of_max_timestamp >= self._log_start
                and (best is None or seg.max_timestamp > best.max_timestamp)
            ):
                best = seg
        if best is None:
            return None
        target = best.offset_of_max_timestamp
        self._ensure_index(best)
        pos, _next = best.find_batch(target, best.index_position(target))
        if pos < best.size:
            (size,) = struct.unpack(">i", os.pread(best.fd, 4, pos + 8))
            for record in decode_records(os.pread(best.fd, size + 12, pos)):
                if record.timestamp == best.max_timestamp and record.offset >= self._log_start:
                    return record.offset, record.timestamp
        return target, best.max_timestamp

    # ------------------------------------------------------------------------------------ flush

    def needs_flush(self, now_ms: int) -> bool:
        """True if the topic's ``flush.messages`` / ``flush.ms`` policy asks for an fsync now, i.e. a produce
        should wait for one. ``now_ms`` is wall-clock milliseconds. Cheap; any thread."""
        if self._closed:
            return False
        unflushed = self._leo - self._recovery_point
        if unflushed <= 0:
            return False
        cfg = self._config
        if cfg.flush_interval_messages is not None and unflushed >= cfg.flush_interval_messages:
            return True
        return cfg.flush_interval_ms is not None and now_ms - self._last_flush_ms >= cfg.flush_interval_ms

    @property
    def roll_flush_pending(self) -> bool:
        """True if a rolled segment, rewritten index or new directory entry awaits fsync: Kafka flushes a
        segment in the background when it is rolled; nobody needs to wait for it."""
        return not self._closed and (self._indexes_dirty or self._dir_dirty)

    def flush(self) -> int:
        """fsync everything appended so far and advance the recovery point; return it.

        Safe from any thread, concurrently with the event loop's appends/reads/rolls: fsyncs run on
        duplicated descriptors without holding the state lock. Concurrent flushes are serialized.
        """
        with self._flush_lock:
            return self._flush_locked(sync_active_indexes=False)

    def _flush_locked(self, *, sync_active_indexes: bool) -> int:
        jobs: list[_FlushJob] = []
        with self._lock:
            if self._closed:
                return self._recovery_point
            target = self._leo
            generation = self._generation
            active = self._segments[-1]
            try:
                for seg in self._segments:
                    sync_indexes = seg is not active or sync_active_indexes
                    if not (seg.dirty if sync_indexes else seg.size > seg.flushed_size):
                        continue
                    index_fds: list[int] = []
                    if sync_indexes and seg.index_fd is not None and seg.timeindex_fd is not None:
                        index_fds = [os.dup(seg.index_fd), os.dup(seg.timeindex_fd)]
                    jobs.append(
                        _FlushJob(
                            seg,
                            os.dup(seg.fd),
                            seg.size,
                            index_fds,
                            seg.index_bytes,
                            seg.timeindex_bytes,
                            sync_indexes,
                        )
                    )
            except OSError:
                self._close_job_fds(jobs)
                raise
            dir_dirty, self._dir_dirty = self._dir_dirty, False
            indexes_dirty, self._indexes_dirty = self._indexes_dirty, False
        try:
            for job in jobs:
                os.fdatasync(job.log_fd)
                if job.sync_indexes:
                    self._sync_index_files(job)
            if dir_dirty:
                fsync_dir(self.directory)
        except BaseException:
            with self._lock:
                self._dir_dirty |= dir_dirty
                self._indexes_dirty |= indexes_dirty
            raise
        finally:
            self._close_job_fds(jobs)
        with self._lock:
            if self._generation == generation:
                for job in jobs:
                    seg = job.segment
                    seg.flushed_size = max(seg.flushed_size, min(job.size, seg.size))
                    if job.sync_indexes:
                        seg.index_flushed = max(seg.index_flushed, job.index_bytes)
                        seg.timeindex_flushed = max(seg.timeindex_flushed, job.timeindex_bytes)
                self._recovery_point = max(self._recovery_point, target)
            else:
                self._indexes_dirty = True
            self._last_flush_ms = _now_ms()
            recovery_point = self._recovery_point
        self._write_checkpoint(durable=False, only_if_changed=True)
        return recovery_point

    @staticmethod
    def _close_job_fds(jobs: list[_FlushJob]) -> None:
        for job in jobs:
            for fd in [job.log_fd, *job.index_fds]:
                try:
                    os.close(fd)
                except OSError:
                    pass

    @staticmethod
    def _sync_index_files(job: _FlushJob) -> None:
        if job.index_fds:
            for fd in job.index_fds:
                os.fsync(fd)
            return
        for path in (job.segment.index_path, job.segment.timeindex_path):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # deleted by retention meanwhile
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _write_checkpoint(self, *, durable: bool, only_if_changed: bool = False, clean: bool = False) -> None:
        """Persist recovery point and log start offset (any thread; serialized)."""
        with self._checkpoint_lock:
            with self._lock:
                rp = self._recovery_point
                rp_segment = self._bases[max(0, bisect_right(self._bases, rp) - 1)] if self._bases else 0
                key = (rp_segment, self._log_start)
                ckpt = PartitionCheckpoint(rp, self._log_start)
                if clean:
                    active = self._segments[-1]
                    ckpt.clean_segment, ckpt.clean_size = active.base_offset, active.size
            if only_if_changed and key == self._checkpointed:
                return
            ckpt.store(self.directory, durable=durable)
            self._checkpointed = key

    # ------------------------------------------------------------------------------------ retention

    def maintain(self, now_ms: int) -> None:
        """Delete whole inactive segments beyond ``retention.ms`` (by their max timestamp) or
        ``retention.bytes``, and those wholly below the log start offset. Event-loop thread only."""
        if self._closed:
            return
        cfg = self._config
        segments = self._segments
        candidates = len(segments) - 1
        count = 0
        reason = "log start offset"
        if cfg.delete_enabled:
            if cfg.retention_ms >= 0:
                while count < candidates:
                    seg = segments[count]
                    ts = seg.max_timestamp if seg.max_timestamp >= 0 else seg.mtime_ms()
                    if now_ms - ts <= cfg.retention_ms:
                        break
                    count += 1
                if count:
                    reason = f"retention.ms={cfg.retention_ms}"
            if cfg.retention_bytes >= 0:
                excess = self._size_bytes - cfg.retention_bytes - sum(s.size for s in segments[:count])
                before = count
                while count < candidates and excess - segments[count].size >= 0:
                    excess -= segments[count].size
                    count += 1
                if count > before:
                    reason = f"retention.bytes={cfg.retention_bytes}"
        while count < candidates and segments[count + 1].base_offset <= self._log_start:
            count += 1
        if count:
            self._delete_oldest(count, reason)

    def _delete_oldest(self, count: int, reason: str) -> None:
        with self._lock:
            deferred = self._cleaning
            if not deferred:
                doomed = self._segments[:count]
                del self._segments[:count]
                del self._bases[:count]
                self._log_start = max(self._log_start, self._segments[0].base_offset)
                self._size_bytes -= sum(s.size for s in doomed)
        if deferred:
            # The cleaner is rewriting these segments; deleting them under it could let its committed
            # swap bring them back after a crash. The next maintain() deletes them.
            log.debug("Deferring deletion of %d segment(s) of %s until cleaning ends", count, self.name)
            self._write_checkpoint(durable=False)  # a raised log start offset still counts
            return
        for seg in doomed:
            log.info("Deleting segment %s of %s (%s)", seg.log_path.name, self.name, reason)
            seg.delete_files()
        self._write_checkpoint(durable=False)

    def delete_records(self, before_offset: int) -> int:
        """DeleteRecords: raise the log start offset to ``before_offset`` (-1 = log end offset) and delete
        segments wholly below it; return the new log start offset. Event-loop thread only."""
        if before_offset == -1:
            before_offset = self._leo
        if before_offset < 0 or before_offset > self._leo:
            raise OffsetOutOfRangeError(
                f"Cannot delete records of {self.name} before {before_offset}: log end offset is {self._leo}"
            )
        if before_offset > self._log_start:
            with self._lock:
                self._log_start = before_offset
            segments = self._segments
            count = 0
            while count < len(segments) - 1 and segments[count + 1].base_offset <= before_offset:
                count += 1
            if count:
                self._delete_oldest(count, f"delete records before {before_offset}")
            else:
                self._write_checkpoint(durable=False)
        return self._log_start

    # ------------------------------------------------------------------------------------ truncation

    def truncate_to(self, offset: int) -> None:
        """Remove every record at ``offset`` and above (a batch straddling ``offset`` goes entirely; the log
        end offset becomes its base offset). At or below the first segment's base offset, below the log
        start offset, or when the straddling batch starts below the log start offset, the log restarts
        empty at ``offset``. Event-loop thread only."""
        if offset >= self._leo:
            return
        if offset < 0:
            raise ValueError(f"cannot truncate to negative offset {offset}")
        self._read_cache.clear()
        self.producer_state.truncate_from(offset)
        self._forget_cleaning_above(offset)
        if offset <= self._segments[0].base_offset or offset < self._log_start:
            self._truncate_fully(offset)
        else:
            i = bisect_right(self._bases, offset) - 1
            seg = self._segments[i]
            self._ensure_index(seg)
            pos, _next = seg.find_batch(offset, seg.index_position(offset))
            new_leo = offset
            if pos < seg.size:
                (batch_base,) = struct.unpack(">q", os.pread(seg.fd, 8, pos))
                new_leo = min(batch_base, offset)
            if new_leo < self._log_start:
                # The batch to cut also holds records below the log start offset: nothing below
                # ``offset`` can be kept, so restart empty there.
                self._truncate_fully(offset)
                self._write_checkpoint(durable=True)
                return
            with self._lock:
                doomed = self._segments[i + 1 :]
                del self._segments[i + 1 :]
                del self._bases[i + 1 :]
                for other in doomed:
                    other.close_index_fds()
                seg.close_index_fds()
                seg.truncate_log(pos)
                self._leo = new_leo
                self._recovery_point = min(self._recovery_point, new_leo)
                self._generation += 1
                self._size_bytes = sum(s.size for s in self._segments)
            for other in doomed:
                other.delete_files()
            seg.rebuild(
                self._config.index_interval_bytes, verify_crc=False, min_offset=seg.base_offset, final=False
            )
            seg.open_index_fds()
            seg.rolling_base_ms = seg.first_batch_rolling_base() if seg.size else None
            with self._lock:
                self._indexes_dirty = True
                self._dir_dirty = True
        self._write_checkpoint(durable=True)

    def _forget_cleaning_above(self, offset: int) -> None:
        """Truncation: offsets from ``offset`` on will be written anew, so they are dirty again, and a
        committed but not yet applied cleaner swap is withdrawn: without its manifest ``replace_segments``
        refuses to swap (the cleaner rolls back) and start-up does not complete it."""
        SwapManifest.remove(self.directory)
        if self._first_dirty_offset > offset:
            self._first_dirty_offset = offset
            try:
                store_cleaner_offset(self.directory, offset)
            except OSError:
                log.exception("Cannot store the cleaner offset of %s", self.name)

    def _truncate_fully(self, offset: int) -> None:
        """Delete every segment and start an empty log at ``offset`` (rare: done under the state lock)."""
        with self._lock:
            for seg in self._segments:
                seg.delete_files()
            new = Segment(self.directory, offset)
            new.truncate_log(0)
            init_empty_indexes(new)
            for path in (new.index_path, new.timeindex_path):
                path.write_bytes(b"")
            new.open_index_fds()
            self._segments = [new]
            self._bases = [offset]
            self._leo = self._log_start = offset
            self._recovery_point = min(self._recovery_point, offset)
            self._generation += 1
            self._size_bytes = 0
            self._dir_dirty = True

    # ------------------------------------------------------------------------------------ compaction

    @property
    def first_dirty_offset(self) -> int:
        """Offsets below this were compacted by the log cleaner (its checkpoint)."""
        return self._first_dirty_offset

    @property
    def tombstone_horizon_ms(self) -> int | None:
        """When the earliest tombstone kept by the last cleaning pass may be removed (None: unknown)."""
        return self._tombstone_horizon_ms

    @property
    def cleaning(self) -> bool:
        """True while a log-cleaner thread has reserved the log."""
        return self._cleaning

    def cleaning_snapshot(self) -> CleaningSnapshot | None:
        """The cleaner's view of the log without reserving it (no descriptors); None if closed.

        Any thread; takes the state lock briefly.
        """
        with self._lock:
            if self._closed:
                return None
            return self._snapshot_locked()

    def begin_cleaning(self) -> CleaningSnapshot | None:
        """Reserve the log for one cleaning pass and return its snapshot with duplicated descriptors of the
        inactive segments; None if closed or already reserved. Cleaner thread; pair with ``end_cleaning``.
        """
        with self._lock:
            if self._closed or self._cleaning:
                return None
            snap = self._snapshot_locked()
            try:
                for seg in snap.segments:
                    snap.fds.append(os.dup(seg.fd))
            except OSError:
                for fd in snap.fds:
                    os.close(fd)
                raise
            self._cleaning = True
        # A consistent-enough copy: the event loop mutates the table, but copying a dict of int keys and
        # reading a deque's last element are atomic under the GIL.
        for pid, entry in list(self.producer_state.producers.items()):
            batches = entry.batches
            if batches:
                snap.producer_last_offsets[pid] = batches[-1].last_offset
        return snap

    def end_cleaning(self, snap: CleaningSnapshot) -> None:
        """Release the reservation taken by ``begin_cleaning`` and close the snapshot's descriptors."""
        for fd in snap.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        snap.fds.clear()
        with self._lock:
            self._cleaning = False

    def _snapshot_locked(self) -> CleaningSnapshot:
        inactive = self._segments[:-1]
        return CleaningSnapshot(
            segments=list(inactive),
            sizes=[s.size for s in inactive],
            max_timestamps=[s.max_timestamp for s in inactive],
            active_base=self._segments[-1].base_offset,
            log_start=self._log_start,
            first_dirty_offset=self._first_dirty_offset,
            tombstone_horizon_ms=self._tombstone_horizon_ms,
            config=self._config,
        )

    def replace_segments(
        self,
        old: Sequence[Segment],
        old_sizes: Sequence[int],
        new: Sequence[CleanedSegment],
        step: Callable[[str], None] | None = None,
    ) -> list[Path] | None:
        """Swap in the cleaned segments ``new`` (``<base>.*.swap`` files, complete and durable, whose swap
        manifest is committed) for the contiguous inactive segments ``old``; event-loop thread only.

        Returns None, touching nothing, if the log no longer holds ``old`` unchanged (closed, truncated) or
        the swap manifest is gone (a truncation withdrew it): the cleaner then rolls back. Otherwise renames
        the old files to ``.deleted`` (unlinked later by the cleaner thread, so freeing their blocks never
        stalls the loop) and the ``.swap`` files into place, swaps the in-memory list under the state lock
        (the flusher may be picking segments) and closes the old descriptors: nobody else reads them, the
        loop runs this and the other threads use duplicates.
        Returns the ``.deleted`` paths. A rename failure raises KafkaStorageError with the old segments
        still serving reads through their open descriptors; start-up completes the swap from the manifest.
        ``step`` is a test seam called after each stage (it may raise to simulate a crash).
        """
        segments = self._segments
        if self._closed or not old or old[0] not in segments:
            return None
        i = segments.index(old[0])
        j = i + len(old)
        if j >= len(segments) or any(
            segments[i + k] is not seg or seg.size != size
            for k, (seg, size) in enumerate(zip(old, old_sizes, strict=True))
        ):
            return None
        if not (self.directory / SWAP_MANIFEST_FILE).exists():
            return None  # never rename without the commit record that lets start-up finish the swap
        deleted: list[Path] = []
        try:
            for seg in old:
                for path in (seg.log_path, seg.index_path, seg.timeindex_path):
                    target = path.with_name(path.name + DELETED_SUFFIX)
                    try:
                        os.replace(path, target)
                    except FileNotFoundError:
                        continue  # index files are optional
                    deleted.append(target)
                    if step is not None and len(deleted) == 1:
                        step("swap:first-old-renamed")
            if step is not None:
                step("swap:old-renamed")
            fresh: list[Segment] = []
            for cleaned in new:
                finals = segment_paths(self.directory, cleaned.base_offset)
                swaps = segment_paths(self.directory, cleaned.base_offset, SWAP_SUFFIX)
                for final, swap in zip(finals, swaps, strict=True):
                    os.replace(swap, final)
                    if step is not None and not fresh and final is finals[0]:
                        step("swap:first-new-renamed")
                seg = Segment(self.directory, cleaned.base_offset)
                cleaned.index.install(seg)
                seg.mark_flushed()
                fresh.append(seg)
            if step is not None:
                step("swap:new-renamed")
        except OSError as exc:
            raise KafkaStorageError(f"Swapping cleaned segments into {self.directory} failed: {exc}") from exc
        with self._lock:
            segments[i:j] = fresh
            self._bases[i:j] = [seg.base_offset for seg in fresh]
            self._size_bytes += sum(seg.size for seg in fresh) - sum(old_sizes)
        self._read_cache.clear()
        for seg in old:
            seg.close()
        return deleted

    def cleaning_done(self, first_dirty_offset: int, tombstone_horizon_ms: int | None) -> None:
        """Record a finished pass: offsets below ``first_dirty_offset`` are compacted (persisted, not
        durably) and the earliest delete horizon of the tombstones it kept. Cleaner thread."""
        with self._lock:
            if self._closed:
                return
            if first_dirty_offset > self._first_dirty_offset:
                self._first_dirty_offset = first_dirty_offset
            self._tombstone_horizon_ms = tombstone_horizon_ms
            value = self._first_dirty_offset
        store_cleaner_offset(self.directory, value)

    # ------------------------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Flush everything, write the clean-shutdown checkpoint and close the files. Idempotent; waits
        for a flush running on another thread."""
        with self._flush_lock:
            if self._closed:
                return
            with self._lock:
                self._segments[-1].append_final_time_entry()
            self._flush_locked(sync_active_indexes=True)
            # Not fsynced: the marker is self-validating (segment + size), losing it only costs a scan.
            self._write_checkpoint(durable=False, clean=True)
            self._close_files()

    def delete(self) -> None:
        """Close without flushing and remove the partition directory."""
        with self._flush_lock:
            if not self._closed:
                self._close_files()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _close_files(self) -> None:
        with self._lock:
            self._closed = True
            segments = list(self._segments)
        for seg in segments:
            seg.close()
        self._read_cache.clear()
