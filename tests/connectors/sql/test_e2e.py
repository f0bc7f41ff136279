"""SqlSource and SqlSink in real ``headrace standalone`` workers with the session's broker:

- PostgresSource's change stream of a table materialized by SqlSink into MariaDB and into SQLite (two
  sink connectors on one topic): after inserts, updates, deletes and an ``ALTER TABLE … ADD COLUMN``
  the target tables equal the source table (auto.create, auto.evolve, upserts, deletes);
- SqlSource (timestamp+incrementing) from SQLite and PostgreSQL while rows are inserted and updated, the
  worker SIGKILLed and restarted: every row in its latest version is in the topic (no gaps);
- a bad connection URL and a missing table: FAILED through REST with what to fix, the password masked.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from tests.connectors.sql.conftest import Db
from tests.support.brokers import BrokerUnderTest
from tests.support.clients import confluent_consumer
from tests.support.connect import ConnectWorker, wait_until, write_connector_file
from tests.support.postgres import PostgresServer
from tests.support.workers import StartedWorkers

JSON = {
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
}
StartWorker = Callable[..., ConnectWorker]


@pytest.fixture
def start_worker(broker: BrokerUnderTest, tmp_path: Path) -> Iterator[StartWorker]:
    workers = StartedWorkers(broker.bootstrap, tmp_path)

    def start(files: tuple[Path, ...] = (), **extra: str) -> ConnectWorker:
        return workers.start(extra, connector_files=files)

    try:
        yield start
    finally:
        workers.close()


def _norm(r: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row comparable across databases: numbers as floats, timestamps to the second, no zone."""
    return (r[0], r[1], r[2] and str(float(r[2])), r[3] and r[3][:19].replace("T", " "), *r[4:])


def _table(db: Db, query: str) -> list[tuple[Any, ...]]:
    return [tuple(str(v) if v is not None else None for v in r) for r in db.rows(query)]


def test_postgres_changes_materialize_in_mariadb_and_sqlite(
    postgres_server: PostgresServer, pg_db: Db, maria_db: Db, sqlite_db: Db, start_worker: StartWorker
) -> None:
    pg = postgres_server
    pg_db.execute(
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, balance numeric(12,2), "
        "seen timestamptz)",
        "INSERT INTO customers VALUES (1, 'Ada', 10.50, '2024-01-01T10:00:00Z'), (2, 'Linus', 3, NULL), "
        "(3, 'Grace', NULL, '2024-02-01T00:00:00.123456Z')",
    )
    prefix = f"pg{uuid.uuid4().hex[:6]}"
    dbname = pg_db.url.rsplit("/", 1)[-1]
    worker = start_worker()
    worker.create(
        "pg",
        {
            "connector.class": "PostgresSource",
            **pg.connector_config(dbname),
            "topic.prefix": prefix,
            "slot.name": f"slot_{uuid.uuid4().hex[:8]}",
            "poll.interval.ms": "50",
            **JSON,
        },
    )
    sink = {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "topics": f"{prefix}.public.customers",
        "table.name.format": "customers",
        "insert.mode": "upsert",
        "pk.mode": "record_key",
        "delete.enabled": "true",
        "auto.create": "true",
        "auto.evolve": "true",
        **JSON,
    }
    worker.create("to-maria", {**sink, **maria_db.config()})
    worker.create("to-sqlite", {**sink, **sqlite_db.config()})
    source_q = "SELECT id, name, balance, seen{} FROM customers ORDER BY id"

    def equal(extra: str = "") -> Callable[[], bool]:
        want = _table(pg_db, source_q.format(extra))

        def check() -> bool:
            worker.check_alive()
            try:
                got = [_table(maria_db, source_q.format(extra)), _table(sqlite_db, source_q.format(extra))]
            except Exception:
                return False
            return all([_norm(r) for r in g] == [_norm(r) for r in want] for g in got)

        return check

    wait_until("the snapshot in MariaDB and SQLite", equal(), timeout=60)
    pg_db.execute(
        "UPDATE customers SET name = 'Ada L.', balance = 11 WHERE id = 1",
        "DELETE FROM customers WHERE id = 2",
        "INSERT INTO customers VALUES (4, 'Edsger', 7.25, now())",
    )
    wait_until("inserts, updates and deletes", equal(), timeout=30)
    pg_db.execute(
        "ALTER TABLE customers ADD COLUMN city text",
        "UPDATE customers SET city = 'London' WHERE id = 1",
        "INSERT INTO customers VALUES (5, 'Barbara', 1, NULL, 'Boston')",
    )
    wait_until("the new column (auto.evolve)", equal(", city"), timeout=30)
    status = worker.status("to-maria")
    assert status["tasks"][0]["state"] == "RUNNING"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def test_sql_source_resumes_without_gaps_after_sigkill(
    kind: str,
    request: pytest.FixtureRequest,
    broker: BrokerUnderTest,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    db: Db = request.getfixturevalue({"sqlite": "sqlite_db", "postgresql": "pg_db"}[kind])
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, updated TIMESTAMP NOT NULL)")
    prefix = f"sql{uuid.uuid4().hex[:6]}-"
    stop = threading.Event()
    written: list[tuple[int, int]] = []

    def now() -> Any:
        t = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return t.strftime("%Y-%m-%d %H:%M:%S.%f") if kind == "sqlite" else t

    def write() -> None:
        i = 0
        engine = db.engine()
        import sqlalchemy as sa

        try:
            while not stop.is_set() and i < 600:
                i += 1
                with engine.begin() as conn:
                    conn.execute(sa.text("INSERT INTO events VALUES (:i, 0, :t)"), {"i": i, "t": now()})
                    written.append((i, 0))
                    if i % 5 == 0:  # an update of an older row
                        conn.execute(
                            sa.text("UPDATE events SET v = 1, updated = :t WHERE id = :j"),
                            {"j": i - 3, "t": now()},
                        )
                        written.append((i - 3, 1))
                stop.wait(0.005)
        finally:
            engine.dispose()

    config = {
        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        **db.config(),
        "mode": "timestamp+incrementing",
        "incrementing.column.name": "id",
        "timestamp.column.name": "updated",
        "timestamp.delay.interval.ms": "50",
        "topic.prefix": prefix,
        "poll.interval.ms": "20",
        "batch.max.rows": "50",
        **JSON,
    }
    # a connector file: the restarted standalone worker runs it again with the committed offsets
    files = (write_connector_file(tmp_path / "src.json", "src", config),)
    worker = start_worker(files, **{"offset.flush.interval.ms": "60000"})
    writer = threading.Thread(target=write)
    writer.start()
    topic = f"{prefix}events"
    try:
        wait_until("rows in the topic", lambda: len(_read(broker.bootstrap, topic)) > 150, timeout=60)
        worker.kill()
        worker.restart()
        writer.join(60)
    finally:
        stop.set()
        writer.join()
    # polling sees each row's state when it polls: an insert updated before the next poll shows up only
    # in its updated version, so the claim is every row in its latest version (and no id missing)
    want = set(dict(written).items())
    wait_until(
        "every row version after the restart",
        lambda: want <= set(_read(broker.bootstrap, topic)),
        timeout=60,
        describe=lambda: (len(want), sorted(want - set(_read(broker.bootstrap, topic)))[:20]),
    )


