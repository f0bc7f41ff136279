"""ParquetSink in a real ``headrace standalone`` worker against the session broker: SIGKILLs of the worker
at random points while a producer keeps writing, then every committed file is read back with pyarrow
and compared with the topic — each topic record exactly once (no duplicate, no missing offset).

Local store with the default partitioner; S3 (SeaweedFS) with the time partitioner over a record field
(paths checked against each row's time); Debezium change events (JSON envelopes with schemas, as the
CDC connectors produce them) read back as a table with pyarrow.dataset.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from tests.connectors.parquet.helpers import committed_files
from tests.support.brokers import BrokerUnderTest
from tests.support.clients import admin, confluent_consumer, confluent_producer, create_topic
from tests.support.connect import ConnectWorker, wait_until, write_connector_file
from tests.support.seaweedfs import S3Store
from tests.support.servers import REPO_ROOT
from tests.support.workers import StartedWorkers

WORKER_PROPS = {
    "offset.flush.interval.ms": "200",
    # A killed worker's consumer stays a group member until its session expires (broker minimum 6 s).
    "consumer.session.timeout.ms": "6000",
    "consumer.heartbeat.interval.ms": "1000",
}
HOUR = 3_600_000
TS_STEP_MS = 10_000  # 360 rows per hour directory
BASE_TS = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
ROW_SCHEMA = {
    "type": "struct",
    "name": "e2e.Row",
    "optional": False,
    "fields": [
        {"field": "id", "type": "int64", "optional": False},
        {"field": "ts", "type": "int64", "optional": False},
        {"field": "name", "type": "string", "optional": True},
    ],
}
_PREFIX = b'{"schema":' + json.dumps(ROW_SCHEMA, separators=(",", ":")).encode() + b',"payload":'


@pytest.fixture
def workers(broker: BrokerUnderTest, tmp_path: Path) -> Iterator[StartedWorkers]:
    started = StartedWorkers(broker.bootstrap, tmp_path)
    try:
        yield started
    finally:
        started.close()


def start(
    broker: BrokerUnderTest, tmp_path: Path, workers: StartedWorkers, config: dict[str, str]
) -> ConnectWorker:
    files = [write_connector_file(tmp_path / "pq.json", "pq", config)]
    worker = workers.start(WORKER_PROPS, work_dir=tmp_path / "worker", connector_files=files)
    worker.wait_for_state("pq", "RUNNING", ["RUNNING"] * int(config.get("tasks.max", "1")))
    return worker


def sink_config(topic: str, store_url: str, **extra: str) -> dict[str, str]:
    return {
        "connector.class": "ParquetSink",
        "topics": topic,
        "tasks.max": "1",
        "store.url": store_url,
        "key.converter": "StringConverter",
        "value.converter": "JsonConverter",
        "value.converter.schemas.enable": "true",
        "rotate.schedule.interval.ms": "1000",
        **extra,
    }


class Producer(threading.Thread):
    """Produces rows id = 0, 1, 2, ... (ts = BASE_TS + id * TS_STEP_MS) in small batches until stopped."""

    def __init__(self, bootstrap: str, topic: str, per_batch: int = 100, pause: float = 0.02) -> None:
        super().__init__(name="row-producer", daemon=True)
        self.topic, self.per_batch, self.pause = topic, per_batch, pause
        self.producer = confluent_producer(bootstrap, **{"enable.idempotence": True})
        self.sent = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for i in range(self.sent, self.sent + self.per_batch):
                payload = {"id": i, "ts": BASE_TS + i * TS_STEP_MS, "name": f"row-{i}"}
                self.producer.produce(
                    self.topic, key=str(i).encode(), value=_PREFIX + json.dumps(payload).encode() + b"}"
                )
            self.sent += self.per_batch
            self.producer.poll(0)
            time.sleep(self.pause)

    def stop(self) -> int:
        self._halt.set()
        self.join(10)
        assert self.producer.flush(30) == 0
        return self.sent


def topic_ids(bootstrap: str, topic: str, partitions: int) -> dict[tuple[int, int], int]:
    """``(partition, offset) -> id`` of every record in the topic."""
    c = confluent_consumer(bootstrap)
    out: dict[tuple[int, int], int] = {}
    try:
        ends = {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)
        }
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        deadline = time.monotonic() + 30
        while len(out) < sum(ends.values()) and time.monotonic() < deadline:
            for m in c.consume(num_messages=1000, timeout=0.2):
                assert m.error() is None, m.error()
                out[(m.partition(), m.offset())] = json.loads(m.value())["payload"]["id"]
    finally:
        c.close()
    assert len(out) == sum(ends.values())
    return out


def covered(fs: pafs.FileSystem, root: str, topic: str, ends: dict[int, int]) -> bool:
    last = {p: -1 for p in ends}
    for f in committed_files(fs, root, topic):
        last[f.partition] = max(last.get(f.partition, -1), f.end)
    return all(last[p] >= ends[p] - 1 for p in ends)


def delete_group(bootstrap: str, group: str) -> None:
    """Delete a consumer group, waiting for a killed member's session to expire (the group must be empty)."""

    client = admin(bootstrap)  # must outlive its futures

    def deleted() -> bool:
        try:
            client.delete_consumer_groups([group], request_timeout=10)[group].result(15)
        except KafkaException as exc:
            return bool(exc.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND)
        return True

    wait_until(f"consumer group {group} deleted", deleted, 30, interval=0.5)


