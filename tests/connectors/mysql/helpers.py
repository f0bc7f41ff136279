"""Run a MySqlSourceTask in-process with the ``connect.testing`` fakes and inspect its records."""

from __future__ import annotations

from connect.api.records import SourceRecord
from connect.testing import InMemoryOffsetStorageReader
from connectors.mysql import MySqlSourceTask
from tests.support.source_tasks import start_task


def started_task(
    config: dict[str, str], offsets: InMemoryOffsetStorageReader | None = None
) -> MySqlSourceTask:
    return start_task(MySqlSourceTask(), config, offsets)


def data_records(records: list[SourceRecord]) -> list[SourceRecord]:
    """Change records and tombstones of tables (not schema changes or heartbeats)."""
    return [r for r in records if r.topic.count(".") >= 2 and not r.topic.startswith("__")]
