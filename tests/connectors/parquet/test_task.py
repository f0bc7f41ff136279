"""ParquetSinkTask in-process on the local filesystem: files, rotation, recovery, partitioners, Debezium
envelopes, schema evolution, configuration."""

from __future__ import annotations

import gc
import json
import time
import weakref
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from connect.api import (
    ConfigException,
    ConnectException,
    DataException,
    RetriableException,
    Schema,
    SchemaBuilder,
    SinkRecord,
    Struct,
    TimestampType,
    TopicPartition,
)
from connectors.parquet import ParquetSink
from connectors.parquet.config import CONFIG
from connectors.parquet.partitioner import joda_to_strftime
from connectors.parquet.store import Store
from tests.connectors.parquet.helpers import (
    ROW,
    ROW_V2,
    TaskRun,
    check_exactly_once,
    committed_files,
    envelope_schema,
    struct_records,
)

TOPIC = "orders"
TP0 = TopicPartition(TOPIC, 0)
TP1 = TopicPartition(TOPIC, 1)
LOCAL = pafs.LocalFileSystem()


def config(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"topics": TOPIC, "store.url": f"file://{tmp_path}/store", "flush.size": "4", **extra}


def files_of(tmp_path: Path) -> list[str]:
    return [
        Path(f.path).relative_to(tmp_path / "store").as_posix()
        for f in committed_files(LOCAL, f"{tmp_path}/store", TOPIC)
    ]


# -- files, rotation, pre_commit -----------------------------------------------------------------------------


def test_flush_size_cuts_files_named_by_offsets_and_pre_commit_covers_only_committed(tmp_path: Path) -> None:
    run = TaskRun(config(tmp_path), TP0, TP1)
    run.put(struct_records(TP0, range(10)) + struct_records(TP1, range(3)))
    assert files_of(tmp_path) == [
        "orders/partition=0/orders+0+0+3.parquet",
        "orders/partition=0/orders+0+4+7.parquet",
    ]
    # 8, 9 of partition 0 and all of partition 1 are buffered: not committable.
    assert run.pre_commit({TP0: 10, TP1: 3}) == {TP0: 8}
    run.put(struct_records(TP0, range(10, 12)) + struct_records(TP1, range(3, 4)))
    assert run.pre_commit({TP0: 12, TP1: 4}) == {TP0: 12, TP1: 4}
    check_exactly_once(LOCAL, f"{tmp_path}/store", TOPIC, {0: 12, 1: 4})
    table = pq.read_table(f"{tmp_path}/store/orders/partition=0/orders+0+0+3.parquet")
    assert table.schema.names == ["id", "name"] and table.column("name").to_pylist() == [
        "n0",
        "n1",
        "n2",
        "n3",
    ]
    assert not list((tmp_path / "store" / "_headrace").rglob("*.parquet")), "staging files left behind"
    run.stop()


def test_rotate_interval_uses_record_time_deterministically(tmp_path: Path) -> None:
    cfg = config(tmp_path, **{"flush.size": "1000", "rotate.interval.ms": "100"})
    stamps = {o: 1_000 + o * 30 for o in range(10)}  # 0,30,...,270 ms after the first
    run = TaskRun(cfg, TP0)
    run.put(struct_records(TP0, range(10), ts=stamps.get))
    # A file ends before the first record >= 100 ms after the file's first record.
    assert files_of(tmp_path) == [
        "orders/partition=0/orders+0+0+3.parquet",
        "orders/partition=0/orders+0+4+7.parquet",
    ]
    run.stop()


def test_rotate_schedule_interval_commits_on_the_wall_clock(tmp_path: Path) -> None:
    cfg = config(tmp_path, **{"flush.size": "1000", "rotate.schedule.interval.ms": "1"})
    run = TaskRun(cfg, TP0)
    run.put(struct_records(TP0, range(3)))
    time.sleep(0.01)
    assert run.pre_commit({TP0: 3}) == {TP0: 3}
    assert files_of(tmp_path) == ["orders/partition=0/orders+0+0+2.parquet"]
    run.stop()


def _just_after_a_multiple_of(step_ms: int) -> None:
    """Sleep until a little after the next multiple of ``step_ms`` of the wall clock, so a round started
    now has almost ``step_ms`` until its rotate.schedule.interval.ms deadline."""
    time.sleep((step_ms - time.time() * 1000 % step_ms) / 1000 + 0.01)


