"""MySqlSourceTask in-process against a real MariaDB: snapshot then stream with correct before/after,
Debezium's envelope and source block, a DDL in the middle of the stream, restarts inside a multi-row
event."""

from __future__ import annotations

import json
from pathlib import Path

from connect.testing import FakeSourceTaskContext, InMemoryOffsetStorageReader
from tests.connectors.mysql.helpers import data_records, started_task
from tests.support.mariadb import MariaDbServer
from tests.support.source_tasks import as_dict, commit, poll_count, poll_for, summary


def test_snapshot_then_stream_inserts_updates_deletes(
    my: MariaDbServer, my_db: str, my_config: dict[str, str]
) -> None:
    my.execute(
        "CREATE TABLE kv (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
        "INSERT INTO kv VALUES (1, 'a'), (2, 'b')",
        database=my_db,
    )
    task = started_task(my_config)
    try:
        first = poll_for(task, lambda r: len(data_records(r)) >= 2, what="the snapshot")
        snap = data_records(first)
        topic = f"srv.{my_db}.kv"
        assert [s[:5] for s in summary(snap)] == [
            (topic, "r", {"id": 1}, None, {"id": 1, "v": "a"}),
            (topic, "r", {"id": 2}, None, {"id": 2, "v": "b"}),
        ]
        sources = [as_dict(r.value)["source"] for r in snap]
        assert [s["snapshot"] for s in sources] == ["true", "last"]
        schema_changes = [r for r in first if r.topic == "srv"]
        assert len(schema_changes) == 1
        change = as_dict(schema_changes[0].value)
        assert change["databaseName"] == my_db and change["ddl"].startswith("CREATE TABLE `kv`")
        assert change["tableChanges"][0]["type"] == "CREATE"
        assert change["tableChanges"][0]["table"]["primaryKeyColumnNames"] == ["id"]

        my.execute(
            "INSERT INTO kv VALUES (3, 'c')",
            "UPDATE kv SET v = 'bb' WHERE id = 2",
            "DELETE FROM kv WHERE id = 1",
            database=my_db,
        )
        streamed = poll_count(task, 4)
        assert summary(streamed) == [
            (topic, "c", {"id": 3}, None, {"id": 3, "v": "c"}),
            (topic, "u", {"id": 2}, {"id": 2, "v": "b"}, {"id": 2, "v": "bb"}),
            (topic, "d", {"id": 1}, {"id": 1, "v": "a"}, None),
            (topic, None, {"id": 1}, None, None),
        ]
        value = as_dict(streamed[0].value)
        assert list(value) == ["before", "after", "source", "op", "ts_ms"]
        source = value["source"]
        assert list(source) == [
            "version", "connector", "name", "ts_ms", "snapshot", "db", "sequence", "table", "server_id",
            "gtid", "file", "pos", "row", "thread", "query",
        ]  # fmt: skip
        assert source["connector"] == "mysql" and source["name"] == "srv" and source["db"] == my_db
        assert source["table"] == "kv" and source["snapshot"] == "false" and source["server_id"] == 1
        assert source["gtid"] and source["file"].startswith("binlog.") and source["pos"] > 0
        assert streamed[0].value.schema.name == f"{topic}.Envelope"
        assert streamed[0].key_schema is not None and streamed[0].key_schema.name == f"{topic}.Key"
        offset = streamed[0].source_offset
        assert offset is not None and {"file", "pos", "event", "row", "gtids"} <= set(offset)
    finally:
        task.stop()


def test_ddl_mid_stream_and_restart_decodes_with_history(
    my: MariaDbServer, my_db: str, my_config: dict[str, str], tmp_path: Path
) -> None:
    my.execute("CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(10))", database=my_db)
    offsets = InMemoryOffsetStorageReader()
    task = started_task({**my_config, "snapshot.mode": "no_data"}, offsets)
    try:
        commit(
            task,
            offsets,
            poll_for(task, lambda r: any(x.topic == "srv" for x in r), what="the schema snapshot"),
        )  # schema change events
        my.execute(
            "INSERT INTO t VALUES (1, 10, 'x')",
            "ALTER TABLE t ADD COLUMN c DECIMAL(5,2) NOT NULL DEFAULT 1.5 AFTER id, DROP COLUMN b",
            "INSERT INTO t VALUES (2, 2.25, 20)",
            "ALTER TABLE t CHANGE a aa BIGINT",
            "INSERT INTO t VALUES (3, 3.5, 30)",
            database=my_db,
        )
        records = poll_for(task, lambda r: len(data_records(r)) >= 3, what="rows around DDL")
    finally:
        task.stop()
    rows = [as_dict(r.value)["after"] for r in data_records(records)]
    assert rows[0] == {"id": 1, "a": 10, "b": "x"}
    assert str(rows[1]["c"]) == "2.25" and rows[1]["a"] == 20 and "b" not in rows[1]
    assert rows[2]["aa"] == 30 and "a" not in rows[2]
    ddl = [as_dict(r.value) for r in records if r.topic == "srv"]
    assert [d["tableChanges"][0]["type"] for d in ddl] == ["ALTER", "ALTER"]
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [h["ddl"].split()[0] for h in history] == ["CREATE", "ALTER", "ALTER"]

    # a restart from the offset before the DDLs decodes the first insert with the old shape
    task = started_task({**my_config, "snapshot.mode": "no_data"}, offsets)
    try:
        again = poll_for(task, lambda r: len(data_records(r)) >= 3, what="the replay")
    finally:
        task.stop()
    assert [as_dict(r.value)["after"] for r in data_records(again)] == rows


