"""Source offsets: backing stores, the per-task writer and the reader handed to tasks.

Keys and values are stored as Kafka Connect does: key = JSON ``["<connector>", {partition}]``,
value = JSON ``{offset}`` (null = deleted). JSON objects are written with sorted keys so equal
partitions always produce equal bytes.

Threading: a backing store is shared by all tasks of a worker; ``get``/``set`` are thread-safe.
An :class:`OffsetStorageWriter` and a :class:`SubmittedRecords` belong to one task and are used on that
task's thread only.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from connect.api.task import OffsetStorageReader

log = logging.getLogger("connect.offsets")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def offset_key(connector: str, partition: Mapping[str, Any]) -> bytes:
    return _dumps([connector, dict(partition)])


def parse_key(key: bytes) -> tuple[str, dict[str, Any]] | None:
    try:
        name, partition = json.loads(key)
    except (ValueError, TypeError):
        return None
    if not isinstance(name, str) or not isinstance(partition, dict):
        return None
    return name, partition


class OffsetBackingStore(abc.ABC):
    """Durable map of serialized offset keys to values."""

    def start(self) -> None:  # noqa: B027 - optional
        """Load existing offsets (blocking)."""

    def stop(self) -> None:  # noqa: B027 - optional
        """Release resources (blocking)."""

    @abc.abstractmethod
    def get(self, keys: Iterable[bytes]) -> dict[bytes, bytes | None]: ...

    @abc.abstractmethod
    def set(self, values: Mapping[bytes, bytes | None]) -> None:
        """Store ``values`` durably; returns only when they are durable (raises on failure)."""

    @abc.abstractmethod
    def all(self) -> dict[bytes, bytes]:
        """Every stored (non-deleted) entry."""

    def connector_partitions(self, connector: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        """{serialized key: (partition, offset)} of one connector."""
        out = {}
        for key, value in self.all().items():
            parsed = parse_key(key)
            if parsed is not None and parsed[0] == connector:
                out[key.decode()] = (parsed[1], json.loads(value))
        return out


class MemoryOffsetBackingStore(OffsetBackingStore):
    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def get(self, keys: Iterable[bytes]) -> dict[bytes, bytes | None]:
        with self._lock:
            return {k: self._data.get(k) for k in keys}

    def set(self, values: Mapping[bytes, bytes | None]) -> None:
        with self._lock:
            for k, v in values.items():
                if v is None:
                    self._data.pop(k, None)
                else:
                    self._data[k] = v

    def all(self) -> dict[bytes, bytes]:
        with self._lock:
            return dict(self._data)


class FileOffsetBackingStore(MemoryOffsetBackingStore):
    """Standalone mode: offsets in one JSON file, rewritten atomically (tmp + fsync + rename) per set."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def start(self) -> None:
        if not self.path.exists():
            return
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"cannot read the offsets file {self.path}: {exc}") from exc
        with self._lock:
            self._data = {k.encode(): v.encode() for k, v in entries.items()}
        log.info("loaded %d source offset(s) from %s", len(entries), self.path)

    def set(self, values: Mapping[bytes, bytes | None]) -> None:
        with self._lock:
            data = dict(self._data)
            for k, v in values.items():
                if v is None:
                    data.pop(k, None)
                else:
                    data[k] = v
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            with open(tmp, "w") as f:
                json.dump({k.decode(): v.decode() for k, v in data.items()}, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(self.path)
            self._data = data


class TaskOffsetReader(OffsetStorageReader):
    """What ``SourceTaskContext.offset_storage_reader()`` returns: committed offsets of one connector."""

    def __init__(self, store: OffsetBackingStore, connector: str) -> None:
        self._store = store
        self._connector = connector

    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.offsets([partition])[0][1]

    def offsets(
        self, partitions: Iterable[Mapping[str, Any]]
    ) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        parts = [dict(p) for p in partitions]
        keys = [offset_key(self._connector, p) for p in parts]
        found = self._store.get(keys)
        out: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for p, k in zip(parts, keys, strict=True):
            raw = found.get(k)
            out.append((p, json.loads(raw) if raw is not None else None))
        return out


class OffsetStorageWriter:
    """Collects the latest offset per source partition and writes snapshots (Kafka's OffsetStorageWriter).

    Flow on the task thread: ``offset()`` for every record dispatched (cheap: nothing is serialized
    until a flush); at commit time ``begin_flush()`` takes a snapshot (returns False if nothing
    changed), the caller waits until every record dispatched before the snapshot is acknowledged,
    then ``do_flush()`` serializes and makes the snapshot durable — or ``cancel_flush()`` puts it back
    when the acknowledgement failed.
    """

    def __init__(self, store: OffsetBackingStore, connector: str) -> None:
        self._store = store
        self._connector = connector
        self._data: dict[Any, tuple[Mapping[str, Any], Mapping[str, Any] | None]] = {}
        self._to_flush: dict[Any, tuple[Mapping[str, Any], Mapping[str, Any] | None]] | None = None
        self._last_partition: Mapping[str, Any] | None = None
        self._last_key: Any = None

    def offset(self, partition: Mapping[str, Any] | None, offset: Mapping[str, Any] | None) -> None:
        if partition is None:
            return
        if partition is self._last_partition:  # tasks usually reuse one partition dict per batch
            key = self._last_key
        else:
            key = self._last_key = _freeze(partition)
            self._last_partition = partition
        self._data[key] = (partition, offset)

    def begin_flush(self) -> bool:
        if self._to_flush is not None:
            raise RuntimeError("a flush is already in progress")
        if not self._data:
            return False
        self._to_flush, self._data = self._data, {}
        return True

    def do_flush(self) -> int:
        assert self._to_flush is not None
        snapshot = {
            offset_key(self._connector, p): None if o is None else _dumps(dict(o))
            for p, o in self._to_flush.values()
        }
        try:
            self._store.set(snapshot)
        except Exception:
            self.cancel_flush()
            raise
        self._to_flush = None
        return len(snapshot)

    def cancel_flush(self) -> None:
        if self._to_flush is not None:
            self._to_flush.update(self._data)
            self._data, self._to_flush = self._to_flush, None


class SubmittedRecord:
    """One record dispatched to the producer: its source partition and offset, acknowledged or not."""

    __slots__ = ("acked", "offset", "partition")

    def __init__(self, partition: Mapping[str, Any], offset: Mapping[str, Any] | None, acked: bool) -> None:
        self.partition = partition
        self.offset = offset
        self.acked = acked

    def ack(self) -> None:
        """The broker acknowledged the record (or it needs no acknowledgement); any thread."""
        self.acked = True


class SubmittedRecords:
    """The records a source task dispatched, in order per source partition, until their offsets can be
    committed (Kafka 3.x's ``SubmittedRecords``).

    The producer acknowledges records out of source order (they go to different Kafka partitions), but a
    source offset may only be committed once every record before it in the same source partition is
    acknowledged too. :meth:`committable` pops each source partition's acknowledged head and returns the
    latest offset popped per partition: what can be committed now, without flushing the producer.

    Task thread only (``ack()`` of a :class:`SubmittedRecord` is a plain attribute store; the producer's
    delivery callbacks run inside ``producer.poll``/``flush`` on the task thread anyway).
    """

    def __init__(self) -> None:
        self._queues: dict[Any, deque[SubmittedRecord]] = {}
        self._last_partition: Mapping[str, Any] | None = None
        self._last_queue: deque[SubmittedRecord] | None = None

    def submit(
        self, partition: Mapping[str, Any] | None, offset: Mapping[str, Any] | None, acked: bool = False
    ) -> SubmittedRecord | None:
        """Track a record in dispatch order (``acked`` for records that are not produced, e.g. dropped by
        a transformation); None for records without a source partition (nothing to commit)."""
        if partition is None:
            return None
        queue = self._last_queue
        if partition is not self._last_partition or queue is None:  # usually one dict per batch
            key = _freeze(partition)
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = deque()
            self._last_partition, self._last_queue = partition, queue
        record = SubmittedRecord(partition, offset, acked)
        queue.append(record)
        return record

    def committable(self) -> list[SubmittedRecord]:
        """Per source partition, the last record of its acknowledged head (removing that head)."""
        out: list[SubmittedRecord] = []
        for key, queue in list(self._queues.items()):
            last = None
            while queue and queue[0].acked:
                last = queue.popleft()
            if last is not None:
                out.append(last)
            if not queue:
                del self._queues[key]
                if queue is self._last_queue:
                    self._last_partition = self._last_queue = None
        return out

    @property
    def pending(self) -> int:
        """Records tracked and not yet returned by :meth:`committable` (acknowledged or not)."""
        return sum(len(q) for q in self._queues.values())


def _freeze(partition: Mapping[str, Any]) -> Any:
    """A hashable, order-independent form of a partition dict (nested dicts and lists included)."""
    return tuple(sorted((k, _freeze_value(v)) for k, v in partition.items()))


def _freeze_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _freeze(value)
    if isinstance(value, list | tuple):
        return tuple(_freeze_value(v) for v in value)
    return value
