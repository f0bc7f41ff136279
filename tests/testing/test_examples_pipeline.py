"""The example connector configs, unchanged but for their file paths and topic names, run in a real
``headrace standalone`` worker against the session broker: the file source→sink pipeline, the
dead-letter queue, the drop-in ``UppercaseFileSink`` (found on ``plugin.path``) and the installed
``CounterSource`` with its ``Multiply`` transformation (found through its entry points).

Like test_examples.py this needs ``pip install -e examples/plugin-package``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connect.runtime.launcher import load_connector_file
from tests.support.brokers import BrokerUnderTest
from tests.support.clients import consume_confluent, create_topic
from tests.support.connect import ConnectWorker, start_connect_worker, wait_until

REPO = Path(__file__).resolve().parents[2]
CONNECTORS = REPO / "examples" / "connectors"
DEMO_DIR = "/tmp/headrace-demo"
TIMEOUT = 30.0  # generous: CI machines can be busy


def _rewrite(name: str, tmp_path: Path, topics: dict[str, str]) -> Path:
    """The example config with its files in ``tmp_path`` and its topics renamed, as a JSON file."""
    config = load_connector_file(CONNECTORS / name)
    out: dict[str, Any] = {}
    for key, value in config.items():
        value = value.replace(DEMO_DIR, str(tmp_path))
        if key in ("topic", "topics", "errors.deadletterqueue.topic.name"):
            value = topics.get(value, value)
        out[key] = value
    path = tmp_path / f"{Path(name).stem}.json"
    path.write_text(json.dumps({"name": out.pop("name"), "config": out}))
    return path


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").split("\n")[:-1]
    except FileNotFoundError:
        return []


@pytest.fixture
def pipeline(broker: BrokerUnderTest, tmp_path: Path, topic: str) -> Any:
    topics = {"lines": topic, "lines-dlq": f"{topic}-dlq", "numbers": f"{topic}-numbers"}
    for t in topics.values():
        create_topic(broker.bootstrap, t, partitions=1)
    (tmp_path / "input.txt").write_text('hello\n{"line": "from json"}\nnot json\n')
    files = [
        _rewrite(name, tmp_path, topics)
        for name in (
            "file-source.properties",
            "file-sink.json",
            "json-sink-with-dlq.json",
            "uppercase-sink.properties",
            "counter-source.json",
        )
    ]
    worker = start_connect_worker(
        broker.bootstrap,
        tmp_path / "worker",
        props={"plugin.path": str(REPO / "plugins")},
        connector_files=files,
    )
    try:
        yield worker, topics
    finally:
        worker.close()


def test_example_configs_run_end_to_end(pipeline: Any, tmp_path: Path) -> None:
    worker: ConnectWorker
    worker, topics = pipeline
    try:
        _check_pipeline(worker, topics, tmp_path)
    except BaseException as exc:
        raise AssertionError(f"{exc}\n--- worker log tail ---\n{worker.log_tail(120)}") from exc


def _check_pipeline(worker: ConnectWorker, topics: dict[str, str], tmp_path: Path) -> None:
    for name in ("file-source", "file-sink", "json-sink", "shout", "counter"):
        worker.wait_for_state(name, "RUNNING", ["RUNNING"], timeout=TIMEOUT)

    def wait_for_lines(name: str, expected: list[str]) -> None:
        path = tmp_path / name

        def check() -> bool | None:
            got = _lines(path)
            assert got == expected[: len(got)], f"{name}: {got}"
            return got == expected or None

        wait_until(name, check, timeout=TIMEOUT, alive=worker.check_alive, describe=lambda: _lines(path))

    everything = ["hello", '{"line": "from json"}', "not json"]
    wait_for_lines("output.txt", everything)
    wait_for_lines("shouted.txt", [s.upper() for s in everything])
    wait_for_lines("json-lines.txt", ["from json"])

    with open(tmp_path / "input.txt", "a") as f:
        f.write("more\n")
    wait_for_lines("output.txt", [*everything, "more"])

    dead = consume_confluent(worker.bootstrap, topics["lines-dlq"], [0], expected=3, timeout=TIMEOUT)
    assert [d.value for d in dead] == [b"hello", b"not json", b"more"]  # not JSON objects with a "line"
    assert all(any(k.startswith("__connect.errors.") for k, _ in d.headers) for d in dead)

    numbers = consume_confluent(worker.bootstrap, topics["numbers"], [0], expected=3, timeout=TIMEOUT)
    assert [json.loads(n.value or b"null") for n in numbers[:3]] == [0, 10, 20]

    # Both third-party plugins are listed by the REST API next to the built-ins.
    listed = {p["class"]: p["type"] for p in worker.json("GET", "/connector-plugins")}
    assert listed.get("headrace_example_plugin.counter.CounterSourceConnector") == "source", listed
    uppercase = [c for c in listed if c.endswith("uppercase_sink.UppercaseFileSinkConnector")]
    assert uppercase and listed[uppercase[0]] == "sink", listed
    every = {p["class"] for p in worker.json("GET", "/connector-plugins?connectorsOnly=false")}
    assert any(c.endswith("MultiplyValue") or "Multiply" in c for c in every), sorted(every)
