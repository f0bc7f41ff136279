"""WorkerSourceTask: poll -> transform -> convert -> produce; offsets committed after broker acks.

Offset commit protocol (at-least-once, as Kafka Connect 3.x without exactly-once support): every record
dispatched to the producer is tracked in :class:`~connect.runtime.offsets.SubmittedRecords`, in order
per source partition, and marked when the broker acknowledged it (the delivery callback; under
``errors.tolerance=all`` also when its send failed and was reported; records dropped by a transformation
or skipped count as acknowledged at once). After each ``producer.poll`` the task thread moves each
source partition's acknowledged head into the :class:`OffsetStorageWriter`, so the writer only ever
holds offsets whose record and every record before it were acknowledged. A commit writes that snapshot
to the offset store and calls ``SourceTask.commit()`` — without flushing the producer, so it never
stalls the pipeline. Commits happen every ``offset.flush.interval.ms``; when the task asked for one
(``SourceTaskContext.request_commit()``: as soon as records are acknowledged, spaced so that commits
take at most about 1/:data:`REQUESTED_COMMIT_COST_RATIO` of the task thread, at least
:data:`REQUESTED_COMMIT_MIN_GAP_S` apart); and when the task pauses or stops, after waiting up to
``offset.flush.timeout.ms`` for the records in flight. A record whose acknowledgement failed stops its
source partition's offsets before it, so it is re-read after a restart instead of being lost.
``SourceTask.commit_record(record, metadata)`` is called on the task thread for every record once
the broker acknowledged it (``metadata`` is None for records a transformation dropped).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from connect.api.errors import ConnectException, RetriableException
from connect.api.records import ConnectRecord, RecordMetadata, SourceRecord
from connect.api.task import OffsetStorageReader, SourceTask, SourceTaskContext
from connect.runtime.errors import ErrorHandler, Stage
from connect.runtime.models import ConnectorTaskId
from connect.runtime.offsets import (
    OffsetBackingStore,
    OffsetStorageWriter,
    SubmittedRecord,
    SubmittedRecords,
    TaskOffsetReader,
)
from connect.runtime.pipeline import Converters, TransformationChain
from connect.runtime.progress import ProgressPublisher
from connect.runtime.worker_config import strip_prefix
from connect.runtime.worker_task import TargetState, TaskStatusListener, WorkerTask

log = logging.getLogger("connect.source")

#: Requested commits are at least this far apart (seconds) ...
REQUESTED_COMMIT_MIN_GAP_S = 0.01
#: ... and at least this many times as far apart as the last commit took (store write + ``commit()``):
#: e.g. 40 ms after a commit whose fsync took 2 ms, so requested commits cost at most ~5 % of the task
#: thread whatever the offset store (a file with fsync, or a Kafka topic read back in distributed mode).
REQUESTED_COMMIT_COST_RATIO = 20

Converted = tuple[str, bytes | None, bytes | None, Any, ConnectRecord]
"""A record ready to produce: topic, key bytes, value bytes, headers, the transformed record."""


class _Context(SourceTaskContext):
    def __init__(
        self,
        configs: dict[str, str],
        reader: OffsetStorageReader,
        progress: ProgressPublisher,
        on_request_commit: Callable[[], None],
    ) -> None:
        self._configs = configs
        self._reader = reader
        self._progress = progress
        self._on_request_commit = on_request_commit

    def configs(self) -> dict[str, str]:
        return dict(self._configs)

    def offset_storage_reader(self) -> OffsetStorageReader:
        return self._reader

    def report_progress(self, progress: Mapping[str, Any] | None) -> None:
        self._progress.report(progress)

    def request_commit(self) -> None:
        self._on_request_commit()


class TopicCreator:
    """Creates a source's topics on first use from ``topic.creation.default.*`` (when configured)."""

    def __init__(self, admin: AdminClient | None, props: Mapping[str, str]) -> None:
        self._admin = admin
        self._known: set[str] = set()
        self._partitions = int(props.get("topic.creation.default.partitions", "-1"))
        self._replication = int(props.get("topic.creation.default.replication.factor", "-1"))
        self._configs = {
            k: v
            for k, v in strip_prefix(props, "topic.creation.default.").items()
            if k not in ("partitions", "replication.factor")
        }
        self.enabled = admin is not None and (self._partitions > 0 or self._replication > 0)

    def ensure(self, topic: str) -> None:
        if topic in self._known:
            return
        self._known.add(topic)
        if not self.enabled or self._admin is None:
            return
        new = NewTopic(
            topic, num_partitions=self._partitions, replication_factor=self._replication, config=self._configs
        )
        try:
            self._admin.create_topics([new], operation_timeout=30)[topic].result(30)
            log.info("created topic %s (%d partitions)", topic, self._partitions)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ConnectException(f"could not create topic {topic}: {exc}") from exc


