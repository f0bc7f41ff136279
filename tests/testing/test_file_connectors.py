"""The connect.testing suites applied to the built-in FileStream connectors (and so proven to run)."""

from __future__ import annotations

from pathlib import Path

from connect.api.records import SinkRecord
from connect.testing import ConnectorTests, SinkTaskTests, SourceTaskTests
from connectors.file import (
    FileStreamSinkConnector,
    FileStreamSinkTask,
    FileStreamSourceConnector,
    FileStreamSourceTask,
)


class TestFileStreamSourceConnector(ConnectorTests):
    connector_class = FileStreamSourceConnector
    config = {"file": "{tmp_path}/input.txt", "topic": "lines"}


class TestFileStreamSinkConnector(ConnectorTests):
    connector_class = FileStreamSinkConnector
    config = {"file": "{tmp_path}/output.txt"}
    empty_config_is_valid = True  # no file means standard output; topics belong to the runtime


class TestFileStreamSourceTask(SourceTaskTests):
    task_class = FileStreamSourceTask
    config = {"file": "{tmp_path}/input.txt", "topic": "lines"}

    def prepare(self, tmp_path: Path, config: dict[str, str]) -> None:
        Path(config["file"]).write_text("alpha\nbeta\ngamma\n")

    def add_data(self, tmp_path: Path, config: dict[str, str]) -> bool:
        with open(config["file"], "a") as f:
            f.write("delta\nepsilon\n")
        return True


class TestFileStreamSinkTask(SinkTaskTests):
    task_class = FileStreamSinkTask
    config = {"file": "{tmp_path}/output.txt"}

    def read_back(self, tmp_path: Path, config: dict[str, str]) -> list[str]:
        path = Path(config["file"])
        return path.read_text().splitlines() if path.exists() else []

    def expected(self, records: list[SinkRecord]) -> list[str]:
        return [str(r.value) for r in records]


class TestFileStreamSinkTaskIntoAMissingDirectory(TestFileStreamSinkTask):
    """The README's standalone quick start writes to /tmp/headrace-demo/output.txt before anything made
    that directory: the sink creates missing parent directories instead of failing."""

    config = {"file": "{tmp_path}/not/there/yet/output.txt"}


def test_sink_creates_missing_directories(tmp_path: Path) -> None:
    task = FileStreamSinkTask()
    target = tmp_path / "a" / "b" / "out.txt"
    task.start({"file": str(target)})
    try:
        task.put([SinkRecord("t", 0, None, None, None, "x", 0)])
    finally:
        task.stop()
    assert target.read_text() == "x\n"
