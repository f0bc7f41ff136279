"""WorkerSinkTask: consume -> convert -> transform -> put; consumer offsets committed after flush.

Offsets: the task thread tracks, per assigned partition, the offset after the last consumed record
it handled: delivered to a ``put()`` that returned, dropped by a transformation (e.g. a Filter SMT),
or skipped under ``errors.tolerance=all``; it advances once per batch, after ``put()`` returned.
Every ``offset.flush.interval.ms``, when the plugin asked for it (``context.request_commit()``,
honoured in the same loop turn), on partition revocation and at shutdown it asks the plugin
``pre_commit(current)`` (default: ``flush`` then ``current``), makes the dead letter queue durable,
and commits what ``pre_commit`` returned for partitions still assigned — so a consumer offset is
never committed before the plugin says the data is durable in the target. Partition assignment
changes call ``open()``/``close()`` on the task thread (inside the consumer's poll, as Kafka does).
A consume that returns nothing is followed by ``put([])`` (at most once per consume timeout), so
plugins can end time-based rounds and request a commit while no records arrive.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError
from confluent_kafka import TopicPartition as KafkaTopicPartition

from connect.api.converter import BatchConverter
from connect.api.data import Schema
from connect.api.errors import ConnectException, RetriableException
from connect.api.records import Headers, SinkRecord, TimestampType, TopicPartition
from connect.api.task import ErrantRecordReporter, SinkTask, SinkTaskContext
from connect.runtime.errors import ConsumedRecord, ErrorHandler, Stage
from connect.runtime.models import ConnectorTaskId
from connect.runtime.pipeline import Converters, TransformationChain
from connect.runtime.worker_task import TargetState, TaskStatusListener, WorkerTask

log = logging.getLogger("connect.sink")

# Timestamp types by librdkafka's code (0 none, 1 create time, 2 log append time); -1 wraps to none.
_TS_BY_CODE = (
    TimestampType.NO_TIMESTAMP_TYPE,
    TimestampType.CREATE_TIME,
    TimestampType.LOG_APPEND_TIME,
    TimestampType.NO_TIMESTAMP_TYPE,
)


class _Context(SinkTaskContext):
    """Requests from the plugin; applied by the task thread at its next loop iteration."""

    def __init__(self, owner: WorkerSinkTask) -> None:
        self._owner = owner
        self.rewinds: dict[TopicPartition, int] = {}
        self.timeout_ms = -1
        self.commit_requested = False

    def configs(self) -> dict[str, str]:
        return dict(self._owner.task_config)

    def reset_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        self.rewinds.update(offsets)

    def timeout(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms

    def assignment(self) -> set[TopicPartition]:
        return set(self._owner.assignment)

    def pause(self, *partitions: TopicPartition) -> None:
        self._owner.pause_partitions(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._owner.resume_partitions(partitions)

    def request_commit(self) -> None:
        self.commit_requested = True

    def errant_record_reporter(self) -> ErrantRecordReporter | None:
        return self._owner.errant_reporter

    def report_progress(self, progress: Mapping[str, Any] | None) -> None:
        self._owner.progress.report(progress)


class _ErrantReporter(ErrantRecordReporter):
    def __init__(self, owner: WorkerSinkTask) -> None:
        self._owner = owner

    def report(self, record: SinkRecord, error: BaseException) -> Any:
        from concurrent.futures import Future

        raw = self._owner.raw_for(record)
        self._owner.errors.fail(Stage.TASK_PUT, error, raw, record)
        fut: Future[None] = Future()
        fut.set_result(None)
        return fut


class WorkerSinkTask(WorkerTask):
    def __init__(
        self,
        task_id: ConnectorTaskId,
        task: SinkTask,
        task_config: dict[str, str],
        connector_config: Mapping[str, Any],
        converters: Converters,
        chain: TransformationChain,
        consumer: Consumer,
        errors: ErrorHandler,
        listener: TaskStatusListener,
        target: TargetState,
        commit_interval_ms: int,
        batch_size: int = 2000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(task_id, listener, target)
        self.task = task
        self.task_config = task_config
        self.connector_config = connector_config
        self.converters = converters
        self.chain = chain
        self.consumer = consumer
        self.errors = errors
        self.commit_interval = commit_interval_ms / 1000
        self.batch_size = batch_size
        self._clock = clock
        self._next_commit = clock() + self.commit_interval
        #: How long one consume waits for records; also the least time between two empty ``put()``s.
        self.consume_timeout = 0.5
        self._last_put = clock()
        self.context = _Context(self)
        self.assignment: set[TopicPartition] = set()
        self.current_offsets: dict[TopicPartition, int] = {}
        self._paused_by_task: set[TopicPartition] = set()
        self._paused_all = False
        self._retry_batch: list[SinkRecord] | None = None
        self._retry_offsets: dict[tuple[str, int], int] = {}
        self._topics_seen: set[str] = set()
        self._retry_at = 0.0
        self._raw: dict[tuple[str, int, int], ConsumedRecord] = {}
        self.errant_reporter = _ErrantReporter(self) if errors.tolerate_all else None
        self.records_delivered = 0
        self.offset_commits = 0

    def metrics(self) -> dict[str, int]:
        return {
            "records_delivered_total": self.records_delivered,
            "offset_commits_total": self.offset_commits,
            "errors_total": self.errors.failed,
            "records_skipped_total": self.errors.skipped,
        }

    # -- lifecycle -----------------------------------------------------------------------------

    def signal_plugin_stop(self) -> None:
        pass  # the loop notices ``stopping`` within one poll timeout; SinkTask.stop() runs on its thread

    def initialize_and_start(self) -> None:
        self.task.initialize(self.context)
        self.task.start(dict(self.task_config))
        given = self.task_config.get("topics", self.connector_config.get("topics", ""))
        # the parsed connector config holds ``topics`` as a list ([] when only topics.regex is set)
        items = given if isinstance(given, list) else str(given).split(",")
        topics = [str(t).strip() for t in items if str(t).strip()]
        regex = str(
            self.task_config.get("topics.regex", self.connector_config.get("topics.regex", ""))
        ).strip()
        subscription = topics if topics else ["^" + regex.lstrip("^")]
        if regex:
            re.compile(regex)
        self.consumer.subscribe(
            subscription, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        log.info("Sink task %s started, subscribed to %s", self.id, subscription)

    def close(self) -> None:
        try:
            if self.failed is None and not self.cancelled and self.assignment:
                self.commit_offsets()
            if self.assignment:
                self._close_partitions(list(self.assignment))
        finally:
            try:
                self.task.stop()
            finally:
                try:
                    self.consumer.close()
                except Exception:
                    log.exception("Task %s: closing the consumer failed", self.id)
                self.chain.close()
                self.converters.close()
                self.errors.close()
                log.info("Sink task %s stopped (%d records delivered)", self.id, self.records_delivered)

    # -- the loop --------------------------------------------------------------------------------

    def execute(self) -> None:
        while not self.stopping:
            if self.target == TargetState.PAUSED:
                self._pause_all(True)
                self.listener.on_task_paused(self.id)
                while self.target == TargetState.PAUSED and not self.stopping:
                    self.consumer.consume(1, 0.5)  # keep the group membership alive
                self._pause_all(False)
                if self.stopping:
                    break
                self.listener.on_task_running(self.id)
            self.iteration()

    def iteration(self) -> None:
        """One turn of the loop (task thread): rewinds, consume, ``put()``, then a commit when the
        plugin asked for one (``request_commit``) or ``offset.flush.interval.ms`` has passed.

        As Kafka's WorkerSinkTask, ``put()`` is also called with an empty list when a consume returned
        no records (at most once per :attr:`consume_timeout`), so a plugin can end time-based rounds
        (e.g. ``rotate.schedule.interval.ms``) while its partitions are quiet, and ask for a commit."""
        self._apply_rewinds()
        if self._retry_batch is not None:
            if self._clock() >= self._retry_at:
                self._deliver(self._retry_batch, self._retry_offsets)
            else:
                self.consumer.consume(1, min(0.2, max(self._retry_at - self._clock(), 0)))
        else:
            messages = self._consume()
            if messages:
                self._deliver(*self._convert(messages))
            elif self.assignment and self._clock() >= self._last_put + self.consume_timeout:
                self._deliver([], {})
        if self.context.commit_requested or self._clock() >= self._next_commit:
            self.context.commit_requested = False
            self.commit_offsets()

    def _consume(self) -> list[Any]:
        """Up to ``batch_size`` messages, returned as soon as any are there — as Kafka's ``poll()``, which
        returns at the first data. librdkafka's ``consume(n, timeout)`` waits for ``n`` messages or the
        timeout, which at low rates held every record up to :attr:`consume_timeout` (a ~0.5 s cycle
        in commit-to-searchable latencies): take what is queued; else wait for one message, then take
        what arrived with it."""
        messages: list[Any] = self.consumer.consume(self.batch_size, 0)
        if messages:
            return messages
        messages = self.consumer.consume(1, self.consume_timeout)
        if messages and self.batch_size > 1:
            messages += self.consumer.consume(self.batch_size - 1, 0)
        return messages

    def _convert(self, messages: list[Any]) -> tuple[list[SinkRecord], dict[tuple[str, int], int]]:
        """Convert and transform a consumed batch. Returns the records for put() and, per partition, the
        offset after the batch's last message (skipped ones included), applied once put() succeeded.

        When both the key and the value converter are :class:`~connect.api.converter.BatchConverter`
        instances and no message is a consumer error, keys and values are converted a batch at a time
        with ``to_connect_batch``; if either raises, :meth:`_assemble` converts the batch record by
        record instead and handles each failure (batch readers have no side effects, so this changes
        nothing). Both give the same records, errors and error reports.
        """
        topics: list[Any] = [m.topic() if m.error() is None else None for m in messages]
        key, value = self.converters.key, self.converters.value
        converted = None
        if (
            isinstance(key, BatchConverter)
            and isinstance(value, BatchConverter)
            and messages
            and None not in topics
        ):
            try:
                key_schemas, keys = key.to_connect_batch(topics, [m.key() for m in messages])
                value_schemas, values = value.to_connect_batch(topics, [m.value() for m in messages])
            except Exception:
                pass
            else:
                converted = (key_schemas, keys, value_schemas, values)
        return self._assemble(messages, topics, converted)

    def _assemble(
        self,
        messages: list[Any],
        topics: list[Any],
        converted: tuple[list[Schema | None], list[Any], list[Schema | None], list[Any]] | None,
        strict: bool = False,
    ) -> tuple[list[SinkRecord], dict[tuple[str, int], int]]:
        """The one conversion loop of the sink: per message, build the SinkRecord (keys and values from
        ``converted`` when the batch readers produced them, else converted here), convert headers,
        apply the transformation chain and handle failures per ``errors.tolerance`` (``strict``: raise
        them instead; see :meth:`_convert_one`). ``topics[i]`` is None for a consumer error (only
        possible when ``converted`` is None)."""
        key_conv = self.converters.key.to_connect_data
        value_conv = self.converters.value.to_connect_data
        header_conv = self.converters.header.to_connect_header
        chain = self.chain if self.chain else None
        offsets: dict[tuple[str, int], int] = {}
        tolerate = self.errors.tolerate_all and not strict
        records: list[SinkRecord] = []
        append = records.append
        seen = self._topics_seen
        new_record = SinkRecord
        ts_types = _TS_BY_CODE
        key_stage, value_stage, header_stage = (
            Stage.KEY_CONVERTER,
            Stage.VALUE_CONVERTER,
            Stage.HEADER_CONVERTER,
        )
        if converted is not None:
            key_schemas, keys, value_schemas, values = converted
        for i, msg in enumerate(messages):
            topic = topics[i]
            if topic is None:
                err = msg.error()
                if err.fatal():
                    raise ConnectException(f"consumer error: {err}")
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("Task %s: consumer: %s", self.id, err.str())
                continue
            partition = msg.partition()
            offset = msg.offset()
            offsets[(topic, partition)] = offset + 1
            if topic not in seen:
                seen.add(topic)
                self.listener.on_topic_used(self.id.connector, topic)
            raw_headers = msg.headers()
            try:
                if converted is None:
                    stage = key_stage
                    key = key_conv(topic, msg.key())
                    key_schema, key_value = key.schema, key.value
                    stage = value_stage
                    value = value_conv(topic, msg.value())
                    value_schema, value_value = value.schema, value.value
                else:
                    stage = value_stage
                    key_schema, key_value = key_schemas[i], keys[i]
                    value_schema, value_value = value_schemas[i], values[i]
                headers = None
                if raw_headers:
                    stage = header_stage
                    headers = Headers()
                    for hk, hv in raw_headers:
                        sv = header_conv(topic, hk, hv)
                        headers.add(hk, sv.value, sv.schema)
                ts_type, ts = msg.timestamp()
                record: SinkRecord | None = new_record(
                    topic,
                    partition,
                    key_schema,
                    key_value,
                    value_schema,
                    value_value,
                    offset,
                    ts if ts_type else None,
                    ts_types[ts_type],
                    headers,
                )
                if chain is not None:
                    stage = Stage.TRANSFORMATION
                    record = chain.apply(record)  # type: ignore[arg-type,assignment]
            except Exception as exc:
                if strict:
                    raise
                ok, record = self._failed(msg, stage, exc)
                if not ok:
                    continue
            if record is not None:
                if tolerate:
                    self._raw[(topic, partition, offset)] = self._consumed(msg)
                append(record)
        return records, offsets

    def _convert_one(self, msg: Any) -> SinkRecord | None:
        """The record of one message through :meth:`_assemble`, failures raised (the retried operation
        of a :class:`RetriableException`); None when a transformation dropped it."""
        records, _ = self._assemble([msg], [msg.topic()], None, strict=True)
        return records[0] if records else None

    def _consumed(self, msg: Any) -> ConsumedRecord:
        raw_headers = msg.headers()
        return ConsumedRecord(
            msg.topic(),
            msg.partition(),
            msg.offset(),
            msg.timestamp()[1],
            msg.key(),
            msg.value(),
            list(raw_headers) if raw_headers else None,
        )

    def _failed(self, msg: Any, stage: Stage, exc: Exception) -> tuple[bool, SinkRecord | None]:
        """Handle a failure at ``stage`` for ``msg``: (False, None) to skip the record (tolerated), or
        (True, record) after a retried conversion succeeded; raises when the failure is not tolerated."""
        raw = self._consumed(msg)
        source = self._stage_class(stage)
        if isinstance(exc, RetriableException):
            return self.errors.run(stage, partial(self._convert_one, msg), raw, source)
        self.errors.fail(stage, exc, raw, source)
        return False, None

    def _stage_class(self, stage: Stage) -> Any:
        """The object whose class ran at ``stage`` (reported in __connect.errors.class.name)."""
        if stage == Stage.KEY_CONVERTER:
            return self.converters.key
        if stage == Stage.VALUE_CONVERTER:
            return self.converters.value
        if stage == Stage.HEADER_CONVERTER:
            return self.converters.header
        if stage == Stage.TRANSFORMATION:
            return self.chain.current
        return self.task

    def raw_for(self, record: SinkRecord) -> ConsumedRecord | None:
        return self._raw.get(
            (record.original_topic, record.original_kafka_partition or 0, record.original_kafka_offset)
        )

    def _deliver(self, records: list[SinkRecord], batch_offsets: dict[tuple[str, int], int]) -> None:
        """``put(records)`` on the task thread, then advance :attr:`current_offsets` to ``batch_offsets``.

        ``records`` and ``batch_offsets`` come from one :meth:`_convert` call: ``batch_offsets`` holds, per
        consumed partition, the offset after the batch's last message, whether that message was put,
        dropped by a transformation or skipped under ``errors.tolerance=all``. Once ``put()`` returned,
        every message of the batch is handled, so the whole batch counts as consumed (as Kafka's
        ``currentOffsets.putAll(origOffsets)``): skipped records at the end of a batch, or a batch of
        only skipped records (``put([])``), advance the offset too. The offsets are committed only later,
        by :meth:`commit_offsets` after ``pre_commit`` (``flush``) made the put records durable, so a
        record that was put is never committed before it is flushed (at-least-once). The update is per
        partition, not per record. On a :class:`RetriableException` nothing advances: the batch and its
        offsets are kept and delivered again (same records, same offsets) after the task's timeout.
        """
        self._last_put = self._clock()
        try:
            self.task.put(records)
        except RetriableException as exc:
            timeout = self.context.timeout_ms if self.context.timeout_ms > 0 else 1000
            log.warning(
                "Task %s: retriable error in put(); retrying the batch of %d in %d ms: %s",
                self.id,
                len(records),
                timeout,
                exc,
            )
            self._retry_batch = records
            self._retry_offsets = batch_offsets
            self._retry_at = self._clock() + timeout / 1000
            self._pause_all(True)
            return
        if self._retry_batch is not None:
            self._retry_batch = None
            self._retry_offsets = {}
            self._pause_all(False)
        offsets = self.current_offsets
        for (topic, partition), offset in batch_offsets.items():
            offsets[TopicPartition(topic, partition)] = offset
        self.records_delivered += len(records)
        if self._raw:
            self._raw.clear()

    # -- offsets ---------------------------------------------------------------------------------

    def commit_offsets(self, partitions: Collection[TopicPartition] | None = None) -> None:
        """pre_commit -> DLQ durable -> synchronous consumer commit (task thread)."""
        self._next_commit = self._clock() + self.commit_interval
        if self.cancelled:
            return
        scope = set(self.assignment if partitions is None else partitions)
        current = {tp: o for tp, o in self.current_offsets.items() if tp in scope}
        if not current:
            return
        to_commit = self.task.pre_commit(dict(current))
        self.errors.flush()
        offsets = [
            KafkaTopicPartition(tp.topic, tp.partition, off)
            for tp, off in to_commit.items()
            if tp in self.assignment and off >= 0
        ]
        if offsets:
            self.consumer.commit(offsets=offsets, asynchronous=False)
            self.offset_commits += 1
            log.debug("Task %s committed offsets %s", self.id, {str(tp): o for tp, o in to_commit.items()})

    # -- rebalance callbacks (task thread, inside consume()) ---------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        self.assignment.update(tps)
        self.task.open(tps)
        if self.context.rewinds:
            changed = False
            for p in partitions:
                off = self.context.rewinds.pop(TopicPartition(p.topic, p.partition), None)
                if off is not None:
                    p.offset = off
                    changed = True
            if changed:
                consumer.assign(partitions)
        if self._paused_all:
            consumer.pause(partitions)
        log.info("Task %s assigned %s", self.id, sorted(str(t) for t in tps))

    def _on_revoke(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        try:
            if self.failed is None:
                self.commit_offsets(tps)
        finally:
            self._close_partitions(tps)
        log.info("Task %s revoked %s", self.id, sorted(str(t) for t in tps))

    def _close_partitions(self, tps: list[TopicPartition]) -> None:
        try:
            self.task.close(tps)
        finally:
            for tp in tps:
                self.assignment.discard(tp)
                self.current_offsets.pop(tp, None)
                self._paused_by_task.discard(tp)

    # -- pause/resume/rewind -----------------------------------------------------------------------

    def _pause_all(self, pause: bool) -> None:
        self._paused_all = pause
        parts = [
            KafkaTopicPartition(tp.topic, tp.partition)
            for tp in self.assignment
            if pause or tp not in self._paused_by_task
        ]
        if parts:
            (self.consumer.pause if pause else self.consumer.resume)(parts)

    def pause_partitions(self, tps: Collection[TopicPartition]) -> None:
        self._paused_by_task.update(tps)
        parts = [KafkaTopicPartition(tp.topic, tp.partition) for tp in tps if tp in self.assignment]
        if parts:
            self.consumer.pause(parts)

    def resume_partitions(self, tps: Collection[TopicPartition]) -> None:
        self._paused_by_task.difference_update(tps)
        parts = [
            KafkaTopicPartition(tp.topic, tp.partition)
            for tp in tps
            if tp in self.assignment and not self._paused_all
        ]
        if parts:
            self.consumer.resume(parts)

    def _apply_rewinds(self) -> None:
        if not self.context.rewinds:
            return
        for tp in [tp for tp in self.context.rewinds if tp in self.assignment]:
            off = self.context.rewinds.pop(tp)
            self.consumer.seek(KafkaTopicPartition(tp.topic, tp.partition, off))
            self.current_offsets[tp] = off
