"""ParquetSinkTask: exactly-once Parquet files per Kafka partition.

Lifecycle (task thread, as :class:`~connect.api.task.SinkTask` documents):

* ``start`` parses the configuration and connects to the store;
* ``open(partitions)`` recovers each partition from the store itself (finishing or discarding an
  interrupted commit, then the largest committed end offset) and rewinds consumption to the record after
  it with ``context.offset(...)`` — consumer offsets are only a hint, the files are the truth;
* ``put`` buffers records in :class:`PartitionWriter` rounds and ends rounds when due — ``flush.size``,
  ``rotate.interval.ms`` and schema changes as records arrive; ``rotate.schedule.interval.ms`` (and
  ``rotate.interval.ms`` with the ``Wallclock`` extractor) by the clock, also in the empty ``put()`` the
  runtime makes while no records arrive. Whenever files were committed it calls
  ``context.request_commit()``, so consumer offsets follow at once instead of at the worker's
  ``offset.flush.interval.ms``;
* ``pre_commit`` commits rounds whose time is up (the same check) and returns, per partition, the
  offset after the last record in committed files (or the current offset when nothing is buffered);
* ``close`` drops the open rounds of revoked partitions (their next owner replays them); ``stop`` only
  signals.
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Collection, Mapping

import pyarrow as pa

from connect.api import (
    ConnectException,
    DataException,
    RetriableException,
    SinkRecord,
    SinkTask,
    TopicPartition,
)
from connectors.parquet.config import SinkSettings
from connectors.parquet.partitioner import Partitioner, TimestampExtractor
from connectors.parquet.rows import Shape
from connectors.parquet.store import Store
from connectors.parquet.writer import PartitionWriter, WriterStats

__all__ = ["VERSION", "ParquetSinkTask"]

VERSION = "0.1.0"
log = logging.getLogger("connectors.parquet")
_PROGRESS_EVERY_S = 10.0
_DUE_CHECK_MS = 100  # how often put() looks for rounds whose time is up (a loop over the writers)
_PARTITION_OF = operator.attrgetter("original_kafka_partition")
_TOPIC_OF = operator.attrgetter("original_topic")


class ParquetSinkTask(SinkTask):
    def __init__(self) -> None:
        self._settings: SinkSettings | None = None
        self._store: Store | None = None
        self._partitioner: Partitioner | None = None
        self._extractor: TimestampExtractor | None = None
        self._writers: dict[TopicPartition, PartitionWriter] = {}
        self._shapes: dict[object, Shape] = {}
        self._stats = WriterStats()
        self._progress_at = time.monotonic() + _PROGRESS_EVERY_S
        self._progress_rows = 0
        self._time_rounds = False  # rounds can end by the clock (checked in put and pre_commit)
        self._next_due_check_ms = 0

    def version(self) -> str:
        return VERSION

    @property
    def stats(self) -> WriterStats:
        """Files, rows and rounds committed by this task so far (progress logs, benchmarks)."""
        return self._stats

    def start(self, props: dict[str, str]) -> None:
        self._settings = SinkSettings.parse(props)
        self._time_rounds = self._settings.rotate_schedule_interval_ms > 0 or (
            self._settings.rotate_interval_ms > 0 and self._settings.timestamp_extractor == "Wallclock"
        )
        self._store = Store.open(self._settings)
        self._partitioner = Partitioner(self._settings)
        self._extractor = TimestampExtractor(self._settings)
        log.info(
            "ParquetSink task started: store %s, flush.size %d, partitioner %s",
            self._store.root,
            self._settings.flush_size,
            self._settings.partitioner,
        )

    def _writer(self, tp: TopicPartition) -> PartitionWriter:
        assert self._settings and self._store and self._partitioner and self._extractor
        w = PartitionWriter(
            tp, self._settings, self._store, self._partitioner, self._extractor, self._shapes, self._stats
        )
        self._writers[tp] = w
        return w

    def open(self, partitions: Collection[TopicPartition]) -> None:
        assert self._store is not None
        tps = sorted(set(partitions))
        try:
            ends = self._store.recover(tps)
        except (OSError, pa.ArrowException) as exc:
            raise ConnectException(
                f"cannot read the committed files of {[str(t) for t in tps]}: {exc}"
            ) from exc
        rewinds: dict[TopicPartition, int] = {}
        for tp in tps:
            w = self._writer(tp)
            if tp in ends:
                w.resume_at(ends[tp] + 1)
                rewinds[tp] = ends[tp] + 1
        if rewinds:
            self.context.offset(rewinds)
        log.info(
            "Opened %s; resuming after the committed files at %s",
            [str(t) for t in tps],
            {str(tp): off for tp, off in rewinds.items()} or "(no files yet: consumer offsets)",
        )

    def put(self, records: list[SinkRecord]) -> None:
        rounds = self._stats.rounds
        try:
            if records:
                self._put(records)
            self._commit_due()
        finally:
            if self._stats.rounds != rounds:
                # files were committed: let the runtime commit the consumer offsets now, not at the
                # worker's next offset.flush.interval.ms
                self.context.request_commit()

    def _commit_due(self) -> None:
        """Commit the open rounds whose time is up (rotate.schedule.interval.ms, or rotate.interval.ms
        with the Wallclock extractor), also from the empty ``put()`` calls the runtime makes while no
        records arrive. A failed commit is retried at the next ``put()``/``pre_commit``."""
        if not self._time_rounds:
            return
        now_ms = int(time.time() * 1000)
        if now_ms < self._next_due_check_ms:
            return
        next_check = now_ms + _DUE_CHECK_MS
        for tp, w in self._writers.items():
            if w.due(now_ms):
                try:
                    w.commit()
                except (OSError, pa.ArrowException, DataException) as exc:
                    log.warning("%s: time-based commit failed, will retry: %s", tp, exc)
        self._next_due_check_ms = next_check

    def _put(self, records: list[SinkRecord]) -> None:
        by_tp: dict[tuple[str, int], list[SinkRecord]] = {}
        first = records[0]
        if len(set(map(_PARTITION_OF, records))) == 1 and len(set(map(_TOPIC_OF, records))) == 1:
            by_tp[(first.original_topic, first.original_kafka_partition or 0)] = records
        else:
            for r in records:
                by_tp.setdefault((r.original_topic, r.original_kafka_partition or 0), []).append(r)
        reporter = self.context.errant_record_reporter()

        def on_error(record: SinkRecord, exc: Exception) -> None:
            if reporter is None:
                raise exc
            reporter.report(record, exc)

        for (topic, partition), recs in by_tp.items():
            tp = TopicPartition(topic, partition)
            w = self._writers.get(tp) or self._writer(tp)
            try:
                w.put(recs, on_error)
            except (OSError, pa.ArrowException) as exc:
                raise RetriableException(f"writing to the store failed ({exc}); will retry") from exc
        self._progress()

    def _progress(self) -> None:
        now = time.monotonic()
        if now < self._progress_at:
            return
        rows = self._stats.rows - self._progress_rows
        log.info(
            "ParquetSink: %d files, %d rows committed so far (%.0f rows/s over the last %.0f s)",
            self._stats.files,
            self._stats.rows,
            rows / (_PROGRESS_EVERY_S + now - self._progress_at),
            _PROGRESS_EVERY_S,
        )
        self._progress_at = now + _PROGRESS_EVERY_S
        self._progress_rows = self._stats.rows

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        """Nothing to force: data becomes durable only when a round is committed (see pre_commit)."""

    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        self._next_due_check_ms = 0
        self._commit_due()
        out: dict[TopicPartition, int] = {}
        for tp, current in current_offsets.items():
            w = self._writers.get(tp)
            if w is None:
                continue
            if not w.buffered:
                out[tp] = current  # everything put is in committed files (or was a tombstone)
            elif w.committed is not None and w.committed <= current:
                out[tp] = w.committed
        return out

    def close(self, partitions: Collection[TopicPartition]) -> None:
        for tp in partitions:
            w = self._writers.pop(tp, None)
            if w is not None and w.buffered:
                log.info(
                    "%s revoked: dropping %d buffered records (replayed by the next owner)", tp, w.buffered
                )
                w.discard()

    def stop(self) -> None:
        pass  # nothing blocks; the runtime closes partitions on the task thread afterwards
