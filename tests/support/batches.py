"""Build Kafka v2 record batches by hand (independent of the broker's own codec), for raw Produce tests
that need control over producer id, epoch and sequence numbers."""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence

from crc32c import crc32c


def _varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)  # zigzag
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _record(offset_delta: int, value: bytes) -> bytes:
    body = (
        b"\x00"  # attributes
        + _varint(0)  # timestamp delta
        + _varint(offset_delta)
        + _varint(-1)  # null key
        + _varint(len(value))
        + value
        + _varint(0)  # no headers
    )
    return _varint(len(body)) + body


def record_batch(
    values: Sequence[bytes],
    *,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    timestamp_ms: int | None = None,
) -> bytes:
    """One uncompressed v2 batch (base offset 0) holding ``values`` with null keys and no headers."""
    assert values
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    records = b"".join(_record(i, v) for i, v in enumerate(values))
    after_crc = (
        struct.pack(
            ">hiqqqhii",
            0,  # attributes: no compression, CreateTime, not transactional
            len(values) - 1,  # last offset delta
            ts,
            ts,
            producer_id,
            producer_epoch,
            base_sequence,
            len(values),
        )
        + records
    )
    batch_length = 4 + 1 + 4 + len(after_crc)  # leader epoch, magic, crc, rest
    return (
        struct.pack(">qi", 0, batch_length)
        + struct.pack(">ib", -1, 2)
        + struct.pack(">I", crc32c(after_crc))
        + after_crc
    )