class WorkerSourceTask(WorkerTask):
    def __init__(
        self,
        task_id: ConnectorTaskId,
        task: SourceTask,
        task_config: dict[str, str],
        connector_config: Mapping[str, Any],
        converters: Converters,
        chain: TransformationChain,
        producer: Producer,
        offset_store: OffsetBackingStore,
        errors: ErrorHandler,
        listener: TaskStatusListener,
        target: TargetState,
        flush_interval_ms: int,
        flush_timeout_ms: int,
        topic_creator: TopicCreator,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(task_id, listener, target)
        self.task = task
        self.task_config = task_config
        self.converters = converters
        self.chain = chain
        self.producer = producer
        self.offset_store = offset_store
        self.writer = OffsetStorageWriter(offset_store, task_id.connector)
        self.submitted = SubmittedRecords()
        self.commit_requested = False
        self._next_requested_commit = 0.0
        self.errors = errors
        self.flush_interval = flush_interval_ms / 1000
        self.flush_timeout = flush_timeout_ms / 1000
        self.topic_creator = topic_creator
        self._clock = clock
        self._next_commit = clock() + self.flush_interval
        self._to_send: list[SourceRecord] | None = None
        self._send_error: str | None = None
        self._topics_seen: set[str] = set()
        self.records_sent = 0
        self.records_polled = 0
        self.offset_commits = 0
        self.offset_commit_failures = 0

    def metrics(self) -> dict[str, int]:
        return {
            "records_polled_total": self.records_polled,
            "records_sent_total": self.records_sent,
            "offset_commits_total": self.offset_commits,
            "offset_commit_failures_total": self.offset_commit_failures,
            "errors_total": self.errors.failed,
            "records_skipped_total": self.errors.skipped,
        }

    def cancel(self) -> None:
        """Zombie fencing (the task did not stop in time, e.g. its assignment moved to another worker):
        no further sends or offset commits, and records still queued in the producer are dropped."""
        super().cancel()
        try:
            self.producer.purge(in_queue=True, in_flight=False)
        except Exception:
            log.exception("Task %s: could not purge its producer queue", self.id)

    def signal_plugin_stop(self) -> None:
        try:
            self.task.stop()
        except Exception:
            log.exception("Task %s failed in stop()", self.id)

    def initialize_and_start(self) -> None:
        self.task.initialize(
            _Context(
                self.task_config,
                TaskOffsetReader(self.offset_store, self.id.connector),
                self.progress,
                self.request_commit,
            )
        )
        self.task.start(dict(self.task_config))
        log.info("Source task %s started", self.id)

    # -- the loop ----------------------------------------------------------------------------------

    def execute(self) -> None:
        while not self.stopping:
            if self.target == TargetState.PAUSED:
                self.commit_offsets(wait=True)
                self.listener.on_task_paused(self.id)
                if not self.await_unpause():
                    break
                self.listener.on_task_running(self.id)
                continue
            self.iteration()

    def iteration(self) -> None:
        """One turn of the loop (task thread): poll, send, serve delivery callbacks, then commit the
        acknowledged offsets if ``offset.flush.interval.ms`` passed or the task asked for a commit."""
        if self._to_send is None:
            try:
                records = self.task.poll()
            except RetriableException as exc:
                log.warning("Task %s: retriable error in poll(): %s", self.id, exc)
                records = None
            if records:
                self.records_polled += len(records)
                self._to_send = records
        if self._to_send is not None and not self.cancelled:  # a cancelled task sends nothing more
            self._send(self._to_send)
            self.records_sent += len(self._to_send)
            self._to_send = None
        self.producer.poll(0)
        self._collect_acked()
        if self._send_error is not None:
            raise ConnectException(f"Unrecoverable exception from producer send callback: {self._send_error}")
        now = self._clock()
        if now >= self._next_commit or (self.commit_requested and now >= self._next_requested_commit):
            self.commit_offsets()

    def request_commit(self) -> None:
        """``SourceTaskContext.request_commit()``: commit acknowledged offsets as soon as possible."""
        self.commit_requested = True

    def _send(self, records: list[SourceRecord], strict: bool = False) -> Converted | None:
        """Transform, convert and produce ``records`` in order, recording each one's source offset
        once it is dispatched, dropped or skipped; failures are handled per ``errors.tolerance``, and a
        :class:`RetriableException` retries that record through this same loop (``strict``).

        ``strict`` (one record): raise failures instead of handling them, and return the converted
        record (None if a transformation dropped it) instead of producing it.
        """
        chain = self.chain
        key_conv = self.converters.key.from_connect_data
        value_conv = self.converters.value.from_connect_data
        header_conv = self.converters.header.from_connect_header
        produce = self.producer.produce
        submit = self.submitted.submit
        on_delivery = self._on_delivery
        for original in records:
            stage = Stage.TRANSFORMATION
            try:
                record = chain.apply(original) if chain else original
                if record is None:
                    if strict:
                        return None
                    submit(original.source_partition, original.source_offset, True)
                    self._commit_record(original, None)
                    continue
                topic = record.topic
                if topic not in self._topics_seen:
                    self.topic_creator.ensure(topic)
                    self._topics_seen.add(topic)
                    self.listener.on_topic_used(self.id.connector, topic)
                hdrs = record.headers_or_none
                headers: Any = None
                if hdrs:
                    stage = Stage.HEADER_CONVERTER
                    headers = [(h.key, header_conv(topic, h.key, h.schema, h.value)) for h in hdrs]
                stage = Stage.KEY_CONVERTER
                key = key_conv(topic, record.key_schema, record.key, hdrs)
                stage = Stage.VALUE_CONVERTER
                value = value_conv(topic, record.value_schema, record.value, hdrs)
                if strict:
                    return topic, key, value, headers, record
            except Exception as exc:
                if strict:
                    raise
                ok = False
                if isinstance(exc, RetriableException):
                    ok, result = self.errors.run(stage, partial(self._send, [original], True), None, original)
                else:
                    self.errors.fail(stage, exc, None, original)
                if not ok:
                    submit(original.source_partition, original.source_offset, True)
                    continue
                if result is None:
                    submit(original.source_partition, original.source_offset, True)
                    self._commit_record(original, None)
                    continue
                topic, key, value, headers, record = result
            partition = record.kafka_partition
            submitted = submit(original.source_partition, original.source_offset)
            while True:
                try:
                    produce(
                        topic,
                        value,
                        key,
                        partition=-1 if partition is None else partition,
                        timestamp=record.timestamp or 0,
                        headers=headers,
                        on_delivery=partial(on_delivery, original, submitted),
                    )
                    break
                except BufferError:
                    self.producer.poll(0.05)
        return None

    def _on_delivery(
        self, original: SourceRecord, submitted: SubmittedRecord | None, err: Any, msg: Any
    ) -> None:
        if err is not None:
            if self.cancelled:  # purged by cancel(): expected, not a failure of the task
                return
            if self.errors.tolerate_all:
                self.errors.fail(Stage.KAFKA_PRODUCE, KafkaException(err), None, original)
                if submitted is not None:  # reported and skipped: its offset may be committed
                    submitted.acked = True
            elif self._send_error is None:
                self._send_error = str(err)
            return
        if submitted is not None:
            submitted.acked = True
        ts = msg.timestamp()
        self._commit_record(
            original, RecordMetadata(msg.topic(), msg.partition(), msg.offset(), ts[1] if ts[0] else None)
        )

    def _commit_record(self, record: SourceRecord, metadata: RecordMetadata | None) -> None:
        try:
            self.task.commit_record(record, metadata)
        except Exception:
            log.exception("Task %s threw in commit_record(); ignoring", self.id)

    # -- offsets -----------------------------------------------------------------------------------

    def _collect_acked(self) -> None:
        """Move each source partition's acknowledged head into the writer (task thread, cheap: only
        records acknowledged since the last call are visited). Keeps only records in flight tracked."""
        offset = self.writer.offset
        for record in self.submitted.committable():
            offset(record.partition, record.offset)

    def commit_offsets(self, wait: bool = False) -> bool:
        """Make durable the offsets of every record acknowledged so far (with all records before it in
        its source partition) and call ``SourceTask.commit()`` (task thread). Does not flush the
        producer unless ``wait`` (pause, stop): then first waits up to ``offset.flush.timeout.ms`` for
        the records in flight. True if every record dispatched so far was covered."""
        started_at = self._clock()
        self._next_commit = started_at + self.flush_interval
        if self.cancelled:
            return False
        remaining = self.producer.flush(self.flush_timeout) if wait else 0
        self._collect_acked()
        started = self.writer.begin_flush()
        requested = self.commit_requested
        # a request is done once nothing dispatched is left uncommitted; until then it stays pending
        self.commit_requested = requested and self.submitted.pending > 0
        complete = True
        if remaining > 0 or self._send_error is not None:
            complete = False
            self.offset_commit_failures += 1
            log.warning(
                "Task %s: %d record(s) not acknowledged%s; committing the offsets of those before them",
                self.id,
                remaining,
                " within offset.flush.timeout.ms" if remaining else f" ({self._send_error})",
            )
        if started:
            count = self.writer.do_flush()
            log.debug("Task %s committed %d source offset(s)", self.id, count)
        if started or not requested or wait:
            self.offset_commits += 1
            try:
                self.task.commit()
            except Exception:
                log.exception("Task %s threw in commit(); ignoring", self.id)
        ended = self._clock()
        self._next_requested_commit = ended + max(
            REQUESTED_COMMIT_MIN_GAP_S, REQUESTED_COMMIT_COST_RATIO * (ended - started_at)
        )
        return complete

    def close(self) -> None:
        try:
            if self.failed is None and not self.cancelled:
                self.commit_offsets(wait=True)
        finally:
            self.producer.flush(self.flush_timeout)
            self.chain.close()
            self.converters.close()
            self.errors.close()
            log.info("Source task %s stopped (%d records sent)", self.id, self.records_sent)
