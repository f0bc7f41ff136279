"""WorkerSinkTask offset tracking: after ``put()`` returned, the offset to commit for a partition is the
one after the last message consumed in the batch, whether that message was put, dropped by a
transformation (returned None) or skipped under ``errors.tolerance=all``; it is committed only with
what ``pre_commit`` (by default ``flush``) returned, so nothing put is committed before it is flushed.

The task runs in-process with the JSON converters and an in-memory consumer that records commits
(no broker: ``tests/connect_e2e/test_errors_dlq.py`` checks the committed group offsets through a real
worker and broker).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, Message
from confluent_kafka import TopicPartition as KafkaTopicPartition
from hypothesis import assume, given
from hypothesis import strategies as st

from connect.api import ConfigDef, ConnectException, RetriableException
from connect.api.records import SinkRecord, TopicPartition
from connect.api.task import SinkTask
from connect.api.transforms import Transformation
from connect.converters import load_converter, load_header_converter
from connect.runtime.errors import ErrorHandler
from connect.runtime.models import ConnectorTaskId
from connect.runtime.pipeline import Converters, TransformationChain, _Step
from connect.runtime.sink_task import WorkerSinkTask
from connect.runtime.worker_task import TargetState
from tests.connect.test_sink_batch_path import PROPERTY, _Listener, messages
from tests.connect.test_sink_batch_path import _task as _picky_task

A0, A1 = TopicPartition("a", 0), TopicPartition("a", 1)
POISON = b"not json {"


class _Consumer:
    """The parts of a confluent-kafka Consumer the task calls outside consume(); records commits."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.commits: list[dict[str, int]] = []

    def commit(self, offsets: list[KafkaTopicPartition], asynchronous: bool) -> None:
        assert asynchronous is False
        committed = {f"{tp.topic}-{tp.partition}": tp.offset for tp in offsets}
        self.commits.append(committed)
        self.events.append(("commit", committed))

    def pause(self, partitions: list[KafkaTopicPartition]) -> None:
        pass

    def resume(self, partitions: list[KafkaTopicPartition]) -> None:
        pass


class _Sink(SinkTask):
    """Records put() and flush() calls in order; optionally fails put() with a retriable error."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.retriable_failures = 0

    def version(self) -> str:
        return "1"

    def start(self, props: dict[str, str]) -> None:
        pass

    def put(self, records: list[SinkRecord]) -> None:
        if self.retriable_failures:
            self.retriable_failures -= 1
            raise RetriableException("target busy")
        self.events.append(("put", [(r.topic, r.kafka_partition, r.kafka_offset) for r in records]))

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        self.events.append(("flush", {str(tp): o for tp, o in current_offsets.items()}))

    def stop(self) -> None:
        pass


class _BufferingSink(_Sink):
    """Keeps put() records in a buffer that only a later write makes durable: pre_commit returns the
    offsets after the last durable record, not the runtime's current offsets."""

    def __init__(self, events: list[Any]) -> None:
        super().__init__(events)
        self.buffered: list[SinkRecord] = []
        self.durable: dict[TopicPartition, int] = {}

    def put(self, records: list[SinkRecord]) -> None:
        super().put(records)
        self.buffered.extend(records)

    def write_out(self) -> None:
        for r in self.buffered:
            self.durable[TopicPartition(r.topic, r.kafka_partition or 0)] = r.kafka_offset + 1
        self.buffered.clear()

    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        return dict(self.durable)


class _DropOdd(Transformation[SinkRecord]):
    """A filter: drops records whose value is an odd number."""

    def configure(self, props: Any) -> None:
        pass

    def config(self) -> ConfigDef:
        return ConfigDef()

    def apply(self, record: SinkRecord) -> SinkRecord | None:
        return None if record.value % 2 else record


