"""WorkerSourceTask offset commits without flushing the producer (Kafka 3.x's SubmittedRecords): the
offsets of records the broker acknowledged — each source partition up to its first unacknowledged record —
are committed every offset.flush.interval.ms, or soon after the task calls
``SourceTaskContext.request_commit()``; the producer is flushed only when the task pauses or stops.

In-process, with a producer whose acknowledgements the test hands out and a fake clock."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message

from connect.api import ConnectException, Schema, SourceRecord, SourceTask
from connect.runtime.errors import ErrorHandler
from connect.runtime.models import ConnectorTaskId
from connect.runtime.offsets import MemoryOffsetBackingStore, SubmittedRecords, offset_key
from connect.runtime.pipeline import TransformationChain
from connect.runtime.source_task import REQUESTED_COMMIT_MIN_GAP_S, TopicCreator, WorkerSourceTask
from connect.runtime.worker_task import TargetState
from tests.connect.test_source_send import _Listener, string_converters

P = {"file": "a"}
Q = {"file": "b"}


class _Producer:
    """Records produced messages; the test acknowledges them (``ack(i)``) as the broker would, in any
    order. Flushing is an error unless allowed: commits must not need it."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []
        self.flushes = 0
        self.allow_flush = False

    def produce(self, topic: str, value: Any, key: Any, **kw: Any) -> None:
        self.callbacks.append(kw["on_delivery"])

    def ack(self, *indexes: int, error: KafkaError | None = None) -> None:
        for i in indexes:
            msg = Message(topic="t", partition=0, offset=i, timestamp=(1, i))
            self.callbacks[i](error, None if error else msg)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        assert self.allow_flush, "the producer was flushed for a commit"
        self.flushes += 1
        return 0


class _Task(SourceTask):
    def __init__(self, batches: list[list[SourceRecord]], request: bool) -> None:
        self.batches, self.request = batches, request
        self.commits = 0

    def version(self) -> str:
        return "1"

    def start(self, props: dict[str, str]) -> None:
        pass

    def poll(self) -> list[SourceRecord] | None:
        records = self.batches.pop(0) if self.batches else None
        if records and self.request:
            self.context.request_commit()
        return records

    def commit(self) -> None:
        self.commits += 1

    def stop(self) -> None:
        pass


def _records(partition: dict[str, str], *offsets: int) -> list[SourceRecord]:
    return [
        SourceRecord(partition, {"n": n}, "t", None, Schema.STRING_SCHEMA, "k", Schema.STRING_SCHEMA, "v")
        for n in offsets
    ]


def _task(
    batches: list[list[SourceRecord]], request: bool
) -> tuple[WorkerSourceTask, _Producer, _Task, MemoryOffsetBackingStore, list[float]]:
    producer, plugin, store, clock = _Producer(), _Task(batches, request), MemoryOffsetBackingStore(), [0.0]
    task = WorkerSourceTask(
        ConnectorTaskId("c", 0),
        plugin,
        {},
        {},
        string_converters(),
        TransformationChain([]),
        producer,  # type: ignore[arg-type]
        store,
        ErrorHandler({}, "c-0", []),
        _Listener(),  # type: ignore[arg-type]
        TargetState.STARTED,
        60_000,  # Kafka Connect's default offset.flush.interval.ms
        5_000,
        TopicCreator(None, {}),
        clock=lambda: clock[0],
    )
    task.initialize_and_start()
    return task, producer, plugin, store, clock


def _committed(store: MemoryOffsetBackingStore, partition: dict[str, str]) -> Any:
    raw = store.get([offset_key("c", partition)])[offset_key("c", partition)]
    return None if raw is None else json.loads(raw)


def test_submitted_records_commit_each_source_partition_up_to_its_first_unacknowledged_record() -> None:
    submitted = SubmittedRecords()
    a = [submitted.submit(P, {"n": n}) for n in range(3)]
    b = [submitted.submit(Q, {"n": n}) for n in range(2)]
    assert submitted.submit(None, {"n": 9}) is None  # no source partition: nothing to commit
    for r in (a[2], a[1], b[0]):  # out of source order (different Kafka partitions)
        assert r is not None
        r.ack()
    assert [(r.partition, r.offset) for r in submitted.committable()] == [(Q, {"n": 0})]
    assert a[0] is not None
    a[0].ack()
    assert [(r.partition, r.offset) for r in submitted.committable()] == [(P, {"n": 2})]
    assert submitted.committable() == [] and submitted.pending == 1  # b[1] in flight


def test_a_requested_commit_covers_acknowledged_records_at_once_without_a_flush() -> None:
    task, producer, plugin, store, clock = _task([_records(P, 0, 1, 2), _records(P, 3)], request=True)
    task.iteration()  # polls 0..2 and asks for a commit: nothing acknowledged yet
    assert _committed(store, P) is None and task.commit_requested
    producer.ack(1, 0)
    clock[0] += REQUESTED_COMMIT_MIN_GAP_S
    task.iteration()  # polls 3; 0, 1 acknowledged: committed long before offset.flush.interval.ms
    assert _committed(store, P) == {"n": 1} and plugin.commits == 1
    assert task.commit_requested  # 2 and 3 are in flight: the request stays until they are committed
    producer.ack(3)
    clock[0] += REQUESTED_COMMIT_MIN_GAP_S
    task.iteration()
    assert _committed(store, P) == {"n": 1}  # 3 is acknowledged but 2 before it is not
    producer.ack(2)
    clock[0] += REQUESTED_COMMIT_MIN_GAP_S
    task.iteration()
    assert _committed(store, P) == {"n": 3} and plugin.commits == 2
    assert not task.commit_requested and producer.flushes == 0
    clock[0] += 1
    task.iteration()  # nothing new: no commit() call for a request already served
    assert plugin.commits == 2


def test_without_a_request_acknowledged_offsets_wait_for_the_flush_interval_and_a_stop_flushes() -> None:
    task, producer, plugin, store, clock = _task([_records(P, 0, 1), _records(Q, 0)], request=False)
    task.iteration()
    task.iteration()
    producer.ack(0, 1)
    clock[0] += 59
    task.iteration()
    assert _committed(store, P) is None
    clock[0] += 1
    task.iteration()  # offset.flush.interval.ms: what is acknowledged, no flush
    assert (_committed(store, P), _committed(store, Q)) == ({"n": 1}, None) and plugin.commits == 1
    producer.allow_flush = True
    producer.flush = lambda timeout: (producer.ack(2), 0)[1]  # type: ignore[method-assign]
    task.close()  # at stop: wait for the records in flight, then commit
    assert _committed(store, Q) == {"n": 0} and plugin.commits == 2


def test_a_failed_send_stops_its_partition_before_it_and_the_rest_is_committed() -> None:
    task, producer, _, store, clock = _task([_records(P, 0, 1, 2)], request=True)
    task.iteration()
    producer.ack(0, 2)
    producer.ack(1, error=KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    clock[0] += REQUESTED_COMMIT_MIN_GAP_S
    with pytest.raises(ConnectException, match="send callback"):
        task.iteration()  # the task fails; the acknowledged record before the failed one is committed
    assert task.commit_offsets() is False
    assert _committed(store, P) == {"n": 0}  # 1 failed: it and 2 after it are re-read after a restart