def check_files_against_topic(fs: pafs.FileSystem, root: str, topic: str, partitions: int) -> list[Any]:
    """Every topic record is in exactly one committed file, in a file of its partition whose offset range
    contains it. Returns (file, table) pairs."""
    by_id = {i: tp for tp, i in topic_ids_cache[topic].items()}
    assert len(by_id) == len(topic_ids_cache[topic]), "the idempotent producer duplicated records"
    seen: dict[int, str] = {}
    out = []
    for f in committed_files(fs, root, topic):
        table = pq.read_table(f.path, filesystem=fs)
        ids = table.column("id").to_pylist()
        offsets = [by_id[i][1] for i in ids]
        assert offsets == sorted(offsets), f"{f.path}: rows out of offset order"
        for i, (p, o) in zip(ids, (by_id[i] for i in ids), strict=True):
            assert p == f.partition and f.start <= o <= f.end, (
                f"{f.path}: id {i} at {p}/{o} outside the file's range"
            )
            assert i not in seen, f"id {i} written twice: {seen[i]} and {f.path}"
            seen[i] = f.path
        out.append((f, table))
    missing = sorted(set(by_id) - set(seen))
    assert not missing, f"{len(missing)} topic records in no file, e.g. ids {missing[:10]}"
    return out


topic_ids_cache: dict[str, dict[tuple[int, int], int]] = {}


