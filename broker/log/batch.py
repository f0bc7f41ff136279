"""Kafka record batch (magic v2) headers: parse, validate and scan without decoding records.

Layout of the 61-byte header (big-endian)::

    baseOffset i64 @0 | batchLength i32 @8 | partitionLeaderEpoch i32 @12 | magic i8 @16 | crc u32 @17 |
    attributes i16 @21 | lastOffsetDelta i32 @23 | baseTimestamp i64 @27 | maxTimestamp i64 @35 |
    producerId i64 @43 | producerEpoch i16 @51 | baseSequence i32 @53 | recordsCount i32 @57

``batchLength`` counts the bytes after itself, so a batch occupies ``12 + batchLength`` bytes. The CRC32C
covers bytes ``[21:end of batch]``. Everything here is pure and thread-safe.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from crc32c import crc32c
from kio.schema.errors import ErrorCode

from broker.log.errors import InvalidRecordError

BATCH_HEADER_SIZE = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: the bytes batchLength does not count
MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD
MAGIC_V2 = 2

BASE_OFFSET_OFFSET = 0
BATCH_LENGTH_OFFSET = 8
PARTITION_LEADER_EPOCH_OFFSET = 12
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
LAST_OFFSET_DELTA_OFFSET = 23
BASE_TIMESTAMP_OFFSET = 27
MAX_TIMESTAMP_OFFSET = 35
PRODUCER_ID_OFFSET = 43
PRODUCER_EPOCH_OFFSET = 51
BASE_SEQUENCE_OFFSET = 53
RECORDS_COUNT_OFFSET = 57

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1
COMPRESSION_SNAPPY = 2
COMPRESSION_LZ4 = 3
COMPRESSION_ZSTD = 4

_HEADER = struct.Struct(">qiibIhiqqqhii")
assert _HEADER.size == BATCH_HEADER_SIZE
_unpack_header = _HEADER.unpack_from


@dataclass(slots=True)
class BatchHeader:
    """The header fields of one batch; ``position`` is the batch's byte position in the parsed buffer."""

    position: int
    size: int
    base_offset: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    attributes: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_MASK)

    @property
    def timestamp_type(self) -> int:
        """0 = CreateTime, 1 = LogAppendTime."""
        return 1 if self.attributes & TIMESTAMP_TYPE_MASK else 0

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK


def _as_bytes_view(buf: bytes | bytearray | memoryview) -> memoryview:
    mv = memoryview(buf)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


def iter_batch_headers(buf: bytes | bytearray | memoryview) -> Iterator[BatchHeader]:
    """Yield the header of every complete batch in ``buf``; stop silently at a partial or invalid batch.

    Positions are relative to the start of ``buf``. No CRC check: meant for the broker's own log data.
    """
    mv = _as_bytes_view(buf)
    n = mv.nbytes
    pos = 0
    while n - pos >= BATCH_HEADER_SIZE:
        (base, blen, _ple, magic, _crc, attrs, lod, bts, mts, pid, pep, bseq, cnt) = _unpack_header(mv, pos)
        if magic != MAGIC_V2 or blen < MIN_BATCH_LENGTH:
            return
        size = blen + LOG_OVERHEAD
        if pos + size > n:
            return
        yield BatchHeader(pos, size, base, lod, bts, mts, attrs, pid, pep, bseq, cnt)
        pos += size


def parse_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader | None:
    """The header of the batch at ``pos`` even if its body is not in ``buf``; None if not a v2 header."""
    mv = _as_bytes_view(buf)
    if mv.nbytes - pos < BATCH_HEADER_SIZE:
        return None
    (base, blen, _ple, magic, _crc, attrs, lod, bts, mts, pid, pep, bseq, cnt) = _unpack_header(mv, pos)
    if magic != MAGIC_V2 or blen < MIN_BATCH_LENGTH:
        return None
    return BatchHeader(pos, blen + LOG_OVERHEAD, base, lod, bts, mts, attrs, pid, pep, bseq, cnt)


def validate_produce_records(
    buf: bytes | bytearray | memoryview, max_message_bytes: int
) -> list[BatchHeader]:
    """Validate a Produce request's records blob and return its batch headers; raise InvalidRecordError.

    Checks, per batch: complete, magic 2, size <= ``max_message_bytes``, CRC32C, at least one record and
    ``lastOffsetDelta == recordsCount - 1``, known compression codec, not a control batch, a sequence
    number when a producer id is set. The blob must hold at least one batch and no trailing bytes.
    Unlike Kafka (exactly one batch per partition for Produce v3+) several batches are accepted.
    """
    mv = _as_bytes_view(buf)
    n = mv.nbytes
    if n == 0:
        raise InvalidRecordError("Produce request contains no record batch", ErrorCode.invalid_record)
    headers: list[BatchHeader] = []
    append = headers.append
    pos = 0
    while pos < n:
        if n - pos >= BATCH_HEADER_SIZE:
            (base, blen, _ple, magic, crc, attrs, lod, bts, mts, pid, pep, bseq, cnt) = _unpack_header(
                mv, pos
            )
            end = pos + blen + LOG_OVERHEAD
            # Fast path: one combined test; the slow path below finds out what exactly is wrong.
            if (
                magic == MAGIC_V2
                and blen >= MIN_BATCH_LENGTH
                and end <= n
                and end - pos <= max_message_bytes
                and cnt > 0
                and lod == cnt - 1
                and not attrs & CONTROL_MASK
                and attrs & COMPRESSION_MASK <= COMPRESSION_ZSTD
                and (pid < 0 or bseq >= 0)
                and crc32c(mv[pos + ATTRIBUTES_OFFSET : end]) == crc
            ):
                append(BatchHeader(pos, end - pos, base, lod, bts, mts, attrs, pid, pep, bseq, cnt))
                pos = end
                continue
        raise _batch_error(mv, pos, max_message_bytes)
    return headers