def _read(bootstrap: str, topic: str) -> list[tuple[int, int]]:
    """Every (id, v) in the topic, read with assign() up to the high watermarks."""
    consumer = confluent_consumer(bootstrap)
    out = []
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        todo = {p for p, e in ends.items() if e > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in todo])
        while todo:
            msgs = consumer.consume(1000, 5)
            if not msgs:
                break
            for m in msgs:
                if m.error() is not None:
                    continue
                if m.value():
                    p = json.loads(m.value())["payload"]
                    out.append((p["id"], p["v"]))
                if m.offset() + 1 >= ends[m.partition()]:
                    todo.discard(m.partition())
    finally:
        consumer.close()
    return out


def test_bad_url_and_missing_table_fail_with_what_to_fix_and_the_password_masked(
    postgres_server: PostgresServer, pg_db: Db, start_worker: StartWorker
) -> None:
    worker = start_worker()
    pw = postgres_server.password
    base = {
        "connector.class": "SqlSource",
        "topic.prefix": "x-",
        "mode": "incrementing",
        "incrementing.column.name": "id",
    }
    r = worker.post(
        "/connectors",
        json={"name": "bad", "config": {**base, **pg_db.config(), "connection.password": "wrong-pw"}},
    )
    assert r.status_code == 400 and "connection.password" in r.text and "wrong-pw" not in r.text, r.text
    r = worker.put(
        "/connectors/missing/config", json={**base, **pg_db.config(), "table.include.list": "orders"}
    )
    assert r.status_code == 201, r.text
    status = worker.wait_for_state("missing", "FAILED", timeout=30)
    trace = status["connector"].get("trace", "")
    assert "table.include.list names table(s) that do not exist" in trace and "orders" in trace, trace
    assert pw not in trace and "***" in trace
    # a URL that worked at creation, then its database went away: FAILED, the password in the URL masked
    pg = postgres_server
    with pg.database("gone") as gone:
        url = f"postgresql+psycopg://{pg.user}:{pw}@{pg.host}:{pg.port}/{gone}"
        config = {**base, "connection.url": url, "table.include.list": "t"}
        pg_gone = Db("postgresql", url)
        pg_gone.execute("CREATE TABLE t (id int PRIMARY KEY)")
        r = worker.post("/connectors", json={"name": "gone", "config": config, "initial_state": "STOPPED"})
        assert r.status_code == 201, r.text
        # a password written inside connection.url is masked in every REST answer, as a secret key is
        for answer in (r, worker.get("/connectors/gone"), worker.get("/connectors/gone/config")):
            assert pw not in answer.text and f"{pg.user}:[hidden]@" in answer.text, answer.text
        shown = worker.get("/connectors?expand=info").text
        assert pw not in shown and f"{pg.user}:[hidden]@" in shown
    r = worker.put("/connectors/gone/resume")
    assert r.status_code == 202, r.text
    trace = worker.wait_for_state("gone", "FAILED", timeout=30)["connector"].get("trace", "")
    assert "does not exist" in trace and "check the database name in connection.url" in trace, trace
    assert pw not in trace and f"{pg.user}:***@" in trace, trace
    # an unreachable server at creation: 400 naming connection.url, the password in the URL masked
    sink = {
        "connector.class": "SqlSink",
        "topics": "nothing",
        "connection.url": "mysql+pymysql://root:pw-in-url@127.0.0.1:1/db",
    }
    r = worker.post("/connectors", json={"name": "later", "config": sink, "initial_state": "STOPPED"})
    assert r.status_code == 400 and "pw-in-url" not in r.text and "cannot reach the database" in r.text, (
        r.text
    )
