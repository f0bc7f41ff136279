"""PostgresSource through a real ``headrace standalone`` worker process and the session's broker:

- SIGKILL of the worker in the middle of a 100k-change stream, then a restart: every committed change
  is in the topic, in order per key (at-least-once, no gaps), and the slot never ran ahead of the
  committed offsets;
- wrong password and ``wal_level`` not logical: ``POST /connectors`` answers 400 naming the key to fix
  (and never the password); a missing table and a database dropped after creation: FAILED through REST
  with a message that says what to fix;
- a snapshot's progress (tables and rows done, estimate, rate, ETA) in ``GET /connectors/{name}/status``
  and ``/metrics`` while it runs, then the streaming phase.
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

import psycopg
import pytest
from confluent_kafka import TopicPartition

from tests.connectors.postgres.conftest import execute
from tests.connectors.postgres.helpers import confirmed_lsn
from tests.support.brokers import BrokerUnderTest
from tests.support.clients import confluent_consumer, create_topic
from tests.support.connect import (
    ConnectWorker,
    read_offsets_file,
    wait_until,
    write_connector_file,
)
from tests.support.postgres import PostgresServer, PostgresUnavailable, start_local
from tests.support.require import require_or_skip
from tests.support.workers import StartedWorkers

KEYS = 1000
ROUNDS = 100  # KEYS * ROUNDS = 100k update events after the 1000-row snapshot
PARTITIONS = 2


StartWorker = Callable[..., ConnectWorker]


@pytest.fixture
def start_worker(broker: BrokerUnderTest, tmp_path: Path) -> Iterator[StartWorker]:
    """Factory ``start_worker(files=(), **props)``: a standalone worker against the session broker, in
    ``tmp_path``, running the connector files given on its command line; all are closed at teardown."""
    workers = StartedWorkers(broker.bootstrap, tmp_path)

    def start(files: tuple[Path, ...] = (), env: dict[str, str] | None = None, **props: str) -> ConnectWorker:
        return workers.start(props, connector_files=files, env=env)

    try:
        yield start
    finally:
        workers.close()


def _json_config(prefix: str) -> dict[str, str]:
    return {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
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
    """Poll until the topic's partitions hold ``count`` records; ``alive`` fails fast on a FAILED task."""
    wait_until(
        what,
        lambda: _end_offsets(bootstrap, topic) >= count,
        timeout,
        interval=interval,
        alive=alive,
        describe=lambda: _end_offsets(bootstrap, topic),
    )


def _read_all(bootstrap: str, topic: str) -> list[tuple[int, int, int, dict[str, Any]]]:
    """(partition, offset, key id, value) of every record in the topic, once it stopped growing."""
    total, stable_since = _end_offsets(bootstrap, topic), time.monotonic()
    while time.monotonic() - stable_since < 1.0:
        time.sleep(0.2)
        now = _end_offsets(bootstrap, topic)
        if now != total:
            total, stable_since = now, time.monotonic()
    consumer = confluent_consumer(bootstrap, **{"queued.min.messages": 1000000})
    out: list[tuple[int, int, int, dict[str, Any]]] = []
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        deadline = time.monotonic() + 60
        while len(out) < total and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=10000, timeout=0.5):
                assert m.error() is None, m.error()
                value = json.loads(m.value()) if m.value() is not None else None
                out.append((m.partition(), m.offset(), json.loads(m.key())["id"], value))
    finally:
        consumer.close()
    assert len(out) == total, f"read {len(out)} of {total} records"
    return out


def _kill(
    worker: ConnectWorker, pg: PostgresServer, slot: str, bootstrap: str, topic: str
) -> tuple[int, dict[str, Any] | None]:
    """SIGKILL the worker; returns the records in the topic then and the committed source offset (None if
    none), after checking that the slot was never confirmed beyond it."""
    worker.kill()
    at_kill = _end_offsets(bootstrap, topic)
    committed = read_offsets_file(worker.offsets_file)
    confirmed = confirmed_lsn(pg, slot)
    stored = [v for k, v in committed.items() if json.loads(k)[0] == "pg"]
    assert len(stored) <= 1
    assert not stored or confirmed <= stored[0]["lsn"], "the slot was confirmed beyond the committed offsets"
    return at_kill, stored[0] if stored else None


