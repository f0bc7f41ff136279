"""The distributed worker's topic-backed stores against real brokers (the broker under test and Tansu).

Each store is exercised as two or three "workers" would use it: separate store instances (own clients)
on the same topic. What Kafka Connect users rely on is checked on the topic itself: record keys, the
schemaless JSON values and murmur2 key partitioning.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]

from connect.api.errors import ConnectException
from connect.runtime.clients import internal_client_config
from connect.runtime.distributed.config_store import KafkaConfigBackingStore
from connect.runtime.distributed.kafka_log import KafkaBasedLog
from connect.runtime.distributed.offset_store import KafkaOffsetBackingStore
from connect.runtime.distributed.status_store import KafkaStatusBackingStore
from connect.runtime.models import ConnectorTaskId
from connect.runtime.offsets import offset_key
from connect.runtime.status_store import Status
from connect.runtime.worker_config import WorkerConfig
from connect.runtime.worker_task import TargetState
from tests.support.brokers import BrokerUnderTest, start_kind, unique_topic
from tests.support.config_listener import Recorder
from tests.support.murmur2 import default_partition
from tests.support.servers import free_port

WAIT = 20.0


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def tansu() -> Iterator[str]:
    server = start_kind("tansu")  # skips (fails under HEADRACE_REQUIRE_SERVERS=1) if not installed
    try:
        yield server.bootstrap
    finally:
        server.kill()  # memory storage, nothing to keep; SIGTERM takes Tansu ~5 s
        server.cleanup()


@pytest.fixture(params=["broker", "tansu"])
def bootstrap(request: pytest.FixtureRequest) -> str:
    """The broker under test (the included one by default), then Tansu."""
    if request.param == "tansu":
        return str(request.getfixturevalue("tansu"))
    broker: BrokerUnderTest = request.getfixturevalue("broker")
    return broker.bootstrap


@pytest.fixture
def stores() -> Iterator[list[KafkaConfigBackingStore | KafkaOffsetBackingStore | KafkaStatusBackingStore]]:
    """Stores a test started; all stopped at teardown whatever happened."""
    started: list[KafkaConfigBackingStore | KafkaOffsetBackingStore | KafkaStatusBackingStore] = []
    try:
        yield started
    finally:
        for s in reversed(started):
            s.stop()


def wait_until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def read_topic(bs: str, topic: str, count: int) -> list[tuple[int, int, str, object]]:
    """The first ``count`` records of every partition of ``topic``: (partition, offset, key, JSON value)."""
    consumer = Consumer(
        {"bootstrap.servers": bs, "group.id": "test-stores-reader", "enable.auto.commit": False}
    )
    try:
        meta = consumer.list_topics(topic, timeout=10)
        parts = sorted(meta.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        out: list[tuple[int, int, str, object]] = []
        deadline = time.monotonic() + WAIT
        while len(out) < count and time.monotonic() < deadline:
            for m in consumer.consume(100, 0.2):
                assert m.error() is None, m.error()
                partition, offset, key, value = m.partition(), m.offset(), m.key(), m.value()
                assert partition is not None and offset is not None and key is not None
                out.append(
                    (
                        partition,
                        offset,
                        key.decode(),
                        None if value is None else json.loads(value),
                    )
                )
        assert len(out) >= count, f"only {len(out)} of {count} records in {topic}"
        return sorted(out)
    finally:
        consumer.close()


def config_store(bs: str, topic: str, started: list[object]) -> tuple[KafkaConfigBackingStore, Recorder]:
    rec = Recorder()
    store = KafkaConfigBackingStore(topic, {"bootstrap.servers": bs}, rec, client_id="test")
    store.start()
    started.append(store)
    return store, rec


# ------------------------------------------------------------------------------------------- configs


def test_config_store_connectors_and_target_states(bootstrap: str, topic: str, stores: list[object]) -> None:
    store, rec = config_store(bootstrap, topic, stores)
    assert store.snapshot().offset == -1 and store.snapshot().connectors() == []

    store.put_connector_config("src", {"connector.class": "FileStreamSource", "tasks.max": "2"})
    snap = store.snapshot()
    assert snap.connectors() == ["src"] and snap.contains("src")
    assert snap.connector_configs["src"] == {"connector.class": "FileStreamSource", "tasks.max": "2"}
    assert snap.target_state("src") is TargetState.STARTED
    assert snap.tasks("src") == []  # no task configs committed yet
    rec.wait_for("connector", "src")

    store.put_connector_config("stopped", {"connector.class": "FileStreamSink"}, TargetState.STOPPED)
    assert store.snapshot().target_states["stopped"] is TargetState.STOPPED
    store.put_target_state("src", TargetState.PAUSED)
    assert store.snapshot().target_states["src"] is TargetState.PAUSED
    rec.wait_for("target", "src")

    before = store.snapshot().offset
    store.remove_connector_config("src")
    snap = store.snapshot()
    assert snap.connectors() == ["stopped"] and "src" not in snap.target_states and snap.offset > before

    # On the topic: Kafka Connect's keys and schemaless JSON values, in write order, one partition.
    records = read_topic(bootstrap, topic, 6)
    assert {p for p, *_ in records} == {0}
    assert [(k, v) for _, _, k, v in records] == [
        ("connector-src", {"properties": {"connector.class": "FileStreamSource", "tasks.max": "2"}}),
        ("target-state-stopped", {"state": "PAUSED", "state.v2": "STOPPED"}),
        ("connector-stopped", {"properties": {"connector.class": "FileStreamSink"}}),
        ("target-state-src", {"state": "PAUSED", "state.v2": "PAUSED"}),
        ("connector-src", None),
        ("target-state-src", None),
    ]
    assert snap.offset == records[-1][1]


def test_task_configs_become_visible_only_with_their_commit(
    bootstrap: str, topic: str, stores: list[object]
) -> None:
    store, rec = config_store(bootstrap, topic, stores)
    store.put_connector_config("c", {"connector.class": "FileStreamSource"})
    store.put_connector_config("d", {"connector.class": "FileStreamSource"})

    # A leader that died between its task records and the commit: nothing becomes visible.
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(2):
        producer.produce(topic, json.dumps({"properties": {"n": str(i)}}).encode(), f"task-c-{i}".encode(), 0)
    assert producer.flush(10) == 0
    store.refresh()
    assert store.snapshot().tasks("c") == [] and store.snapshot().task_configs == {}

    producer.produce(topic, b'{"tasks":2}', b"commit-c", 0)
    assert producer.flush(10) == 0
    rec.wait_for("tasks", (ConnectorTaskId("c", 0), ConnectorTaskId("c", 1)))
    snap = store.snapshot()
    assert snap.tasks("c") == [ConnectorTaskId("c", 0), ConnectorTaskId("c", 1)]
    assert snap.task_config(ConnectorTaskId("c", 1)) == {"n": "1"} and snap.task_count("c") == 2

    # An incomplete set (as after compaction) is ignored and marks the connector inconsistent...
    producer.produce(topic, b'{"properties":{"x":"0"}}', b"task-d-0", 0)
    producer.produce(topic, b'{"tasks":2}', b"commit-d", 0)
    assert producer.flush(10) == 0
    wait_until(lambda: "d" in store.snapshot().inconsistent_connectors, "d marked inconsistent")
    assert store.snapshot().tasks("d") == []
    # ... until a complete generation is committed.
    store.put_task_configs("d", [{"x": "a"}, {"x": "b"}, {"x": "c"}])
    snap = store.snapshot()
    assert "d" not in snap.inconsistent_connectors and len(snap.tasks("d")) == 3
    assert snap.task_config(ConnectorTaskId("d", 2)) == {"x": "c"}

    # Fewer tasks: the old ones are gone; the records are Kafka's.
    store.put_task_configs("c", [{"n": "only"}])
    snap = store.snapshot()
    assert snap.tasks("c") == [ConnectorTaskId("c", 0)] and ConnectorTaskId("c", 1) not in snap.task_configs
    tail = [(k, v) for _, _, k, v in read_topic(bootstrap, topic, 13)[-2:]]
    assert tail == [("task-c-0", {"properties": {"n": "only"}}), ("commit-c", {"tasks": 1})]


def test_two_workers_see_each_others_writes(bootstrap: str, topic: str, stores: list[object]) -> None:
    a, rec_a = config_store(bootstrap, topic, stores)
    b, rec_b = config_store(bootstrap, topic, stores)

    a.put_connector_config("shared", {"connector.class": "FileStreamSink", "topics": "t"})
    rec_b.wait_for("connector", "shared")
    b.refresh()
    assert b.snapshot().connector_configs["shared"]["topics"] == "t"

    b.put_task_configs("shared", [{"task": "0"}, {"task": "1"}])
    rec_a.wait_for("tasks", (ConnectorTaskId("shared", 0), ConnectorTaskId("shared", 1)))
    b.put_target_state("shared", TargetState.PAUSED)
    rec_a.wait_for("target", "shared")
    a.put_restart_request("shared", True, False)
    rec_b.wait_for("restart", "shared", True, False)
    a.refresh()
    assert a.snapshot() == b.snapshot()

    # A worker joining later reads the whole history into the same state; the listener is not
    # called for what was already there (the herder takes a snapshot after start).
    c, rec_c = config_store(bootstrap, topic, stores)
    assert c.snapshot() == a.snapshot()
    assert c.snapshot().target_state("shared") is TargetState.PAUSED
    assert rec_c.events == []
    a.remove_connector_config("shared")
    rec_c.wait_for("connector", "shared")
    c.refresh()
    assert not c.snapshot().contains("shared") and c.snapshot().tasks("shared") == []


def test_config_topic_must_be_compacted_and_single_partition(bootstrap: str, stores: list[object]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deleting, wide = unique_topic("cfg-delete"), unique_topic("cfg-wide")
    futures = admin.create_topics(
        [
            NewTopic(deleting, 1, 1, config={"cleanup.policy": "delete"}),
            NewTopic(wide, 3, 1, config={"cleanup.policy": "compact"}),
        ]
    )
    for f in futures.values():
        f.result(20)
    for name, reason in ((wide, "exactly one"), (deleting, "compact")):
        store = KafkaConfigBackingStore(name, {"bootstrap.servers": bootstrap}, Recorder())
        with pytest.raises(ConnectException, match=reason):
            store.start()
        store.stop()


# ------------------------------------------------------------------------------------------- offsets


def test_offsets_round_trip_across_a_restart(bootstrap: str, topic: str, stores: list[object]) -> None:
    first = KafkaOffsetBackingStore(topic, {"bootstrap.servers": bootstrap}, partitions=3)
    first.start()
    stores.append(first)
    entries = {
        offset_key("pg", {"table": f"t{i}"}): json.dumps({"lsn": i}, separators=(",", ":")).encode()
        for i in range(20)
    }
    first.set(entries)
    gone = offset_key("pg", {"table": "t0"})
    first.set({gone: None, offset_key("pg", {"table": "t1"}): b'{"lsn":100}'})
    assert first.get([gone]) == {gone: None}
    first.stop()

    # A new worker (new clients) reads everything back from the topic.
    second = KafkaOffsetBackingStore(topic, {"bootstrap.servers": bootstrap}, partitions=3)
    second.start()
    stores.append(second)
    expected = {k: v for k, v in entries.items() if k != gone}
    expected[offset_key("pg", {"table": "t1"})] = b'{"lsn":100}'
    assert second.all() == expected
    key = offset_key("pg", {"table": "t5"})
    assert second.get([key, gone]) == {key: b'{"lsn":5}', gone: None}
    assert second.connector_partitions("pg")[key.decode()] == ({"table": "t5"}, {"lsn": 5})

    # Keys land where Java's default partitioner puts them; values are the file store's JSON.
    records = read_topic(bootstrap, topic, 22)
    assert {p for p, *_ in records} == {0, 1, 2}
    for partition, _, k, _v in records:
        assert partition == default_partition(k.encode(), 3), k
    assert json.loads(gone) == ["pg", {"table": "t0"}]
    assert [v for _, _, k, v in records if k == gone.decode()] == [{"lsn": 0}, None]  # tombstone last


# ------------------------------------------------------------------------------------------ statuses


def status_store(bs: str, topic: str, started: list[object]) -> KafkaStatusBackingStore:
    store = KafkaStatusBackingStore(topic, {"bootstrap.servers": bs}, partitions=2)
    store.start()
    started.append(store)
    return store


def test_status_of_an_older_generation_does_not_overwrite(
    bootstrap: str, topic: str, stores: list[object]
) -> None:
    new_owner = status_store(bootstrap, topic, stores)
    old_owner = status_store(bootstrap, topic, stores)
    task = ConnectorTaskId("conn", 0)
    a, b = "worker-a:8083", "worker-b:8083"
    new_owner.put_connector("conn", Status("RUNNING", a, generation=5))
    new_owner.put_task(task, Status("RUNNING", a, generation=5))
    new_owner.flush()
    old_owner.refresh()
    seen = old_owner.task_status(task)
    assert seen is not None and seen.worker_id == a

    # The worker that lost the task in generation 5 reports its shutdown/failure late: ignored.
    old_owner.put_task(task, Status("UNASSIGNED", b, generation=4), safe=True)
    old_owner.put_task(task, Status("FAILED", b, "boom", 4), safe=True)
    old_owner.put_connector("conn", Status("UNASSIGNED", b, generation=4), safe=True)
    old_owner.flush()
    for store in (old_owner, new_owner):
        store.refresh()
        st = store.task_status(task)
        assert st is not None and (st.state, st.worker_id) == ("RUNNING", a)
        conn = store.connector_status("conn")
        assert conn is not None and conn.state == "RUNNING"

    # With a current generation the same write goes through and both workers converge on it.
    old_owner.put_task(task, Status("FAILED", b, "boom", 6), safe=True)
    old_owner.flush()
    new_owner.refresh()
    for store in (old_owner, new_owner):
        st = store.task_status(task)
        assert st is not None and (st.state, st.worker_id, st.trace) == ("FAILED", b, "boom")

    values = {k: v for _, _, k, v in read_topic(bootstrap, topic, 3)}
    assert values["status-task-conn-0"] == {
        "state": "FAILED",
        "trace": "boom",
        "worker_id": "worker-b:8083",
        "generation": 6,
    }
    assert values["status-connector-conn"] == {
        "state": "RUNNING",
        "trace": None,
        "worker_id": "worker-a:8083",
        "generation": 5,
    }

    # A late callback after stop (an abandoned task thread finishing) is not an error on that thread.
    old_owner.stop()
    old_owner.put_task(task, Status("RUNNING", b, generation=6))


def test_status_stores_converge(bootstrap: str, topic: str, stores: list[object]) -> None:
    a = status_store(bootstrap, topic, stores)
    b = status_store(bootstrap, topic, stores)
    a.put_connector("x", Status("RUNNING", "a", generation=1))
    a.put_task(ConnectorTaskId("x", 0), Status("RUNNING", "a", generation=1))
    b.put_task(ConnectorTaskId("x", 1), Status("PAUSED", "b", generation=1))
    b.put_topic("x", "orders")
    a.put_topic("x", "customers")
    a.put_connector("y", Status("RUNNING", "a", generation=1))
    for s in (a, b):
        s.flush()
    for s in (a, b):
        s.refresh()
    for s in (a, b):
        assert {i: (t.state, t.worker_id) for i, t in s.task_statuses("x").items()} == {
            0: ("RUNNING", "a"),
            1: ("PAUSED", "b"),
        }
        assert s.topics("x") == ["customers", "orders"]

    # A third worker started now reads the same statuses from the topic.
    c = status_store(bootstrap, topic, stores)
    x = c.connector_status("x")
    assert x is not None and x.worker_id == "a" and c.topics("x") == ["customers", "orders"]

    b.reset_topics("x")
    a.forget_connector("y")
    for s in (a, b):
        s.flush()

    def c_sees_removals() -> bool:
        c.refresh()
        return c.topics("x") == [] and c.connector_status("y") is None

    wait_until(c_sees_removals, "the third worker to see the reset topics and the forgotten connector")
    topic_record = next(
        v for _, _, k, v in read_topic(bootstrap, topic, 8) if k == "status-topic-orders:connector-x"
    )
    assert isinstance(topic_record, dict)
    assert {k: v for k, v in topic_record["topic"].items() if k != "discoverTimestamp"} == {
        "name": "orders",
        "connector": "x",
        "task": 0,
    }


def test_task_progress_round_trips_through_the_status_topic(
    bootstrap: str, topic: str, stores: list[object]
) -> None:
    a = status_store(bootstrap, topic, stores)
    b = status_store(bootstrap, topic, stores)
    task, other = ConnectorTaskId("pg", 0), ConnectorTaskId("pg", 1)
    progress = {"phase": "snapshot", "rows_done": 1200, "eta_seconds": 4.5, "current_table": "public.t"}
    a.put_task(task, Status("RUNNING", "a", None, 3, {"phase": "starting"}))
    a.put_task(task, Status("RUNNING", "a", None, 3, progress))
    b.put_task(other, Status("RUNNING", "b"))
    for s in (a, b):
        s.flush()
    for s in (a, b):
        s.refresh()
    for s in (a, b):
        st = s.task_status(task)
        assert st is not None and (st.state, st.worker_id, st.progress) == ("RUNNING", "a", progress)
        seen = s.task_status(other)
        assert seen is not None and (seen.worker_id, seen.progress) == ("b", None)
    values = [(k, v) for _, _, k, v in read_topic(bootstrap, topic, 3) if k == "status-task-pg-0"]
    assert values[-1][1] == {
        "state": "RUNNING",
        "trace": None,
        "worker_id": "a",
        "generation": 3,
        "progress": progress,
    }
    assert values[0][1] == {  # Kafka's value plus the extra field, which Kafka's own workers ignore
        "state": "RUNNING",
        "trace": None,
        "worker_id": "a",
        "generation": 3,
        "progress": {"phase": "starting"},
    }

    # A third worker reading the topic sees the final state with the last progress.
    a.put_task(task, Status("FAILED", "a", "boom", 3, progress), safe=True)
    a.flush()
    c = status_store(bootstrap, topic, stores)
    st = c.task_status(task)
    assert st is not None and (st.state, st.trace, st.progress) == ("FAILED", "boom", progress)


# ------------------------------------------------------------------------------------- worker config


def test_stores_from_worker_config(bootstrap: str, stores: list[object]) -> None:
    names = {k: unique_topic(k) for k in ("configs", "offsets", "status")}
    worker = WorkerConfig(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "cluster-1",
            "config.storage.topic": names["configs"],
            "offset.storage.topic": names["offsets"],
            "status.storage.topic": names["status"],
            "offset.storage.partitions": "4",
            "status.storage.partitions": "2",
            "config.storage.replication.factor": "1",
        }
    )
    configs = KafkaConfigBackingStore.for_worker(worker, Recorder(), client_id="w1")
    offsets = KafkaOffsetBackingStore.for_worker(worker, client_id="w1")
    statuses = KafkaStatusBackingStore.for_worker(worker, client_id="w1")
    for s in (configs, offsets, statuses):
        s.start()
        stores.append(s)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    meta = admin.list_topics(timeout=10)
    assert {k: len(meta.topics[n].partitions) for k, n in names.items()} == {
        "configs": 1,
        "offsets": 4,
        "status": 2,
    }
    resources = [ConfigResource("topic", n) for n in names.values()]
    described = admin.describe_configs(resources)
    assert all(described[r].result(10)["cleanup.policy"].value == "compact" for r in resources)
    configs.put_connector_config("n", {"connector.class": "FileStreamSource"})
    offsets.set({offset_key("n", {"f": "a"}): b'{"pos":1}'})
    statuses.put_connector("n", Status("RUNNING", "w1:8083"))
    statuses.flush()
    assert configs.snapshot().contains("n") and offsets.get([offset_key("n", {"f": "a"})])


# ------------------------------------------------------------------------------------------ the log


def test_log_read_to_end_sees_every_acked_record_in_order(bootstrap: str, topic: str) -> None:
    seen: dict[int, list[tuple[int, bytes | None]]] = {}
    reader = KafkaBasedLog(
        topic,
        {"bootstrap.servers": bootstrap},
        lambda p, o, k, v: seen.setdefault(p, []).append((o, v)),
        partitions=3,
    )
    writer = KafkaBasedLog(topic, {"bootstrap.servers": bootstrap}, lambda p, o, k, v: None, partitions=3)
    try:
        reader.start()
        writer.start()
        for i in range(300):
            writer.send(f"key-{i % 7}".encode(), str(i).encode())
        writer.flush()
        reader.read_to_end()  # no waiting on a condition: everything acked before the call is there
        assert sum(len(v) for v in seen.values()) == 300
        for partition, records in seen.items():
            offsets = [o for o, _ in records]
            assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), partition
            values = [int(v or b"") for _, v in records]
            assert values == sorted(values), partition  # a key's updates in the order they were sent
    finally:
        writer.stop()
        reader.stop()


def test_unreachable_broker_is_a_clear_error(topic: str) -> None:
    store = KafkaOffsetBackingStore(topic, {"bootstrap.servers": f"127.0.0.1:{free_port()}"}, timeout=2)
    began = time.monotonic()
    with pytest.raises(ConnectException, match=topic):
        store.start()
    assert time.monotonic() - began < 10
    store.stop()


def test_internal_client_config_keeps_connection_settings_only(caplog: pytest.LogCaptureFixture) -> None:
    worker = WorkerConfig(
        {
            "bootstrap.servers": "a:9092,b:9092",
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "svc",
            "sasl.password": "s3cret",
            "sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule required;",
            "ssl.ca.location": "/etc/ca.pem",
            "producer.acks": "1",
            "offset.storage.topic": "offsets",
        }
    )
    assert internal_client_config(worker) == {
        "bootstrap.servers": "a:9092,b:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "svc",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/ca.pem",
    }
    assert "sasl.jaas.config" in caplog.text and "PlainLoginModule" not in caplog.text