def test_rounds_end_by_the_clock_in_empty_puts_and_ask_for_a_commit(tmp_path: Path) -> None:
    """The runtime calls put([]) while no records arrive: a round whose rotate.schedule.interval.ms
    deadline passed is committed there, and the task asks for a commit so the consumer offsets follow at
    once (not at the worker's offset.flush.interval.ms)."""
    step = 400
    run = TaskRun(config(tmp_path, **{"flush.size": "1000", "rotate.schedule.interval.ms": str(step)}), TP0)
    _just_after_a_multiple_of(step)
    run.put(struct_records(TP0, range(3)))
    run.put([])
    assert files_of(tmp_path) == [] and run.context.commit_requests == 0
    time.sleep(step / 1000)
    run.put([])
    assert files_of(tmp_path) == ["orders/partition=0/orders+0+0+2.parquet"]
    assert run.context.commit_requests == 1
    assert run.pre_commit({TP0: 3}) == {TP0: 3}
    run.put([])
    assert run.context.commit_requests == 1  # nothing new committed: no new request
    run.stop()


def test_a_round_full_by_flush_size_asks_for_a_commit(tmp_path: Path) -> None:
    run = TaskRun(config(tmp_path), TP0)
    run.put(struct_records(TP0, range(3)))
    assert run.context.commit_requests == 0
    run.put(struct_records(TP0, range(3, 6)))  # ends the round 0..3; 4, 5 stay buffered
    assert files_of(tmp_path) == ["orders/partition=0/orders+0+0+3.parquet"]
    assert run.context.commit_requests == 1
    assert run.pre_commit({TP0: 6}) == {TP0: 4}
    run.stop()


def test_rotate_interval_with_the_wallclock_extractor_ends_rounds_in_empty_puts(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, **{"flush.size": "1000", "rotate.interval.ms": "200", "timestamp.extractor": "Wallclock"}
    )
    run = TaskRun(cfg, TP0)
    run.put(struct_records(TP0, range(2)))
    run.put([])
    assert files_of(tmp_path) == []
    time.sleep(0.25)
    run.put([])
    assert files_of(tmp_path) == ["orders/partition=0/orders+0+0+1.parquet"]
    assert run.context.commit_requests == 1
    run.stop()


def test_redelivered_records_are_skipped_and_tombstones_advance_offsets(tmp_path: Path) -> None:
    run = TaskRun(config(tmp_path), TP0)
    batch = struct_records(TP0, range(3))
    run.put(batch)
    run.put(batch)  # e.g. after a RetriableException the runtime delivers the same batch again
    tomb = SinkRecord(TOPIC, 0, None, None, ROW, None, 3, 1, TimestampType.CREATE_TIME)
    run.put([tomb, *struct_records(TP0, range(4, 6))])
    assert files_of(tmp_path) == ["orders/partition=0/orders+0+0+4.parquet"]
    rows = pq.read_table(f"{tmp_path}/store/orders/partition=0/orders+0+0+4.parquet").column("id").to_pylist()
    assert rows == [0, 1, 2, 4]
    run.stop()


class _TrackedRecord(SinkRecord):
    """A SinkRecord that can be weakly referenced (to see whether the sink still holds it)."""

    __slots__ = ("__weakref__",)


def test_struct_batches_are_released_at_put_and_mix_with_the_general_path_in_one_file(tmp_path: Path) -> None:
    run = TaskRun(config(tmp_path, **{"flush.size": "10"}), TP0)
    batch: list[SinkRecord] = [
        _TrackedRecord(
            r.topic, r.kafka_partition, None, None, r.value_schema, r.value, r.kafka_offset, r.timestamp
        )
        for r in struct_records(TP0, range(4))
    ]
    refs = [weakref.ref(r) for r in batch]
    run.put(batch)
    del batch
    gc.collect()
    # Buffered but not committed: converted to Arrow in put(), the records themselves are not kept.
    assert files_of(tmp_path) == [] and [r() for r in refs] == [None] * 4
    tomb = SinkRecord(TOPIC, 0, None, None, ROW, None, 4, 1, TimestampType.CREATE_TIME)
    run.put([tomb, *struct_records(TP0, range(5, 7))])  # a tombstone: the general, per-record path
    run.put(struct_records(TP0, range(7, 11)))
    assert files_of(tmp_path) == ["orders/partition=0/orders+0+0+10.parquet"]
    table = pq.read_table(f"{tmp_path}/store/orders/partition=0/orders+0+0+10.parquet")
    assert table.column("id").to_pylist() == [0, 1, 2, 3, 5, 6, 7, 8, 9, 10]
    assert table.column("name").to_pylist() == [f"n{i}" for i in (0, 1, 2, 3, 5, 6, 7, 8, 9, 10)]
    run.stop()