@pytest.mark.headrace_only
def test_sigkill_mid_stream_then_restart_delivers_every_change_in_order(
    pg: PostgresServer,
    pg_db: str,
    pg_config: dict[str, str],
    broker: BrokerUnderTest,
    tmp_path: Path,
    start_worker: StartWorker,
) -> None:
    prefix = f"pg{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.public.kv"
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    execute(
        pg,
        pg_db,
        "CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)",
        f"INSERT INTO kv SELECT i, 0 FROM generate_series(1, {KEYS}) i",
    )
    config = {**pg_config, **_json_config(prefix), "max.batch.size": "1000"}
    # the connector comes from a file on the command line, so the restarted worker runs it again
    files = (write_connector_file(tmp_path / "pg.json", "pg", config),)
    worker = start_worker(files, **{"offset.flush.interval.ms": "300"})
    healthy = worker.healthy("pg")
    _wait_for_records(broker.bootstrap, topic, KEYS, "the snapshot in the topic", 30, healthy)

    def write() -> None:  # ROUNDS transactions, each updating every key once (v = round)
        with pg.connect(pg_db) as conn:
            for _ in range(ROUNDS):
                conn.execute("UPDATE kv SET v = v + 1")

    writer = threading.Thread(target=write, name="pg-writer", daemon=True)
    writer.start()
    total = KEYS * (ROUNDS + 1)
    _wait_for_records(
        broker.bootstrap, topic, total // 3, "a third of the stream in the topic", 60, healthy, 0.02
    )
    at_kill, stored = _kill(worker, pg, pg_config["slot.name"], broker.bootstrap, topic)
    assert at_kill < total, "the worker was killed after the whole stream was delivered: not mid-stream"
    assert stored is not None
    writer.join(60)
    assert not writer.is_alive()

    worker.start()
    _wait_for_records(broker.bootstrap, topic, total, "every change in the topic", 90, worker.healthy("pg"))
    resumed = worker.log_text(all_generations=False)
    lsn = stored["lsn"]
    assert (
        f"committed before {lsn >> 32:X}/{lsn & 0xFFFFFFFF:X} and the first {stored['event']} record(s)"
        in resumed
    )
    records = _read_all(broker.bootstrap, topic)
    per_key: dict[int, list[int]] = defaultdict(list)
    positions: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for partition, offset, key, value in records:
        per_key[key].append(value["after"]["v"])
        positions[key].append((partition, offset))
    assert sorted(per_key) == list(range(1, KEYS + 1))
    for key, values in per_key.items():
        assert len({p for p, _ in positions[key]}) == 1, f"key {key} in more than one partition"
        first_seen = list(dict.fromkeys(values))
        assert first_seen == list(range(ROUNDS + 1)), f"key {key}: changes missing or out of order: {values}"
        # at-least-once: a replay repeats a contiguous run that was already delivered, never reorders
        replays = [i for i in range(1, len(values)) if values[i] <= values[i - 1]]
        assert len(replays) <= 1, f"key {key}: more than one replay: {values}"
    duplicates = len(records) - total
    print(f"killed at {at_kill}/{total} records in the topic; {duplicates} duplicates after the restart")