def run_with_kills(
    broker: BrokerUnderTest,
    tmp_path: Path,
    workers: StartedWorkers,
    topic: str,
    config: dict[str, str],
    fs: pafs.FileSystem,
    root: str,
    kills: int,
    while_down: Callable[[], None] | None = None,
    rebalance: bool = False,
) -> None:
    """Produce while the worker is SIGKILLed ``kills`` times at random points (restarted each time; before
    the last restart ``while_down`` runs; with ``rebalance``, task 0 is also restarted over REST in
    between, which revokes and reassigns partitions inside the running worker), then wait until the
    files cover every offset of the topic."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"kill schedule seed {seed}")
    create_topic(broker.bootstrap, topic, partitions=2)
    producer = Producer(broker.bootstrap, topic)
    producer.start()
    worker = start(broker, tmp_path, workers, config)
    try:
        for n in range(kills):
            if rebalance and n == 1:
                before = len(committed_files(fs, root, topic))
                r = worker.post("/connectors/pq/tasks/0/restart")
                assert r.status_code in (200, 202, 204), r.text
                wait_until(
                    "new files after the rebalance",
                    lambda before=before: len(committed_files(fs, root, topic)) > before + 2,
                    40,
                    alive=worker.healthy("pq"),
                )
            before = len(committed_files(fs, root, topic))
            wait_until(
                "new files",
                lambda before=before: len(committed_files(fs, root, topic)) > before,
                40,
                alive=worker.healthy("pq"),
            )
            time.sleep(rng.uniform(0.05, 0.8))
            worker.kill()
            if while_down is not None and n == kills - 1:
                while_down()
            worker.start()
            worker.wait_for_state("pq", "RUNNING", ["RUNNING"] * int(config.get("tasks.max", "1")))
    finally:
        sent = producer.stop()
    assert sent > 0
    c = confluent_consumer(broker.bootstrap)
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(2)}
    c.close()
    wait_until(
        "files covering every offset",
        lambda: covered(fs, root, topic, ends),
        60,
        interval=0.3,
        alive=worker.healthy("pq"),
        describe=lambda: [(f.partition, f.end) for f in committed_files(fs, root, topic)][-4:],
    )
    topic_ids_cache[topic] = topic_ids(broker.bootstrap, topic, 2)
    assert len(topic_ids_cache[topic]) == sent
    restarted = worker.log_text()
    assert restarted.count("resuming after the committed files") >= kills + 1


def test_local_exactly_once_across_sigkills(
    broker: BrokerUnderTest, tmp_path: Path, workers: StartedWorkers, topic: str
) -> None:
    store = tmp_path / "lake"
    config = sink_config(topic, f"file://{store}", **{"flush.size": "97", "tasks.max": "2"})
    fs = pafs.LocalFileSystem()

    def lose_consumer_offsets_and_change_flush_size() -> None:
        # The store is the source of truth: with the group's committed offsets gone (the consumer starts
        # from the beginning) and other file cuts, the sink must still continue right after its files.
        write_connector_file(tmp_path / "pq.json", "pq", {**config, "flush.size": "61"})
        delete_group(broker.bootstrap, "connect-pq")

    run_with_kills(
        broker,
        tmp_path,
        workers,
        topic,
        config,
        fs,
        str(store),
        kills=2,
        while_down=lose_consumer_offsets_and_change_flush_size,
        rebalance=True,
    )
    files = check_files_against_topic(fs, str(store), topic, 2)
    # Default partitioner: each file holds exactly its offset range.
    for f, table in files:
        assert table.num_rows == f.end - f.start + 1, f.path
        assert f.path.split("/")[-2] == f"partition={f.partition}"
    assert not list((store / "_headrace").rglob("*.parquet")), "staging files left after recovery"


def test_s3_time_partitioned_exactly_once_across_sigkills(
    broker: BrokerUnderTest, tmp_path: Path, workers: StartedWorkers, topic: str, s3: S3Store
) -> None:
    bucket = s3.new_bucket("e2e")
    config = sink_config(
        topic,
        f"s3://{bucket}/lake",
        **{
            "s3.endpoint": s3.endpoint,
            "s3.access.key.id": s3.access_key,
            "s3.secret.access.key": s3.secret_key,
            "flush.size": "500",
            "partitioner.class": "time",
            "timestamp.extractor": "RecordField",
            "timestamp.field": "ts",
            "path.format": "'dt'=YYYY-MM-dd/'hour'=HH",
            "partition.duration.ms": str(HOUR),
            "rotate.interval.ms": str(2 * HOUR),
            # The fast path: the sink decodes the JsonConverter envelopes itself (value.format=json).
            "key.converter": "ByteArrayConverter",
            "value.converter": "ByteArrayConverter",
            "value.format": "json",
        },
    )
    fs = s3.filesystem()
    run_with_kills(broker, tmp_path, workers, topic, config, fs, f"{bucket}/lake", kills=1)
    files = check_files_against_topic(fs, f"{bucket}/lake", topic, 2)
    for f, table in files:
        for ts in table.column("ts").to_pylist():
            moment = dt.datetime.fromtimestamp(ts / 1000, dt.UTC)
            assert f.path.split("/")[-3:-1] == [moment.strftime("dt=%Y-%m-%d"), moment.strftime("hour=%H")], (
                f.path
            )
    assert len({f.path.rsplit("/", 1)[0] for f, _ in files}) > 3, "expected several hour directories"
    log_text = "".join(w.log_text() for w in workers)
    assert s3.secret_key not in log_text, "the S3 secret key leaked into the worker log"
    for path in ("/connectors/pq", "/connectors/pq/config", "/connectors/pq/tasks"):
        body = workers[-1].get(path).text
        assert s3.secret_key not in body and s3.access_key not in body, f"a secret in GET {path}: {body}"


# -- Debezium change events --------------------------------------------------------------------------------

ITEM = {
    "type": "struct",
    "name": "pg.public.items.Value",
    "optional": True,
    "fields": [
        {"field": "id", "type": "int32", "optional": False},
        {"field": "label", "type": "string", "optional": True},
        {"field": "price", "type": "double", "optional": True},
    ],
}
ENVELOPE = {
    "type": "struct",
    "name": "pg.public.items.Envelope",
    "optional": False,
    "fields": [
        {**ITEM, "field": "before"},
        {**ITEM, "field": "after"},
        {
            "type": "struct",
            "name": "io.debezium.connector.postgresql.Source",
            "optional": False,
            "field": "source",
            "fields": [
                {"field": "connector", "type": "string", "optional": False},
                {"field": "ts_ms", "type": "int64", "optional": False},
                {"field": "lsn", "type": "int64", "optional": True},
                {"field": "txId", "type": "int64", "optional": True},
            ],
        },
        {"field": "op", "type": "string", "optional": False},
        {"field": "ts_ms", "type": "int64", "optional": True},
    ],
}


def debezium_event(n: int, op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> bytes:
    payload = {
        "before": before,
        "after": after,
        "source": {"connector": "postgresql", "ts_ms": 1000 + n, "lsn": 5000 + n, "txId": 700 + n},
        "op": op,
        "ts_ms": 2000 + n,
    }
    return json.dumps({"schema": ENVELOPE, "payload": payload}).encode()


def test_debezium_change_events_become_a_queryable_table(
    broker: BrokerUnderTest, tmp_path: Path, workers: StartedWorkers, topic: str
) -> None:
    create_topic(broker.bootstrap, topic, partitions=1)
    events: list[tuple[bytes, bytes | None]] = [
        (b'{"id":1}', debezium_event(0, "r", None, {"id": 1, "label": "one", "price": 1.5})),
        (b'{"id":2}', debezium_event(1, "c", None, {"id": 2, "label": "two", "price": 2.5})),
        (
            b'{"id":1}',
            debezium_event(
                2, "u", {"id": 1, "label": "one", "price": 1.5}, {"id": 1, "label": "uno", "price": 1.0}
            ),
        ),
        (b'{"id":2}', debezium_event(3, "d", {"id": 2, "label": "two", "price": 2.5}, None)),
        (b'{"id":2}', None),  # the tombstone Debezium emits after a delete
        (b'{"id":3}', debezium_event(5, "c", None, {"id": 3, "label": None, "price": None})),
    ]
    p = confluent_producer(broker.bootstrap)
    for key, value in events:
        p.produce(topic, key=key, value=value)
    assert p.flush(30) == 0
    store = tmp_path / "lake"
    worker = start(broker, tmp_path, workers, sink_config(topic, f"file://{store}", **{"flush.size": "1000"}))
    wait_until(
        "the change events in files",
        lambda: covered(pafs.LocalFileSystem(), str(store), topic, {0: 6}),
        30,
        alive=worker.healthy("pq"),
    )
    table = ds.dataset(str(store / topic), format="parquet", partitioning="hive").to_table()
    assert table.schema.names[:3] == ["id", "label", "price"]
    assert {"__op", "__ts_ms", "__source_ts_ms", "__lsn", "__txId", "__deleted"} <= set(table.schema.names)
    rows = table.select(["id", "label", "price", "__op", "__lsn", "__deleted"]).to_pylist()
    assert rows == [
        {"id": 1, "label": "one", "price": 1.5, "__op": "r", "__lsn": 5000, "__deleted": False},
        {"id": 2, "label": "two", "price": 2.5, "__op": "c", "__lsn": 5001, "__deleted": False},
        {"id": 1, "label": "uno", "price": 1.0, "__op": "u", "__lsn": 5002, "__deleted": False},
        {"id": 2, "label": "two", "price": 2.5, "__op": "d", "__lsn": 5003, "__deleted": True},
        {"id": 3, "label": None, "price": None, "__op": "c", "__lsn": 5005, "__deleted": False},
    ]
    # The table answers questions: the live rows are the last image of each id that was not deleted.
    latest: dict[int, dict[str, Any]] = {}
    for r in rows:
        latest[r["id"]] = r
    assert sorted(i for i, r in latest.items() if not r["__deleted"]) == [1, 3]


def test_example_config_files_and_consumer_offsets_land_within_the_schedule_interval(
    broker: BrokerUnderTest, tmp_path: Path, workers: StartedWorkers, topic: str
) -> None:
    """examples/connectors/parquet-sink.json (rotate.schedule.interval.ms=5000, flush.size=10000) in a worker
    with Kafka Connect's default offset.flush.interval.ms (60 s): rows written once land in files within
    about 5 s, and the connector's consumer group commits their offsets as soon as the files exist — not
    a minute later. The round ends in the empty put() the runtime makes while the topic is quiet."""
    example = json.loads((REPO_ROOT / "examples" / "connectors" / "parquet-sink.json").read_text())
    schedule_s = int(example["config"]["rotate.schedule.interval.ms"]) / 1000
    store = tmp_path / "lake"
    config = {**example["config"], "topics.regex": re.escape(topic), "store.url": f"file://{store}"}
    create_topic(broker.bootstrap, topic, partitions=1)
    files = [write_connector_file(tmp_path / "pq.json", example["name"], config)]
    worker = workers.start(
        {**WORKER_PROPS, "offset.flush.interval.ms": "60000"},  # Kafka Connect's default
        work_dir=tmp_path / "worker",
        connector_files=files,
    )
    worker.wait_for_state(example["name"], "RUNNING", ["RUNNING"])
    p = confluent_producer(broker.bootstrap)
    for i in range(50):
        p.produce(
            topic, value=_PREFIX + json.dumps({"id": i, "ts": BASE_TS, "name": f"r{i}"}).encode() + b"}"
        )
    assert p.flush(30) == 0
    written = time.monotonic()
    budget = schedule_s + 4  # the round's deadline, the consumer's first fetch, one consume timeout

    fs = pafs.LocalFileSystem()
    wait_until(
        "the rows in committed files",
        lambda: covered(fs, str(store), topic, {0: 50}),
        budget,
        alive=worker.healthy(example["name"]),
    )
    files_after = time.monotonic() - written
    consumer = confluent_consumer(broker.bootstrap, **{"group.id": f"connect-{example['name']}"})
    try:
        wait_until(
            "the consumer offsets committed",
            lambda: consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset == 50,
            max(budget - (time.monotonic() - written), 0.5),
            interval=0.2,
        )
    finally:
        consumer.close()
    print(f"files after {files_after:.1f} s, offsets after {time.monotonic() - written:.1f} s")
    assert [(f.start, f.end) for f in committed_files(fs, str(store), topic)] == [(0, 49)]
