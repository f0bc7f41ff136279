"""Offsets: the slot's confirmed position moves only after the runtime committed offsets; restarts
resume exactly after the committed record (also mid-transaction and mid-snapshot); heartbeats advance
the slot on a quiet database; snapshot.mode values; reconnect after a PostgreSQL restart."""

from __future__ import annotations

import time

import pytest

from connect.testing import InMemoryOffsetStorageReader
from tests.connectors.postgres.conftest import execute
from tests.connectors.postgres.helpers import confirmed_lsn, started_task
from tests.support.postgres import PostgresServer
from tests.support.source_tasks import as_dict, commit, poll_count, poll_for, summary


def _wait_confirmed(pg: PostgresServer, slot: str, at_least: int, timeout: float = 10.0) -> int:
    """The slot's confirmed position once it reached ``at_least`` (the walsender applies feedback async)."""
    deadline = time.monotonic() + timeout
    while (confirmed := confirmed_lsn(pg, slot)) < at_least:
        assert time.monotonic() < deadline, f"confirmed_flush_lsn stayed at {confirmed} < {at_least}"
        time.sleep(0.05)
    return confirmed


def _ids(records: list) -> list[int]:  # type: ignore[type-arg]
    return [
        as_dict(r.value)["after"]["id"] for r in records if r.value is not None and as_dict(r.value)["after"]
    ]


def test_lsn_confirmed_only_after_commit_and_restart_resumes_mid_transaction(
    pg: PostgresServer, pg_db: str, pg_config: dict[str, str]
) -> None:
    slot = pg_config["slot.name"]
    execute(pg, pg_db, "CREATE TABLE t (id int PRIMARY KEY)")
    config = {**pg_config, "snapshot.mode": "no_data", "max.batch.size": "10"}
    offsets = InMemoryOffsetStorageReader()
    task = started_task(config, offsets)
    try:
        at_start = confirmed_lsn(pg, slot)
        execute(pg, pg_db, "INSERT INTO t SELECT generate_series(1, 25)", "INSERT INTO t VALUES (26)")
        first = poll_count(task, 10)
        time.sleep(0.3)
        assert confirmed_lsn(pg, slot) == at_start, "polled but uncommitted records must not move the slot"
        commit(task, offsets, first[:7])  # the broker acknowledged 7 records of the 25-row transaction
        assert _wait_confirmed(pg, slot, first[6].source_offset["lsn"]) == first[6].source_offset["lsn"]  # type: ignore[index]
    finally:
        task.stop()
    # A new task resumes after record 7 of that transaction: no committed record again, none lost.
    task = started_task(config, offsets)
    try:
        rest = poll_count(task, 19)
        assert _ids(rest) == list(range(8, 27))
        commit(task, offsets, rest)
        assert _wait_confirmed(pg, slot, rest[-1].source_offset["lsn"]) == rest[-1].source_offset["lsn"]  # type: ignore[index]
        time.sleep(0.3)
        assert task.poll() is None
    finally:
        task.stop()


def test_snapshot_resumes_after_the_last_committed_key(
    pg: PostgresServer, pg_db: str, pg_config: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    execute(
        pg,
        pg_db,
        "CREATE TABLE a (id int PRIMARY KEY)",
        "CREATE TABLE b (k1 int, k2 text, PRIMARY KEY (k1, k2))",
        "INSERT INTO a SELECT generate_series(1, 300)",
        "INSERT INTO b SELECT i % 7, 'x' || i FROM generate_series(1, 500) i",
    )
    config = {**pg_config, "snapshot.fetch.size": "50"}
    offsets = InMemoryOffsetStorageReader()
    task = started_task(config, offsets)
    try:
        first = poll_count(task, 420)  # all of a, part of b
        commit(task, offsets, first)
    finally:
        task.stop()
    stored = offsets.offset({"server": "srv"})
    assert stored is not None and stored["snapshot"] and stored["table"] == "public.b", stored
    assert stored["tables_done"] == ["public.a"]
    caplog.set_level("INFO", "connectors.postgres")
    task = started_task(config, offsets)
    try:
        execute(pg, pg_db, "INSERT INTO a VALUES (1000)")
        rest = poll_for(
            task, lambda r: any(op == "c" for _t, op, *_ in summary(r)), what="the stream after the snapshot"
        )
    finally:
        task.stop()
    assert "Snapshot of public.b resumes after key" in caplog.text
    keys_b = [tuple(as_dict(r.key).values()) for r in first + rest if r.topic == "srv.public.b"]
    assert len(keys_b) == 500 and len(set(keys_b)) == 500, "every row of b exactly once across the restart"
    ops = [op for _t, op, *_ in summary(rest)]
    assert ops[-1] == "c" and set(ops[:-1]) == {"r"}
    assert as_dict(rest[-2].value)["source"]["snapshot"] == "last"
    assert not rest[-2].source_offset.get("snapshot")  # type: ignore[union-attr]


def test_snapshot_modes(pg: PostgresServer, pg_db: str, pg_config: dict[str, str]) -> None:
    execute(pg, pg_db, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1)")
    # never: only changes
    task = started_task({**pg_config, "snapshot.mode": "never"})
    try:
        execute(pg, pg_db, "INSERT INTO t VALUES (2)")
        assert [op for _t, op, *_ in summary(poll_count(task, 1))] == ["c"]
    finally:
        task.stop()
    # initial_only: the rows, then nothing (and no slot is created)
    slot = pg_config["slot.name"] + "io"
    task = started_task({**pg_config, "snapshot.mode": "initial_only", "slot.name": slot})
    try:
        assert sorted(_ids(poll_count(task, 2))) == [1, 2]
        execute(pg, pg_db, "INSERT INTO t VALUES (3)")
        assert task.poll() is None
    finally:
        task.stop()
    with pg.connect() as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
            is None
        )
    # when_needed with offsets but a lost slot: a new snapshot
    offsets = InMemoryOffsetStorageReader()
    offsets.set({"server": "srv"}, {"lsn": 1, "event": 0})
    task = started_task({**pg_config, "snapshot.mode": "when_needed", "slot.name": slot + "wn"}, offsets)
    try:
        assert sorted(_ids(poll_count(task, 3))) == [1, 2, 3]
    finally:
        task.stop()


