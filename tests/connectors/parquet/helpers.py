"""Helpers shared by the ParquetSink tests: run a task in-process against a fake context, build records,
read a store back with pyarrow."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from connect.api import Schema, SchemaBuilder, SinkRecord, Struct, TimestampType, TopicPartition
from connect.testing import FakeErrantRecordReporter, FakeSinkTaskContext
from connectors.parquet import ParquetSinkTask
from connectors.parquet.store import CommittedFile, parse_file_name

ROW = (
    SchemaBuilder.struct()
    .name("test.Row")
    .version(1)
    .field("id", Schema.INT64_SCHEMA)
    .field("name", Schema.OPTIONAL_STRING_SCHEMA)
    .build()
)
ROW_V2 = (
    SchemaBuilder.struct()
    .name("test.Row")
    .version(2)
    .field("id", Schema.INT64_SCHEMA)
    .field("name", Schema.OPTIONAL_STRING_SCHEMA)
    .field("email", Schema.OPTIONAL_STRING_SCHEMA)
    .build()
)


def envelope_schema(name: str, row: Schema, source: Schema) -> Schema:
    """A Debezium envelope schema ``<name>.Envelope`` of ``row`` images and a ``source`` block."""
    return (
        SchemaBuilder.struct()
        .name(f"{name}.Envelope")
        .field("before", row)
        .field("after", row)
        .field("source", source)
        .field("op", Schema.STRING_SCHEMA)
        .field("ts_ms", Schema.OPTIONAL_INT64_SCHEMA)
        .build()
    )


def struct_records(
    tp: TopicPartition,
    offsets: Iterable[int],
    schema: Schema = ROW,
    ts: Any = None,
) -> list[SinkRecord]:
    """Records whose value is a struct of ``schema`` with id = offset; timestamp ``ts(offset)`` or
    1_700_000_000_000 + offset."""
    out = []
    for o in offsets:
        values: dict[str, Any] = {"id": o, "name": f"n{o}"}
        if schema.field("email") is not None:
            values["email"] = f"u{o}@x"
        out.append(
            SinkRecord(
                tp.topic,
                tp.partition,
                None,
                None,
                schema,
                Struct(schema, values),
                o,
                ts(o) if ts else 1_700_000_000_000 + o,
                TimestampType.CREATE_TIME,
            )
        )
    return out


class TaskRun:
    """A ParquetSinkTask started in-process with a fake context (what the runtime would hand it)."""

    def __init__(self, config: Mapping[str, str], *partitions: TopicPartition, dlq: bool = False) -> None:
        self.config = dict(config)
        self.reporter = FakeErrantRecordReporter() if dlq else None
        self.context = FakeSinkTaskContext(self.config, assignment=partitions, reporter=self.reporter)
        self.task = ParquetSinkTask()
        self.task.initialize(self.context)
        self.task.start(dict(self.config))
        self.task.open(list(partitions))

    def put(self, records: list[SinkRecord]) -> None:
        self.task.put(records)

    def pre_commit(self, current: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        return self.task.pre_commit(dict(current))

    def stop(self) -> None:
        self.task.close(sorted(self.context.assignment()))
        self.task.stop()


def committed_files(fs: pafs.FileSystem, root: str, topic: str) -> list[CommittedFile]:
    infos = fs.get_file_info(pafs.FileSelector(f"{root}/{topic}", recursive=True, allow_not_found=True))
    found = [parse_file_name(i.path) for i in infos if i.type == pafs.FileType.File]
    return sorted((f for f in found if f is not None), key=lambda f: (f.partition, f.start))


def read_rows(fs: pafs.FileSystem, files: list[CommittedFile]) -> list[tuple[CommittedFile, pa.Table]]:
    return [(f, pq.read_table(f.path, filesystem=fs)) for f in files]


def check_exactly_once(
    fs: pafs.FileSystem, root: str, topic: str, expected: Mapping[int, int], id_column: str = "id"
) -> dict[int, list[int]]:
    """Every file's rows are its offset range in order (the ``id`` column holds the offset), and per
    partition the files tile ``0 .. expected[p]-1`` with no gap and no overlap. Returns ids per partition."""
    ids: dict[int, list[int]] = {p: [] for p in expected}
    for f, table in read_rows(fs, committed_files(fs, root, topic)):
        got = table.column(id_column).to_pylist()
        assert got == list(range(f.start, f.end + 1)), (
            f"{f.path}: rows {got[:5]}... != offsets {f.start}..{f.end}"
        )
        ids.setdefault(f.partition, []).extend(got)
    for p, count in expected.items():
        assert sorted(ids[p]) == list(range(count)), (
            f"partition {p}: {len(ids[p])} rows, {len(set(ids[p]))} distinct, expected 0..{count - 1}; "
            f"missing {sorted(set(range(count)) - set(ids[p]))[:10]}, "
            f"duplicated {sorted(i for i in set(ids[p]) if ids[p].count(i) > 1)[:10]}"
        )
    return ids