def _task(sink: _Sink, consumer: _Consumer, tolerate: bool = True, drop_odd: bool = False) -> WorkerSinkTask:
    converters = Converters(
        load_converter("JsonConverter", {"schemas.enable": "false"}, True),
        load_converter("JsonConverter", {"schemas.enable": "false"}, False),
        load_header_converter("JsonConverter", {}),
    )
    chain = TransformationChain([_Step("drop-odd", _DropOdd(), None, False)] if drop_odd else [])
    errors = ErrorHandler(
        {"errors.tolerance": "all" if tolerate else "none", "errors.retry.timeout": 0}, "c-0", []
    )
    task = WorkerSinkTask(
        ConnectorTaskId("c", 0),
        sink,
        {},
        {},
        converters,
        chain,
        consumer,  # type: ignore[arg-type]
        errors,
        _Listener(),  # type: ignore[arg-type]
        TargetState.STARTED,
        60_000,
    )
    task.assignment.update({A0, A1})
    return task


def _msg(tp: TopicPartition, offset: int, value: Any) -> Message:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Message(topic=tp.topic, partition=tp.partition, offset=offset, value=raw, timestamp=(1, offset))


def _consume(task: WorkerSinkTask, msgs: list[Message]) -> None:
    """What one iteration of the task loop does with a consumed batch."""
    task._deliver(*task._convert(msgs))


def _current(task: WorkerSinkTask) -> dict[str, int]:
    return {str(tp): o for tp, o in task.current_offsets.items()}


def test_poison_records_at_the_end_of_a_batch_are_committed_after_the_flush() -> None:
    events: list[Any] = []
    consumer = _Consumer(events)
    task = _task(_Sink(events), consumer)
    _consume(task, [_msg(A0, 0, 0), _msg(A0, 1, 2), _msg(A0, 2, POISON), _msg(A0, 3, POISON)])
    assert _current(task) == {"a-0": 4}
    assert task.errors.skipped == 2
    task.commit_offsets()
    assert events == [
        ("put", [("a", 0, 0), ("a", 0, 1)]),
        ("flush", {"a-0": 4}),
        ("commit", {"a-0": 4}),
    ]


def test_a_batch_of_only_poison_records_advances_the_commit() -> None:
    events: list[Any] = []
    consumer = _Consumer(events)
    task = _task(_Sink(events), consumer)
    _consume(task, [_msg(A0, 0, 10), _msg(A0, 1, 12)])
    task.commit_offsets()
    _consume(task, [_msg(A0, 2, POISON), _msg(A0, 3, b"\xff"), _msg(A0, 4, POISON)])
    assert _current(task) == {"a-0": 5}
    task.commit_offsets()
    assert events[-3:] == [("put", []), ("flush", {"a-0": 5}), ("commit", {"a-0": 5})]
    assert consumer.commits == [{"a-0": 2}, {"a-0": 5}]


def test_records_dropped_by_a_transformation_at_the_end_of_a_batch_advance_the_commit() -> None:
    events: list[Any] = []
    consumer = _Consumer(events)
    task = _task(_Sink(events), consumer, tolerate=False, drop_odd=True)
    _consume(task, [_msg(A0, 0, 2), _msg(A0, 1, 3), _msg(A1, 0, 4), _msg(A1, 1, 5), _msg(A1, 2, 7)])
    assert events == [("put", [("a", 0, 0), ("a", 1, 0)])]
    assert _current(task) == {"a-0": 2, "a-1": 3}
    _consume(task, [_msg(A1, 3, 9)])  # a batch the filter drops entirely
    task.commit_offsets()
    assert consumer.commits == [{"a-0": 2, "a-1": 4}]


def test_nothing_advances_while_put_is_retried_and_the_retry_commits_the_whole_batch() -> None:
    events: list[Any] = []
    consumer = _Consumer(events)
    sink = _Sink(events)
    task = _task(sink, consumer)
    _consume(task, [_msg(A0, 0, 0)])
    sink.retriable_failures = 1
    _consume(task, [_msg(A0, 1, 1), _msg(A0, 2, POISON)])
    assert task._retry_batch is not None
    assert _current(task) == {"a-0": 1}  # the batch whose put() failed does not count
    task.commit_offsets()
    task._deliver(task._retry_batch, task._retry_offsets)
    assert task._retry_batch is None
    assert _current(task) == {"a-0": 3}
    task.commit_offsets()
    assert consumer.commits == [{"a-0": 1}, {"a-0": 3}]
    assert [e for e in events if e[0] == "put"] == [("put", [("a", 0, 0)]), ("put", [("a", 0, 1)])]