def test_restart_inside_a_multi_row_event_neither_repeats_nor_skips(
    my: MariaDbServer, my_db: str, my_config: dict[str, str]
) -> None:
    my.execute("CREATE TABLE m (id INT PRIMARY KEY, v INT NOT NULL)", database=my_db)
    offsets = InMemoryOffsetStorageReader()
    config = {**my_config, "snapshot.mode": "no_data"}
    task = started_task(config, offsets)
    try:
        commit(
            task,
            offsets,
            poll_for(task, lambda r: any(x.topic == "srv" for x in r), what="the schema snapshot"),
        )
        values = ", ".join(f"({i}, {i})" for i in range(1, 101))
        my.execute(f"INSERT INTO m VALUES {values}", "DELETE FROM m WHERE id <= 50", database=my_db)
        # the runtime acknowledged only the first 7 records of the one 100-row write event
        first = poll_count(task, 7)[:7]
        commit(task, offsets, first)
    finally:
        task.stop()
    task = started_task(config, offsets)
    try:
        rest = poll_for(task, lambda r: len(data_records(r)) >= 100 + 100 - 7, what="the rest")
    finally:
        task.stop()
    ops = [(s[1], s[2]["id"] if s[2] else None) for s in summary(data_records(first + rest))]
    assert ops[:100] == [("c", i) for i in range(1, 101)]
    expected_deletes = [x for i in range(1, 51) for x in (("d", i), (None, i))]
    assert ops[100:] == expected_deletes


def test_offsets_count_rows_as_debezium_and_a_restart_inside_a_row_resumes_at_its_next_record(
    my: MariaDbServer, my_db: str, my_config: dict[str, str]
) -> None:
    """``row`` is the number of rows of the event delivered completely (Debezium's meaning); the records
    of a row that gives several (a primary key change: delete, tombstone, create) carry ``record``."""
    my.execute(
        "CREATE TABLE p (id INT PRIMARY KEY, v INT NOT NULL)",
        "INSERT INTO p VALUES (1, 1), (2, 2), (3, 3)",
        database=my_db,
    )
    offsets = InMemoryOffsetStorageReader()
    config = {**my_config, "snapshot.mode": "no_data"}
    task = started_task(config, offsets)
    try:
        commit(
            task,
            offsets,
            poll_for(task, lambda r: any(x.topic == "srv" for x in r), what="the schema snapshot"),
        )
        my.execute("UPDATE p SET id = id + 10", database=my_db)  # one event, 3 rows, 3 records each
        changed = poll_count(task, 9)
        assert [(o["row"], o.get("record")) for o in (r.source_offset or {} for r in changed)] == [
            (0, 1), (0, 2), (1, None), (1, 1), (1, 2), (2, None), (2, 1), (2, 2), (3, None),
        ]  # fmt: skip
        assert {(r.source_offset or {})["event"] for r in changed} == {0}
        context = task.context
        assert isinstance(context, FakeSourceTaskContext) and context.commit_requests > 0
        commit(task, offsets, changed[:4])  # row 0 complete, then the delete of row 1
    finally:
        task.stop()
    task = started_task(config, offsets)
    try:
        rest = poll_count(task, 5)
    finally:
        task.stop()
    ops = [(s[1], s[2]["id"]) for s in summary(changed[:4] + rest)]
    assert ops == [
        ("d", 1), (None, 1), ("c", 11), ("d", 2), (None, 2), ("c", 12), ("d", 3), (None, 3), ("c", 13),
    ]  # fmt: skip
