"""PostgresSource task against a real PostgreSQL: snapshot then stream, envelopes, keys, tombstones,
replica identity FULL/DEFAULT, truncates, schema changes, commit order."""

from __future__ import annotations

import threading

from connect.api.records import SourceRecord
from tests.connectors.postgres.conftest import execute
from tests.connectors.postgres.helpers import started_task
from tests.support.postgres import PostgresServer
from tests.support.source_tasks import as_dict, poll_count, poll_for, summary


def test_snapshot_then_stream_with_full_and_default_identity(
    pg: PostgresServer, pg_db: str, pg_config: dict[str, str]
) -> None:
    execute(
        pg,
        pg_db,
        "CREATE TABLE full_t (id int PRIMARY KEY, name text NOT NULL, qty int)",
        "ALTER TABLE full_t REPLICA IDENTITY FULL",
        "CREATE TABLE def_t (id int PRIMARY KEY, name text NOT NULL, qty int)",
        "INSERT INTO full_t VALUES (1, 'a', 10), (2, 'b', 20)",
        "INSERT INTO def_t VALUES (1, 'x', 1)",
    )
    task = started_task(pg_config)
    try:
        snap = poll_count(task, 3)
        assert sorted((t, op, k["id"], a["name"]) for t, op, k, _b, a in summary(snap)) == [
            ("srv.public.def_t", "r", 1, "x"),
            ("srv.public.full_t", "r", 1, "a"),
            ("srv.public.full_t", "r", 2, "b"),
        ]
        sources = [as_dict(r.value)["source"] for r in snap]
        assert [s["snapshot"] for s in sources] == ["true", "true", "last"]
        assert all(
            s["connector"] == "postgresql" and s["name"] == "srv" and s["db"] == pg_db for s in sources
        )

        execute(
            pg,
            pg_db,
            "INSERT INTO full_t VALUES (3, 'c', 30)",
            "UPDATE full_t SET qty = 11 WHERE id = 1",
            "DELETE FROM full_t WHERE id = 2",
            "UPDATE def_t SET qty = 2 WHERE id = 1",
            "DELETE FROM def_t WHERE id = 1",
            "UPDATE full_t SET id = 4 WHERE id = 3",
        )
        records = poll_count(task, 10)
        got = summary(records)
        full, default = "srv.public.full_t", "srv.public.def_t"
        assert got == [
            (full, "c", {"id": 3}, None, {"id": 3, "name": "c", "qty": 30}),
            (full, "u", {"id": 1}, {"id": 1, "name": "a", "qty": 10}, {"id": 1, "name": "a", "qty": 11}),
            (full, "d", {"id": 2}, {"id": 2, "name": "b", "qty": 20}, None),
            (full, None, {"id": 2}, None, None),  # tombstone
            (default, "u", {"id": 1}, None, {"id": 1, "name": "x", "qty": 2}),  # DEFAULT: no before-image
            (default, "d", {"id": 1}, {"id": 1, "name": "", "qty": None}, None),  # key only (required -> "")
            (default, None, {"id": 1}, None, None),
            (full, "d", {"id": 3}, {"id": 3, "name": "c", "qty": 30}, None),  # primary key change
            (full, None, {"id": 3}, None, None),
            (full, "c", {"id": 4}, None, {"id": 4, "name": "c", "qty": 30}),
        ], got
        value = as_dict(records[0].value)
        assert value["source"]["snapshot"] == "false"
        assert value["source"]["table"] == "full_t" and value["source"]["schema"] == "public"
        assert isinstance(value["source"]["txId"], int) and isinstance(value["source"]["lsn"], int)
        assert isinstance(value["ts_ms"], int)
        lsns = [r.source_offset["lsn"] for r in records]  # type: ignore[index]
        assert lsns == sorted(lsns), "offsets must follow commit order"
    finally:
        task.stop()


def test_truncate_tombstones_off_and_schema_change(
    pg: PostgresServer, pg_db: str, pg_config: dict[str, str]
) -> None:
    execute(pg, pg_db, "CREATE TABLE t (id int PRIMARY KEY, v text)")
    config = {**pg_config, "tombstones.on.delete": "false", "snapshot.mode": "no_data"}
    task = started_task(config)
    try:
        execute(pg, pg_db, "INSERT INTO t VALUES (1, 'a')", "DELETE FROM t WHERE id = 1")
        first = summary(poll_count(task, 2))
        assert [op for _t, op, *_ in first] == ["c", "d"]  # no tombstone
        execute(
            pg,
            pg_db,
            "ALTER TABLE t ADD COLUMN extra int NOT NULL DEFAULT 7",
            "INSERT INTO t VALUES (2, 'b', 8)",
            "TRUNCATE t",
        )
        second = poll_count(task, 2)
        (_, op, _key, _, after), (_, top, tkey, tbefore, tafter) = summary(second)
        assert (op, after) == ("c", {"id": 2, "v": "b", "extra": 8})
        assert second[0].value_schema is not None and second[0].value_schema.field("after") is not None
        assert (top, tkey, tbefore, tafter) == ("t", None, None, None)
    finally:
        task.stop()


