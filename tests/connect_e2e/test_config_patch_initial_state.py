"""KIP-980 ``initial_state`` on POST /connectors and KIP-477 PATCH /connectors/{name}/config."""

from __future__ import annotations

import time
from pathlib import Path

from tests.connect_e2e.files import append_lines, read_lines, source_config, wait_for_lines
from tests.support.clients import create_topic
from tests.support.connect import ConnectWorker


def test_created_stopped_never_runs_until_resumed(worker: ConnectWorker, tmp_path: Path, topic: str) -> None:
    src = tmp_path / "in.txt"
    append_lines(src, ["a", "b"])
    create_topic(worker.bootstrap, topic, partitions=1)
    r = worker.post(
        "/connectors", json={"name": "s", "config": source_config(src, topic), "initial_state": "STOPPED"}
    )
    assert r.status_code == 201, r.text
    worker.wait_for_state("s", "STOPPED", [])
    time.sleep(1)
    assert worker.json("GET", "/connectors/s/offsets")["offsets"] == []  # it never read a line
    assert worker.put("/connectors/s/resume").status_code == 202
    worker.wait_for_state("s", "RUNNING", ["RUNNING"])


def test_patch_merges_removes_and_validates(worker: ConnectWorker, tmp_path: Path, topic: str) -> None:
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    create_topic(worker.bootstrap, topic, partitions=1)
    worker.create("s", {**source_config(src, topic), "batch.size": "10"})
    r = worker.patch("/connectors/s/config", json={"batch.size": "500", "tasks.max": None})
    assert r.status_code == 200, r.text
    config = worker.json("GET", "/connectors/s/config")
    assert config["batch.size"] == "500" and "tasks.max" not in config and config["topic"] == topic
    bad = worker.patch("/connectors/s/config", json={"batch.size": "zero"})
    assert bad.status_code == 400 and "batch.size" in bad.json()["message"], bad.text
    assert worker.json("GET", "/connectors/s/config")["batch.size"] == "500"  # unchanged
    worker.wait_for_state("s", "RUNNING", ["RUNNING"])
    sink = {"connector.class": "FileStreamSink", "topics": topic, "file": str(out)}
    worker.create("k", sink)
    append_lines(src, ["x", "y"])
    wait_for_lines(out, ["x", "y"])
    assert read_lines(out) == ["x", "y"]