# -- exactly-once recovery ---------------------------------------------------------------------------------


def test_open_rewinds_to_the_record_after_the_last_committed_file(tmp_path: Path) -> None:
    first = TaskRun(config(tmp_path), TP0, TP1)
    first.put(struct_records(TP0, range(10)) + struct_records(TP1, range(5)))
    # "crash": the buffered tail (8, 9 and 4) is lost with the process.
    second = TaskRun(config(tmp_path), TP0, TP1)
    assert second.context.offsets == {TP0: 8, TP1: 4}
    second.put(struct_records(TP0, range(8, 12)) + struct_records(TP1, range(4, 8)))
    check_exactly_once(LOCAL, f"{tmp_path}/store", TOPIC, {0: 12, 1: 8})
    # A partition without files is not rewound (the consumer's committed offset applies).
    third = TaskRun(config(tmp_path), TopicPartition(TOPIC, 7))
    assert third.context.offsets == {}


def test_an_interrupted_multi_file_commit_is_completed_or_discarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(
        tmp_path, **{"partitioner.class": "field", "partition.field.name": "name", "flush.size": "3"}
    )
    run = TaskRun(cfg, TP0)
    moves: list[str] = []
    original = Store._move

    def crash_after_first_move(self: Store, src: str, dst: str) -> None:
        if dst.endswith(".parquet") and moves:
            raise KeyboardInterrupt("simulated crash between two renames")
        original(self, src, dst)
        if dst.endswith(".parquet"):
            moves.append(dst)

    monkeypatch.setattr(Store, "_move", crash_after_first_move)
    with pytest.raises(KeyboardInterrupt):
        run.put(struct_records(TP0, range(3)))
    monkeypatch.undo()
    assert len(files_of(tmp_path)) == 1, "one of three files visible before recovery"
    wal = list((tmp_path / "store" / "_headrace" / "wal").glob("*.json"))
    assert len(wal) == 1 and len(json.loads(wal[0].read_text())["files"]) == 3
    again = TaskRun(cfg, TP0)  # open() finishes the commit from the log
    assert len(files_of(tmp_path)) == 3 and again.context.offsets == {TP0: 3}
    assert not list((tmp_path / "store" / "_headrace").rglob("*.json"))

    # Staged files without a log (crash before it was written) are removed and never become visible.
    monkeypatch.setattr(Store, "_write", _fail_on_wal(Store._write))
    with pytest.raises(KeyboardInterrupt):
        again.put(struct_records(TP0, range(3, 6)))
    monkeypatch.undo()
    assert list((tmp_path / "store" / "_headrace" / "tmp").rglob("*.parquet"))
    third = TaskRun(cfg, TP0)
    assert third.context.offsets == {TP0: 3}
    assert not list((tmp_path / "store" / "_headrace" / "tmp").rglob("*.parquet"))
    third.put(struct_records(TP0, range(3, 6)))
    check_exactly_once(LOCAL, f"{tmp_path}/store", TOPIC, {0: 6})


def _fail_on_wal(write: Any) -> Any:
    def wrapped(self: Store, path: str, data: Any) -> None:
        if "/wal/" in path:
            raise KeyboardInterrupt("simulated crash before the commit log")
        write(self, path, data)

    return wrapped


# -- partitioners ------------------------------------------------------------------------------------------


def test_time_partitioner_paths_from_record_time(tmp_path: Path) -> None:
    hour = 3_600_000
    base = 1_700_000_000_000 - 1_700_000_000_000 % hour  # 2023-11-14T22:00Z
    stamps = {0: base, 1: base + 10, 2: base + hour + 5, 3: base + 20, 4: base + 2 * hour}
    cfg = config(tmp_path, **{"partitioner.class": "time", "flush.size": "5"})
    run = TaskRun(cfg, TP0)
    run.put(struct_records(TP0, range(5), ts=stamps.get))
    assert files_of(tmp_path) == [
        "orders/year=2023/month=11/day=14/hour=22/orders+0+0+3.parquet",
        "orders/year=2023/month=11/day=14/hour=23/orders+0+2+2.parquet",
        "orders/year=2023/month=11/day=15/hour=00/orders+0+4+4.parquet",
    ]
    table = ds.dataset(f"{tmp_path}/store/orders", format="parquet", partitioning="hive").to_table()
    assert sorted(table.column("id").to_pylist()) == [0, 1, 2, 3, 4]
    run.stop()


