"""The standard plugin checks of connect.testing for ParquetSink and its task (local store); the
durability check reads every committed Parquet file back with pyarrow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from connect.testing import ConnectorTests, SinkTaskTests
from connectors.parquet import ParquetSink, ParquetSinkTask


class TestParquetSinkTask(SinkTaskTests):
    task_class = ParquetSinkTask
    config = {"store.url": "{tmp_path}/store", "flush.size": "2"}

    def read_back(self, tmp_path: Path, config: dict[str, str]) -> list[Any] | None:
        root = tmp_path / "store" / self.topic
        if not root.exists():
            return []
        return list(ds.dataset(str(root), format="parquet").to_table().column("value").to_pylist())


class TestParquetSinkConnector(ConnectorTests):
    connector_class = ParquetSink
    config = {"topics": "t", "store.url": "file://{tmp_path}/store"}
