"""The examples never rot: both example plugins pass the connect.testing suites and are discovered the way
a worker discovers them, and every config in examples/connectors/ validates and transforms as documented.

REQUIRES the example plugin distribution to be installed in the test environment (CI does this):

    pip install -e examples/plugin-package

Without it this module fails at import with that instruction instead of silently skipping.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from connect.api import DataException, Schema, SinkRecord, SourceRecord, TopicPartition
from connect.config_providers import providers_from_config, resolve
from connect.converters import load_converter
from connect.runtime.config_files import build_worker_config, load_connector_file, worker_properties
from connect.runtime.connector_config import mask_config, validate
from connect.runtime.pipeline import build_chain
from connect.runtime.plugins import discover
from connect.runtime.worker_config import WORKER_CONFIG
from connect.testing import (
    ConnectorTests,
    FakeSourceTaskContext,
    InMemoryOffsetStorageReader,
    SinkTaskTests,
    SourceTaskTests,
    poll_until,
)
from connectors.postgres.config import CONNECTION_KEYS
from tests.connectors.parquet.helpers import TaskRun, check_exactly_once, committed_files, struct_records
from tests.support.seaweedfs import S3Store

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
DISTRIBUTED_WORKER = REPO / "examples" / "distributed" / "worker.properties"

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


def test_uppercase_lines_reach_the_file_at_put(tmp_path: Path) -> None:
    """examples/README: a line appended to input.txt "appears in shouted.txt" — at once, not at the next
    offset flush (60 s by default); flush() adds the fsync."""
    task = UPPERCASE_SINK().task_class()()
    target = tmp_path / "shouted.txt"
    task.start({"file": str(target)})
    try:
        task.put([SinkRecord("lines", 0, None, None, None, "more", 0)])
        assert target.read_text() == "MORE\n"
    finally:
        task.stop()


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
    assert {"postgres-source.json", "parquet-sink.json", "parquet-sink-s3.properties"} <= names
    assert any("dlq" in n for n in names)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_validates(path: Path) -> None:
    props = load_connector_file(path)
    result = validate(props, REGISTRY)
    errors = {c.value.name: c.value.errors for c in result.configs if c.value.errors}
    if props["connector.class"].startswith("io.debezium."):
        # CDC connectors' validate() tries the connection (as Debezium), and the example databases are
        # not running here: only the connection keys may be reported
        errors = {k: v for k, v in errors.items() if not k.startswith("database.")}
    if "elasticsearch" in props["connector.class"].lower():
        # ElasticsearchSink's validate() tries the cluster too (no Elasticsearch at the example URL)
        errors = {k: v for k, v in errors.items() if k != "connection.url"}
    assert not errors, f"{path.name}: {errors}"
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


# --- CDC examples: secrets through config providers -----------------------------------------------------


def test_cdc_examples_are_the_documented_pipeline() -> None:
    """The sinks' topics.regex match the topics the source writes (<topic.prefix>.<schema>.<table>)."""
    source = load_connector_file(CONNECTORS / "postgres-source.json")
    assert source["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
    topics = [f"{source['topic.prefix']}.{t}" for t in source["table.include.list"].split(",")]
    for name in ("parquet-sink.json", "parquet-sink-s3.properties"):
        sink = load_connector_file(CONNECTORS / name)
        regex = re.compile(sink["topics.regex"])
        assert all(regex.fullmatch(t) for t in topics), (name, sink["topics.regex"], topics)
        assert not regex.fullmatch(f"{source['topic.prefix']}xpublicxcustomers"), name
        assert sink["envelope.mode"] == "flatten" and sink["value.converter.schemas.enable"] == "true"


@pytest.mark.parametrize(
    ("name", "secrets"),
    [
        ("postgres-source.json", {"database.password": "pg-secret"}),
        (
            "parquet-sink-s3.properties",
            {"s3.access.key.id": "AKIDEXAMPLE", "s3.secret.access.key": "s3-secret"},
        ),
    ],
)
def test_cdc_example_secrets_resolve_through_the_example_worker_providers(
    name: str, secrets: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The secrets are references only; the providers examples/distributed/worker.properties declares
    resolve them (the ``file`` provider's allowed.paths and the file path moved to tmp_path), and the
    validated/masked config never shows a resolved value."""
    props = load_connector_file(CONNECTORS / name)
    for key in secrets:
        assert props[key].startswith("${") and props[key].endswith("}"), (key, props[key])
    demo = "/tmp/headrace-demo"
    worker = {
        k: v.replace(demo, str(tmp_path)) for k, v in worker_properties(str(DISTRIBUTED_WORKER), {}).items()
    }
    props = {k: v.replace(demo, str(tmp_path)) for k, v in props.items()}
    monkeypatch.setenv("PGPASSWORD", "pg-secret")
    (tmp_path / "s3.properties").write_text(
        "access.key.id=AKIDEXAMPLE\nsecret.access.key=s3-secret\n", encoding="utf-8"
    )
    resolved = resolve(props, providers_from_config(worker))
    assert {k: resolved[k] for k in secrets} == secrets
    result = validate(resolved, REGISTRY)
    errors = {c.value.name: c.value.errors for c in result.configs if c.value.errors}
    # PostgresSource's validate() tries the connection, and the example's database (127.0.0.1:5432/shop)
    # is not running here: problems are allowed on the connection keys only, never showing the secret
    allowed = set(CONNECTION_KEYS) if name == "postgres-source.json" else set()
    assert set(errors) <= allowed, errors
    assert not any(v in str(errors) for v in secrets.values()), errors
    masked = mask_config(resolved, REGISTRY)
    assert not any(v in str(masked) for v in secrets.values()), masked


# --- the distributed worker example ---------------------------------------------------------------------

WORKER_PREFIXES = (
    "producer.",
    "consumer.",
    "admin.",
    "config.providers.",
    "key.converter.",
    "value.converter.",
)


def test_distributed_worker_properties_parse_into_a_valid_worker_config() -> None:
    props = worker_properties(str(DISTRIBUTED_WORKER), {})
    unknown = [k for k in props if k not in WORKER_CONFIG and not k.startswith(WORKER_PREFIXES)]
    assert unknown == [], f"not worker properties (typos?): {unknown}"
    config = build_worker_config(props)  # LaunchError on any invalid value
    assert config.get("group.id")
    topics = [config.get(f"{kind}.storage.topic") for kind in ("config", "offset", "status")]
    assert len(set(topics)) == 3 and all(topics), topics
    for key in (
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "rebalance.timeout.ms",
        "scheduled.rebalance.max.delay.ms",
        "config.storage.replication.factor",
    ):
        assert key in props, key
    assert config.get("heartbeat.interval.ms") < config.get("session.timeout.ms")
    assert config.get("connect.protocol") == "sessioned"
    assert set(providers_from_config(config.raw)) == {"env", "file"}


def test_s3_sink_example_writes_to_an_s3_store(
    s3: S3Store,
    tmp_path: Path,
) -> None:
    """parquet-sink-s3.properties against a real S3 API (SeaweedFS), its credentials resolved by the
    ``file`` provider of examples/distributed/worker.properties from a secrets file; only the endpoint,
    the bucket, the secrets file's place and flush.size (so a handful of records makes files) differ."""
    demo = "/tmp/headrace-demo"
    bucket = s3.new_bucket("example")
    props = {
        k: v.replace(demo, str(tmp_path)).replace("s3://headrace-demo/", f"s3://{bucket}/")
        for k, v in load_connector_file(CONNECTORS / "parquet-sink-s3.properties").items()
    }
    props.update({"s3.endpoint": s3.endpoint, "flush.size": "5"})
    (tmp_path / "s3.properties").write_text(
        f"access.key.id={s3.access_key}\nsecret.access.key={s3.secret_key}\n", encoding="utf-8"
    )
    worker = {
        k: v.replace(demo, str(tmp_path)) for k, v in worker_properties(str(DISTRIBUTED_WORKER), {}).items()
    }
    config = resolve(props, providers_from_config(worker))
    assert validate(config, REGISTRY).error_count == 0
    tp = TopicPartition("shop.public.customers", 0)
    assert re.fullmatch(config["topics.regex"], tp.topic)
    run = TaskRun(config, tp)
    try:
        run.put(struct_records(tp, range(10)))
        assert run.pre_commit({tp: 10}) == {tp: 10}
    finally:
        run.stop()
    fs = s3.filesystem()
    root = f"{bucket}/lake"
    assert check_exactly_once(fs, root, tp.topic, {0: 10}) == {0: list(range(10))}
    dirs = {f.path.split("/")[-2] for f in committed_files(fs, root, tp.topic)}
    assert dirs == {"date=2023-11-14"}, dirs  # the time partitioner's path.format, one directory per day