def test_table_and_column_filters(pg: PostgresServer, pg_db: str, pg_config: dict[str, str]) -> None:
    execute(
        pg,
        pg_db,
        "CREATE TABLE keep (id int PRIMARY KEY, secret text, v text)",
        "CREATE TABLE skip (id int PRIMARY KEY)",
    )
    config = {
        **pg_config,
        "snapshot.mode": "never",
        "table.include.list": "public.keep,public.sk.*",
        "table.exclude.list": "public.skip",
        "column.exclude.list": "public.keep.secret",
    }
    task = started_task(config)
    try:
        execute(pg, pg_db, "INSERT INTO skip VALUES (1)", "INSERT INTO keep VALUES (1, 'pw', 'x')")
        (record,) = poll_count(task, 1)
        assert record.topic == "srv.public.keep"
        assert as_dict(record.value)["after"] == {"id": 1, "v": "x"}
    finally:
        task.stop()


def test_snapshot_boundary_loses_and_repeats_nothing_under_concurrent_writes(
    pg: PostgresServer, pg_db: str, pg_config: dict[str, str]
) -> None:
    """Updates run while the slot is created and the tables are read: thanks to the slot's exported
    snapshot each key shows its snapshot value (op r) and then every later value exactly once (op u)."""
    keys, rounds = 200, 30
    execute(
        pg,
        pg_db,
        "CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)",
        f"INSERT INTO kv SELECT i, 0 FROM generate_series(1, {keys}) i",
    )
    started = threading.Event()

    def write() -> None:  # many small transactions, so some commit between slot creation and snapshot
        with pg.connect(pg_db) as conn:
            for i in range(rounds * keys):
                conn.execute("UPDATE kv SET v = v + 1 WHERE id = %s", (i % keys + 1,))
                if i == 2 * keys:
                    started.set()

    writer = threading.Thread(target=write, name="pg-writer", daemon=True)
    writer.start()
    assert started.wait(20)
    task = started_task({**pg_config, "snapshot.fetch.size": "16"})  # the snapshot spans many polls
    try:
        writer.join(60)

        def complete(records: list[SourceRecord]) -> bool:
            last = {as_dict(r.key)["id"]: as_dict(r.value)["after"]["v"] for r in records}
            return len(last) == keys and set(last.values()) == {rounds}

        records = poll_for(task, complete, timeout=60, what=f"v={rounds} for every key")
    finally:
        task.stop()
    per_key: dict[int, list[tuple[str, int]]] = {}
    for r in records:
        value = as_dict(r.value)
        per_key.setdefault(as_dict(r.key)["id"], []).append((value["op"], value["after"]["v"]))
    for key, events in per_key.items():
        (op0, first), rest = events[0], events[1:]
        assert op0 == "r" and all(op == "u" for op, _ in rest), (key, events)
        assert [v for _, v in rest] == list(range(first + 1, rounds + 1)), (key, events)
    assert any(events[0][1] > 0 for events in per_key.values()), "the snapshot ran before any update"


def test_partitioned_table_is_one_topic(pg: PostgresServer, pg_db: str, pg_config: dict[str, str]) -> None:
    execute(
        pg,
        pg_db,
        "CREATE TABLE m (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)",
        "CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu')",
        "CREATE TABLE m_us PARTITION OF m FOR VALUES IN ('us')",
        "INSERT INTO m VALUES (1, 'eu'), (2, 'us')",
    )
    task = started_task(pg_config)
    try:
        snap = poll_count(task, 2)
        execute(pg, pg_db, "INSERT INTO m VALUES (3, 'eu'), (4, 'us')")
        stream = poll_count(task, 2)
    finally:
        task.stop()
    assert {r.topic for r in snap + stream} == {"srv.public.m"}
    assert [op for _t, op, *_ in summary(snap + stream)] == ["r", "r", "c", "c"]
