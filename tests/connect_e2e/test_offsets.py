"""Connector offsets over REST (KIP-875): read, alter and reset, for FileStreamSource and FileStreamSink.

- ``GET /connectors/{n}/offsets``: source ``{"partition": {"filename"}, "offset": {"position"}}``, sink
  ``{"partition": {"kafka_topic", "kafka_partition"}, "offset": {"kafka_offset"}}``;
- ``PATCH``/``DELETE`` are refused with 400 unless the connector is STOPPED;
- after ``PUT /stop``, DELETE resets the source, and resuming re-reads the file from the start; PATCH
  moves it to a chosen position; for the sink they move/delete the consumer group's offsets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.connect_e2e.files import append_lines, read_lines, sink_config, source_config, wait_for_lines
from tests.support.clients import create_topic
from tests.support.connect import ConnectWorker, wait_until

NOT_STOPPED = "Connectors must be in the STOPPED state before their offsets can be modified"
RESET_OK = "The offsets for this connector have been reset successfully"
ALTER_OK = "The offsets for this connector have been altered successfully"


def _pipeline(worker: ConnectWorker, tmp_path: Path, topic: str, snk: str) -> tuple[Path, Path]:
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("")
    create_topic(worker.bootstrap, topic, partitions=1)
    worker.create("src", source_config(src, topic))
    worker.create(snk, sink_config(out, topic))
    worker.wait_for_state("src", "RUNNING", ["RUNNING"])
    worker.wait_for_state(snk, "RUNNING", ["RUNNING"])
    return src, out


def _offsets(worker: ConnectWorker, name: str) -> list[dict[str, Any]]:
    body = worker.json("GET", f"/connectors/{name}/offsets")
    assert set(body) == {"offsets"}, body
    return body["offsets"]  # type: ignore[no-any-return]


def _refused_unless_stopped(worker: ConnectWorker, name: str, patch: dict[str, Any]) -> None:
    for method, kwargs in (("PATCH", {"json": patch}), ("DELETE", {})):
        r = worker.request(method, f"/connectors/{name}/offsets", **kwargs)
        assert r.status_code == 400, (method, r.status_code, r.text)
        assert r.json()["error_code"] == 400 and NOT_STOPPED in r.json()["message"], r.text


def test_source_offsets_read_alter_reset(worker: ConnectWorker, tmp_path: Path, topic: str, snk: str) -> None:
    src, out = _pipeline(worker, tmp_path, topic, snk)
    lines = [f"row-{i:04d}" for i in range(50)]
    append_lines(src, lines)
    healthy = worker.healthy("src", snk)
    wait_for_lines(out, lines, alive=healthy)
    size = src.stat().st_size
    expected = [{"partition": {"filename": str(src)}, "offset": {"position": size}}]
    wait_until(
        "the committed source offset",
        lambda: _offsets(worker, "src") == expected,
        10,
        describe=lambda: _offsets(worker, "src"),
    )

    patch = {"offsets": [{"partition": {"filename": str(src)}, "offset": {"position": 0}}]}
    _refused_unless_stopped(worker, "src", patch)  # RUNNING
    assert worker.put("/connectors/src/pause").status_code == 202
    worker.wait_for_state("src", "PAUSED", ["PAUSED"])
    _refused_unless_stopped(worker, "src", patch)  # PAUSED
    assert _offsets(worker, "src") == expected

    # -- reset: the file is read again from the start --------------------------------------------------
    assert worker.put("/connectors/src/stop").status_code == 204
    worker.wait_for_state("src", "STOPPED", [])
    assert _offsets(worker, "src") == expected  # readable while stopped
    assert worker.json("DELETE", "/connectors/src/offsets") == {"message": RESET_OK}
    assert _offsets(worker, "src") == []
    assert worker.put("/connectors/src/resume").status_code == 202
    worker.wait_for_state("src", "RUNNING", ["RUNNING"])
    wait_for_lines(out, lines + lines, alive=healthy)
    wait_until("the offset to be committed again", lambda: _offsets(worker, "src") == expected, 10)

    # -- alter: continue from a chosen line ----------------------------------------------------------
    assert worker.put("/connectors/src/stop").status_code == 204
    worker.wait_for_state("src", "STOPPED", [])
    position = sum(len(x) + 1 for x in lines[:40])
    patch = {"offsets": [{"partition": {"filename": str(src)}, "offset": {"position": position}}]}
    assert worker.json("PATCH", "/connectors/src/offsets", json=patch) == {"message": ALTER_OK}
    assert _offsets(worker, "src") == patch["offsets"]
    assert worker.put("/connectors/src/resume").status_code == 202
    wait_for_lines(out, lines + lines + lines[40:], alive=healthy)

    r = worker.patch("/connectors/src/offsets", json={"offsets": []})
    assert r.status_code == 400, r.text
    assert worker.get("/connectors/nope/offsets").status_code == 404


def test_sink_offsets_read_alter_reset(worker: ConnectWorker, tmp_path: Path, topic: str, snk: str) -> None:
    src, out = _pipeline(worker, tmp_path, topic, snk)
    lines = [f"row-{i:04d}" for i in range(30)]
    append_lines(src, lines)
    healthy = worker.healthy("src", snk)
    wait_for_lines(out, lines, alive=healthy)
    partition = {"kafka_topic": topic, "kafka_partition": 0}
    expected = [{"partition": partition, "offset": {"kafka_offset": len(lines)}}]
    wait_until(
        "the committed sink offset",
        lambda: _offsets(worker, snk) == expected,
        15,
        describe=lambda: worker.get(f"/connectors/{snk}/offsets").text,
    )

    patch = {"offsets": [{"partition": partition, "offset": {"kafka_offset": 20}}]}
    _refused_unless_stopped(worker, snk, patch)

    # -- alter: the sink re-delivers from offset 20 -----------------------------------------------------
    assert worker.put(f"/connectors/{snk}/stop").status_code == 204
    worker.wait_for_state(snk, "STOPPED", [])
    assert worker.json("PATCH", f"/connectors/{snk}/offsets", json=patch) == {"message": ALTER_OK}
    assert _offsets(worker, snk) == patch["offsets"]
    assert worker.put(f"/connectors/{snk}/resume").status_code == 202
    worker.wait_for_state(snk, "RUNNING", ["RUNNING"])
    wait_for_lines(out, lines + lines[20:], alive=healthy)

    # -- reset: the consumer group's offsets are gone; the sink starts from the beginning --------------
    wait_until("the sink commit", lambda: _offsets(worker, snk) == expected, 15)
    assert worker.put(f"/connectors/{snk}/stop").status_code == 204
    worker.wait_for_state(snk, "STOPPED", [])
    assert worker.json("DELETE", f"/connectors/{snk}/offsets") == {"message": RESET_OK}
    assert _offsets(worker, snk) == []
    assert worker.put(f"/connectors/{snk}/resume").status_code == 202
    wait_for_lines(out, lines + lines[20:] + lines, alive=healthy)
    assert read_lines(out)[-1] == lines[-1]