@pytest.mark.headrace_only
def test_sigkill_with_the_default_flush_interval_replays_at_most_about_one_batch(
    pg: PostgresServer,
    pg_db: str,
    pg_config: dict[str, str],
    broker: BrokerUnderTest,
    tmp_path: Path,
    start_worker: StartWorker,
) -> None:
    """With Kafka Connect's default offset.flush.interval.ms (60 s), a worker SIGKILLed one second into a
    stream of 1000 inserts, 100 updates and 100 deletes (one transaction each) re-delivers at most about
    one poll batch after the restart — the task asks for a commit after every poll, and the runtime
    commits what the broker acknowledged at once — and loses nothing."""
    batch = 50
    prefix = f"pg{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.public.items"
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    execute(
        pg,
        pg_db,
        "CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL)",
        "INSERT INTO items VALUES (0, 0)",
    )
    config = {**pg_config, **_json_config(prefix), "max.batch.size": str(batch)}
    files = (write_connector_file(tmp_path / "pg.json", "pg", config),)
    worker = start_worker(files, **{"offset.flush.interval.ms": "60000"})  # Kafka Connect's default
    healthy = worker.healthy("pg")
    _wait_for_records(broker.bootstrap, topic, 1, "the snapshot (one row) in the topic", 30, healthy)
    expected = {(0, "r")}
    expected |= {(i, "c") for i in range(1, 1001)}
    expected |= {(i, "u") for i in range(1, 101)}
    expected |= {(i, op) for i in range(901, 1001) for op in ("d", None)}  # a delete and its tombstone

    def write() -> None:  # about 2.5 s of single-statement transactions
        with pg.connect(pg_db) as conn:
            for i in range(1, 1001):
                conn.execute("INSERT INTO items VALUES (%s, 0)", (i,))
                time.sleep(0.0015)
            for i in range(1, 101):
                conn.execute("UPDATE items SET v = 1 WHERE id = %s", (i,))
                time.sleep(0.0015)
            for i in range(901, 1001):
                conn.execute("DELETE FROM items WHERE id = %s", (i,))
                time.sleep(0.0015)

    writer = threading.Thread(target=write, name="pg-writer", daemon=True)
    writer.start()
    time.sleep(1.0)
    at_kill, _ = _kill(worker, pg, pg_config["slot.name"], broker.bootstrap, topic)
    writer.join(60)
    assert not writer.is_alive()
    assert 1 < at_kill < len(expected), f"killed at {at_kill} records: not mid-stream"

    worker.start()
    _wait_for_records(
        broker.bootstrap, topic, len(expected), "every change in the topic", 90, worker.healthy("pg")
    )
    records = _read_all(broker.bootstrap, topic)
    seen = [(key, value["op"] if value is not None else None) for _, _, key, value in records]
    missing = expected - set(seen)
    assert not missing, f"{len(missing)} changes lost, e.g. {sorted(missing, key=str)[:10]}"
    duplicates = len(seen) - len(expected)  # replays, and a snapshot taken again if no offset was committed
    print(f"killed at {at_kill}/{len(expected)} records in the topic; {duplicates} delivered again")
    assert duplicates <= 2 * batch, f"{duplicates} records delivered again (one poll batch is {batch})"
    assert set(seen) == expected


@pytest.fixture(scope="module")
def replica_server() -> Iterator[PostgresServer]:
    """A second throwaway server with wal_level=replica (logical decoding impossible)."""
    try:
        server = start_local({"wal_level": "replica"})
    except PostgresUnavailable as exc:
        require_or_skip(f"cannot start a PostgreSQL with wal_level=replica: {exc}")
    try:
        yield server
    finally:
        server.close()


def test_a_config_that_cannot_connect_is_refused_with_400(
    pg: PostgresServer,
    pg_config: dict[str, str],
    start_worker: StartWorker,
    replica_server: PostgresServer,
) -> None:
    """POST /connectors tries the connection (validate()): a wrong password or wal_level not logical is
    a 400 naming the key to fix, nothing is created, and the password is in no answer or log line."""
    worker = start_worker()
    base = {**pg_config, **_json_config(f"pg{uuid.uuid4().hex[:8]}")}
    cases = {
        "wrong-password": (
            {**base, "database.password": "WrongPassw0rd!"},
            "database.password",
            "rejected the credentials of user 'postgres' (password authentication failed): check "
            "database.user and database.password",
        ),
        "wal-level": (
            {**base, **replica_server.connector_config("postgres")},
            "database.hostname",
            "runs with wal_level=replica, but change data capture needs wal_level=logical",
        ),
    }
    for name, (config, key, message) in cases.items():
        r = worker.post("/connectors", json={"name": name, "config": config})
        assert r.status_code == 400, f"{name}: {r.status_code} {r.text}"
        body = r.json()
        assert body["error_code"] == 400 and message in body["message"], f"{name}: {body}"
        assert "WrongPassw0rd!" not in r.text
        r = worker.put("/connector-plugins/PostgresSource/config/validate", json={**config, "name": name})
        assert r.status_code == 200, r.text
        errors = {
            c["value"]["name"]: c["value"]["errors"] for c in r.json()["configs"] if c["value"]["errors"]
        }
        assert list(errors) == [key] and message in errors[key][0], f"{name}: {errors}"
        assert "WrongPassw0rd!" not in r.text
    assert worker.json("GET", "/connectors") == []
    assert "WrongPassw0rd!" not in worker.log_text()


