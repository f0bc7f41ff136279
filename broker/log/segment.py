"""One log segment: ``<base>.log`` with its sparse ``.index`` and ``.timeindex`` (Kafka file layout).

Index entries follow Kafka's ``LogSegment.append``: before appending a batch, if more than
``index.interval.bytes`` were written since the last entry, add an offset-index entry
``(batch last offset - base, batch position)`` and, if the max timestamp so far grew, a time-index entry
``(max timestamp so far, offset of that max - base)``. Rolled (inactive) segments get a final time-index
entry. Files are append-only (not preallocated); the in-memory copy of the indexes is loaded lazily.

A Segment is owned by one PartitionLog and used from its event-loop thread only, except ``fd`` which the
flusher and log-cleaner threads duplicate (under the PartitionLog's state lock) to fsync or read.

File suffixes of log compaction (as Kafka's): ``.cleaned`` while the cleaner writes a new segment,
``.swap`` once it is complete and fsynced, ``.deleted`` for a replaced segment's files until they are
unlinked. ``IndexBuilder`` computes the index entries of a segment written front to back (rebuilds and
cleaned segments); it is plain data, usable from any thread.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from broker.log.batch import (
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    MAX_TIMESTAMP_OFFSET,
    MIN_BATCH_LENGTH,
    BatchScanner,
)
from broker.log.errors import KafkaStorageError

log = logging.getLogger("broker.log")

INT32_MAX = 2**31 - 1
INDEX_ENTRY = struct.Struct(">ii")
TIME_INDEX_ENTRY = struct.Struct(">qi")
_WALK_HEADER = struct.Struct(">qiibIhi")  # up to and including lastOffsetDelta (27 bytes)
_WALK_CHUNK = 16 * 1024
_LITTLE_ENDIAN = sys.byteorder == "little"
_LOG_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_INDEX_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
DELETED_SUFFIX = ".deleted"


def segment_file_name(base_offset: int, suffix: str) -> str:
    return f"{base_offset:020d}{suffix}"


def segment_paths(directory: Path, base_offset: int, suffix: str = "") -> tuple[Path, Path, Path]:
    """``.log``, ``.index`` and ``.timeindex`` paths of a segment, ``suffix`` appended (e.g. ``.swap``)."""
    return (
        directory / segment_file_name(base_offset, ".log" + suffix),
        directory / segment_file_name(base_offset, ".index" + suffix),
        directory / segment_file_name(base_offset, ".timeindex" + suffix),
    )


@dataclass(slots=True)
class ScanResult:
    """Outcome of a full scan of a segment's log file."""

    valid_end: int
    next_offset: int | None  # offset after the last good batch; None if the segment holds no batch
    stop_reason: str | None  # why the scan stopped before the end of the file


def _write_new_file(path: Path, data: bytes | bytearray) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class IndexBuilder:
    """Offset- and time-index entries of a segment whose batches are added in order, front to back.

    Follows the rule of the module docstring; ``finish`` adds the closing time-index entry of an inactive
    segment. ``install`` puts the result into a Segment's in-memory state.
    """

    __slots__ = (
        "base_offset",
        "index_data",
        "interval",
        "last_entry_ts",
        "max_timestamp",
        "offset_of_max_timestamp",
        "positions",
        "rel_offsets",
        "since",
        "time_data",
        "time_rel",
        "time_ts",
    )

    def __init__(self, base_offset: int, interval: int) -> None:
        self.base_offset = base_offset
        self.interval = interval
        self.rel_offsets, self.positions = array("i"), array("i")
        self.time_ts, self.time_rel = array("q"), array("i")
        self.index_data, self.time_data = bytearray(), bytearray()
        self.since = 0
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.last_entry_ts = -1

    def add(self, position: int, size: int, last_offset: int, max_timestamp: int) -> None:
        """Account for the batch at ``position`` (``size`` bytes, offsets up to ``last_offset``)."""
        base = self.base_offset
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
            self.offset_of_max_timestamp = last_offset
        if self.since > self.interval:
            self.rel_offsets.append(last_offset - base)
            self.positions.append(position)
            self.index_data += INDEX_ENTRY.pack(last_offset - base, position)
            if self.max_timestamp > self.last_entry_ts:
                self._time_entry()
            self.since = 0
        self.since += size

    def finish(self) -> None:
        """Add the closing time-index entry of an inactive segment (if the max timestamp grew)."""
        if self.max_timestamp > self.last_entry_ts:
            self._time_entry()

    def _time_entry(self) -> None:
        rel = self.offset_of_max_timestamp - self.base_offset
        self.time_ts.append(self.max_timestamp)
        self.time_rel.append(rel)
        self.time_data += TIME_INDEX_ENTRY.pack(self.max_timestamp, rel)
        self.last_entry_ts = self.max_timestamp

    def install(self, segment: Segment) -> None:
        """Make this the in-memory index state of ``segment`` (whose files hold exactly these entries)."""
        segment.rel_offsets, segment.positions = self.rel_offsets, self.positions
        segment.time_ts, segment.time_rel = self.time_ts, self.time_rel
        segment.index_bytes, segment.timeindex_bytes = len(self.index_data), len(self.time_data)
        segment.bytes_since_index = self.since
        segment.max_timestamp = self.max_timestamp
        segment.offset_of_max_timestamp = self.offset_of_max_timestamp
        segment.last_time_entry_ts = self.last_entry_ts


