"""The examples never rot: both example plugins pass the connect.testing suites and are discovered the way
a worker discovers them, and every config in examples/connectors/ validates and transforms as documented.

REQUIRES the example plugin distribution to be installed in the test environment (CI does this):

    pip install -e examples/plugin-package

Without it this module fails at import with that instruction instead of silently skipping.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from connect.api import DataException, Schema, SinkRecord, SourceRecord
from connect.converters import load_converter
from connect.runtime.connector_config import validate
from connect.runtime.launcher import load_connector_file
from connect.runtime.pipeline import build_chain
from connect.runtime.plugins import discover
from connect.testing import (
    ConnectorTests,
    FakeSourceTaskContext,
    InMemoryOffsetStorageReader,
    SinkTaskTests,
    SourceTaskTests,
    poll_until,
)

try:
    from headrace_example_plugin import CounterSourceConnector, CounterSourceTask, MultiplyValue
except ImportError as exc:  # pragma: no cover - a setup error, reported as such
    raise ImportError(
        "tests/testing/test_examples.py needs the example plugin package installed: "
        "pip install -e examples/plugin-package"
    ) from exc

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"
CONNECTORS = REPO / "examples" / "connectors"

REGISTRY = discover([PLUGINS])
UPPERCASE_SINK: Any = REGISTRY.lookup("UppercaseFileSink").cls


# --- the example plugin package -------------------------------------------------------------------------


class TestCounterSourceConnector(ConnectorTests):
    connector_class = CounterSourceConnector
    config = {"topic": "numbers"}


class TestCounterSourceTask(SourceTaskTests):
    task_class = CounterSourceTask
    config = {"topic": "numbers", "interval.ms": "0", "batch.size": "5"}


class TestPacedCounterSourceTask(SourceTaskTests):
    """With a long interval poll() waits, so stop() has to wake it."""

    task_class = CounterSourceTask
    config = {"topic": "numbers", "interval.ms": "60000", "start": "100"}


def test_counter_resumes_after_the_committed_number() -> None:
    offsets = InMemoryOffsetStorageReader()
    first = CounterSourceTask()
    first.initialize(FakeSourceTaskContext(offsets=offsets))
    first.start({"topic": "n", "interval.ms": "0", "batch.size": "3", "start": "10"})
    records = poll_until(first, min_records=3)
    first.stop()
    assert [r.value for r in records] == [10, 11, 12]
    offsets.commit(records[:2])  # only 10 and 11 were acknowledged
    second = CounterSourceTask()
    second.initialize(FakeSourceTaskContext(offsets=offsets))
    second.start({"topic": "n", "interval.ms": "0", "batch.size": "3", "start": "10"})
    assert [r.value for r in poll_until(second, min_records=1)] == [12, 13, 14]
    second.stop()


def test_multiply_transformation() -> None:
    t: MultiplyValue[Any] = MultiplyValue()
    t.configure({"factor": "3"})
    record = SourceRecord({"c": "n"}, {"value": 2}, "numbers", value_schema=Schema.INT64_SCHEMA, value=2)
    assert t.apply(record).value == 6
    assert t.apply(record.new_record(value_schema=None, value=1.5)).value == 4.5
    tomb = record.new_record(value=None)
    assert t.apply(tomb) is tomb
    with pytest.raises(DataException, match="numeric value schema"):
        t.apply(record.new_record(value_schema=Schema.STRING_SCHEMA, value="x"))
    with pytest.raises(DataException, match="needs a number"):
        t.apply(record.new_record(value_schema=None, value="x"))
    big = record.new_record(value_schema=Schema.INT8_SCHEMA, value=100)
    with pytest.raises(DataException, match="out of range"):
        t.apply(big)


# --- the drop-in plugin ---------------------------------------------------------------------------------


class TestUppercaseFileSinkConnector(ConnectorTests):
    connector_class = UPPERCASE_SINK
    config = {"file": "{tmp_path}/shouted.txt"}


class TestUppercaseFileSinkTask(SinkTaskTests):
    task_class = UPPERCASE_SINK().task_class()
    config = {"file": "{tmp_path}/shouted.txt"}

    def read_back(self, tmp_path: Path, config: dict[str, str]) -> list[str]:
        path = Path(config["file"])
        return path.read_text().splitlines() if path.exists() else []

    def expected(self, records: list[SinkRecord]) -> list[str]:
        return [str(r.value).upper() for r in records]


# --- discovery ------------------------------------------------------------------------------------------


def test_discovered_like_a_worker_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # a worker's default plugin.path is ./plugins
    registry = discover([Path("plugins")])
    assert registry.lookup("CounterSource").cls is CounterSourceConnector
    assert registry.lookup("CounterSource").type == "source"
    assert registry.lookup("Multiply").cls is MultiplyValue
    assert registry.lookup("headrace_example_plugin.multiply.MultiplyValue").type == "transformation"
    sink = registry.lookup("UppercaseFileSink")
    assert sink.type == "sink" and sink.name == "headrace_plugins.uppercase_sink.UppercaseFileSinkConnector"
    assert "plugin dir" in sink.source and "entry point" in registry.lookup("CounterSource").source
    assert registry.conflicts() == {}


# --- example connector configs --------------------------------------------------------------------------

EXAMPLES = sorted(p for p in CONNECTORS.iterdir() if p.suffix in (".json", ".properties"))


def test_there_are_examples_of_each_kind() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"file-source.properties", "file-sink.json", "file-source-with-transforms.json"} <= names
    assert any("dlq" in n for n in names)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_validates(path: Path) -> None:
    props = load_connector_file(path)
    result = validate(props, REGISTRY)
    errors = {c.value.name: c.value.errors for c in result.configs if c.value.errors}
    assert result.error_count == 0, f"{path.name}: {errors}"
    chain = build_chain(props, REGISTRY)  # every transform and predicate configures
    chain.close()


def load(name: str) -> tuple[dict[str, str], Any]:
    props = load_connector_file(CONNECTORS / name)
    return props, build_chain(props, REGISTRY)


def line(text: str, position: int = 6) -> SourceRecord:
    """A record as FileStreamSource emits it."""
    return SourceRecord(
        {"filename": "/tmp/headrace-demo/input.txt"},
        {"position": position},
        "lines",
        value_schema=Schema.STRING_SCHEMA,
        value=text,
        timestamp=1_700_000_000_000,
    )


def test_transforms_example_enriches_and_routes() -> None:
    props, chain = load("file-source-with-transforms.json")
    out = chain.apply(line("hello"))
    assert out is not None and out.topic == "lines-enriched"
    assert out.value["line"] == "hello" and out.value["origin"] == "input.txt"
    assert out.value["read_at"] == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert out.headers.last_with_name("pipeline").value == "file-demo"  # type: ignore[union-attr]
    assert out.source_offset == {"position": 6}
    converter = load_converter(props["value.converter"], {"schemas.enable": "false"}, False)
    encoded = converter.from_connect_data(out.topic, out.value_schema, out.value)
    assert encoded is not None and b'"line":"hello"' in encoded.replace(b" ", b"")
    chain.close()


@pytest.mark.parametrize(
    ("raw", "kept"),
    [(b'{"line": "from json", "n": 1}', "from json"), (b"not json", None), (b"42", None), (b"[1]", None)],
)
def test_dlq_example_sends_bad_lines_to_the_dead_letter_queue(raw: bytes, kept: str | None) -> None:
    """What reaches the file, and what fails with the DataException errors.tolerance=all sends to the DLQ."""
    props, chain = load("json-sink-with-dlq.json")
    assert props["errors.tolerance"] == "all" and props["errors.deadletterqueue.topic.name"] == "lines-dlq"
    converter = load_converter(props["value.converter"], {"schemas.enable": "false"}, False)
    try:
        data = converter.to_connect_data("lines", raw)
        record = SinkRecord("lines", 0, None, None, data.schema, data.value, 0)
        out = chain.apply(record)
        assert out is not None
        result = out.value
    except DataException:
        result = None
    assert result == kept
    chain.close()


def test_counter_example_multiplies() -> None:
    _, chain = load("counter-source.json")
    record = SourceRecord(
        {"counter": "numbers"}, {"value": 4}, "numbers", value_schema=Schema.INT64_SCHEMA, value=4
    )
    assert chain.apply(record).value == 40
    chain.close()
