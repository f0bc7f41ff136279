"""Fixtures for the log storage tests: a partition-log factory and record-batch helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from broker.log.config import LogConfig
from broker.log.partition_log import PartitionLog
from broker.log.records import build_batch, decode_records, iter_batch_headers

OpenLog = Callable[..., PartitionLog]


def batch(n: int = 1, *, value_size: int = 20, ts: int = 1_000, key: bytes | None = None) -> bytes:
    """One batch of ``n`` records with distinct values."""
    return build_batch([(key, b"%06d" % i + b"v" * value_size) for i in range(n)], timestamp_ms=ts)


def read_all(plog: PartitionLog, start: int | None = None, max_bytes: int = 64 * 1024) -> list[int]:
    """Every offset from ``start`` (default: log start) to the end, read sequentially via ``read``."""
    offset = plog.log_start_offset if start is None else start
    out: list[int] = []
    while offset < plog.log_end_offset:
        data = plog.read(offset, max_bytes)
        headers = list(iter_batch_headers(data))
        assert headers, f"no batch returned at offset {offset}"
        assert sum(h.size for h in headers) == len(data), "read returned a partial batch"
        for h in headers:
            for record in decode_records(data[h.position : h.position + h.size]):
                if record.offset >= offset:
                    out.append(record.offset)
        offset = headers[-1].last_offset + 1
    return out


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[OpenLog]:
    """``open_log(**config_fields)`` opens (or reopens) the partition log in ``tmp_path/t-0``."""
    opened: list[PartitionLog] = []

    def factory(config: LogConfig | None = None, **fields: object) -> PartitionLog:
        cfg = config if config is not None else LogConfig(**fields)  # type: ignore[arg-type]
        plog = PartitionLog(tmp_path / "t-0", "t", 0, cfg)
        opened.append(plog)
        return plog

    yield factory
    for plog in opened:
        plog.close()


def crash(plog: PartitionLog) -> None:
    """Simulate a crash: close the file descriptors without flushing or writing the clean checkpoint."""
    plog._close_files()