def test_validate_sees_config_provider_values_but_never_echoes_them(
    pg: PostgresServer, pg_config: dict[str, str], start_worker: StartWorker
) -> None:
    """As Kafka's herder, the connection check runs on resolved values: a wrong password given as
    ``${env:…}`` is refused with 400, the right one is accepted, and the validate answer shows the
    reference, never the resolved value."""
    worker = start_worker(
        env={"PG_WRONG": "WrongPassw0rd!", "PG_RIGHT": pg_config["database.password"]},
        **{"config.providers": "env", "config.providers.env.class": "EnvVarConfigProvider"},
    )
    base = {**pg_config, **_json_config(f"pg{uuid.uuid4().hex[:8]}")}
    wrong = {**base, "database.password": "${env:PG_WRONG}"}
    r = worker.post("/connectors", json={"name": "via-env", "config": wrong})
    assert r.status_code == 400, r.text
    assert "database.password" in r.json()["message"] and "WrongPassw0rd!" not in r.text
    r = worker.put("/connector-plugins/PostgresSource/config/validate", json={**wrong, "name": "via-env"})
    shown = {c["value"]["name"]: c["value"] for c in r.json()["configs"]}
    assert shown["database.password"]["errors"] and "WrongPassw0rd!" not in r.text
    right = {**base, "database.password": "${env:PG_RIGHT}", "slot.name": f"s{uuid.uuid4().hex[:8]}"}
    r = worker.post("/connectors", json={"name": "via-env", "config": right})
    assert r.status_code == 201, r.text
    assert r.json()["config"]["database.password"] == "${env:PG_RIGHT}"
    worker.delete("/connectors/via-env")
    assert "WrongPassw0rd!" not in worker.log_text()


def test_problems_after_creation_fail_through_rest_with_what_to_fix(
    pg: PostgresServer,
    pg_db: str,
    pg_config: dict[str, str],
    start_worker: StartWorker,
) -> None:
    """What validate() cannot know at creation, the running connector reports: a listed table that does
    not exist, and the database going away while the connector was stopped -> FAILED with what to fix."""
    worker = start_worker()
    base = {**pg_config, **_json_config(f"pg{uuid.uuid4().hex[:8]}")}
    r = worker.put("/connectors/missing-table/config", json={**base, "table.include.list": "public.orders"})
    assert r.status_code == 201, r.text
    with pg.database("gone") as gone:
        r = worker.post(
            "/connectors",
            json={
                "name": "gone-db",
                "config": {**base, **pg.connector_config(gone)},
                "initial_state": "STOPPED",
            },
        )
        assert r.status_code == 201, r.text
    r = worker.put("/connectors/gone-db/resume")
    assert r.status_code == 202, r.text
    expected = {
        "missing-table": f"table.include.list names table(s) that do not exist in database '{pg_db}': "
        "public.orders. Create them or fix table.include.list",
        "gone-db": "does not exist on PostgreSQL at",
    }
    for name, message in expected.items():
        status = worker.wait_for_state(name, "FAILED", timeout=30)
        trace = status["connector"].get("trace", "")
        assert message in trace, f"{name}: {trace[-2000:]}"
    assert "check database.dbname" in worker.status("gone-db")["connector"]["trace"]


def test_postgres_restart_mid_stream_reconnects_and_continues(
    pg: PostgresServer,
    pg_db: str,
    pg_config: dict[str, str],
    broker: BrokerUnderTest,
    start_worker: StartWorker,
) -> None:
    if not pg.local:
        pytest.skip(
            "the PostgreSQL server comes from HEADRACE_TEST_POSTGRES_DSN and cannot be restarted here"
        )
    prefix = f"pg{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.public.kv"
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    execute(pg, pg_db, "CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)")
    worker = start_worker()
    worker.create("pg", {**pg_config, **_json_config(prefix), "snapshot.mode": "no_data"})
    worker.wait_for_state("pg", "RUNNING", ["RUNNING"], timeout=30)
    wait_until("the task to stream", lambda: "Streaming changes" in worker.log_text(), 30)
    batches, per_batch = 200, 50
    halt = threading.Event()

    def write() -> None:  # keeps committing through the restart; a failed batch is retried (idempotent)
        conn: Any = None
        for b in range(batches):
            while not halt.is_set():
                try:
                    if conn is None:
                        conn = pg.connect(pg_db)
                    conn.execute(
                        "INSERT INTO kv SELECT i, 0 FROM generate_series(%s::int, %s::int) i "
                        "ON CONFLICT DO NOTHING",
                        (b * per_batch + 1, (b + 1) * per_batch),
                    )
                    time.sleep(0.005)
                    break
                except psycopg.OperationalError:  # the server is restarting: reconnect and retry
                    conn = None
                    time.sleep(0.1)
        if conn is not None:
            conn.close()

    writer = threading.Thread(target=write, name="pg-writer", daemon=True)
    writer.start()
    try:
        healthy = worker.healthy("pg")
        _wait_for_records(broker.bootstrap, topic, 1000, "changes in the topic", 30, healthy)
        pg.restart(mode="immediate")  # a crash of the database while changes stream
        writer.join(60)
        assert not writer.is_alive()
        total = batches * per_batch
        _wait_for_records(
            broker.bootstrap, topic, total, "every change after the restart", 60, worker.healthy("pg")
        )
    finally:
        halt.set()
    status = worker.status("pg")
    assert [t["state"] for t in status["tasks"]] == ["RUNNING"], status
    assert "Reconnected to PostgreSQL" in worker.log_text()
    records = _read_all(broker.bootstrap, topic)
    ids = [key for _p, _o, key, _v in records]
    assert sorted(set(ids)) == list(range(1, total + 1)), "a committed change is missing"
    assert len(ids) == total, f"{len(ids) - total} duplicates after the reconnect"


