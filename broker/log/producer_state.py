"""Idempotent-producer state of one partition: the last 5 batches of every producer id.

Contract (as Kafka's ProducerStateManager): before a produce request's batches are appended,
:meth:`ProducerStateTable.check` classifies each batch that carries a producer id — a duplicate of
one of the producer's last five batches (acknowledge with the original offsets, append nothing),
in sequence (append), or an error (out-of-order sequence, fenced epoch). After the append,
:meth:`record` remembers the batch with its assigned offset. :meth:`rebuild` replays batch headers
read from the log at start-up. Called on the event-loop thread only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from kio.schema.errors import ErrorCode

from broker.log.batch import BatchHeader
from broker.log.errors import InvalidRecordError

NO_PRODUCER_ID = -1
MAX_CACHED_BATCHES = 5
INT32_MAX = 2**31 - 1


def last_sequence(header: BatchHeader) -> int:
    """The sequence number of the batch's last record (sequences wrap to 0 after INT32_MAX)."""
    seq = header.base_sequence + header.last_offset_delta
    return seq - INT32_MAX - 1 if seq > INT32_MAX else seq


@dataclass(slots=True)
class CachedBatch:
    first_seq: int
    last_seq: int
    base_offset: int
    last_offset: int


@dataclass(slots=True)
class ProducerEntry:
    epoch: int
    batches: deque[CachedBatch] = field(default_factory=lambda: deque(maxlen=MAX_CACHED_BATCHES))


class ProducerStateTable:
    def __init__(self) -> None:
        self.producers: dict[int, ProducerEntry] = {}

    def check(self, header: BatchHeader) -> CachedBatch | None:
        """Return the cached original if ``header`` is a duplicate; None if it may be appended.

        Raises InvalidRecordError with OUT_OF_ORDER_SEQUENCE_NUMBER or INVALID_PRODUCER_EPOCH.
        """
        if header.producer_id == NO_PRODUCER_ID or header.base_sequence < 0:
            return None
        entry = self.producers.get(header.producer_id)
        if entry is None:
            return None  # unknown producer (new, or its state expired): accept as Kafka does
        if header.producer_epoch < entry.epoch:
            raise InvalidRecordError(
                f"producer {header.producer_id} epoch {header.producer_epoch} is fenced by epoch "
                f"{entry.epoch}",
                ErrorCode.invalid_producer_epoch,
            )
        if header.producer_epoch > entry.epoch:
            if header.base_sequence != 0:
                raise InvalidRecordError(
                    f"producer {header.producer_id} new epoch {header.producer_epoch} must start at "
                    f"sequence 0, "
                    f"got {header.base_sequence}",
                    ErrorCode.out_of_order_sequence_number,
                )
            return None
        last = last_sequence(header)
        for cached in entry.batches:
            if cached.first_seq == header.base_sequence and cached.last_seq == last:
                return cached
        if entry.batches:
            expected = entry.batches[-1].last_seq + 1
            expected = 0 if expected > INT32_MAX else expected
            if header.base_sequence != expected:
                raise InvalidRecordError(
                    f"out of order sequence for producer {header.producer_id}: expected {expected}, "
                    f"got {header.base_sequence}",
                    ErrorCode.out_of_order_sequence_number,
                )
        return None

    def record(self, header: BatchHeader, base_offset: int) -> None:
        """Remember an appended batch (``base_offset`` = the offset assigned by the log)."""
        if header.producer_id == NO_PRODUCER_ID or header.base_sequence < 0:
            return
        entry = self.producers.get(header.producer_id)
        if entry is None or header.producer_epoch > entry.epoch:
            entry = self.producers[header.producer_id] = ProducerEntry(header.producer_epoch)
        entry.batches.append(
            CachedBatch(
                header.base_sequence,
                last_sequence(header),
                base_offset,
                base_offset + header.last_offset_delta,
            )
        )

    def rebuild(self, headers: Iterable[BatchHeader]) -> None:
        """Replay headers of batches already in the log (their base_offset is the stored one)."""
        for h in headers:
            self.record(h, h.base_offset)

    def truncate_from(self, offset: int) -> None:
        """Forget batches at or beyond ``offset`` (after the log was truncated)."""
        for pid in list(self.producers):
            entry = self.producers[pid]
            kept = [b for b in entry.batches if b.last_offset < offset]
            if kept:
                entry.batches = deque(kept, maxlen=MAX_CACHED_BATCHES)
            else:
                del self.producers[pid]