def test_the_commit_never_passes_what_pre_commit_says_is_durable() -> None:
    """A plugin that buffers put() records: skipped records after them are handled, but the runtime
    commits only what pre_commit returns, so the buffered records are redelivered after a crash."""
    events: list[Any] = []
    consumer = _Consumer(events)
    sink = _BufferingSink(events)
    task = _task(sink, consumer)
    _consume(task, [_msg(A0, 0, 0), _msg(A0, 1, POISON)])
    sink.write_out()
    _consume(task, [_msg(A0, 2, 2), _msg(A0, 3, POISON), _msg(A0, 4, POISON)])
    assert _current(task) == {"a-0": 5}
    task.commit_offsets()
    assert consumer.commits == [{"a-0": 1}]  # record 2 is buffered: neither it nor 3, 4 are committed
    sink.write_out()
    task.commit_offsets()
    assert consumer.commits == [{"a-0": 1}, {"a-0": 3}]


@PROPERTY
@given(messages(), st.booleans())
def test_after_put_the_offset_is_past_every_consumed_message(msgs: list[Message], with_chain: bool) -> None:
    """Whatever the batch holds (broken keys/values/headers, transformations that drop or fail,
    consumer errors), under errors.tolerance=all a returned put() makes every consumed message count."""
    task, _, _, _ = _picky_task(True, with_chain)
    try:
        records, offsets = task._convert(msgs)
    except ConnectException:  # a fatal consumer error fails the task: nothing to commit
        assume(False)
        return
    task._deliver(records, offsets)
    expected: dict[str, int] = {}
    for m in msgs:
        err: KafkaError | None = m.error()
        offset = m.offset()
        if err is None and offset is not None:
            key = f"{m.topic()}-{m.partition()}"
            expected[key] = max(expected.get(key, 0), offset + 1)
    assert _current(task) == expected
    for r in records:  # and never behind a record that was put
        assert task.current_offsets[TopicPartition(r.original_topic, r.original_kafka_partition or 0)] > (
            r.original_kafka_offset
        )


class _IdleConsumer(_Consumer):
    """A consumer whose partitions are quiet: every consume() returns nothing after ``timeout`` (on a
    fake clock)."""

    def __init__(self, events: list[Any], clock: list[float]) -> None:
        super().__init__(events)
        self.clock = clock

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        self.clock[0] += timeout
        return []


class _RotatingSink(_BufferingSink):
    """Buffers records and writes the buffer out in an empty put() (its round's time is up while no
    records arrive), then asks for a commit: what a sink with rotate.schedule.interval.ms does."""

    def put(self, records: list[SinkRecord]) -> None:
        super().put(records)
        if not records and self.buffered:
            self.write_out()
            self.context.request_commit()


def test_quiet_partitions_get_empty_puts_and_a_requested_commit_is_honoured_at_once() -> None:
    """As Kafka's WorkerSinkTask: a consume that returns nothing is followed by put([]) (at most once per
    consume timeout), and a commit requested in put() runs in the same loop turn, long before
    offset.flush.interval.ms (60 s here)."""
    events: list[Any] = []
    clock = [0.0]
    consumer = _IdleConsumer(events, clock)
    sink = _RotatingSink(events)
    task = _task(sink, consumer)
    task._clock = lambda: clock[0]
    sink.initialize(task.context)
    _consume(task, [_msg(A0, 0, 0), _msg(A0, 1, 1)])  # buffered, not durable yet
    events.clear()
    task.iteration()
    assert events == [("put", []), ("commit", {"a-0": 2})]
    assert clock[0] < 1
    task.iteration()
    assert events[2:] == [("put", [])]  # nothing became durable: no request, no commit
    consumer.consume = lambda num_messages, timeout: []  # type: ignore[method-assign]
    task.iteration()  # a consume that returned at once (no time passed): no second empty put yet
    assert events[3:] == []