SNAPSHOT_ROWS = 200_000


def test_snapshot_progress_in_the_rest_status_then_streaming(
    pg: PostgresServer,
    pg_db: str,
    pg_config: dict[str, str],
    broker: BrokerUnderTest,
    start_worker: StartWorker,
) -> None:
    prefix = f"pg{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, f"{prefix}.public.big", partitions=PARTITIONS)
    execute(
        pg,
        pg_db,
        "CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL)",
        "CREATE TABLE small (id int PRIMARY KEY)",
        f"INSERT INTO big SELECT i, md5(i::text) FROM generate_series(1, {SNAPSHOT_ROWS}) i",
        "INSERT INTO small SELECT generate_series(1, 10)",
        "ANALYZE big",  # pg_class.reltuples, behind rows_estimated and the ETA
        "ANALYZE small",
    )
    worker = start_worker()
    worker.create("pg", {**pg_config, **_json_config(prefix), "snapshot.fetch.size": "500"})
    healthy = worker.healthy("pg")
    seen: list[dict[str, Any]] = []

    def progress(phase: str) -> dict[str, Any] | None:
        for task in worker.status("pg")["tasks"]:
            if "progress" in task:
                seen.append(task["progress"])
                if task["progress"]["phase"] == phase:
                    return dict(task["progress"])
        return None

    during = wait_until(
        "snapshot progress in GET /connectors/pg/status",
        lambda: (p := progress("snapshot")) and p["rows_done"] > 0 and p,
        60,
        interval=0.05,
        alive=healthy,
        describe=lambda: seen[-3:],
    )
    assert during["tables_total"] == 2 and 0 <= during["tables_done"] <= 2
    assert during["rows_estimated"] == SNAPSHOT_ROWS + 10
    assert during["current_table"] in ("public.big", "public.small")
    assert during["rows_per_second"] > 0 and during["eta_seconds"] is not None
    metrics = worker.get("/metrics").text
    assert 'headrace_connect_task_progress_rows_done{connector="pg",task="0"}' in metrics
    assert 'headrace_connect_task_progress_tables_total{connector="pg",task="0"} 2' in metrics

    after = wait_until(
        "phase streaming after the snapshot",
        lambda: progress("streaming"),
        120,
        interval=0.2,
        alive=healthy,
        describe=lambda: seen[-3:],
    )
    assert (after["snapshot_rows"], after["snapshot_tables"]) == (SNAPSHOT_ROWS + 10, 2)
    assert after["slot"] == pg_config["slot.name"] and "/" in after["last_lsn"]
    task = worker.json("GET", "/connectors/pg/tasks/0/status")
    assert task["state"] == "RUNNING" and task["progress"]["phase"] == "streaming"
    snapshots = [p for p in seen if p["phase"] == "snapshot"]
    rows = [p["rows_done"] for p in snapshots]
    assert rows == sorted(rows), "rows_done went backwards"
    print(f"{len(snapshots)} snapshot progress values seen; the last: {snapshots[-1]}; then {after}")
    assert "Snapshot completed" in worker.log_text()
