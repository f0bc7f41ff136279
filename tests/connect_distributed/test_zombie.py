"""Zombie fencing of a source task that does not stop in time (e.g. when a rebalance revoked it, the
worker cancels it after ``task.shutdown.graceful.timeout.ms``): whatever its ``poll()`` returns
afterwards is never produced and no offset is committed, so it cannot duplicate the work of the worker
that took its task over. In-process Worker against the real broker."""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import TopicPartition

from connect.api import ConfigDef, SourceConnector, SourceRecord, SourceTask
from connect.runtime.models import ConnectorTaskId
from connect.runtime.offsets import MemoryOffsetBackingStore
from connect.runtime.plugins import discover
from connect.runtime.worker import Worker
from connect.runtime.worker_config import WorkerConfig
from connect.runtime.worker_task import TargetState
from tests.support.brokers import BrokerUnderTest
from tests.support.clients import confluent_consumer, create_topic
from tests.support.connect import wait_until

POLL_BLOCKS_S = 2.0
polling = threading.Event()


class TaskStates:
    """The worker's status listener: the last state of each task (a herder writes them to its store)."""

    def __init__(self) -> None:
        self.states: dict[ConnectorTaskId, str] = {}

    def on_task_running(self, task: ConnectorTaskId) -> None:
        self.states[task] = "RUNNING"

    def on_task_paused(self, task: ConnectorTaskId) -> None:
        self.states[task] = "PAUSED"

    def on_task_failed(self, task: ConnectorTaskId, trace: str) -> None:
        self.states[task] = "FAILED"

    def on_task_shutdown(self, task: ConnectorTaskId) -> None:
        self.states[task] = "UNASSIGNED"

    def on_task_progress(self, task: ConnectorTaskId, progress: dict[str, Any] | None) -> None:
        pass

    def on_topic_used(self, connector: str, topic: str) -> None:
        pass

    def on_connector_running(self, connector: str) -> None:
        pass

    def on_connector_paused(self, connector: str) -> None:
        pass

    def on_connector_stopped(self, connector: str) -> None:
        pass

    def on_connector_failed(self, connector: str, trace: str) -> None:
        pass

    def on_connector_shutdown(self, connector: str) -> None:
        pass


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
    status = TaskStates()
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
            return status.states.get(tid, "RUNNING") != "RUNNING"

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
