"""Zombie fencing of a source task that does not stop in time (e.g. when a rebalance revoked it, the
worker cancels it after ``task.shutdown.graceful.timeout.ms``): whatever its ``poll()`` returns
afterwards is never produced and no offset is committed, so it cannot duplicate the work of the worker
that took its task over. In-process Worker against the real broker."""

from __future__ import annotations

import threading
import time

from confluent_kafka import TopicPartition

from connect.api import ConfigDef, SourceConnector, SourceRecord, SourceTask
from connect.runtime.models import ConnectorTaskId
from connect.runtime.offsets import MemoryOffsetBackingStore
from connect.runtime.plugins import discover
from connect.runtime.status import MemoryStatusStore
from connect.runtime.worker import Worker
from connect.runtime.worker_config import WorkerConfig
from connect.runtime.worker_task import TargetState
from tests.support.brokers import BrokerUnderTest
from tests.support.clients import confluent_consumer, create_topic
from tests.support.connect import wait_until

POLL_BLOCKS_S = 2.0
polling = threading.Event()


class StubbornSource(SourceConnector):
    def version(self) -> str:
        return "1"

    def config(self) -> ConfigDef:
        return ConfigDef().define("topic", "string", importance="high", doc="Output topic.")

    def start(self, props: dict[str, str]) -> None:
        self._props = props

    def task_class(self) -> type[SourceTask]:
        return StubbornTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [self._props]

    def stop(self) -> None:
        pass


class StubbornTask(SourceTask):
    """``poll()`` ignores ``stop()``: it blocks, then returns one record."""

    def version(self) -> str:
        return "1"

    def start(self, props: dict[str, str]) -> None:
        self._topic = props["topic"]

    def poll(self) -> list[SourceRecord] | None:
        polling.set()
        time.sleep(POLL_BLOCKS_S)
        return [SourceRecord({"p": 0}, {"n": 1}, self._topic, value="late")]

    def stop(self) -> None:
        pass  # does not interrupt poll()


def test_a_cancelled_source_task_produces_and_commits_nothing(broker: BrokerUnderTest, topic: str) -> None:
    create_topic(broker.bootstrap, topic, partitions=1)
    registry = discover()
    registry.add(StubbornSource, "test")
    config = WorkerConfig({"bootstrap.servers": broker.bootstrap, "task.shutdown.graceful.timeout.ms": "200"})
    offsets = MemoryOffsetBackingStore()
    status = MemoryStatusStore("zombie")
    worker = Worker(config, registry, offsets, "zombie", status)
    worker.start()
    connector = {"connector.class": StubbornSource.__name__, "name": "stubborn", "topic": topic}
    tid = ConnectorTaskId("stubborn", 0)
    try:
        assert worker.start_task(tid, connector, {"topic": topic}, TargetState.STARTED)
        assert polling.wait(30)
        started = time.monotonic()
        worker.stop_and_await_tasks([tid])  # gives up after 0.2 s: the task is cancelled
        assert time.monotonic() - started < POLL_BLOCKS_S

        def ended() -> bool:
            state = status.task(tid)
            return state is not None and state.state != "RUNNING"

        wait_until("the task thread ended", ended, 30)
    finally:
        worker.stop()
    consumer = confluent_consumer(broker.bootstrap)
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        consumer.close()
    assert high == 0, f"the cancelled task produced {high} record(s)"
    assert offsets.all() == {}, "the cancelled task committed offsets"
