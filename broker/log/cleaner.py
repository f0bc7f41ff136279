"""Log compaction: Kafka's log cleaner, for topics whose ``cleanup.policy`` contains ``compact``.

One pass (``LogCleaner.clean_once``), as Kafka's ``LogCleaner``:

1. Pick the filthiest log. A compacted log's inactive segments split at the first dirty offset (the
   cleaner's checkpoint, ``cleaner-offset-checkpoint``): below it the clean section, above it the dirty
   section, which ends at the first uncleanable offset (the active segment's base offset, or the base
   offset of the first dirty segment holding a record younger than ``min.compaction.lag.ms``). The log
   with the highest dirty ratio ``dirty bytes / (clean + dirty bytes)`` at or above
   ``min.cleanable.dirty.ratio`` is cleaned; so is a log whose kept tombstones reached their delete horizon.
2. Build the offset map over the dirty section: key -> latest offset, decoding the records with
   ``decode_records`` and keeping a 16-byte BLAKE2b digest per key. The map holds at most
   ``log.cleaner.dedupe.buffer.size / log.cleaner.threads / MAP_ENTRY_BYTES`` keys (the measured memory of
   one entry of a Python dict of digests); when it is full the pass ends at that batch and the rest of the
   dirty section waits for the next pass.
3. Rewrite every inactive segment from the first one up to where the map ends. A record survives unless
   it has no key (dropped as Kafka's cleaner does; compacted topics also reject them at produce with
   INVALID_RECORD), a later offset of its key is in the map, or it is a tombstone (null value) whose batch's
   delete horizon has passed. The first pass that keeps a tombstone stamps its batch with the delete horizon
   ``now + delete.retention.ms`` (KIP-534: attribute bit 6 set, baseTimestamp = horizon, record timestamp
   deltas re-based so timestamps are unchanged); a later pass after the horizon removes it. Records at or
   past the map's end are kept as they are.
4. Batches keep their base offset, last offset delta, producer id/epoch/base sequence, partition leader
   epoch, compression codec and timestamp type; surviving records keep their offsets, timestamps and
   headers. An untouched batch is copied byte for byte. A batch left without records vanishes, unless it
   is the last batch of an idempotent producer the log still tracks: its header then stays as an empty
   batch (recordsCount 0, Kafka's RETAIN_EMPTY) so the producer's sequence numbers survive a restart and
   its retries are still recognized as duplicates.
5. The kept batches go into new segments, each filled up to ``segment.bytes``: small cleaned segments are
   merged. The first new segment keeps the base offset of the first replaced one (the log start offset
   does not move); a new one starts at the first batch that does not fit.

Files and crash safety: the new segments are written as ``<base>.{log,index,timeindex}.cleaned`` and
fsynced, renamed to ``.swap`` (directory fsynced), then the swap manifest ``cleaner-swap.json`` listing the
replaced and the new base offsets is written durably: that is the commit point. The swap renames the old
files to ``.deleted`` and the ``.swap`` files into place; afterwards the cleaner fsyncs the directory,
removes the manifest and unlinks the ``.deleted`` files. Start-up (``broker.log.recovery``) deletes
``.cleaned``, ``.deleted`` and uncommitted ``.swap`` files and completes a committed swap, so a crash at any
moment leaves the records of before the pass (crash before the commit) or after it (at or after).
``SWAP_STEPS`` names the stages; ``on_step`` is a test seam to simulate crashes between them.

Threads: ``start(loop)`` runs ``log.cleaner.threads`` cleaner threads. Everything heavy (reading through
descriptors duplicated under the log's lock, decoding, writing, fsync, renames of new files, manifest,
unlinking) runs on them; only ``PartitionLog.replace_segments`` (validation, renames of the old and new
files, in-memory swap) runs on the event-loop thread that owns the logs, handed over with
``loop.call_soon_threadsafe`` while the cleaner thread waits for it. A log is reserved for the duration of a
pass (``PartitionLog.begin_cleaning``), so two threads never clean the same log and retention waits for the
pass. Without ``start``, ``clean_once`` runs the whole pass, swap included, on the calling thread, which must
then be the logs' owner thread (tests, tools). ``stats()`` may be called from any thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import struct
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from crc32c import crc32c
from kio.schema.errors import ErrorCode

from broker.log.batch import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    CONTROL_MASK,
    CRC_OFFSET,
    LOG_OVERHEAD,
    MAGIC_V2,
    PARTITION_LEADER_EPOCH_OFFSET,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_MASK,
    BatchHeader,
    iter_batch_headers,
    parse_header,
)
from broker.log.checkpoint import fsync_dir
from broker.log.codec import Record, decode_records
from broker.log.compression import compress
from broker.log.config import LogConfig
from broker.log.errors import InvalidConfigError, InvalidRecordError, KafkaStorageError
from broker.log.partition_log import CleaningSnapshot, PartitionLog
from broker.log.recovery import SwapManifest
from broker.log.segment import (
    CLEANED_SUFFIX,
    INT32_MAX,
    SWAP_SUFFIX,
    CleanedSegment,
    IndexBuilder,
    segment_paths,
)

log = logging.getLogger("broker.log.cleaner")

DELETE_HORIZON_MASK = 0x40  # batch attribute bit 6 (KIP-534): baseTimestamp holds the delete horizon
MAP_ENTRY_BYTES = 136  # memory of one offset-map entry: 16-byte digest object, int offset, dict slot
KEY_DIGEST_SIZE = 16

# Stages of a pass, in order; a crash after COMMIT_STEP recovers the cleaned log, before it the old one.
SWAP_STEPS = (
    "cleaned-written",  # new segments complete and fsynced as .cleaned files
    "first-swap-renamed",  # one .cleaned file renamed to .swap
    "swap-renamed",  # every .cleaned file renamed to .swap, directory fsynced
    "manifest-written",  # commit point: cleaner-swap.json durable
    "swap:first-old-renamed",  # event loop: one old file renamed to .deleted
    "swap:old-renamed",  # event loop: every old file renamed to .deleted
    "swap:first-new-renamed",  # event loop: one .swap file renamed into place
    "swap:new-renamed",  # event loop: every .swap file in place (in-memory swap follows)
    "swapped",  # in-memory segment list replaced
    "manifest-removed",  # directory fsynced, manifest deleted
    "deleted-removed",  # .deleted files unlinked
    "checkpointed",  # first dirty offset recorded
)
COMMIT_STEP = "manifest-written"

_T = TypeVar("_T")
_HEADER_NO_CRC = struct.Struct(">qiib")  # baseOffset, batchLength, partitionLeaderEpoch, magic
_HEADER_AFTER_CRC = struct.Struct(">hiqqqhii")
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def _now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class CleanerConfig:
    """Broker-wide cleaner settings, with Kafka's ``log.cleaner.*`` names and defaults.

    ``io_buffer_size`` is both the read chunk and the write buffer of a pass. Kafka's I/O throttle
    (``log.cleaner.io.max.bytes.per.second``) is not implemented.
    """

    enable: bool = True
    threads: int = 1
    dedupe_buffer_size: int = 128 * 1024 * 1024
    io_buffer_size: int = 512 * 1024
    backoff_ms: int = 15_000

    @property
    def map_capacity(self) -> int:
        """The number of keys one thread's offset map may hold."""
        return max(1, self.dedupe_buffer_size // max(1, self.threads) // MAP_ENTRY_BYTES)

    @classmethod
    def from_broker_properties(cls, props: Mapping[str, str]) -> CleanerConfig:
        """Read ``log.cleaner.enable``, ``.threads``, ``.dedupe.buffer.size``, ``.io.buffer.size`` and
        ``.backoff.ms``; other properties are ignored. Raises InvalidConfigError for a bad value."""
        enable = props.get("log.cleaner.enable", "true").strip().lower()
        if enable not in ("true", "false"):
            raise InvalidConfigError("log.cleaner.enable", f"{enable!r} is not true or false")
        return cls(
            enable=enable == "true",
            threads=_int_property(props, "log.cleaner.threads", cls.threads, 0),
            dedupe_buffer_size=_int_property(
                props, "log.cleaner.dedupe.buffer.size", cls.dedupe_buffer_size, MAP_ENTRY_BYTES
            ),
            io_buffer_size=_int_property(props, "log.cleaner.io.buffer.size", cls.io_buffer_size, 4096),
            backoff_ms=_int_property(props, "log.cleaner.backoff.ms", cls.backoff_ms, 0),
        )


def _int_property(props: Mapping[str, str], key: str, default: int, minimum: int) -> int:
    raw = props.get(key)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidConfigError(key, f"{raw!r} is not an integer") from None
    if value < minimum:
        raise InvalidConfigError(key, f"{value} is below the minimum {minimum}")
    return value


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class CleaningResult:
    """What one pass did. ``swap_ms`` is the time the event-loop thread spent in the swap."""

    topic: str
    partition: int
    segments_before: int
    segments_after: int
    bytes_before: int
    bytes_after: int
    records_kept: int
    records_removed: int
    tombstones_removed: int
    end_offset: int
    duration_s: float
    swap_ms: float

    @property
    def records_per_s(self) -> float:
        return (self.records_kept + self.records_removed) / self.duration_s if self.duration_s else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes_before / 1e6 / self.duration_s if self.duration_s else 0.0


@dataclass(frozen=True, slots=True)
class CleanerStats:
    """Cumulative counters of a LogCleaner (for metrics)."""

    passes: int = 0
    aborted_passes: int = 0
    failed_passes: int = 0
    segments_cleaned: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    records_kept: int = 0
    records_removed: int = 0
    tombstones_removed: int = 0
    busy_s: float = 0.0
    uncleanable_partitions: int = 0

    @property
    def bytes_reclaimed(self) -> int:
        return self.bytes_read - self.bytes_written


class _Aborted(Exception):
    """The pass stopped before its swap started (cleaner stopping, log closed or changed)."""


# ---------------------------------------------------------------------------------------------- offset map


class OffsetMap:
    """Latest offset of every key of the dirty section, keyed by a 16-byte BLAKE2b digest of the key.

    Holds at most ``capacity`` keys (``full`` tells when to stop adding). Not thread-safe: one per pass.
    """

    __slots__ = ("_map", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._map: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._map)

    @property
    def full(self) -> bool:
        return len(self._map) >= self.capacity

    def put(self, key: bytes, offset: int) -> None:
        self._map[hashlib.blake2b(key, digest_size=KEY_DIGEST_SIZE).digest()] = offset

    def latest(self, key: bytes) -> int:
        """The latest offset of ``key`` in the map, -1 if absent."""
        return self._map.get(hashlib.blake2b(key, digest_size=KEY_DIGEST_SIZE).digest(), -1)


# ---------------------------------------------------------------------------------------------- batches


def _iter_batches(fd: int, size: int, chunk: int, name: str) -> Iterator[tuple[BatchHeader, memoryview]]:
    """Every batch of the segment file ``fd`` (``size`` bytes): header (position relative to the batch's
    read chunk) and the batch's bytes. Raises KafkaStorageError at a malformed or truncated batch."""
    pos = 0
    while pos < size:
        view = memoryview(os.pread(fd, min(chunk, size - pos), pos))
        consumed = 0
        for h in iter_batch_headers(view):
            yield h, view[h.position : h.position + h.size]
            consumed = h.position + h.size
        if consumed == 0:
            header = parse_header(view)
            if header is None or pos + header.size > size:
                raise KafkaStorageError(f"Malformed or truncated batch in {name} at position {pos}")
            whole = memoryview(os.pread(fd, header.size, pos))
            single = next(iter_batch_headers(whole), None)
            if single is None:
                raise KafkaStorageError(f"Truncated batch in {name} at position {pos}")
            yield single, whole
            consumed = single.size
        pos += consumed


def _check_crc(batch: memoryview, name: str, base_offset: int) -> None:
    (crc,) = _U32.unpack_from(batch, CRC_OFFSET)
    if crc32c(batch[ATTRIBUTES_OFFSET:]) != crc:
        raise InvalidRecordError(
            f"Batch at offset {base_offset} of {name} fails its CRC check", ErrorCode.corrupt_message
        )


def _zigzag_into(out: bytearray, value: int) -> None:
    v = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _bytes_into(out: bytearray, value: bytes | None) -> None:
    if value is None:
        _zigzag_into(out, -1)
    else:
        _zigzag_into(out, len(value))
        out += value


def _assemble(
    h: BatchHeader,
    original: memoryview,
    attributes: int,
    base_timestamp: int,
    max_timestamp: int,
    count: int,
    payload: bytes,
) -> bytes:
    (leader_epoch,) = _I32.unpack_from(original, PARTITION_LEADER_EPOCH_OFFSET)
    after_crc = (
        _HEADER_AFTER_CRC.pack(
            attributes,
            h.last_offset_delta,
            base_timestamp,
            max_timestamp,
            h.producer_id,
            h.producer_epoch,
            h.base_sequence,
            count,
        )
        + payload
    )
    length = BATCH_HEADER_SIZE - LOG_OVERHEAD + len(payload)
    head = _HEADER_NO_CRC.pack(h.base_offset, length, leader_epoch, MAGIC_V2)
    return head + _U32.pack(crc32c(after_crc)) + after_crc


def rebuild_batch(
    h: BatchHeader, original: memoryview, records: list[Record], delete_horizon_ms: int | None
) -> bytes:
    """The batch ``h`` (bytes ``original``) holding only ``records``, a non-empty subset of its records.

    Keeps base offset, last offset delta, producer fields, leader epoch, codec and timestamp type; the
    max timestamp is recomputed (CreateTime). With ``delete_horizon_ms`` the batch carries it (KIP-534).
    """
    log_append_time = h.attributes & TIMESTAMP_TYPE_MASK
    max_ts = h.max_timestamp if log_append_time else max(r.timestamp for r in records)
    if delete_horizon_ms is not None:
        base_ts = delete_horizon_ms
    else:
        base_ts = h.base_timestamp if log_append_time else records[0].timestamp
    body = bytearray()
    record = bytearray()
    for r in records:
        record.clear()
        record.append(0)  # record attributes (unused)
        _zigzag_into(record, r.timestamp - base_ts)
        _zigzag_into(record, r.offset - h.base_offset)
        _bytes_into(record, r.key)
        _bytes_into(record, r.value)
        _zigzag_into(record, len(r.headers))
        for hkey, hvalue in r.headers:
            _bytes_into(record, hkey.encode("utf-8"))
            _bytes_into(record, hvalue)
        _zigzag_into(body, len(record))
        body += record
    attributes = h.attributes & ~DELETE_HORIZON_MASK
    if delete_horizon_ms is not None:
        attributes |= DELETE_HORIZON_MASK
    payload = compress(h.compression, bytes(body))
    return _assemble(h, original, attributes, base_ts, max_ts, len(records), payload)


def empty_batch(h: BatchHeader, original: memoryview) -> bytes:
    """The header of batch ``h`` without records (Kafka's ``writeEmptyHeader``): same offsets and
    producer fields, no compression, both timestamps set to the batch's max timestamp."""
    attributes = h.attributes & (TIMESTAMP_TYPE_MASK | TRANSACTIONAL_MASK | CONTROL_MASK)
    return _assemble(h, original, attributes, h.max_timestamp, h.max_timestamp, 0, b"")


def delete_horizon(h: BatchHeader) -> int | None:
    """The batch's delete horizon (KIP-534), None if the cleaner has not stamped it."""
    return h.base_timestamp if h.attributes & DELETE_HORIZON_MASK else None


# ---------------------------------------------------------------------------------------------- planning


@dataclass(frozen=True, slots=True)
class _Plan:
    first_dirty: int
    first_uncleanable: int
    clean_bytes: int
    dirty_bytes: int
    tombstones_due: bool

    @property
    def dirty_ratio(self) -> float:
        total = self.clean_bytes + self.dirty_bytes
        return self.dirty_bytes / total if total else 0.0


def _segment_timestamp(snap: CleaningSnapshot, k: int, now_ms: int) -> int:
    ts = snap.max_timestamps[k]
    if ts >= 0:
        return ts
    try:
        return int(os.stat(snap.segments[k].log_path).st_mtime * 1000)
    except OSError:
        return now_ms


def plan_cleaning(snap: CleaningSnapshot, now_ms: int) -> _Plan | None:
    """The clean/dirty split of a log, or None if it needs no cleaning now (see the module docstring)."""
    segments = snap.segments
    if not segments:
        return None
    cfg = snap.config
    first_dirty = min(max(snap.first_dirty_offset, snap.log_start), snap.active_base)
    uncleanable = snap.active_base
    lag = cfg.min_compaction_lag_ms
    ends = [s.base_offset for s in segments[1:]] + [snap.active_base]
    if lag > 0:
        for k, seg in enumerate(segments):
            if ends[k] > first_dirty and now_ms - _segment_timestamp(snap, k, now_ms) < lag:
                uncleanable = max(first_dirty, seg.base_offset)
                break
    clean = dirty = 0
    for k, seg in enumerate(segments):
        if ends[k] <= first_dirty:
            clean += snap.sizes[k]
        elif seg.base_offset < uncleanable:
            dirty += snap.sizes[k]
    horizon = snap.tombstone_horizon_ms
    plan = _Plan(first_dirty, uncleanable, clean, dirty, horizon is not None and horizon <= now_ms)
    if plan.tombstones_due or (dirty > 0 and plan.dirty_ratio >= cfg.min_cleanable_dirty_ratio):
        return plan
    return None


# ---------------------------------------------------------------------------------------------- writing


class _CleanedWriter:
    """Writes the kept batches of a pass into ``<base>.*.cleaned`` segments, starting a new one when the
    next batch would overflow ``segment.bytes`` or the 32-bit relative offset range."""

    def __init__(self, directory: Path, first_base: int, config: LogConfig, buffer_size: int) -> None:
        self.directory = directory
        self.segment_bytes = config.segment_bytes
        self.interval = config.index_interval_bytes
        self.buffer_size = buffer_size
        self.done: list[CleanedSegment] = []
        self.bases: list[int] = []
        self._fd = -1
        self._buf = bytearray()
        self._size = 0
        self._mtime_ns = 0
        self._index = IndexBuilder(first_base, self.interval)
        self._open(first_base)

    def _open(self, base: int) -> None:
        self.bases.append(base)
        self._fd = os.open(segment_paths(self.directory, base, CLEANED_SUFFIX)[0], _OPEN_FLAGS, 0o644)
        self._index = IndexBuilder(base, self.interval)
        self._size = 0
        self._mtime_ns = 0

    def append(self, data: bytes | memoryview, h: BatchHeader, max_timestamp: int, mtime_ns: int) -> None:
        n = len(data)
        last = h.base_offset + h.last_offset_delta
        if self._size and (self._size + n > self.segment_bytes or last - self._index.base_offset > INT32_MAX):
            self._close_segment()
            self._open(h.base_offset)
        self._index.add(self._size, n, last, max_timestamp)
        self._buf += data
        self._size += n
        self._mtime_ns = max(self._mtime_ns, mtime_ns)
        if len(self._buf) >= self.buffer_size:
            self._write_buffer()

    def _write_buffer(self) -> None:
        view = memoryview(self._buf)
        while view:
            view = view[os.write(self._fd, view) :]
        view.release()
        self._buf.clear()

    def _close_segment(self) -> None:
        self._write_buffer()
        index = self._index
        index.finish()
        if self._mtime_ns:  # keep the replaced segments' age (retention by mtime), as Kafka does
            os.utime(self._fd, ns=(self._mtime_ns, self._mtime_ns))
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        _, index_path, time_path = segment_paths(self.directory, index.base_offset, CLEANED_SUFFIX)
        for path, data in ((index_path, index.index_data), (time_path, index.time_data)):
            fd = os.open(path, _OPEN_FLAGS, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        self.done.append(CleanedSegment(index.base_offset, self._size, index))

    def finish(self) -> list[CleanedSegment]:
        """Close the last segment; every file is complete and fsynced."""
        self._close_segment()
        return self.done

    def discard(self) -> None:
        """Remove every file of this pass, ``.cleaned`` or ``.swap`` (best effort)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        for base in self.bases:
            for suffix in (CLEANED_SUFFIX, SWAP_SUFFIX):
                for path in segment_paths(self.directory, base, suffix):
                    try:
                        path.unlink(missing_ok=True)
                    except OSError:
                        log.warning("Cannot remove %s", path, exc_info=True)


# ---------------------------------------------------------------------------------------------- cleaner


@dataclass(slots=True)
class _PassCounters:
    kept: int = 0
    removed: int = 0
    tombstones_removed: int = 0
    horizon: int | None = None  # earliest delete horizon of a kept tombstone still to come


class LogCleaner:
    """Compacts the logs returned by ``partitions`` (see the module docstring for threads and files).

    ``clock`` gives the time (ms) of passes run by the threads; ``on_step`` is a test seam called with
    each name of SWAP_STEPS as a pass reaches it (raise a BaseException to simulate a crash: then no
    clean-up runs).
    """

    def __init__(
        self,
        partitions: Callable[[], Iterable[PartitionLog]],
        config: CleanerConfig | None = None,
        *,
        clock: Callable[[], int] = _now_ms,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self._partitions = partitions
        self._config = config if config is not None else CleanerConfig()
        self._clock = clock
        self._on_step = on_step
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._stats_lock = threading.Lock()
        self._stats = CleanerStats()
        self._uncleanable: weakref.WeakSet[PartitionLog] = weakref.WeakSet()

    @property
    def config(self) -> CleanerConfig:
        return self._config

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def stats(self) -> CleanerStats:
        """A copy of the cumulative counters (any thread)."""
        with self._stats_lock:
            return replace(self._stats, uncleanable_partitions=len(self._uncleanable))

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the cleaner threads; swaps are handed to ``loop``, the thread that owns the logs."""
        if self._threads:
            return
        self._loop = loop
        self._stopping.clear()
        for i in range(self._config.threads):
            thread = threading.Thread(target=self._run, name=f"headrace-log-cleaner-{i}", daemon=True)
            self._threads.append(thread)
            thread.start()
        log.info(
            "Log cleaner started: %d thread(s), offset map of %d keys per thread",
            self._config.threads,
            self._config.map_capacity,
        )

    def stop(self) -> None:
        """Stop the threads: a running pass is abandoned at the next batch (its files removed) or, if its
        swap is already on the event loop, finished. Blocks; safe on the loop thread too (a pending swap is
        then cancelled)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=60)
            if thread.is_alive():
                log.warning("Log cleaner thread %s did not stop within 60s", thread.name)
        self._threads = []
        self._loop = None

    def _run(self) -> None:
        backoff = self._config.backoff_ms / 1000
        while not self._stopping.is_set():
            try:
                result = self.clean_once()
            except Exception:
                log.exception("Log cleaner pass failed")
                result = None
            if result is None:
                self._stopping.wait(backoff)

    # ------------------------------------------------------------------------------------ passes

    def clean_once(self, now_ms: int | None = None) -> CleaningResult | None:
        """Clean the filthiest log once; None if no log needed cleaning (or the pass was abandoned)."""
        now = self._clock() if now_ms is None else now_ms
        candidates: list[tuple[float, PartitionLog]] = []
        for plog in list(self._partitions()):
            if plog.closed or plog.cleaning or not plog.config.compact_enabled or plog in self._uncleanable:
                continue
            snap = plog.cleaning_snapshot()
            plan = plan_cleaning(snap, now) if snap is not None else None
            if plan is not None:
                candidates.append((plan.dirty_ratio, plog))
        candidates.sort(key=lambda c: c[0], reverse=True)
        for _ratio, plog in candidates:
            snap = plog.begin_cleaning()
            if snap is None:
                continue  # another thread took it
            try:
                plan = plan_cleaning(snap, now)
                if plan is not None:
                    return self._clean(plog, snap, plan, now)
            finally:
                plog.end_cleaning(snap)
        return None

    def _clean(
        self, plog: PartitionLog, snap: CleaningSnapshot, plan: _Plan, now_ms: int
    ) -> CleaningResult | None:
        try:
            return self._clean_log(plog, snap, plan, now_ms)
        except _Aborted as exc:
            log.info("Abandoned cleaning %s: %s", plog.name, exc)
            with self._stats_lock:
                self._stats = replace(self._stats, aborted_passes=self._stats.aborted_passes + 1)
            return None
        except Exception:
            # As Kafka: a log the cleaner fails on is left alone until restart (its data stays readable).
            log.exception("Cleaning %s failed; it will not be cleaned again until restart", plog.name)
            self._uncleanable.add(plog)
            with self._stats_lock:
                self._stats = replace(self._stats, failed_passes=self._stats.failed_passes + 1)
            return None

    def _check_done(self, plog: PartitionLog) -> None:
        if self._stopping.is_set():
            raise _Aborted("the log cleaner is stopping")
        if plog.closed:
            raise _Aborted("the log was closed or deleted")

    def _step(self, name: str) -> None:
        if self._on_step is not None:
            self._on_step(name)

    def _build_map(self, plog: PartitionLog, snap: CleaningSnapshot, plan: _Plan, omap: OffsetMap) -> int:
        """Map the dirty section; return the offset where the map ends (the pass cleans below it)."""
        first, limit = plan.first_dirty, plan.first_uncleanable
        chunk = self._config.io_buffer_size
        for k, seg in enumerate(snap.segments):
            if seg.base_offset >= limit:
                break
            end = snap.segments[k + 1].base_offset if k + 1 < len(snap.segments) else snap.active_base
            if end <= first:
                continue
            for h, data in _iter_batches(snap.fds[k], snap.sizes[k], chunk, str(seg.log_path)):
                self._check_done(plog)
                if h.base_offset + h.last_offset_delta < first or h.is_control:
                    continue
                for record in decode_records(data):
                    if record.key is not None and record.offset >= first:
                        omap.put(record.key, record.offset)
                if omap.full:
                    return min(h.base_offset + h.last_offset_delta + 1, limit)
        return limit

    def _filter(
        self,
        h: BatchHeader,
        data: memoryview,
        omap: OffsetMap,
        end_offset: int,
        now_ms: int,
        cfg: LogConfig,
        producer_last_offsets: dict[int, int],
        counters: _PassCounters,
    ) -> tuple[bytes | memoryview, int] | None:
        """The batch to write instead of ``data`` and its max timestamp, or None to drop it."""
        if h.is_control:
            return data, h.max_timestamp
        records = decode_records(data)
        horizon = delete_horizon(h)
        kept: list[Record] = []
        tombstones = cleaned_tombstones = False
        for r in records:
            if r.offset < end_offset:
                if r.key is None or omap.latest(r.key) > r.offset:
                    continue
                if r.value is None:
                    if horizon is not None and horizon <= now_ms:
                        counters.tombstones_removed += 1
                        continue
                    cleaned_tombstones = True
            kept.append(r)
            tombstones = tombstones or r.value is None
        counters.kept += len(kept)
        counters.removed += len(records) - len(kept)
        new_horizon = horizon
        if new_horizon is None and tombstones:
            new_horizon = now_ms + cfg.delete_retention_ms
        if cleaned_tombstones and new_horizon is not None:
            # Tombstones past the map's end are not tracked: the ratio-driven pass reaches them anyway.
            counters.horizon = new_horizon if counters.horizon is None else min(counters.horizon, new_horizon)
        if not kept:
            if h.producer_id >= 0 and producer_last_offsets.get(h.producer_id) == h.last_offset:
                return empty_batch(h, data), h.max_timestamp
            return None
        if len(kept) == len(records) and new_horizon == horizon:
            return data, h.max_timestamp
        rebuilt = rebuild_batch(h, data, kept, new_horizon)
        max_ts = h.max_timestamp if h.attributes & TIMESTAMP_TYPE_MASK else max(r.timestamp for r in kept)
        return rebuilt, max_ts

    def _clean_log(
        self, plog: PartitionLog, snap: CleaningSnapshot, plan: _Plan, now_ms: int
    ) -> CleaningResult | None:
        started = time.perf_counter()
        cfg = snap.config
        omap = OffsetMap(self._config.map_capacity)
        end_offset = self._build_map(plog, snap, plan, omap)
        scope = [k for k, seg in enumerate(snap.segments) if seg.base_offset < end_offset]
        if not scope:
            return None
        old = [snap.segments[k] for k in scope]
        old_sizes = [snap.sizes[k] for k in scope]
        directory = plog.directory
        counters = _PassCounters()
        chunk = self._config.io_buffer_size
        writer = _CleanedWriter(directory, old[0].base_offset, cfg, chunk)
        committed = handed_over = False
        try:
            for k in scope:
                fd = snap.fds[k]
                name = str(snap.segments[k].log_path)
                mtime_ns = os.fstat(fd).st_mtime_ns
                for h, data in _iter_batches(fd, snap.sizes[k], chunk, name):
                    self._check_done(plog)
                    _check_crc(data, name, h.base_offset)
                    out = self._filter(
                        h, data, omap, end_offset, now_ms, cfg, snap.producer_last_offsets, counters
                    )
                    if out is not None:
                        writer.append(out[0], h, out[1], mtime_ns)
            cleaned = writer.finish()
            self._step("cleaned-written")
            self._check_done(plog)
            for c in cleaned:
                for src, dst in zip(
                    segment_paths(directory, c.base_offset, CLEANED_SUFFIX),
                    segment_paths(directory, c.base_offset, SWAP_SUFFIX),
                    strict=True,
                ):
                    os.replace(src, dst)
                    if c is cleaned[0] and src.name.endswith(".log" + CLEANED_SUFFIX):
                        self._step("first-swap-renamed")
            fsync_dir(directory)
            self._step("swap-renamed")
            self._check_done(plog)
            committed = True  # from here on a failure must remove the manifest before the files
            SwapManifest([s.base_offset for s in old], [c.base_offset for c in cleaned]).store(directory)
            self._step(COMMIT_STEP)
            swap_started = time.perf_counter()
            handed_over = True
            deleted = self._on_owner(lambda: plog.replace_segments(old, old_sizes, cleaned, self._on_step))
        except Exception as exc:
            if handed_over and not isinstance(exc, _Aborted):
                # The swap failed part-way on the event loop: the old segments still serve reads and the
                # committed manifest lets start-up finish the swap. Leave every file where it is.
                raise
            if committed:
                self._remove_manifest(directory)
            writer.discard()
            raise
        if deleted is None:
            self._remove_manifest(directory)
            writer.discard()
            raise _Aborted("the log changed under the pass (truncated or closed)")
        swap_ms = (time.perf_counter() - swap_started) * 1000
        self._step("swapped")
        self._finish_swap(plog, deleted)
        plog.cleaning_done(max(plan.first_dirty, end_offset), counters.horizon)
        self._step("checkpointed")
        result = CleaningResult(
            plog.topic,
            plog.partition,
            len(old),
            len(cleaned),
            sum(old_sizes),
            sum(c.size for c in cleaned),
            counters.kept,
            counters.removed,
            counters.tombstones_removed,
            end_offset,
            time.perf_counter() - started,
            swap_ms,
        )
        self._record(result)
        return result

    def _on_owner(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the logs' owner thread (the event loop) and wait for it. Raises _Aborted, without
        having run it, when the cleaner stops first or the loop is gone."""
        loop = self._loop
        if loop is None or _running_loop() is loop:
            return fn()
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError as exc:
            raise _Aborted("the event loop is closed") from exc
        while True:
            try:
                return future.result(timeout=0.1)
            except TimeoutError:
                if self._stopping.is_set() and future.cancel():
                    raise _Aborted("the log cleaner is stopping") from None

    def _finish_swap(self, plog: PartitionLog, deleted: list[Path]) -> None:
        """After the swap: make the renames durable, drop the manifest, unlink the replaced files."""
        directory = plog.directory
        try:
            fsync_dir(directory)
            SwapManifest.remove(directory)
            self._step("manifest-removed")
            for path in deleted:
                path.unlink(missing_ok=True)
            self._step("deleted-removed")
        except OSError:
            # Harmless leftovers: start-up completes the swap again (idempotent) and removes .deleted files.
            log.exception("Cannot finish the cleaned-segment swap of %s", plog.name)

    @staticmethod
    def _remove_manifest(directory: Path) -> None:
        try:
            if SwapManifest.remove(directory):
                fsync_dir(directory)
        except OSError:
            log.exception("Cannot remove the swap manifest of %s", directory)

    def _record(self, result: CleaningResult) -> None:
        with self._stats_lock:
            s = self._stats
            self._stats = replace(
                s,
                passes=s.passes + 1,
                segments_cleaned=s.segments_cleaned + result.segments_before,
                bytes_read=s.bytes_read + result.bytes_before,
                bytes_written=s.bytes_written + result.bytes_after,
                records_kept=s.records_kept + result.records_kept,
                records_removed=s.records_removed + result.records_removed,
                tombstones_removed=s.tombstones_removed + result.tombstones_removed,
                busy_s=s.busy_s + result.duration_s,
            )
        before, after = result.bytes_before, result.bytes_after
        log.info(
            "Cleaned %s-%d up to offset %d: %d segment(s) -> %d, %d -> %d bytes (%.1f%% reclaimed), "
            "%d records kept, %d removed (%d tombstones), in %.3fs (%.0f records/s, %.1f MB/s, swap %.1fms)",
            result.topic,
            result.partition,
            result.end_offset,
            result.segments_before,
            result.segments_after,
            before,
            after,
            100.0 * (before - after) / before if before else 0.0,
            result.records_kept,
            result.records_removed,
            result.tombstones_removed,
            result.duration_s,
            result.records_per_s,
            result.mb_per_s,
            result.swap_ms,
        )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