def test_heartbeats_advance_the_slot_on_a_quiet_database(
    pg: PostgresServer, pg_db: str, pg_config: dict[str, str]
) -> None:
    slot = pg_config["slot.name"]
    execute(
        pg, pg_db, "CREATE TABLE captured (id int PRIMARY KEY)", "CREATE TABLE other (id int PRIMARY KEY)"
    )
    config = {
        **pg_config,
        "snapshot.mode": "no_data",
        "table.include.list": "public.captured",
        "heartbeat.interval.ms": "200",
    }
    offsets = InMemoryOffsetStorageReader()
    task = started_task(config, offsets)
    try:
        before = confirmed_lsn(pg, slot)
        execute(pg, pg_db, "INSERT INTO other SELECT generate_series(1, 1000)")  # WAL moves, nothing captured
        with pg.connect(pg_db) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
        assert row is not None
        wal_now = int(row[0])

        def beat_past_wal(records: list) -> bool:  # type: ignore[type-arg]
            beats = [r for r in records if r.topic == "__debezium-heartbeat.srv"]
            return bool(beats) and beats[-1].source_offset["lsn"] >= wal_now  # type: ignore[index]

        records = poll_for(task, beat_past_wal, what="a heartbeat past the current WAL position")
        assert all(r.topic == "__debezium-heartbeat.srv" for r in records)
        assert as_dict(records[-1].key) == {"serverName": "srv"}
        commit(task, offsets, records)
        assert _wait_confirmed(pg, slot, wal_now) >= wal_now > before
    finally:
        task.stop()


def test_reconnects_after_postgres_restart(pg: PostgresServer, pg_db: str, pg_config: dict[str, str]) -> None:
    if not pg.local:
        pytest.skip(
            "the PostgreSQL server comes from HEADRACE_TEST_POSTGRES_DSN and cannot be restarted here"
        )
    execute(pg, pg_db, "CREATE TABLE t (id int PRIMARY KEY)")
    offsets = InMemoryOffsetStorageReader()
    task = started_task({**pg_config, "snapshot.mode": "no_data"}, offsets)
    try:
        execute(pg, pg_db, "INSERT INTO t SELECT generate_series(1, 100)")
        first = poll_count(task, 100)
        commit(task, offsets, first[:50])
        pg.restart(mode="immediate")  # a crash: no shutdown checkpoint
        execute(pg, pg_db, "INSERT INTO t SELECT generate_series(101, 200)")
        rest = poll_for(task, lambda r: 200 in _ids(r), timeout=40, what="changes after the restart")
    finally:
        task.stop()
    assert _ids(first) + _ids(rest) == list(range(1, 201)), "nothing lost or repeated across the reconnect"


def test_postgres_restart_mid_snapshot_resumes_it(
    pg: PostgresServer, pg_db: str, pg_config: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    if not pg.local:
        pytest.skip(
            "the PostgreSQL server comes from HEADRACE_TEST_POSTGRES_DSN and cannot be restarted here"
        )
    execute(pg, pg_db, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t SELECT generate_series(1, 2000)")
    caplog.set_level("INFO", "connectors.postgres")
    task = started_task({**pg_config, "snapshot.fetch.size": "100"})
    try:
        first = poll_count(task, 300)
        pg.restart(mode="immediate")
        execute(pg, pg_db, "INSERT INTO t VALUES (5000)")
        rest = poll_for(task, lambda r: 5000 in _ids(r), timeout=40, what="the stream after the snapshot")
    finally:
        task.stop()
    assert "snapshot resumed" in caplog.text
    ids = _ids(first + rest)
    assert set(ids) == set(range(1, 2001)) | {5000}, "a row is missing"
    assert len(ids) - len(set(ids)) <= 100, "only the rows of the batch in flight may repeat"
