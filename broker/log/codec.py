"""Record-level encoding and decoding inside one magic-v2 batch (slow path).

Used for ListOffsets by timestamp, compaction, internal topics and tests; never on the produce/fetch hot
path. Pure functions, thread-safe.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from crc32c import crc32c
from kio.schema.errors import ErrorCode

from broker.log.batch import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    COMPRESSION_NONE,
    CONTROL_MASK,
    LOG_OVERHEAD,
    MAGIC_V2,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_MASK,
    iter_batch_headers,
)
from broker.log.compression import compress, decompress
from broker.log.errors import InvalidRecordError

_HEADER_NO_CRC = struct.Struct(">qiib")  # baseOffset, batchLength, partitionLeaderEpoch, magic
_HEADER_AFTER_CRC = struct.Struct(">hiqqqhii")
_CRC = struct.Struct(">I")


@dataclass(slots=True)
class Record:
    """One decoded record: absolute ``offset`` and ``timestamp`` (LogAppendTime batches report the
    batch's max timestamp), ``key``/``value`` (None = null) and ordered ``headers``."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 63:
            raise InvalidRecordError("Varint is too long", ErrorCode.corrupt_message)
    return (result >> 1) ^ -(result & 1), pos


def _read_bytes(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    length, pos = _read_varint(buf, pos)
    if length < 0:
        return None, pos
    end = pos + length
    if end > len(buf):
        raise InvalidRecordError("Record field runs past the end of the batch", ErrorCode.corrupt_message)
    return buf[pos:end], end


def decode_records(batch_bytes: bytes | bytearray | memoryview) -> list[Record]:
    """Decode the records of the single batch at the start of ``batch_bytes`` (decompressing if needed).

    Raises InvalidRecordError for a truncated/malformed batch or an unavailable compression codec.
    """
    header = next(iter_batch_headers(batch_bytes), None)
    if header is None:
        raise InvalidRecordError("Not a complete magic-v2 record batch", ErrorCode.corrupt_message)
    body_view = memoryview(batch_bytes)[BATCH_HEADER_SIZE : header.size]
    codec = header.compression
    body = bytes(body_view) if codec == COMPRESSION_NONE else decompress(codec, body_view)
    log_append_time = header.attributes & TIMESTAMP_TYPE_MASK
    records: list[Record] = []
    pos = 0
    try:
        for _ in range(header.record_count):
            length, pos = _read_varint(body, pos)
            end = pos + length
            if length < 0 or end > len(body):
                raise InvalidRecordError(
                    "Record length runs past the end of the batch", ErrorCode.corrupt_message
                )
            pos += 1  # attributes (unused)
            ts_delta, pos = _read_varint(body, pos)
            offset_delta, pos = _read_varint(body, pos)
            key, pos = _read_bytes(body, pos)
            value, pos = _read_bytes(body, pos)
            n_headers, pos = _read_varint(body, pos)
            headers: list[tuple[str, bytes | None]] = []
            for _h in range(n_headers):
                hkey, pos = _read_bytes(body, pos)
                hval, pos = _read_bytes(body, pos)
                if hkey is None:
                    raise InvalidRecordError("Record header with a null key", ErrorCode.invalid_record)
                headers.append((hkey.decode("utf-8"), hval))
            if pos != end:
                raise InvalidRecordError(
                    "Record length does not match its content", ErrorCode.corrupt_message
                )
            timestamp = header.max_timestamp if log_append_time else header.base_timestamp + ts_delta
            records.append(Record(header.base_offset + offset_delta, timestamp, key, value, headers))
    except IndexError as exc:
        raise InvalidRecordError("Record runs past the end of the batch", ErrorCode.corrupt_message) from exc
    except UnicodeDecodeError as exc:
        raise InvalidRecordError("Record header key is not UTF-8", ErrorCode.invalid_record) from exc
    return records


def _zigzag(value: int) -> bytes:
    v = (value << 1) ^ (value >> 63)
    v &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _encode_bytes(value: bytes | None) -> bytes:
    if value is None:
        return _zigzag(-1)
    return _zigzag(len(value)) + value


def build_batch(
    records: Sequence[Record | tuple[bytes | None, bytes | None]],
    base_offset: int = 0,
    *,
    timestamp_ms: int | None = None,
    compression: int = COMPRESSION_NONE,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
    control: bool = False,
    log_append_time: bool = False,
    partition_leader_epoch: int = -1,
) -> bytes:
    """Encode one magic-v2 batch.

    ``records`` items are ``(key, value)`` tuples (offset delta = position in the list, timestamp =
    ``timestamp_ms``, default now) or ``Record`` objects (offset delta = ``record.offset - base_offset``,
    their own timestamp and headers). Raises ValueError for an empty list or decreasing offsets.
    """
    if not records:
        raise ValueError("a record batch needs at least one record")
    default_ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    normalized: list[tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes | None]]]] = []
    for i, rec in enumerate(records):
        if isinstance(rec, Record):
            normalized.append((rec.offset - base_offset, rec.timestamp, rec.key, rec.value, rec.headers))
        else:
            normalized.append((i, default_ts, rec[0], rec[1], []))
    base_ts = normalized[0][1]
    max_ts = max(r[1] for r in normalized)
    body = bytearray()
    last_delta = -1
    for delta, ts, key, value, headers in normalized:
        if delta <= last_delta:
            raise ValueError("record offsets must be strictly increasing and >= base_offset")
        last_delta = delta
        encoded = bytearray(b"\x00")
        encoded += _zigzag(ts - base_ts)
        encoded += _zigzag(delta)
        encoded += _encode_bytes(key)
        encoded += _encode_bytes(value)
        encoded += _zigzag(len(headers))
        for hkey, hval in headers:
            encoded += _encode_bytes(hkey.encode("utf-8"))
            encoded += _encode_bytes(hval)
        body += _zigzag(len(encoded))
        body += encoded
    payload = compress(compression, bytes(body))
    attributes = compression
    if log_append_time:
        attributes |= TIMESTAMP_TYPE_MASK
    if transactional:
        attributes |= TRANSACTIONAL_MASK
    if control:
        attributes |= CONTROL_MASK
    after_crc = (
        _HEADER_AFTER_CRC.pack(
            attributes,
            last_delta,
            base_ts,
            max_ts,
            producer_id,
            producer_epoch,
            base_sequence,
            len(normalized),
        )
        + payload
    )
    batch_length = BATCH_HEADER_SIZE - LOG_OVERHEAD + len(payload)
    head = _HEADER_NO_CRC.pack(base_offset, batch_length, partition_leader_epoch, MAGIC_V2)
    out = head + _CRC.pack(crc32c(after_crc)) + after_crc
    assert len(head) + 4 == ATTRIBUTES_OFFSET
    return out
