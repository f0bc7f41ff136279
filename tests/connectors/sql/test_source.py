"""SqlSourceTask against SQLite and PostgreSQL: incrementing and timestamp+incrementing modes read
inserted and updated rows, resume from committed offsets without gaps, keep faithful types, spread
tables over tasks, and report a missing table with what to fix."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from connect.api import SourceRecord
from connect.testing import FakeSourceTaskContext, InMemoryOffsetStorageReader
from connectors.sql import SqlSource, SqlSourceTask
from tests.connectors.sql.conftest import Db

T0 = dt.datetime(2024, 1, 1, 12, 0, 0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def source_db(request: pytest.FixtureRequest) -> Db:
    db: Db = request.getfixturevalue({"sqlite": "sqlite_db", "postgresql": "pg_db"}[request.param])
    ts = "TIMESTAMP" if db.kind == "sqlite" else "TIMESTAMP(6)"
    db.execute(
        f"CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, "
        f"price NUMERIC(10, 2), updated {ts} NOT NULL)"
    )
    return db


def ts(db: Db, at: dt.datetime) -> Any:
    """SQLite keeps timestamps as text: write them as SQLAlchemy does (the source compares text)."""
    return at.strftime("%Y-%m-%d %H:%M:%S.%f") if db.kind == "sqlite" else at


def insert(db: Db, ids: range, at: dt.datetime = T0) -> None:
    for i in ids:
        price: Any = decimal.Decimal(f"{i}.10")
        db.execute(
            "INSERT INTO items VALUES (:id, :name, :price, :ts)",
            params={
                "id": i,
                "name": f"n{i}",
                "price": str(price) if db.kind == "sqlite" else price,
                "ts": ts(db, at),
            },
        )


def run(
    db: Db, offsets: InMemoryOffsetStorageReader, **props: str
) -> tuple[SqlSourceTask, list[SourceRecord]]:
    config = {
        **db.config(),
        "topic.prefix": "sql-",
        "poll.interval.ms": "10",
        "batch.max.rows": "7",
        "tables": '["items"]',
        **props,
    }
    task = SqlSourceTask()
    task.initialize(FakeSourceTaskContext(config, offsets))
    task.start(config)
    return task, drain(task)


def drain(task: SqlSourceTask) -> list[SourceRecord]:
    out: list[SourceRecord] = []
    empty = 0
    while empty < 3:
        got = task.poll()
        if got:
            out += got
            empty = 0
        else:
            empty += 1
    return out


def ids(records: list[SourceRecord]) -> list[Any]:
    return [r.value["id"] for r in records]


def test_incrementing_mode_reads_new_rows_and_resumes(source_db: Db) -> None:
    insert(source_db, range(1, 21))
    offsets = InMemoryOffsetStorageReader()
    task, got = run(source_db, offsets, mode="incrementing", **{"incrementing.column.name": "id"})
    try:
        assert ids(got) == list(range(1, 21))
        assert got[0].topic == "sql-items" and got[-1].source_offset == {"incrementing": 20}
        assert got[0].source_partition == {"protocol": "1", "table": "items"}
        assert got[0].value["price"] == decimal.Decimal("1.10")
        offsets.commit(got[:12])  # the worker died after committing 12 of them
    finally:
        task.stop()
    insert(source_db, range(21, 26))
    task, got = run(source_db, offsets, mode="incrementing", **{"incrementing.column.name": "id"})
    task.stop()
    assert ids(got) == list(range(13, 26))  # no gap; re-reads what was not committed


def test_timestamp_incrementing_mode_reads_inserts_and_updates_exactly_once(source_db: Db) -> None:
    insert(source_db, range(1, 11))  # ten rows with one timestamp: batches of 7 split it
    offsets = InMemoryOffsetStorageReader()
    props = {
        "mode": "timestamp+incrementing",
        "incrementing.column.name": "id",
        "timestamp.column.name": "updated",
    }
    task, got = run(source_db, offsets, **props)
    try:
        assert ids(got) == list(range(1, 11))
        assert got[-1].source_offset["incrementing"] == 10
        assert got[-1].value["updated"] == int((T0 - dt.datetime(1970, 1, 1)).total_seconds() * 1e6)
        offsets.commit(got)
        source_db.execute(
            "UPDATE items SET name = 'changed', updated = :ts WHERE id = 3",
            params={"ts": ts(source_db, T0 + dt.timedelta(seconds=1))},
        )
        insert(source_db, range(11, 13), at=T0 + dt.timedelta(seconds=2))
        more = drain(task)
        assert [(r.value["id"], r.value["name"]) for r in more] == [(3, "changed"), (11, "n11"), (12, "n12")]
        offsets.commit(more[:1])
    finally:
        task.stop()
    task, again = run(source_db, offsets, **props)
    task.stop()
    assert ids(again) == [11, 12]


def test_tables_spread_over_tasks_and_a_missing_table_fails_with_what_to_fix(sqlite_db: Db) -> None:
    for t in ("a", "b", "c"):
        sqlite_db.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY)")
    connector = SqlSource()
    connector.start({**sqlite_db.config(), "topic.prefix": "x-", "table.include.list": "a,b,c"})
    try:
        configs = connector.task_configs(2)
        assert [c["tables"] for c in configs] == ['["a", "c"]', '["b"]']
    finally:
        connector.stop()
    sqlite_db.execute("CREATE TABLE n (id INTEGER PRIMARY KEY, ts TIMESTAMP)")
    task = SqlSourceTask()
    config = {**sqlite_db.config(), "topic.prefix": "x-", "tables": '["n"]', "mode": "timestamp"}
    task.initialize(FakeSourceTaskContext(config))
    with pytest.raises(Exception, match=r"ts of n can be NULL.*validate\.non\.null=false"):
        task.start({**config, "timestamp.column.name": "ts"})
    with pytest.raises(Exception, match=r"table.include.list names table.s. that do not exist .*: orders"):
        SqlSource().start({**sqlite_db.config(), "topic.prefix": "x-", "table.include.list": "a,orders"})
    errors = SqlSource().validate({"connection.url": "postgresql://u:pw1@127.0.0.1:1/d", "topic.prefix": "x"})
    msgs = [m for v in errors.config_values for m in v.error_messages]
    assert msgs and "u:***@" in msgs[0] and "pw1" not in msgs[0]


def test_timestamp_mode_never_splits_a_timestamp_and_query_mode_reads_a_query(sqlite_db: Db) -> None:
    sqlite_db.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, "
        "price NUMERIC(10, 2), updated TIMESTAMP NOT NULL)"
    )
    insert(sqlite_db, range(1, 11))  # ten rows, one timestamp, batches of 7
    insert(sqlite_db, range(11, 13), at=T0 + dt.timedelta(seconds=1))
    props = {"mode": "timestamp", "timestamp.column.name": "updated"}
    task, got = run(sqlite_db, InMemoryOffsetStorageReader(), **props)
    task.stop()
    assert sorted(ids(got)) == list(range(1, 13))
    query = {"query": "SELECT id, name FROM items WHERE id > 4", "mode": "incrementing", "tables": "[]"}
    task, got = run(sqlite_db, InMemoryOffsetStorageReader(), **query, **{"incrementing.column.name": "id"})
    task.stop()
    assert ids(got) == list(range(5, 13))  # typed from the values (INT64, STRING)
    assert got[0].value["name"] == "n5"
    assert got[0].topic == "sql-" and got[0].source_partition == {"query": "query"}