def test_time_partitioner_record_field_and_custom_format(tmp_path: Path) -> None:
    schema = SchemaBuilder.struct().field("id", Schema.INT64_SCHEMA).field("at", Schema.INT64_SCHEMA).build()
    day = 86_400_000
    records = [
        SinkRecord(TOPIC, 0, None, None, schema, Struct(schema, {"id": i, "at": i * day}), i, None)
        for i in range(3)
    ]
    cfg = config(
        tmp_path,
        **{
            "partitioner.class": "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
            "timestamp.extractor": "RecordField",
            "timestamp.field": "at",
            "path.format": "'dt'=YYYY-MM-dd",
            "partition.duration.ms": str(day),
            "flush.size": "3",
        },
    )
    run = TaskRun(cfg, TP0)
    run.put(records)
    assert [p.split("/")[1] for p in files_of(tmp_path)] == [
        "dt=1970-01-01",
        "dt=1970-01-02",
        "dt=1970-01-03",
    ]
    assert joda_to_strftime("'year'=YYYY/'h'=HH") == "year=%Y/h=%H"
    run.stop()


def test_field_partitioner(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, **{"partitioner.class": "field", "partition.field.name": "name", "flush.size": "2"}
    )
    run = TaskRun(cfg, TP0)
    run.put(struct_records(TP0, range(2)))
    assert files_of(tmp_path) == [
        "orders/name=n0/orders+0+0+0.parquet",
        "orders/name=n1/orders+0+1+1.parquet",
    ]
    run.stop()


# -- Debezium envelopes ------------------------------------------------------------------------------------

_ROW = (
    SchemaBuilder.struct()
    .name("pg.public.items.Value")
    .field("id", Schema.INT32_SCHEMA)
    .field("label", Schema.OPTIONAL_STRING_SCHEMA)
)
ITEM = _ROW.optional().build()
SOURCE = (
    SchemaBuilder.struct()
    .name("io.debezium.connector.postgresql.Source")
    .field("ts_ms", Schema.INT64_SCHEMA)
    .field("lsn", Schema.OPTIONAL_INT64_SCHEMA)
    .field("txId", Schema.OPTIONAL_INT64_SCHEMA)
    .build()
)
ENVELOPE = envelope_schema("pg.public.items", ITEM, SOURCE)


