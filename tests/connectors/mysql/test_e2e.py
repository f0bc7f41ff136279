"""MySqlSource through a real ``headrace standalone`` worker process, the session's broker and MariaDB:

- SIGKILL of the worker in the middle of the snapshot (running ``examples/connectors/mysql-source.json``
  with its Kafka schema history and ``${env:…}`` password) and in the middle of the binlog stream, then a
  restart: every row/change is in the topic, per key in order; duplicates and gaps are counted (no gap,
  duplicates only as one contiguous replay per key: Kafka Connect's at-least-once window);
- a MariaDB crash (SIGKILL) and restart while changes stream: the task reconnects at its own position,
  no change is lost or repeated;
- misconfigurations through REST: a wrong password is a 400 at ``POST /connectors``; binlog_format not
  ROW, binlog_row_image not FULL, missing REPLICATION privileges and a purged binlog position are FAILED
  statuses whose trace says what to fix.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from confluent_kafka import TopicPartition

from tests.support.brokers import BrokerUnderTest
from tests.support.clients import confluent_consumer, create_topic
from tests.support.connect import ConnectWorker, read_offsets_file, wait_until, write_connector_file
from tests.support.mariadb import MariaDbServer
from tests.support.workers import StartedWorkers

PARTITIONS = 2
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "connectors" / "mysql-source.json"

StartWorker = Callable[..., ConnectWorker]


@pytest.fixture
def start_worker(broker: BrokerUnderTest, tmp_path: Path) -> Iterator[StartWorker]:
    """Factory ``start_worker(files=(), env=None, **props)``: a standalone worker against the session
    broker in ``tmp_path``; all are closed at teardown."""
    workers = StartedWorkers(broker.bootstrap, tmp_path)

    def start(files: tuple[Path, ...] = (), env: dict[str, str] | None = None, **props: str) -> ConnectWorker:
        return workers.start(props, connector_files=files, env=env)

    try:
        yield start
    finally:
        workers.close()


def _json_config(prefix: str) -> dict[str, str]:
    return {
        "connector.class": "MySqlSource",
        "tasks.max": "1",
        "topic.prefix": prefix,
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    }


def _end_offsets(bootstrap: str, topic: str) -> int:
    consumer = confluent_consumer(bootstrap)
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)
        )
    finally:
        consumer.close()


def _wait_for_records(
    bootstrap: str,
    topic: str,
    count: int,
    what: str,
    timeout: float,
    alive: Callable[[], None],
    interval: float = 0.2,
) -> None:
    wait_until(
        what,
        lambda: _end_offsets(bootstrap, topic) >= count,
        timeout,
        interval=interval,
        alive=alive,
        describe=lambda: _end_offsets(bootstrap, topic),
    )


def _payload(raw: bytes | None) -> Any:
    """A JsonConverter message with or without the schema envelope."""
    if raw is None:
        return None
    value = json.loads(raw)
    if isinstance(value, dict) and set(value) == {"schema", "payload"}:
        return value["payload"]
    return value


def _read_all(bootstrap: str, topic: str) -> list[tuple[int, int, int, Any]]:
    """(partition, offset, key id, value) of every record in the topic, once it stopped growing."""
    total, stable_since = _end_offsets(bootstrap, topic), time.monotonic()
    while time.monotonic() - stable_since < 1.0:
        time.sleep(0.2)
        now = _end_offsets(bootstrap, topic)
        if now != total:
            total, stable_since = now, time.monotonic()
    consumer = confluent_consumer(bootstrap, **{"queued.min.messages": 1000000})
    out: list[tuple[int, int, int, Any]] = []
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        deadline = time.monotonic() + 60
        while len(out) < total and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=10000, timeout=0.5):
                assert m.error() is None, m.error()
                out.append((m.partition(), m.offset(), _payload(m.key())["id"], _payload(m.value())))
    finally:
        consumer.close()
    assert len(out) == total, f"read {len(out)} of {total} records"
    return out


def _stored_offset(worker: ConnectWorker, name: str) -> dict[str, Any] | None:
    found = [v for k, v in read_offsets_file(worker.offsets_file).items() if json.loads(k)[0] == name]
    return found[0] if found else None


SNAPSHOT_ROWS = 6000


@pytest.mark.headrace_only
def test_example_config_sigkill_mid_snapshot_then_restart_has_every_row_once_or_replayed(
    my: MariaDbServer, my_db: str, broker: BrokerUnderTest, tmp_path: Path, start_worker: StartWorker
) -> None:
    """The example config as shipped (Kafka schema history, JsonConverter with schemas, password from
    ``${env:MYSQL_PASSWORD}``), pointed at the test database: killed while the snapshot runs, restarted,
    the snapshot resumes after the last committed key and then streams."""
    prefix = f"my{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.{my_db}.customers"
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    my.execute(
        "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, note VARCHAR(255))",
        "CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL)",
        database=my_db,
    )
    for start in range(0, SNAPSHOT_ROWS, 1000):
        rows = ",".join(f"({i}, 'name {i}', '{'x' * 200}')" for i in range(start + 1, start + 1001))
        my.execute(f"INSERT INTO customers VALUES {rows}", database=my_db)
    example = json.loads(EXAMPLE.read_text())
    config = {
        **example["config"],
        "database.hostname": my.host,
        "database.port": str(my.port),
        "database.user": my.user,
        "topic.prefix": prefix,
        "database.include.list": my_db,
        "table.include.list": f"{my_db}.customers,{my_db}.orders",
        "schema.history.internal.kafka.bootstrap.servers": broker.bootstrap,
        "schema.history.internal.kafka.topic": f"schema-history.{prefix}",
        "snapshot.fetch.size": "100",  # small batches, so the kill lands mid-snapshot
    }
    assert config["database.password"] == "${env:MYSQL_PASSWORD}"
    files = (write_connector_file(tmp_path / "example.json", example["name"], config),)
    worker = start_worker(
        files,
        env={"MYSQL_PASSWORD": my.password},
        **{
            "config.providers": "env",
            "config.providers.env.class": "EnvVarConfigProvider",
            "offset.flush.interval.ms": "100",
        },
    )
    name = example["name"]
    healthy = worker.healthy(name)
    wait_until(
        "a committed snapshot offset",
        lambda: (o := _stored_offset(worker, name)) is not None and o.get("snapshot") and o.get("last_key"),
        60,
        interval=0.01,
        alive=healthy,
        describe=lambda: _stored_offset(worker, name),
    )
    worker.kill()
    at_kill = _end_offsets(broker.bootstrap, topic)
    stored = _stored_offset(worker, name)
    assert stored is not None and stored.get("snapshot"), stored
    assert at_kill < SNAPSHOT_ROWS, "the worker was killed after the whole snapshot was delivered"

    worker.start()
    _wait_for_records(broker.bootstrap, topic, SNAPSHOT_ROWS, "the whole snapshot", 60, worker.healthy(name))
    my.execute("INSERT INTO customers VALUES (100000, 'after', NULL)", database=my_db)
    _wait_for_records(
        broker.bootstrap, topic, SNAPSHOT_ROWS + 1, "a streamed insert", 30, worker.healthy(name)
    )
    records = _read_all(broker.bootstrap, topic)
    ops: dict[int, list[str]] = defaultdict(list)
    for _p, _o, key, value in records:
        ops[key].append(value["op"])
    expected = set(range(1, SNAPSHOT_ROWS + 1)) | {100000}
    gaps = expected - set(ops)
    duplicates = len(records) - len(expected)
    assert not gaps, f"{len(gaps)} rows missing, e.g. {sorted(gaps)[:10]}"
    assert set(ops) == expected
    assert ops[100000] == ["c"]
    assert all(set(v) == {"r"} for k, v in ops.items() if k != 100000)
    print(
        f"killed mid-snapshot at {at_kill}/{SNAPSHOT_ROWS} rows in the topic (committed up to key "
        f"{stored['last_key']}); after the restart: {len(gaps)} gaps, {duplicates} duplicates"
    )
    assert duplicates <= at_kill, "more duplicates than rows delivered before the kill"
    history = worker.get(f"/connectors/{name}/status").json()
    assert [t["state"] for t in history["tasks"]] == ["RUNNING"], history


KEYS = 500
ROUNDS = 20  # KEYS * ROUNDS = 10k update events after the 500-row snapshot, 500 rows per row event


@pytest.mark.headrace_only
def test_sigkill_mid_stream_then_restart_delivers_every_change_in_order(
    my: MariaDbServer,
    my_db: str,
    my_config: dict[str, str],
    broker: BrokerUnderTest,
    tmp_path: Path,
    start_worker: StartWorker,
) -> None:
    prefix = f"my{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.{my_db}.kv"
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    my.execute("CREATE TABLE kv (id INT PRIMARY KEY, v INT NOT NULL)", database=my_db)
    my.execute("INSERT INTO kv VALUES " + ",".join(f"({i}, 0)" for i in range(1, KEYS + 1)), database=my_db)
    config = {**my_config, **_json_config(prefix), "max.batch.size": "300"}
    files = (write_connector_file(tmp_path / "my.json", "my", config),)
    worker = start_worker(files, **{"offset.flush.interval.ms": "200"})
    healthy = worker.healthy("my")
    _wait_for_records(broker.bootstrap, topic, KEYS, "the snapshot in the topic", 30, healthy)

    def write() -> None:  # ROUNDS transactions, each updating every key once (v = round)
        with my.connect(my_db) as conn, conn.cursor() as cur:
            for _ in range(ROUNDS):
                cur.execute("UPDATE kv SET v = v + 1")
                time.sleep(0.05)

    writer = threading.Thread(target=write, name="mysql-writer", daemon=True)
    writer.start()
    total = KEYS * (ROUNDS + 1)

    def streaming_committed() -> bool:  # a third in the topic and a streaming offset committed
        stored = _stored_offset(worker, "my")
        return (
            bool(stored and not stored.get("snapshot"))
            and _end_offsets(broker.bootstrap, topic) >= total // 3
        )

    wait_until("a third of the stream in the topic", streaming_committed, 60, interval=0.01, alive=healthy)
    worker.kill()
    at_kill = _end_offsets(broker.bootstrap, topic)
    stored = _stored_offset(worker, "my")
    assert at_kill < total, "the worker was killed after the whole stream was delivered: not mid-stream"
    assert stored is not None and not stored.get("snapshot"), stored
    writer.join(60)
    assert not writer.is_alive()

    worker.start()
    _wait_for_records(broker.bootstrap, topic, total, "every change in the topic", 60, worker.healthy("my"))
    resumed = worker.log_text(all_generations=False)
    assert (
        f"Streaming changes from binlog {stored['file']}:{stored['pos']}; already delivered: the first "
        f"{stored['event']} row event(s)" in resumed
    ), resumed[-3000:]
    records = _read_all(broker.bootstrap, topic)
    per_key: dict[int, list[int]] = defaultdict(list)
    partitions: dict[int, set[int]] = defaultdict(set)
    for partition, _offset, key, value in records:
        per_key[key].append(value["after"]["v"])
        partitions[key].add(partition)
    assert sorted(per_key) == list(range(1, KEYS + 1))
    gaps = 0
    for key, values in per_key.items():
        assert len(partitions[key]) == 1, f"key {key} in more than one partition"
        first_seen = list(dict.fromkeys(values))
        gaps += ROUNDS + 1 - len(first_seen)
        assert first_seen == list(range(ROUNDS + 1)), f"key {key}: changes missing or out of order: {values}"
        # at-least-once: a replay repeats a contiguous run that was already delivered, never reorders
        replays = [i for i in range(1, len(values)) if values[i] <= values[i - 1]]
        assert len(replays) <= 1, f"key {key}: more than one replay: {values}"
    duplicates = len(records) - total
    print(
        f"killed mid-stream at {at_kill}/{total} records in the topic (committed offset {stored}); "
        f"after the restart: {gaps} gaps, {duplicates} duplicates"
    )
    assert gaps == 0
    assert duplicates <= at_kill


def test_mariadb_restart_mid_stream_reconnects_and_continues(
    my: MariaDbServer,
    my_db: str,
    my_config: dict[str, str],
    broker: BrokerUnderTest,
    start_worker: StartWorker,
) -> None:
    if not my.local:
        pytest.skip("the MariaDB server comes from HEADRACE_TEST_MYSQL_URL and cannot be restarted here")
    prefix = f"my{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.{my_db}.kv"
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    my.execute("CREATE TABLE kv (id INT PRIMARY KEY, v INT NOT NULL)", database=my_db)
    worker = start_worker()
    worker.create("my", {**my_config, **_json_config(prefix), "snapshot.mode": "no_data"})
    worker.wait_for_state("my", "RUNNING", ["RUNNING"], timeout=30)
    wait_until("the task to stream", lambda: "Streaming changes" in worker.log_text(), 30)
    batches, per_batch = 100, 50
    halt = threading.Event()

    def write() -> None:  # keeps committing through the restart; a failed batch is retried (idempotent)
        conn: Any = None
        for b in range(batches):
            while not halt.is_set():
                try:
                    if conn is None:
                        conn = my.connect(my_db)
                    rows = ",".join(f"({i}, 0)" for i in range(b * per_batch + 1, (b + 1) * per_batch + 1))
                    with conn.cursor() as cur:
                        cur.execute(f"INSERT IGNORE INTO kv VALUES {rows}")
                    time.sleep(0.01)
                    break
                except pymysql.err.MySQLError:  # the server is restarting: reconnect and retry
                    conn = None
                    time.sleep(0.1)
        if conn is not None:
            conn.close()

    writer = threading.Thread(target=write, name="mysql-writer", daemon=True)
    writer.start()
    try:
        healthy = worker.healthy("my")
        _wait_for_records(broker.bootstrap, topic, 1000, "changes in the topic", 30, healthy, 0.05)
        my.restart(kill=True)  # a crash of the database while changes stream
        writer.join(60)
        assert not writer.is_alive()
        total = batches * per_batch
        _wait_for_records(
            broker.bootstrap, topic, total, "every change after the restart", 60, worker.healthy("my")
        )
    finally:
        halt.set()
    status = worker.status("my")
    assert [t["state"] for t in status["tasks"]] == ["RUNNING"], status
    text = worker.log_text()
    assert "Lost the binlog connection" in text and "Reconnected to" in text, text[-3000:]
    records = _read_all(broker.bootstrap, topic)
    ids = [key for _p, _o, key, _v in records]
    missing = set(range(1, total + 1)) - set(ids)
    duplicates = len(ids) - len(set(ids))
    print(f"MariaDB restarted mid-stream: {len(missing)} gaps, {duplicates} duplicates")
    assert not missing, f"{len(missing)} committed changes missing"
    assert duplicates == 0, f"{duplicates} duplicates after the reconnect"


@pytest.fixture
def restore_globals(my: MariaDbServer) -> Iterator[None]:
    before = dict(
        my.query("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('binlog_format', 'binlog_row_image')")
    )
    try:
        yield
    finally:
        for name, value in before.items():
            my.execute(f"SET GLOBAL {name} = '{value}'")


def _failed_trace(worker: ConnectWorker, name: str, timeout: float = 30) -> str:
    def failed() -> str | None:
        status = worker.status(name)
        for part in [status["connector"], *status["tasks"]]:
            if part["state"] == "FAILED":
                return str(part.get("trace", ""))
        return None

    return wait_until(
        f"{name} FAILED", failed, timeout, alive=worker.check_alive, describe=lambda: worker.status(name)
    )


def test_misconfigurations_through_rest(
    my: MariaDbServer,
    my_db: str,
    my_config: dict[str, str],
    start_worker: StartWorker,
    restore_globals: None,
) -> None:
    """A wrong password: 400 at POST /connectors (nothing created, the password in no answer or log).
    Problems validate() cannot see give FAILED with what to fix: binlog_format not ROW, binlog_row_image
    not FULL, missing REPLICATION privileges, a committed binlog position that was purged."""
    worker = start_worker()
    base = {**my_config, **_json_config(f"my{uuid.uuid4().hex[:8]}")}
    r = worker.post(
        "/connectors", json={"name": "pw", "config": {**base, "database.password": "WrongPassw0rd!"}}
    )
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error_code"] == 400 and "database.password" in body["message"], body
    assert "rejected the credentials of user 'headrace'" in body["message"], body
    assert "WrongPassw0rd!" not in r.text
    assert worker.json("GET", "/connectors") == []

    my.execute("SET GLOBAL binlog_format = 'STATEMENT'")
    worker.create("fmt", base)
    trace = _failed_trace(worker, "fmt")
    assert "binlog_format=STATEMENT, but change data capture needs ROW" in trace, trace[-2000:]
    worker.delete("/connectors/fmt")
    my.execute("SET GLOBAL binlog_format = 'ROW'", "SET GLOBAL binlog_row_image = 'MINIMAL'")
    worker.create("image", base)
    trace = _failed_trace(worker, "image")
    assert "binlog_row_image=MINIMAL" in trace and "set binlog_row_image=FULL" in trace, trace[-2000:]
    worker.delete("/connectors/image")
    my.execute("SET GLOBAL binlog_row_image = 'FULL'")

    with my.restricted_user(["SELECT, RELOAD ON *.*"], password="pw-1") as user:
        worker.create("grants", {**base, "database.user": user, "database.password": "pw-1"})
        trace = _failed_trace(worker, "grants")
        assert f"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{user}'" in trace, trace[-2000:]
        worker.delete("/connectors/grants")

    # purged: stream, stop the connector, rotate and purge the binlogs, resume
    my.execute("CREATE TABLE t (id INT PRIMARY KEY)", database=my_db)
    worker.create("purged", {**base, "snapshot.mode": "no_data"})
    wait_until("the task to stream", lambda: "Streaming changes" in worker.log_text(), 30)
    my.execute("INSERT INTO t VALUES (1)", database=my_db)
    wait_until(
        "a committed streaming offset",
        lambda: worker.json("GET", "/connectors/purged/offsets")["offsets"],
        30,
        alive=worker.healthy("purged"),
    )
    assert worker.put("/connectors/purged/stop").status_code == 204
    worker.wait_for_state("purged", "STOPPED", timeout=30)
    (committed,) = worker.json("GET", "/connectors/purged/offsets")["offsets"]
    my.execute("FLUSH BINARY LOGS")
    (current,) = [str(row[0]) for row in my.query("SHOW MASTER STATUS")]

    def purged() -> bool:  # a file a dump thread still reads is kept: retry until the old reader left
        my.execute(f"PURGE BINARY LOGS TO '{current}'")
        return committed["offset"]["file"] not in [str(row[0]) for row in my.query("SHOW BINARY LOGS")]

    wait_until(f"{committed['offset']['file']} purged", purged, 30, interval=0.2)
    assert worker.put("/connectors/purged/resume").status_code == 202
    trace = _failed_trace(worker, "purged")
    assert "is no longer on" in trace and "(purged; the oldest binlog is" in trace, trace[-2000:]
    assert "snapshot.mode=when_needed" in trace
    assert "WrongPassw0rd!" not in worker.log_text()
