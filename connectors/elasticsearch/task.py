"""ElasticsearchSinkTask: records -> bulk requests, pipelined, offsets committed only behind success.

Threads: ``put``/``pre_commit``/``open``/``close`` run on the task thread, which converts records and
builds the next batch while up to ``max.in.flight.requests`` earlier batches are sent by a small pool
of sender threads (:func:`~connectors.elasticsearch.client.send_bulk`: per-item outcomes, retries with
jittered exponential backoff). ``stop()`` (any thread) sets a flag that ends retries at once.

* A batch is sent when it is full (``batch.size`` records or ``bulk.size.bytes``), or at the end of a
  ``put()`` when a sender is free (and, with ``linger.ms`` > 1, once it is that old). When every sender
  is busy the batch keeps growing; when it is full, ``put()`` waits for a sender (``flush.timeout.ms``)
  — and for ``max.buffered.records``.
* Writes of one document stay in order: a batch holding a document id that an in-flight batch also
  holds waits for that batch (so unversioned writes cannot overtake each other).
* Offsets: per partition, ``pre_commit`` returns the first offset of the oldest batch not yet
  finished (built or in flight), or the offset after the last record put when all are done. Finished
  batches are collected on the task thread, which reports their malformed documents (dead-letter queue
  through the ``ErrantRecordReporter``, or a task failure under ``behavior.on.malformed.documents=FAIL``
  without one) and then calls ``context.request_commit()`` so offsets follow at once.
* A batch that failed for good (retries exhausted) fails the task at the next ``put``/``pre_commit``;
  nothing of it or after it is committed, so a restart replays it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from connect.api import (
    ConnectException,
    DataException,
    RetriableException,
    SinkRecord,
    SinkTask,
    TopicPartition,
)
from connectors.elasticsearch.client import BulkResult, MalformedDocument, make_client, send_bulk
from connectors.elasticsearch.config import EsSettings
from connectors.elasticsearch.convert import Action, Converter
from connectors.elasticsearch.mapping import mapping_for, record_schema

__all__ = ["VERSION", "ElasticsearchSinkTask", "SinkStats"]

VERSION = "0.1.0"
log = logging.getLogger("connectors.elasticsearch")


class SinkStats:
    """Counters for logs, progress and benchmarks."""

    def __init__(self) -> None:
        self.written = 0
        self.stale = 0
        self.malformed = 0
        self.retries = 0
        self.batches = 0


class _Batch:
    __slots__ = ("actions", "created", "doc_keys", "first", "future", "size")

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.first: dict[tuple[str, int], int] = {}  # lowest offset per partition
        self.doc_keys: set[str] = set()
        self.size = 0
        self.created = time.monotonic()
        self.future: Future[BulkResult] | None = None

    def add(self, action: Action) -> None:
        self.actions.append(action)
        self.size += len(action.body)
        if action.tp not in self.first:
            self.first[action.tp] = action.offset
        if action.doc_key is not None:
            self.doc_keys.add(action.doc_key)


class ElasticsearchSinkTask(SinkTask):
    def __init__(self) -> None:
        self._s: EsSettings | None = None
        self._client: Elasticsearch | None = None
        self._converter: Converter | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self._building = _Batch()
        self._in_flight: list[_Batch] = []
        self._put_next: dict[tuple[str, int], int] = {}
        self._known_indices: set[str] = set()
        self._failure: BaseException | None = None
        self.stats = SinkStats()

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        self._s = s = EsSettings.parse(props)
        self._client = make_client(s)
        self._converter = Converter(s)
        self._pool = ThreadPoolExecutor(s.max_in_flight, thread_name_prefix="es-bulk")
        self._stopping.clear()
        log.info(
            "ElasticsearchSink task started: %s, batch.size %d, max.in.flight.requests %d, write.method %s",
            ", ".join(s.urls),
            s.batch_size,
            s.max_in_flight,
            s.write_method,
        )

    # -- put -----------------------------------------------------------------------------------------

    def put(self, records: list[SinkRecord]) -> None:
        assert self._s is not None and self._converter is not None
        done_before = self.stats.batches
        self._collect(block=False)
        if records:
            self._ensure_indices(records)
            reporter = self.context.errant_record_reporter()
            convert = self._converter.convert
            s = self._s
            put_next = self._put_next
            for record in records:
                tp = (record.original_topic, record.original_kafka_partition or 0)
                try:
                    action = convert(record)
                except DataException as exc:
                    if reporter is not None:
                        reporter.report(record, exc)
                    elif s.drop_invalid:
                        log.warning("Dropping record %s-%s@%s: %s", tp[0], tp[1], record.kafka_offset, exc)
                    else:
                        raise
                    action = None
                if action is not None:
                    self._add(action)
                put_next[tp] = record.original_kafka_offset + 1
        self._maybe_send()
        if self.stats.batches != done_before:
            self.context.request_commit()

    def _ensure_indices(self, records: list[SinkRecord]) -> None:
        """Create the mapping of each new index from the record schema (schema.ignore=false) before the
        first write to it."""
        assert self._s is not None and self._converter is not None and self._client is not None
        s = self._s
        if s.data_stream:
            return
        for record in records:
            index = self._converter.index(record.topic)
            if index in self._known_indices:
                continue
            if s.ignore_schema(record.topic):
                self._known_indices.add(index)
                continue
            schema = record_schema(record.value, record.value_schema)
            if schema is None:
                if record.value is None:
                    continue  # a tombstone says nothing about the mapping
                self._known_indices.add(index)
                continue
            try:
                if not self._client.indices.exists(index=index):
                    self._client.indices.create(
                        index=index, mappings=mapping_for(schema, s.compact_map_entries)
                    )
                    log.info(
                        "Created index %s with a mapping from schema %s", index, schema.name or "(unnamed)"
                    )
            except ApiError as exc:
                if "resource_already_exists" not in str(exc.message) and exc.status_code != 400:
                    raise ConnectException(f"cannot create index {index}: {exc}") from exc
            except TransportError as exc:
                self.context.timeout(s.retry_backoff_ms)
                raise RetriableException(
                    f"cannot reach Elasticsearch to create index {index}: {exc}"
                ) from exc
            self._known_indices.add(index)

    def _add(self, action: Action) -> None:
        assert self._s is not None
        b = self._building
        b.add(action)
        if len(b.actions) >= self._s.batch_size or (
            self._s.bulk_size_bytes > 0 and b.size >= self._s.bulk_size_bytes
        ):
            self._send(wait_for_slot=True)

    def _maybe_send(self) -> None:
        assert self._s is not None
        b = self._building
        if not b.actions:
            return
        if self._s.linger_ms > 1 and (time.monotonic() - b.created) * 1000 < self._s.linger_ms:
            return
        if len(self._in_flight) < self._s.max_in_flight:
            self._send(wait_for_slot=False)

    def _send(self, wait_for_slot: bool) -> None:
        assert self._s is not None and self._pool is not None and self._client is not None
        batch = self._building
        if not batch.actions:
            return
        deadline = time.monotonic() + self._s.flush_timeout_ms / 1000
        # one document's writes stay in order: wait for in-flight batches holding the same ids
        while batch.doc_keys and any(not batch.doc_keys.isdisjoint(f.doc_keys) for f in self._in_flight):
            self._wait_one(
                deadline, [f for f in self._in_flight if not batch.doc_keys.isdisjoint(f.doc_keys)]
            )
        buffered = len(batch.actions) + sum(len(f.actions) for f in self._in_flight)
        while self._in_flight and (
            len(self._in_flight) >= self._s.max_in_flight or buffered > self._s.max_buffered
        ):
            if not wait_for_slot and len(self._in_flight) >= self._s.max_in_flight:
                return
            self._wait_one(deadline, self._in_flight)
            buffered = len(batch.actions) + sum(len(f.actions) for f in self._in_flight)
        self._building = _Batch()
        batch.future = self._pool.submit(send_bulk, self._client, batch.actions, self._s, self._stopping)
        self._in_flight.append(batch)

    def _wait_one(self, deadline: float, among: list[_Batch]) -> None:
        futures = [b.future for b in among if b.future is not None]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConnectException(
                f"flush.timeout.ms ({self._s.flush_timeout_ms if self._s else '?'} ms) expired waiting for "
                "bulk requests to Elasticsearch"
            )
        wait(futures, timeout=remaining, return_when=FIRST_COMPLETED)
        self._collect(block=False)

    def _collect(self, block: bool, timeout: float | None = None) -> None:
        """Take finished batches (all of them when ``block``): count, report malformed documents, and
        raise the first failure."""
        if block and self._in_flight:
            wait([b.future for b in self._in_flight if b.future is not None], timeout=timeout)
        still: list[_Batch] = []
        for b in self._in_flight:
            assert b.future is not None
            if not b.future.done():
                still.append(b)
                continue
            exc = b.future.exception()
            if exc is not None:
                self._failure = self._failure or exc
                still.append(b)  # never finished: its offsets stay uncommitted
                continue
            self._finish(b.future.result())
        self._in_flight = still
        if self._failure is not None:
            raise ConnectException(f"writing to Elasticsearch failed: {self._failure}") from self._failure

    def _finish(self, result: BulkResult) -> None:
        assert self._s is not None
        st = self.stats
        st.batches += 1
        st.written += result.written
        st.stale += result.stale
        st.retries += result.retries
        if result.stale:
            log.debug("%d documents skipped: the index holds a newer version", result.stale)
        if not result.malformed:
            return
        st.malformed += len(result.malformed)
        reporter = self.context.errant_record_reporter()
        for action, reason in result.malformed:
            r = action.record
            where = f"{r.topic}-{r.kafka_partition}@{r.kafka_offset} (index {action.index})"
            error = MalformedDocument(f"Elasticsearch rejected the document of {where}: {reason}")
            if reporter is not None:
                reporter.report(r, error)
                continue
            if self._s.on_malformed == "fail":
                raise error
            if self._s.on_malformed == "warn":
                log.warning("Ignoring a malformed document: %s", error)
            else:
                log.debug("Ignoring a malformed document: %s", error)

    # -- offsets -------------------------------------------------------------------------------------

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        """Send what is built and wait for every request (``flush.timeout.ms``)."""
        if self._s is None:
            return
        self._send(wait_for_slot=True)
        self._collect(block=True, timeout=self._s.flush_timeout_ms / 1000)

    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        self._collect(block=False)
        if self._building.actions and self._s is not None:
            self._send(wait_for_slot=False)
        pending = [self._building, *self._in_flight]
        out: dict[TopicPartition, int] = {}
        for tp, current in current_offsets.items():
            key = (tp.topic, tp.partition)
            safe = self._put_next.get(key)
            if safe is None:
                continue  # nothing put for it (by this task since it was opened)
            for b in pending:
                first = b.first.get(key)
                if first is not None and first < safe:
                    safe = first
            out[tp] = min(safe, current)
        return out

    def open(self, partitions: Collection[TopicPartition]) -> None:
        for tp in partitions:
            self._put_next.pop((tp.topic, tp.partition), None)

    def close(self, partitions: Collection[TopicPartition]) -> None:
        """Finish the requests holding these partitions' records (best effort, ``flush.timeout.ms``)."""
        if self._s is None or self._failure is not None or self._stopping.is_set():
            return
        try:
            self.flush({})
        except ConnectException as exc:
            log.warning(
                "Closing %s: unfinished bulk requests (replayed by the next owner): %s", partitions, exc
            )
        for tp in partitions:
            self._put_next.pop((tp.topic, tp.partition), None)

    def stop(self) -> None:
        self._stopping.set()
        pool, client = self._pool, self._client
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if client is not None:
            threading.Thread(target=_close_quietly, args=(client, pool), daemon=True).start()


def _close_quietly(client: Any, pool: ThreadPoolExecutor | None) -> None:
    if pool is not None:
        pool.shutdown(wait=True)
    try:
        client.close()
    except Exception:  # pragma: no cover - closing a pool of HTTP connections
        pass
