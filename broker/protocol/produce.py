"""Hand-written Produce codec (v3–v8): the request's record blobs stay zero-copy views into the frame."""

from __future__ import annotations

from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from broker.protocol.wire import Reader, pack_i16, pack_i32, pack_i64, pack_string

MIN_VERSION = 3
MAX_VERSION = 8


@dataclass(slots=True)
class ProducePartition:
    index: int
    records: memoryview | None


@dataclass(slots=True)
class ProduceTopic:
    name: str
    partitions: list[ProducePartition]


@dataclass(slots=True)
class ProduceRequest:
    transactional_id: str | None
    acks: int
    timeout_ms: int
    topics: list[ProduceTopic]


@dataclass(slots=True)
class PartitionResult:
    index: int
    error_code: ErrorCode = ErrorCode.none
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    error_message: str | None = None


def decode_produce(buf: memoryview, pos: int, version: int) -> ProduceRequest:
    """Decode a Produce request body starting at ``pos``; raises ProtocolError on malformed input."""
    r = Reader(buf, pos)
    transactional_id = r.string()
    acks = r.int16()
    timeout_ms = r.int32()
    topics = []
    for _ in range(r.array_len()):
        name = r.string() or ""
        parts = []
        for _ in range(r.array_len()):
            index = r.int32()
            parts.append(ProducePartition(index, r.bytes_view()))
        topics.append(ProduceTopic(name, parts))
    return ProduceRequest(transactional_id, acks, timeout_ms, topics)


def encode_produce_response(version: int, topics: list[tuple[str, list[PartitionResult]]]) -> bytes:
    """Encode a Produce response body (v3–v8)."""
    out = [pack_i32(len(topics))]
    for name, parts in topics:
        out.append(pack_string(name))
        out.append(pack_i32(len(parts)))
        for p in parts:
            out.append(
                pack_i32(p.index)
                + pack_i16(p.error_code)
                + pack_i64(p.base_offset)
                + pack_i64(p.log_append_time_ms)
            )
            if version >= 5:
                out.append(pack_i64(p.log_start_offset))
            if version >= 8:
                out.append(pack_i32(0))  # record_errors: empty array
                out.append(pack_string(p.error_message))
    out.append(pack_i32(0))  # throttle_time_ms
    return b"".join(out)