def _batch_error(mv: memoryview, pos: int, max_message_bytes: int) -> InvalidRecordError:
    """Describe why the batch at ``pos`` failed validate_produce_records' fast path."""
    n = mv.nbytes
    if n - pos < BATCH_HEADER_SIZE:
        return InvalidRecordError(
            f"Truncated record batch at position {pos}: {n - pos} bytes left, "
            f"header needs {BATCH_HEADER_SIZE}",
            ErrorCode.corrupt_message,
        )
    (_base, blen, _ple, magic, crc, attrs, lod, _bts, _mts, pid, _pep, bseq, cnt) = _unpack_header(mv, pos)
    size = blen + LOG_OVERHEAD
    if magic != MAGIC_V2:
        return InvalidRecordError(
            f"Record batch at position {pos} has magic {magic}; only magic 2 is accepted",
            ErrorCode.invalid_record,
        )
    if blen < MIN_BATCH_LENGTH:
        return InvalidRecordError(
            f"Record batch at position {pos} has invalid length {blen}", ErrorCode.corrupt_message
        )
    if pos + size > n:
        return InvalidRecordError(
            f"Truncated record batch at position {pos}: length says {size} bytes, {n - pos} present",
            ErrorCode.corrupt_message,
        )
    if size > max_message_bytes:
        return InvalidRecordError(
            f"Record batch of {size} bytes exceeds max.message.bytes {max_message_bytes}",
            ErrorCode.message_too_large,
        )
    if crc32c(mv[pos + ATTRIBUTES_OFFSET : pos + size]) != crc:
        return InvalidRecordError(
            f"Record batch at position {pos} fails its CRC check", ErrorCode.corrupt_message
        )
    if cnt <= 0 or lod != cnt - 1:
        return InvalidRecordError(
            f"Record batch at position {pos} has {cnt} records but lastOffsetDelta {lod}",
            ErrorCode.invalid_record,
        )
    if attrs & COMPRESSION_MASK > COMPRESSION_ZSTD:
        return InvalidRecordError(
            f"Record batch at position {pos} uses unknown compression codec {attrs & COMPRESSION_MASK}",
            ErrorCode.invalid_record,
        )
    if attrs & CONTROL_MASK:
        return InvalidRecordError(
            "Clients are not allowed to write control records", ErrorCode.invalid_record
        )
    return InvalidRecordError(
        f"Invalid sequence number {bseq} in record batch with producer id {pid}", ErrorCode.invalid_record
    )


class BatchScanner:
    """Iterate over the batches stored in ``fd`` between byte positions ``start`` and ``end``.

    Reads with ``os.pread`` in large chunks; yields headers whose ``position`` is the absolute file
    position. Stops at the first batch that is incomplete or malformed (or, with ``verify_crc``, fails its
    CRC); afterwards ``end_position`` is the end of the last good batch and ``stop_reason`` says why the
    scan stopped early (None when it reached ``end`` cleanly). Used for recovery and index rebuilds.
    """

    CHUNK = 4 * 1024 * 1024

    def __init__(self, fd: int, start: int, end: int, *, verify_crc: bool, chunk: int = CHUNK) -> None:
        self.fd = fd
        self.chunk = chunk
        self.start = start
        self.end = end
        self.verify_crc = verify_crc
        self.end_position = start
        self.stop_reason: str | None = None

    def __iter__(self) -> Iterator[BatchHeader]:
        fd, end, verify = self.fd, self.end, self.verify_crc
        pos = self.start
        want = self.chunk
        while pos < end:
            request = min(want, end - pos)
            data = os.pread(fd, request, pos)
            n = len(data)
            if n < BATCH_HEADER_SIZE:
                self.stop_reason = f"truncated batch header ({n} bytes) at position {pos}"
                return
            mv = memoryview(data)
            off = 0
            size = 0
            while n - off >= BATCH_HEADER_SIZE:
                (base, blen, _ple, magic, crc, attrs, lod, bts, mts, pid, pep, bseq, cnt) = _unpack_header(
                    mv, off
                )
                if magic != MAGIC_V2 or blen < MIN_BATCH_LENGTH:
                    self.stop_reason = (
                        f"invalid batch header (magic {magic}, length {blen}) at position {pos + off}"
                    )
                    return
                size = blen + LOG_OVERHEAD
                if off + size > n:
                    break
                if verify and crc32c(mv[off + ATTRIBUTES_OFFSET : off + size]) != crc:
                    self.stop_reason = f"CRC mismatch in batch at position {pos + off} (base offset {base})"
                    return
                yield BatchHeader(pos + off, size, base, lod, bts, mts, attrs, pid, pep, bseq, cnt)
                off += size
                self.end_position = pos + off
            if off == 0:
                # The first batch does not fit in this read: read it whole next time, unless it cannot fit.
                if pos + size > end or n < request:
                    self.stop_reason = f"truncated batch at position {pos}: needs {size} bytes"
                    return
                want = size
                continue
            if n < request and n - off < BATCH_HEADER_SIZE and off < n:
                self.stop_reason = f"truncated batch header at position {pos + off}"
                return
            pos += off
            want = self.chunk