def change(offset: int, op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> SinkRecord:
    value = Struct(
        ENVELOPE,
        {
            "before": Struct(ITEM, before) if before else None,
            "after": Struct(ITEM, after) if after else None,
            "source": Struct(SOURCE, {"ts_ms": 1000 + offset, "lsn": 500 + offset, "txId": 7}),
            "op": op,
            "ts_ms": 2000 + offset,
        },
    )
    return SinkRecord(TOPIC, 0, None, None, ENVELOPE, value, offset, 1, TimestampType.CREATE_TIME)


CHANGES = [
    change(0, "r", None, {"id": 1, "label": "a"}),
    change(1, "c", None, {"id": 2, "label": "b"}),
    change(2, "u", {"id": 1, "label": "a"}, {"id": 1, "label": "a2"}),
    change(3, "d", {"id": 2, "label": "b"}, None),
]


def test_debezium_envelopes_flattened_with_op_and_source_position(tmp_path: Path) -> None:
    run = TaskRun(config(tmp_path), TP0)
    run.put(CHANGES)
    table = ds.dataset(f"{tmp_path}/store/{TOPIC}", format="parquet").to_table()
    assert table.schema.names == [
        "id",
        "label",
        "__op",
        "__ts_ms",
        "__source_ts_ms",
        "__lsn",
        "__txId",
        "__deleted",
    ]
    assert table.to_pylist() == [
        {
            "id": 1,
            "label": "a",
            "__op": "r",
            "__ts_ms": 2000,
            "__source_ts_ms": 1000,
            "__lsn": 500,
            "__txId": 7,
            "__deleted": False,
        },
        {
            "id": 2,
            "label": "b",
            "__op": "c",
            "__ts_ms": 2001,
            "__source_ts_ms": 1001,
            "__lsn": 501,
            "__txId": 7,
            "__deleted": False,
        },
        {
            "id": 1,
            "label": "a2",
            "__op": "u",
            "__ts_ms": 2002,
            "__source_ts_ms": 1002,
            "__lsn": 502,
            "__txId": 7,
            "__deleted": False,
        },
        {
            "id": 2,
            "label": "b",
            "__op": "d",
            "__ts_ms": 2003,
            "__source_ts_ms": 1003,
            "__lsn": 503,
            "__txId": 7,
            "__deleted": True,
        },
    ]
    run.stop()


def test_debezium_whole_envelope_mode(tmp_path: Path) -> None:
    run = TaskRun(config(tmp_path, **{"envelope.mode": "envelope"}), TP0)
    run.put(CHANGES)
    rows = ds.dataset(f"{tmp_path}/store/{TOPIC}", format="parquet").to_table().to_pylist()
    assert [r["op"] for r in rows] == ["r", "c", "u", "d"]
    assert rows[2]["before"] == {"id": 1, "label": "a"} and rows[2]["after"] == {"id": 1, "label": "a2"}
    assert rows[3]["source"] == {"ts_ms": 1003, "lsn": 503, "txId": 7}
    run.stop()


def test_schemaless_values_and_envelopes(tmp_path: Path) -> None:
    run = TaskRun(config(tmp_path, **{"flush.size": "3"}), TP0)
    plain = [SinkRecord(TOPIC, 0, None, None, None, {"id": i, "tags": ["x"] * i}, i, 1) for i in range(3)]
    envelope = {"before": None, "after": {"id": 9}, "source": {"ts_ms": 5, "lsn": 6}, "op": "c", "ts_ms": 7}
    run.put([*plain, SinkRecord(TOPIC, 0, None, None, None, envelope, 3, 1)])
    assert run.pre_commit({TP0: 4}) == {TP0: 3}
    first = pq.read_table(f"{tmp_path}/store/{TOPIC}/partition=0/{TOPIC}+0+0+2.parquet")
    assert first.column("tags").to_pylist() == [[], ["x"], ["x", "x"]]
    run.put([SinkRecord(TOPIC, 0, None, None, None, envelope, o, 1) for o in (4, 5)])
    rows = pq.read_table(f"{tmp_path}/store/{TOPIC}/partition=0/{TOPIC}+0+3+5.parquet").to_pylist()
    assert rows[0] == {
        "id": 9,
        "__op": "c",
        "__ts_ms": 7,
        "__source_ts_ms": 5,
        "__lsn": 6,
        "__deleted": False,
    }
    run.stop()


# -- schema evolution ------------------------------------------------------------------------------------


def test_backward_added_optional_column_starts_new_files_and_old_records_are_projected(
    tmp_path: Path,
) -> None:
    run = TaskRun(config(tmp_path, **{"schema.compatibility": "BACKWARD", "flush.size": "7"}), TP0)
    # v1 v1 v1 | v2 v2 v2 v1 v1 v2 v2: a newer schema starts new files, older records are projected
    # into the current one -- two files, not one per schema change.
    run.put(struct_records(TP0, range(3)))
    run.put(struct_records(TP0, range(3, 6), ROW_V2))
    run.put(struct_records(TP0, range(6, 8)))
    run.put(struct_records(TP0, range(8, 10), ROW_V2))
    assert files_of(tmp_path) == [
        "orders/partition=0/orders+0+0+2.parquet",
        "orders/partition=0/orders+0+3+9.parquet",
    ]
    second = pq.read_table(f"{tmp_path}/store/orders/partition=0/orders+0+3+9.parquet")
    assert second.schema.names == ["id", "name", "email"]
    assert second.column("email").to_pylist() == ["u3@x", "u4@x", "u5@x", None, None, "u8@x", "u9@x"]
    table = ds.dataset(f"{tmp_path}/store/orders", format="parquet", schema=second.schema).to_table()
    assert sorted(table.column("id").to_pylist()) == list(range(10))
    run.stop()


def test_none_compatibility_rotates_on_any_change_and_forward_projects_to_the_old_schema(
    tmp_path: Path,
) -> None:
    none = TaskRun(config(tmp_path / "none", **{"flush.size": "100"}), TP0)
    none.put(
        struct_records(TP0, range(2))
        + struct_records(TP0, range(2, 4), ROW_V2)
        + struct_records(TP0, range(4, 5))
    )
    assert [p.rsplit("/", 1)[1] for p in files_of(tmp_path / "none")] == [
        "orders+0+0+1.parquet",
        "orders+0+2+3.parquet",
    ]

    fwd = TaskRun(config(tmp_path / "fwd", **{"flush.size": "4", "schema.compatibility": "FORWARD"}), TP0)
    fwd.put(struct_records(TP0, range(2)) + struct_records(TP0, range(2, 4), ROW_V2))
    table = pq.read_table(f"{tmp_path}/fwd/store/orders/partition=0/orders+0+0+3.parquet")
    assert table.schema.names == ["id", "name"] and table.column("id").to_pylist() == [0, 1, 2, 3]


def test_incompatible_change_is_an_error_for_the_record(tmp_path: Path) -> None:
    required = (
        SchemaBuilder.struct()
        .name("test.Row")
        .version(3)
        .field("id", Schema.INT64_SCHEMA)
        .field("name", Schema.OPTIONAL_STRING_SCHEMA)
        .field("score", Schema.INT32_SCHEMA)
        .build()
    )
    bad = [SinkRecord(TOPIC, 0, None, None, required, Struct(required, {"id": 2, "score": 1}), 2, 1)]
    cfg = config(tmp_path, **{"schema.compatibility": "BACKWARD", "flush.size": "3"})
    run = TaskRun(cfg, TP0)
    run.put(struct_records(TP0, range(2)))
    with pytest.raises(DataException, match="required"):
        run.put(bad)
    tolerant = TaskRun(
        config(tmp_path / "dlq", **{"schema.compatibility": "BACKWARD", "flush.size": "3"}), TP0, dlq=True
    )
    tolerant.put(struct_records(TP0, range(2)) + bad + struct_records(TP0, range(3, 4)))
    assert tolerant.reporter is not None and [r.kafka_offset for r, _ in tolerant.reporter.reported] == [2]
    assert [p.rsplit("/", 1)[1] for p in files_of(tmp_path / "dlq")] == ["orders+0+0+3.parquet"]


# -- configuration -------------------------------------------------------------------------------------------


def test_validation_reports_per_field_errors_and_hides_secrets() -> None:
    result = ParquetSink().validate(
        {
            "store.url": "ftp://x/y",
            "flush.size": "0",
            "partitioner.class": "nope",
            "parquet.codec": "lzo",
            "s3.secret.access.key": "TOPSECRET",
            "s3.endpoint": "127.0.0.1:9000",
        }
    )
    errors = result.errors()
    assert set(errors) == {"store.url", "flush.size", "partitioner.class", "parquet.codec", "s3.endpoint"}
    assert "TOPSECRET" not in repr(result.config_values) and "TOPSECRET" not in str(errors)
    assert CONFIG.is_secret("s3.secret.access.key") and CONFIG.is_secret("s3.access.key.id")
    masked = CONFIG.mask({"s3.secret.access.key": "TOPSECRET", "store.url": "s3://b"})
    assert "TOPSECRET" not in str(masked)
    field_errors = ParquetSink().validate({"store.url": "/tmp/x", "partitioner.class": "field"}).errors()
    assert list(field_errors) == ["partition.field.name"]
    with pytest.raises(ConfigException, match=r"store\.url"):
        ParquetSink().start({"store.url": "relative/dir"})


def test_hdfs_without_a_hadoop_client_is_a_clear_error_at_start() -> None:
    with pytest.raises(ConnectException, match=r"cannot open the store hdfs://127\.0\.0\.1:1/data") as info:
        TaskRun({"store.url": "hdfs://127.0.0.1:1/data"}, TP0)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "extra",
    [{}, {"flush.size": "100", "rotate.interval.ms": "4"}],
    ids=["flush.size", "rotate.interval.ms"],
)
def test_a_store_failure_is_retriable_and_the_redelivered_batch_is_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: dict[str, str]
) -> None:
    # Either way the first file is 0..3: four records, or the record 4 ms after the first starts a new one.
    run = TaskRun(config(tmp_path, **extra), TP0)
    original = Store._write
    failures = [OSError("disk full (simulated)")]

    def flaky(self: Store, path: str, data: Any) -> None:
        if failures:
            raise failures.pop()
        original(self, path, data)

    monkeypatch.setattr(Store, "_write", flaky)
    batch = struct_records(TP0, range(6))
    with pytest.raises(RetriableException, match="disk full"):
        run.put(batch)
    assert files_of(tmp_path) == [] and run.pre_commit({TP0: 6}) == {}
    run.put(batch)  # the runtime redelivers the same records after context.timeout
    assert run.pre_commit({TP0: 6}) == {TP0: 4}
    run.put(struct_records(TP0, range(6, 9)))
    check_exactly_once(LOCAL, f"{tmp_path}/store", TOPIC, {0: 8})
