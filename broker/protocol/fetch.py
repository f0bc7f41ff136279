"""Hand-written Fetch codec (v4–v11): the response is a list of buffers so record bytes read from
the log are written to the socket without being copied into one big response."""

from __future__ import annotations

from dataclasses import dataclass, field

from kio.schema.errors import ErrorCode

from broker.protocol.wire import Reader, pack_i16, pack_i32, pack_i64, pack_string

MIN_VERSION = 4
MAX_VERSION = 11


@dataclass(slots=True)
class FetchPartition:
    index: int
    fetch_offset: int
    partition_max_bytes: int
    current_leader_epoch: int = -1
    log_start_offset: int = -1


@dataclass(slots=True)
class FetchTopic:
    name: str
    partitions: list[FetchPartition]


@dataclass(slots=True)
class FetchRequest:
    replica_id: int
    max_wait_ms: int
    min_bytes: int
    max_bytes: int
    isolation_level: int
    session_id: int
    session_epoch: int
    topics: list[FetchTopic]
    forgotten: list[tuple[str, list[int]]] = field(default_factory=list)
    rack_id: str = ""


@dataclass(slots=True)
class PartitionData:
    index: int
    error_code: ErrorCode = ErrorCode.none
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    records: bytes = b""


def decode_fetch(buf: memoryview, pos: int, version: int) -> FetchRequest:
    """Decode a Fetch request body starting at ``pos``; raises ProtocolError on malformed input."""
    r = Reader(buf, pos)
    replica_id = r.int32()
    max_wait_ms = r.int32()
    min_bytes = r.int32()
    max_bytes = r.int32()
    isolation_level = r.int8()
    session_id, session_epoch = (r.int32(), r.int32()) if version >= 7 else (0, -1)
    topics = []
    for _ in range(r.array_len()):
        name = r.string() or ""
        parts = []
        for _ in range(r.array_len()):
            index = r.int32()
            epoch = r.int32() if version >= 9 else -1
            fetch_offset = r.int64()
            lso = r.int64() if version >= 5 else -1
            parts.append(FetchPartition(index, fetch_offset, r.int32(), epoch, lso))
        topics.append(FetchTopic(name, parts))
    forgotten: list[tuple[str, list[int]]] = []
    if version >= 7:
        for _ in range(r.array_len()):
            name = r.string() or ""
            forgotten.append((name, [r.int32() for _ in range(r.array_len())]))
    rack_id = (r.string() or "") if version >= 11 else ""
    return FetchRequest(
        replica_id,
        max_wait_ms,
        min_bytes,
        max_bytes,
        isolation_level,
        session_id,
        session_epoch,
        topics,
        forgotten,
        rack_id,
    )


def encode_fetch_response(
    version: int, topics: list[tuple[str, list[PartitionData]]], error_code: ErrorCode = ErrorCode.none
) -> list[bytes]:
    """Encode a Fetch response body as buffers to be written in order (record bytes not copied)."""
    head = [pack_i32(0)]  # throttle_time_ms
    if version >= 7:
        head.append(pack_i16(error_code) + pack_i32(0))  # error_code, session_id (no sessions)
    head.append(pack_i32(len(topics)))
    out: list[bytes] = [b"".join(head)]
    for name, parts in topics:
        out.append(pack_string(name) + pack_i32(len(parts)))
        for p in parts:
            hdr = (
                pack_i32(p.index)
                + pack_i16(p.error_code)
                + pack_i64(p.high_watermark)
                + pack_i64(p.last_stable_offset)
            )
            if version >= 5:
                hdr += pack_i64(p.log_start_offset)
            hdr += pack_i32(0)  # aborted_transactions: empty array
            if version >= 11:
                hdr += pack_i32(-1)  # preferred_read_replica
            out.append(hdr + pack_i32(len(p.records)))
            if p.records:
                out.append(p.records)
    return out
