"""ParquetSinkTask in-process against a real S3 API (SeaweedFS): files appear whole, multi-file rounds
commit through the log, and a new task resumes after the last committed file."""

from __future__ import annotations

import pyarrow.dataset as ds
import pytest

from connect.api import ConnectException, TopicPartition
from connectors.parquet.store import Store
from tests.connectors.parquet.helpers import TaskRun, check_exactly_once, committed_files, struct_records
from tests.support.seaweedfs import S3Store

TOPIC = "events"
TP0, TP1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


def s3_config(s3: S3Store, bucket: str, **extra: str) -> dict[str, str]:
    return {
        "topics": TOPIC,
        "store.url": f"s3://{bucket}/lake",
        "s3.endpoint": s3.endpoint,
        "s3.access.key.id": s3.access_key,
        "s3.secret.access.key": s3.secret_key,
        "flush.size": "5",
        **extra,
    }


def test_s3_files_recovery_and_multi_file_rounds(s3: S3Store, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3.new_bucket("pq")
    fs = s3.filesystem()
    root = f"{bucket}/lake"
    run = TaskRun(s3_config(s3, bucket), TP0, TP1)
    run.put(struct_records(TP0, range(12)) + struct_records(TP1, range(5)))
    assert run.pre_commit({TP0: 12, TP1: 5}) == {TP0: 10, TP1: 5}
    assert [f.path.rsplit("/", 1)[1] for f in committed_files(fs, root, TOPIC)] == [
        "events+0+0+4.parquet",
        "events+0+5+9.parquet",
        "events+1+0+4.parquet",
    ]
    again = TaskRun(s3_config(s3, bucket), TP0, TP1)  # the first task "crashed" with 10, 11 buffered
    assert again.context.offsets == {TP0: 10, TP1: 5}
    again.put(struct_records(TP0, range(10, 15)))
    check_exactly_once(fs, root, TOPIC, {0: 15, 1: 5})

    # A multi-file round (field partitioner) interrupted after its log was written is completed on open.
    fields = s3_config(s3, bucket, **{"partitioner.class": "field", "partition.field.name": "name"})
    writer = TaskRun(fields, TP1)
    original = Store._move
    moved: list[str] = []

    def crash_after_one(self: Store, src: str, dst: str) -> None:
        if moved:
            raise KeyboardInterrupt("simulated crash")
        original(self, src, dst)
        moved.append(dst)

    monkeypatch.setattr(Store, "_move", crash_after_one)
    with pytest.raises(KeyboardInterrupt):
        writer.put(struct_records(TP1, range(5, 10)))
    monkeypatch.undo()
    recovered = TaskRun(fields, TP1)
    assert recovered.context.offsets == {TP1: 10}
    check_exactly_once(fs, root, TOPIC, {0: 15, 1: 10})
    table = ds.dataset(f"{root}/{TOPIC}", filesystem=fs, format="parquet").to_table()
    assert table.num_rows == 25


def test_s3_missing_bucket_is_a_clear_error(s3: S3Store) -> None:
    with pytest.raises(ConnectException, match="does not exist"):
        TaskRun(s3_config(s3, "no-such-bucket-here"), TP0)
