"""Run a PostgresSourceTask in-process with the ``connect.testing`` fakes and inspect its records."""

from __future__ import annotations

from connect.testing import InMemoryOffsetStorageReader
from connectors.postgres import PostgresSourceTask
from tests.support.postgres import PostgresServer
from tests.support.source_tasks import start_task


def started_task(
    config: dict[str, str], offsets: InMemoryOffsetStorageReader | None = None
) -> PostgresSourceTask:
    return start_task(PostgresSourceTask(), config, offsets)


def confirmed_lsn(pg: PostgresServer, slot: str) -> int:
    """The ``confirmed_flush_lsn`` of replication slot ``slot`` as an integer (the slot must exist)."""
    with pg.connect() as conn:
        row = conn.execute(
            "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        ).fetchone()
    assert row is not None, f"slot {slot} missing"
    return int(row[0])
