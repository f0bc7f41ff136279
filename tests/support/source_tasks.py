"""Run a SourceTask in-process with the ``connect.testing`` fakes and inspect its Debezium records —
shared by the CDC connectors' tests (PostgresSource, MySqlSource)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from connect.api.data import Struct
from connect.api.records import SourceRecord
from connect.api.task import SourceTask
from connect.testing import FakeSourceTaskContext, InMemoryOffsetStorageReader, check_source_records

T = TypeVar("T", bound=SourceTask)


def start_task(task: T, config: dict[str, str], offsets: InMemoryOffsetStorageReader | None = None) -> T:
    """``task`` initialized with a fake context over ``offsets`` (empty by default) and started."""
    task.initialize(
        FakeSourceTaskContext(config, offsets if offsets is not None else InMemoryOffsetStorageReader())
    )
    task.start(dict(config))
    return task


def poll_for(
    task: SourceTask,
    done: Callable[[list[SourceRecord]], bool],
    timeout: float = 20.0,
    what: str = "records",
) -> list[SourceRecord]:
    """Poll until ``done(records)`` (all records so far) or fail after ``timeout`` s."""
    records: list[SourceRecord] = []
    deadline = time.monotonic() + timeout
    while not done(records):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what}; got {len(records)}: {summary(records)[-10:]}"
            )
        records.extend(check_source_records(task.poll()))
    return records


def poll_count(task: SourceTask, count: int, timeout: float = 20.0) -> list[SourceRecord]:
    return poll_for(task, lambda r: len(r) >= count, timeout, f"{count} records")


def as_dict(value: Any) -> Any:
    """Structs (nested, in lists) as plain dicts."""
    if isinstance(value, Struct):
        return {f.name: as_dict(value.get_without_default(f.name)) for f in value.schema.fields}
    if isinstance(value, list):
        return [as_dict(v) for v in value]
    return value


def summary(records: list[SourceRecord]) -> list[tuple[Any, ...]]:
    """(topic, op, key, before, after) per record; op None for tombstones, "other" for records without
    an ``op`` (heartbeats, schema changes)."""
    out: list[tuple[Any, ...]] = []
    for r in records:
        value = as_dict(r.value)
        key = as_dict(r.key)
        if value is None:
            out.append((r.topic, None, key, None, None))
        elif "op" in value:
            out.append((r.topic, value["op"], key, value["before"], value["after"]))
        else:
            out.append((r.topic, "other", key, None, None))
    return out


def commit(task: SourceTask, offsets: InMemoryOffsetStorageReader, records: list[SourceRecord]) -> None:
    """What the runtime does after the broker acknowledged ``records``: store offsets, then commit()."""
    offsets.commit(records)
    task.commit()
