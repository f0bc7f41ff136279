"""Source offsets in the offset topic (Kafka Connect's ``KafkaOffsetBackingStore``).

Records are exactly the file store's entries: key JSON ``["<connector>", {partition}]``
(:func:`connect.runtime.offsets.offset_key`), value JSON offset, tombstone = offset deleted. Keys are
partitioned with murmur2, so a Kafka Connect worker reading the same topic finds the same entries.

Threads: ``get``/``set``/``all`` may be called from any thread (tasks' offset readers and writers, the
herder). ``get`` and ``all`` first read the topic to its end, as Kafka's store does, so they see every
offset any worker committed before the call; ``set`` returns only after the broker acknowledged every
entry. The log's consumer thread keeps the in-memory map current.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from connect.runtime.clients import internal_client_config
from connect.runtime.distributed.kafka_log import store_log
from connect.runtime.offsets import OffsetBackingStore

if TYPE_CHECKING:
    from connect.runtime.worker_config import WorkerConfig

log = logging.getLogger("connect.distributed.offsets")


class KafkaOffsetBackingStore(OffsetBackingStore):
    def __init__(
        self,
        topic: str,
        client_config: Mapping[str, str],
        *,
        partitions: int = 25,
        replication_factor: int = 1,
        client_id: str = "",
        timeout: float = 30.0,
    ) -> None:
        self.topic = topic
        self.timeout = timeout
        self._data: dict[bytes, bytes] = {}
        self._written: dict[int, int] = {}  # partition -> highest offset this store had acked
        self._lock = threading.Lock()
        self._log = store_log(
            topic,
            client_config,
            self._on_record,
            store="offsets",
            client_id=client_id,
            partitions=partitions,
            replication_factor=replication_factor,
        )

    @classmethod
    def for_worker(cls, worker: WorkerConfig, *, client_id: str = "") -> KafkaOffsetBackingStore:
        """The store a distributed worker configures: ``offset.storage.topic``, ``offset.storage.partitions``
        and ``offset.storage.replication.factor`` (-1: the broker's default)."""
        return cls(
            worker.get("offset.storage.topic"),
            internal_client_config(worker),
            partitions=int(worker.get("offset.storage.partitions")),
            replication_factor=int(worker.get("offset.storage.replication.factor")),
            client_id=client_id,
        )

    def start(self) -> None:
        self._log.start(self.timeout)
        with self._lock:
            n = len(self._data)
        log.info("offset store on %s started: %d source offset(s)", self.topic, n)

    def stop(self) -> None:
        self._log.stop()

    def _catch_up(self) -> None:
        """Read to the end, and at least past this store's own acked writes (brokers that under-report
        end offsets, like Tansu, would otherwise hide the tail of a batch)."""
        with self._lock:
            written = dict(self._written)
        self._log.read_to_end(self.timeout, at_least=written)

    def get(self, keys: Iterable[bytes]) -> dict[bytes, bytes | None]:
        self._catch_up()
        with self._lock:
            return {k: self._data.get(k) for k in keys}

    def set(self, values: Mapping[bytes, bytes | None]) -> None:
        """Write every entry (None = tombstone); returns once the broker acknowledged all of them."""
        if not values:
            return
        acked = self._log.send_many_sync(((k, v, None) for k, v in values.items()), self.timeout)
        with self._lock:
            for partition, offset in acked.items():
                self._written[partition] = max(offset, self._written.get(partition, -1))

    def all(self) -> dict[bytes, bytes]:
        self._catch_up()
        with self._lock:
            return dict(self._data)

    def _on_record(self, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            log.warning(
                "offset topic %s: ignoring a record without key at %d@%d", self.topic, partition, offset
            )
            return
        with self._lock:
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value