@dataclass(slots=True)
class CleanedSegment:
    """A segment written by the log cleaner: complete and fsynced under ``<base>.*.swap`` names, to be
    renamed into place by ``PartitionLog.replace_segments``."""

    base_offset: int
    size: int
    index: IndexBuilder


class Segment:
    """Files and in-memory state of one segment (see module docstring for the threading contract)."""

    __slots__ = (
        "base_offset",
        "bytes_since_index",
        "closed",
        "fd",
        "flushed_size",
        "index_bytes",
        "index_fd",
        "index_flushed",
        "index_path",
        "last_time_entry_ts",
        "log_path",
        "max_timestamp",
        "offset_of_max_timestamp",
        "positions",
        "rel_offsets",
        "rolling_base_ms",
        "size",
        "time_rel",
        "time_ts",
        "timeindex_bytes",
        "timeindex_fd",
        "timeindex_flushed",
        "timeindex_path",
    )

    def __init__(self, directory: Path, base_offset: int) -> None:
        self.base_offset = base_offset
        self.log_path = directory / segment_file_name(base_offset, ".log")
        self.index_path = directory / segment_file_name(base_offset, ".index")
        self.timeindex_path = directory / segment_file_name(base_offset, ".timeindex")
        self.fd = os.open(self.log_path, _LOG_FLAGS, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.flushed_size = 0
        self.index_fd: int | None = None
        self.timeindex_fd: int | None = None
        self.index_bytes = 0
        self.index_flushed = 0
        self.timeindex_bytes = 0
        self.timeindex_flushed = 0
        self.rel_offsets: array[int] | None = None
        self.positions: array[int] | None = None
        self.time_ts: array[int] | None = None
        self.time_rel: array[int] | None = None
        self.bytes_since_index = 0
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.last_time_entry_ts = -1
        self.rolling_base_ms: int | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"Segment({self.log_path.name}, size={self.size})"

    # ----------------------------------------------------------------------------------------- state

    @property
    def dirty(self) -> bool:
        """True if some written bytes (log or index files) are not known to be fsynced."""
        return (
            self.size > self.flushed_size
            or self.index_bytes > self.index_flushed
            or self.timeindex_bytes > self.timeindex_flushed
        )

    def mark_flushed(self) -> None:
        self.flushed_size = self.size
        self.index_flushed = self.index_bytes
        self.timeindex_flushed = self.timeindex_bytes

    def open_index_fds(self) -> None:
        """Open the index files for appending (active segment only)."""
        if self.index_fd is None:
            self.index_fd = os.open(self.index_path, _INDEX_FLAGS, 0o644)
        if self.timeindex_fd is None:
            self.timeindex_fd = os.open(self.timeindex_path, _INDEX_FLAGS, 0o644)

    def close_index_fds(self) -> None:
        for fd in (self.index_fd, self.timeindex_fd):
            if fd is not None:
                os.close(fd)
        self.index_fd = None
        self.timeindex_fd = None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_index_fds()
        os.close(self.fd)

    def delete_files(self) -> None:
        """Close and unlink the segment's files."""
        self.close()
        for path in (self.log_path, self.index_path, self.timeindex_path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def mtime_ms(self) -> int:
        return int(os.stat(self.log_path).st_mtime * 1000)

    # --------------------------------------------------------------------------------------- indexes

    def read_index_tail(self) -> bool:
        """Cheap start-up load for a trusted segment: file sizes and the last time-index entry.

        Returns False if an index file is torn (size not a whole number of entries) or missing while the
        log is not empty; the caller then rebuilds.
        """
        try:
            index_size = os.stat(self.index_path).st_size
            time_size = os.stat(self.timeindex_path).st_size
        except FileNotFoundError:
            return self.size == 0
        if index_size % INDEX_ENTRY.size or time_size % TIME_INDEX_ENTRY.size:
            return False
        self.index_bytes = self.index_flushed = index_size
        self.timeindex_bytes = self.timeindex_flushed = time_size
        if time_size:
            with open(self.timeindex_path, "rb") as f:
                f.seek(time_size - TIME_INDEX_ENTRY.size)
                ts, rel = TIME_INDEX_ENTRY.unpack(f.read(TIME_INDEX_ENTRY.size))
            self.max_timestamp = self.last_time_entry_ts = ts
            self.offset_of_max_timestamp = self.base_offset + rel
        return True

    def load_indexes(self) -> bool:
        """Load both index files into memory; False if missing, torn or inconsistent with the log."""
        try:
            with open(self.index_path, "rb") as f:
                index_data = f.read()
            with open(self.timeindex_path, "rb") as f:
                time_data = f.read()
        except FileNotFoundError:
            if self.size:
                return False
            index_data = time_data = b""
        if len(index_data) % INDEX_ENTRY.size or len(time_data) % TIME_INDEX_ENTRY.size:
            return False
        flat = array("i")
        flat.frombytes(index_data)
        if _LITTLE_ENDIAN:
            flat.byteswap()
        rel_offsets, positions = flat[0::2], flat[1::2]
        time_ts = array("q")
        time_rel = array("i")
        for ts, rel in TIME_INDEX_ENTRY.iter_unpack(time_data):
            time_ts.append(ts)
            time_rel.append(rel)
        if not (_strictly_increasing(rel_offsets, 0) and _strictly_increasing(positions, 1)):
            return False
        if positions and positions[-1] >= self.size:
            return False
        if not _strictly_increasing(time_ts, -(2**63)) or any(r < 0 for r in time_rel):
            return False
        self.rel_offsets, self.positions = rel_offsets, positions
        self.time_ts, self.time_rel = time_ts, time_rel
        self.index_bytes = len(index_data)
        self.timeindex_bytes = len(time_data)
        if time_ts:
            self.last_time_entry_ts = time_ts[-1]
            if time_ts[-1] > self.max_timestamp:
                self.max_timestamp = time_ts[-1]
                self.offset_of_max_timestamp = self.base_offset + time_rel[-1]
        self.bytes_since_index = self.size - (positions[-1] if positions else 0)
        return True

    def rebuild(self, interval: int, *, verify_crc: bool, min_offset: int, final: bool) -> ScanResult:
        """Scan the whole log file and rewrite both index files from it.

        Stops at the first bad batch (incomplete, malformed, CRC mismatch when ``verify_crc``, or offsets
        not increasing from ``min_offset``); the caller decides whether to truncate there. ``final`` adds
        the closing time-index entry of an inactive segment.
        """
        base = self.base_offset
        builder = IndexBuilder(base, interval)
        expected = max(min_offset, base)
        next_offset: int | None = None
        valid_end = 0
        stop_reason: str | None = None
        scanner = BatchScanner(self.fd, 0, self.size, verify_crc=verify_crc)
        for h in scanner:
            last = h.base_offset + h.last_offset_delta
            if h.base_offset < expected or h.last_offset_delta < 0 or last - base > INT32_MAX:
                stop_reason = (
                    f"batch at position {h.position} has offsets [{h.base_offset}, {last}], "
                    f"expected offsets from {expected}"
                )
                break
            builder.add(h.position, h.size, last, h.max_timestamp)
            expected = last + 1
            next_offset = expected
            valid_end = h.position + h.size
        else:
            stop_reason = scanner.stop_reason
        if final:
            builder.finish()
        _write_new_file(self.index_path, builder.index_data)
        _write_new_file(self.timeindex_path, builder.time_data)
        builder.install(self)
        self.index_flushed = self.timeindex_flushed = 0
        return ScanResult(valid_end, next_offset, stop_reason)

    def truncate_log(self, size: int) -> None:
        os.ftruncate(self.fd, size)
        self.size = size
        self.flushed_size = min(self.flushed_size, size)

    def append_final_time_entry(self) -> None:
        """Write the closing time-index entry when the segment stops being active (roll or close)."""
        if self.max_timestamp <= self.last_time_entry_ts or self.time_ts is None or self.time_rel is None:
            return
        rel = self.offset_of_max_timestamp - self.base_offset
        entry = TIME_INDEX_ENTRY.pack(self.max_timestamp, rel)
        if self.timeindex_fd is not None:
            os.write(self.timeindex_fd, entry)
        else:
            with open(self.timeindex_path, "ab") as f:
                f.write(entry)
        self.time_ts.append(self.max_timestamp)
        self.time_rel.append(rel)
        self.timeindex_bytes += len(entry)
        self.last_time_entry_ts = self.max_timestamp

    # --------------------------------------------------------------------------------------- lookups

    def index_position(self, offset: int) -> int:
        """Position of a batch at or before the batch holding ``offset`` (indexes must be loaded)."""
        assert self.rel_offsets is not None and self.positions is not None
        i = bisect_right(self.rel_offsets, offset - self.base_offset) - 1
        return self.positions[i] if i >= 0 else 0

    def time_index_offset(self, timestamp: int) -> int:
        """Offset to start searching for the first record with a timestamp >= ``timestamp``."""
        assert self.time_ts is not None and self.time_rel is not None
        i = bisect_right(self.time_ts, timestamp) - 1
        return self.base_offset + self.time_rel[i] if i >= 0 else self.base_offset

    def walk(self, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """Yield ``(position, size, base_offset, last_offset_delta)`` of the batches in [pos, end).

        Reads headers only (small preads, skipping batch bodies). A batch may extend beyond ``end``.
        """
        fd = self.fd
        unpack = _WALK_HEADER.unpack_from
        hdr = _WALK_HEADER.size
        while pos < end:
            data = os.pread(fd, min(_WALK_CHUNK, end - pos), pos)
            n = len(data)
            off = 0
            while n - off >= hdr:
                base, blen, _ple, _magic, _crc, _attrs, lod = unpack(data, off)
                if blen < MIN_BATCH_LENGTH:
                    raise KafkaStorageError(f"Corrupt batch length {blen} at {self.log_path}:{pos + off}")
                size = blen + LOG_OVERHEAD
                yield pos + off, size, base, lod
                off += size
            if off == 0:
                return
            pos += off

    def find_batch(self, offset: int, start: int) -> tuple[int, int]:
        """``(position, next offset)`` of the first batch from ``start`` whose last offset >= ``offset``;
        ``(self.size, -1)`` if there is none."""
        for pos, _size, base, lod in self.walk(start, self.size):
            if base + lod >= offset:
                return pos, base + lod + 1
        return self.size, -1

    def cut_point(self, start: int, limit: int) -> tuple[int, int]:
        """End of the last whole batch in [start, limit) walking from a batch boundary ``start``, and the
        offset following that batch (-1 if unknown). Returns ``(start, -1)`` if the first batch does not
        fit."""
        assert self.positions is not None
        i = bisect_right(self.positions, limit) - 1
        walk_from = self.positions[i] if i >= 0 and self.positions[i] > start else start
        end, next_offset = walk_from, -1
        for pos, size, base, lod in self.walk(walk_from, limit):
            if pos + size > limit:
                break
            end, next_offset = pos + size, base + lod + 1
        return end, next_offset

    def first_batch_rolling_base(self) -> int:
        """Start-up estimate of when the segment received its first append: the first batch's max
        timestamp, else the file's mtime."""
        data = os.pread(self.fd, BATCH_HEADER_SIZE, 0)
        if len(data) == BATCH_HEADER_SIZE:
            (ts,) = struct.unpack_from(">q", data, MAX_TIMESTAMP_OFFSET)
            if ts >= 0:
                return int(ts)
        return self.mtime_ms()


def _strictly_increasing(values: array[int], floor: int) -> bool:
    prev = floor - 1
    for v in values:
        if v <= prev:
            return False
        prev = v
    return True
