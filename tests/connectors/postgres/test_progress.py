"""PostgresSource reports its progress through ``context.report_progress`` (seen with the connect.testing
fake): per snapshot batch tables and rows done, estimates, rate and ETA; then the streaming phase."""

from __future__ import annotations

from connect.testing import FakeSourceTaskContext
from tests.connectors.postgres.conftest import execute
from tests.connectors.postgres.helpers import started_task
from tests.support.postgres import PostgresServer
from tests.support.source_tasks import poll_count, poll_for


def test_snapshot_progress_then_streaming(pg: PostgresServer, pg_db: str, pg_config: dict[str, str]) -> None:
    execute(
        pg,
        pg_db,
        "CREATE TABLE a (id int PRIMARY KEY, v text NOT NULL)",
        "CREATE TABLE b (id int PRIMARY KEY)",
        "INSERT INTO a SELECT i, 'x' FROM generate_series(1, 1000) i",
        "INSERT INTO b SELECT generate_series(1, 300)",
        "ANALYZE a",  # pg_class.reltuples: the estimates behind rows_estimated and the ETA
        "ANALYZE b",
    )
    task = started_task({**pg_config, "snapshot.fetch.size": "100"})
    context = task.context
    assert isinstance(context, FakeSourceTaskContext)
    try:
        poll_count(task, 1300)
        poll_for(task, lambda _: (context.progress or {}).get("phase") == "streaming", what="phase streaming")
        reports = context.progress_reports
        snapshot = [r for r in reports if r is not None and r["phase"] == "snapshot"]
        assert len(snapshot) >= 13, f"one report per batch of 100 rows; got {len(snapshot)}"
        rows = [r["rows_done"] for r in snapshot]
        assert rows == sorted(rows) and rows[0] > 0 and rows[-1] == 1300
        assert {r["tables_total"] for r in snapshot} == {2}
        assert [r["tables_done"] for r in snapshot] == sorted(r["tables_done"] for r in snapshot)
        assert snapshot[-1]["tables_done"] == 2
        assert {r["rows_estimated"] for r in snapshot} == {1300}
        middle = snapshot[len(snapshot) // 2]
        assert middle["current_table"] in ("public.a", "public.b")
        assert (
            middle["current_table_rows_estimated"]
            == {"public.a": 1000, "public.b": 300}[middle["current_table"]]
        )
        assert 0 < middle["current_table_rows_done"] <= middle["current_table_rows_estimated"]
        assert middle["rows_per_second"] > 0 and middle["eta_seconds"] >= 0
        streaming = reports[-1]
        assert streaming is not None
        assert streaming["phase"] == "streaming" and streaming["slot"] == pg_config["slot.name"]
        assert (streaming["snapshot_rows"], streaming["snapshot_tables"]) == (1300, 2)
        assert streaming["events_streamed"] == 0 and "/" in streaming["last_lsn"]

        execute(pg, pg_db, "INSERT INTO b VALUES (301)")
        poll_for(
            task,
            lambda _: (context.progress or {}).get("events_streamed", 0) >= 1,
            what="streaming progress counting the insert",
        )
        assert context.progress is not None and context.progress["last_lsn"] != streaming["last_lsn"]
    finally:
        task.stop()


def test_initial_only_ends_in_phase_done(pg: PostgresServer, pg_db: str, pg_config: dict[str, str]) -> None:
    execute(pg, pg_db, "CREATE TABLE c (id int PRIMARY KEY)", "INSERT INTO c SELECT generate_series(1, 50)")
    task = started_task({**pg_config, "snapshot.mode": "initial_only", "snapshot.fetch.size": "20"})
    context = task.context
    assert isinstance(context, FakeSourceTaskContext)
    try:
        poll_count(task, 50)
        poll_for(task, lambda _: (context.progress or {}).get("phase") == "done", what="phase done")
        done = dict(context.progress or {})
        assert done.pop("snapshot_seconds") >= 0
        assert done == {"phase": "done", "snapshot_tables": 1, "snapshot_rows": 50}
    finally:
        task.stop()
