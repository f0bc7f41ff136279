"""Committed offsets and group metadata kept in the compacted ``__consumer_offsets`` topic.

Records use Apache Kafka's own key/value schemas (offset commit key v1 / value v3, group metadata
key v2 / value v3), so Kafka tooling that decodes ``__consumer_offsets`` reads ours too. The group
of a record lives in partition ``abs(java_hash(group_id)) % offsets.topic.num.partitions``.

Contract: created on the loop thread after the LogManager is open; :meth:`load` runs once at
start-up (any thread, before serving); ``append_*`` run on the loop thread and return a future
when the topic's flush policy makes an fsync due (the caller awaits it before answering).
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from broker.groups.state import Group, OffsetAndMetadata
from broker.log.errors import TopicExistsError
from broker.log.manager import LogManager, TopicInfo
from broker.log.records import build_batch, decode_records, iter_batch_headers

log = logging.getLogger("broker.groups")

TOPIC = "__consumer_offsets"
TOPIC_CONFIGS = {"cleanup.policy": "compact", "segment.bytes": str(100 * 1024 * 1024)}


def java_string_hash(s: str) -> int:
    """``String.hashCode()`` of Java (UTF-16 code units, 32-bit wrap-around)."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(group_id: str, partitions: int) -> int:
    h = java_string_hash(group_id)
    return 0 if h == -(2**31) else abs(h) % partitions


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _nstr(s: str | None) -> bytes:
    return b"\xff\xff" if s is None else _str(s)


def _bytes(b: bytes) -> bytes:
    return struct.pack(">i", len(b)) + b


def offset_key(group_id: str, topic: str, partition: int) -> bytes:
    return struct.pack(">h", 1) + _str(group_id) + _str(topic) + struct.pack(">i", partition)


def offset_value(om: OffsetAndMetadata) -> bytes:
    return (
        struct.pack(">hqi", 3, om.offset, om.leader_epoch)
        + _str(om.metadata)
        + struct.pack(">q", om.commit_timestamp_ms)
    )


def group_key(group_id: str) -> bytes:
    return struct.pack(">h", 2) + _str(group_id)


def group_value(group: Group) -> bytes:
    out = [
        struct.pack(">h", 3),
        _str(group.protocol_type or ""),
        struct.pack(">i", group.generation_id),
        _nstr(group.protocol_name),
        _nstr(group.leader_id),
        struct.pack(">q", int(time.time() * 1000)),
        struct.pack(">i", len(group.members)),
    ]
    for m in group.members.values():
        out += [
            _str(m.member_id),
            _nstr(m.group_instance_id),
            _str(m.client_id),
            _str(m.client_host),
            struct.pack(">ii", m.rebalance_timeout_ms, m.session_timeout_ms),
            _bytes(m.metadata_for(group.protocol_name)),
            _bytes(m.assignment),
        ]
    return b"".join(out)


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> Any:
        st = struct.Struct(fmt)
        (v,) = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return v

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s


class GroupStore:
    """Appends group records to ``__consumer_offsets`` and reads them back at start-up."""

    def __init__(
        self, logs: LogManager, num_partitions: int, flush: Callable[[list[Any]], Awaitable[None]]
    ) -> None:
        self._logs = logs
        self._num_partitions = num_partitions
        self._flush = flush

    def _topic(self) -> TopicInfo:
        info = self._logs.get(TOPIC)
        if info is None:
            try:
                info = self._logs.create_topic(TOPIC, self._num_partitions, dict(TOPIC_CONFIGS))
            except TopicExistsError:
                info = self._logs.get(TOPIC)
            assert info is not None
        return info

    def _append(self, group_id: str, records: list[tuple[bytes, bytes | None]]) -> Awaitable[None] | None:
        info = self._topic()
        plog = info.partitions[partition_for(group_id, len(info.partitions))]
        now_ms = int(time.time() * 1000)
        plog.append(build_batch(records, timestamp_ms=now_ms), now_ms=now_ms)
        return self._flush([plog]) if plog.needs_flush(now_ms) else None

    def append_offsets(
        self, group_id: str, offsets: dict[tuple[str, int], OffsetAndMetadata]
    ) -> Awaitable[None] | None:
        return self._append(
            group_id, [(offset_key(group_id, t, p), offset_value(om)) for (t, p), om in offsets.items()]
        )

    def append_group(self, group: Group) -> Awaitable[None] | None:
        return self._append(group.group_id, [(group_key(group.group_id), group_value(group))])

    def delete_group(self, group: Group) -> Awaitable[None] | None:
        records: list[tuple[bytes, bytes | None]] = [
            (offset_key(group.group_id, t, p), None) for (t, p) in group.offsets
        ]
        records.append((group_key(group.group_id), None))
        return self._append(group.group_id, records)

    def load(self, restore: Callable[..., None]) -> int:
        """Replay the topic into ``restore(group_id, generation, protocol_type, offsets, deleted)``
        (see :meth:`GroupCoordinator.restore`); returns the number of records read."""
        info = self._logs.get(TOPIC)
        if info is None:
            return 0
        count = 0
        for plog in info.partitions:
            offset = plog.log_start_offset
            while offset < plog.log_end_offset:
                chunk = plog.read(offset, 1 << 20)
                if not chunk:
                    break
                for header in iter_batch_headers(chunk):
                    batch = chunk[header.position : header.position + header.size]
                    for rec in decode_records(batch):
                        if rec.offset >= offset and rec.key is not None:
                            self._apply(rec.key, rec.value, restore)
                            count += 1
                    offset = max(offset, header.base_offset + header.last_offset_delta + 1)
        return count

    @staticmethod
    def _apply(key: bytes, value: bytes | None, restore: Callable[..., None]) -> None:
        k = _Cursor(key)
        version = k.take(">h")
        group_id = k.string() or ""
        if version in (0, 1):
            topic = k.string() or ""
            partition = k.take(">i")
            om = None
            if value is not None:
                v = _Cursor(value)
                vver = v.take(">h")
                offset = v.take(">q")
                epoch = v.take(">i") if vver >= 3 else -1
                metadata = v.string() or ""
                ts = v.take(">q")
                om = OffsetAndMetadata(offset, epoch, metadata, ts)
            restore(group_id, None, None, {(topic, partition): om}, False)
        elif version == 2:
            if value is None:
                restore(group_id, None, None, {}, True)
                return
            v = _Cursor(value)
            v.take(">h")
            protocol_type = v.string()
            generation = v.take(">i")
            restore(group_id, generation, protocol_type, {}, False)
