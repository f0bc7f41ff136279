"""FileStreamSource -> broker -> FileStreamSink through a real standalone worker, driven over REST.

Proves: connectors created with ``POST /connectors`` move every appended line, in order; the REST
resources have Kafka Connect's documented shapes; pause/resume/stop/restart/delete have Kafka
Connect's status codes and effects (paused and stopped connectors move nothing, resumed ones catch up).
"""

from __future__ import annotations

from pathlib import Path

from tests.connect_e2e.files import (
    append_lines,
    assert_no_new_lines,
    read_lines,
    sink_config,
    source_config,
    wait_for_lines,
)
from tests.support.clients import create_topic
from tests.support.connect import ConnectWorker


def _lines(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{prefix}-{i:05d} äöü €" for i in range(start, start + n)]


def _pipeline(worker: ConnectWorker, tmp_path: Path, topic: str, snk: str) -> tuple[Path, Path]:
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("")
    create_topic(worker.bootstrap, topic, partitions=1)  # see test_sink_created_before_its_topic_exists
    worker.create("src", source_config(src, topic))
    worker.create(snk, sink_config(out, topic))
    worker.wait_for_state("src", "RUNNING", ["RUNNING"])
    worker.wait_for_state(snk, "RUNNING", ["RUNNING"])
    return src, out


def test_lines_flow_and_rest_shapes(worker: ConnectWorker, tmp_path: Path, topic: str, snk: str) -> None:
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    first = _lines("early", 3)
    append_lines(src, first)  # written before the connector exists: read from the start
    create_topic(worker.bootstrap, topic, partitions=1)  # see test_sink_created_before_its_topic_exists

    cfg = source_config(src, topic)
    r = worker.post("/connectors", json={"name": "src", "config": cfg})
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith("/connectors/src")
    assert r.json() == {
        "name": "src",
        "config": {**cfg, "name": "src"},
        "tasks": [{"connector": "src", "task": 0}],
        "type": "source",
    }
    sink_cfg = sink_config(out, topic)
    created = worker.create(snk, sink_cfg)
    assert created["type"] == "sink" and created["tasks"] == [{"connector": snk, "task": 0}]

    again = worker.post("/connectors", json={"name": "src", "config": cfg})
    assert again.status_code == 409, again.text
    assert again.json()["error_code"] == 409 and "src" in again.json()["message"]

    wait_for_lines(out, first, alive=worker.healthy("src", snk))
    more = _lines("line", 500)
    append_lines(src, more[:250])
    append_lines(src, more[250:])
    wait_for_lines(out, first + more, alive=worker.healthy("src", snk))

    # -- shapes (https://kafka.apache.org/documentation/#connect_rest) ---------------------------------
    assert worker.json("GET", "/connectors") == [snk, "src"]
    expanded = worker.json("GET", "/connectors", params=[("expand", "status"), ("expand", "info")])
    assert set(expanded) == {snk, "src"}
    assert expanded["src"]["info"]["config"] == {**cfg, "name": "src"}
    assert expanded["src"]["status"]["connector"]["state"] == "RUNNING"

    info = worker.json("GET", "/connectors/src")
    assert info == {
        "name": "src",
        "config": {**cfg, "name": "src"},
        "tasks": [{"connector": "src", "task": 0}],
        "type": "source",
    }
    assert worker.json("GET", f"/connectors/{snk}/config") == {**sink_cfg, "name": snk}

    wid = worker.worker_id
    for name, kind in (("src", "source"), (snk, "sink")):
        assert worker.json("GET", f"/connectors/{name}/status") == {
            "name": name,
            "connector": {"state": "RUNNING", "worker_id": wid},
            "tasks": [{"id": 0, "state": "RUNNING", "worker_id": wid}],
            "type": kind,
        }
        assert worker.json("GET", f"/connectors/{name}/tasks/0/status") == {
            "id": 0,
            "state": "RUNNING",
            "worker_id": wid,
        }
    tasks = worker.json("GET", "/connectors/src/tasks")
    assert len(tasks) == 1 and tasks[0]["id"] == {"connector": "src", "task": 0}
    assert tasks[0]["config"]["file"] == str(src) and tasks[0]["config"]["topic"] == topic
    assert all(isinstance(v, str) for v in tasks[0]["config"].values())

    assert worker.json("GET", "/connectors/src/topics") == {"src": {"topics": [topic]}}

    for path in ("/connectors/nope", "/connectors/nope/status", "/connectors/src/tasks/1/status"):
        r = worker.get(path)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error_code"] == 404 and r.json()["message"]


def test_sink_created_before_its_topic_exists(
    worker: ConnectWorker, tmp_path: Path, topic: str, snk: str
) -> None:
    """A sink may be created before any record was written to its topic (the usual order when a
    pipeline is set up sink-first): the task waits for the topic, as Kafka Connect's does, instead of
    failing on librdkafka's informational "Subscribed topic not available" event."""
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("")
    worker.create(snk, sink_config(out, topic))
    worker.wait_for_state(snk, "RUNNING", ["RUNNING"])
    assert_no_new_lines(out, 0, 2.0)  # the consumer has looked up the missing topic by now
    worker.create("src", source_config(src, topic))
    append_lines(src, ["first"])
    wait_for_lines(out, ["first"], alive=worker.healthy("src", snk))
    status = worker.status(snk)
    assert status["tasks"][0]["state"] == "RUNNING", status


def test_sink_active_topics(worker: ConnectWorker, tmp_path: Path, topic: str, snk: str) -> None:
    """Kafka Connect tracks the topics a sink consumed from too (KIP-558): GET /topics lists them."""
    src, out = _pipeline(worker, tmp_path, topic, snk)
    append_lines(src, ["x"])
    wait_for_lines(out, ["x"], alive=worker.healthy("src", snk))
    assert worker.json("GET", f"/connectors/{snk}/topics") == {snk: {"topics": [topic]}}


def test_pause_resume_stop_restart_delete(
    worker: ConnectWorker, tmp_path: Path, topic: str, snk: str
) -> None:
    src, out = _pipeline(worker, tmp_path, topic, snk)
    sent = _lines("a", 20)
    append_lines(src, sent)
    wait_for_lines(out, sent, alive=worker.healthy("src", snk))

    # -- pause the source: appended lines are not read ---------------------------------------------
    r = worker.put("/connectors/src/pause")
    assert r.status_code == 202 and not r.content, r.text
    worker.wait_for_state("src", "PAUSED", ["PAUSED"])
    assert worker.json("GET", "/connectors/src/tasks/0/status")["state"] == "PAUSED"
    batch = _lines("paused-src", 20)
    append_lines(src, batch)
    assert_no_new_lines(out, len(sent), 2.0)
    r = worker.put("/connectors/src/resume")
    assert r.status_code == 202, r.text
    worker.wait_for_state("src", "RUNNING", ["RUNNING"])
    sent += batch
    wait_for_lines(out, sent, alive=worker.healthy("src", snk))

    # -- pause the sink: records reach the topic but not the file ----------------------------------
    assert worker.put(f"/connectors/{snk}/pause").status_code == 202
    worker.wait_for_state(snk, "PAUSED", ["PAUSED"])
    batch = _lines("paused-snk", 20)
    append_lines(src, batch)
    assert_no_new_lines(out, len(sent), 2.0)
    assert worker.put(f"/connectors/{snk}/resume").status_code == 202
    worker.wait_for_state(snk, "RUNNING", ["RUNNING"])
    sent += batch
    wait_for_lines(out, sent, alive=worker.healthy("src", snk))

    # -- stop (KIP-875): STOPPED, no tasks, nothing moves ------------------------------------------
    r = worker.put("/connectors/src/stop")
    assert r.status_code == 204, r.text
    status = worker.wait_for_state("src", "STOPPED", [])
    assert status["tasks"] == []
    assert worker.json("GET", "/connectors/src")["tasks"] == []
    assert worker.json("GET", "/connectors/src/tasks") == []
    assert worker.get("/connectors/src/tasks/0/status").status_code == 404
    batch = _lines("stopped", 20)
    append_lines(src, batch)
    assert_no_new_lines(out, len(sent), 1.5)
    assert worker.put("/connectors/src/resume").status_code == 202
    worker.wait_for_state("src", "RUNNING", ["RUNNING"])
    assert worker.json("GET", "/connectors/src")["tasks"] == [{"connector": "src", "task": 0}]
    sent += batch
    wait_for_lines(out, sent, alive=worker.healthy("src", snk))

    # -- restarts --------------------------------------------------------------------------------------
    r = worker.post("/connectors/src/restart")
    assert r.status_code == 204 and not r.content, r.text
    worker.wait_for_state("src", "RUNNING", ["RUNNING"])

    r = worker.post("/connectors/src/restart", params={"includeTasks": "true"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["name"] == "src" and body["type"] == "source"
    assert body["connector"]["state"] == "RESTARTING"
    assert [t["state"] for t in body["tasks"]] == ["RESTARTING"]
    worker.wait_for_state("src", "RUNNING", ["RUNNING"])

    r = worker.post(f"/connectors/{snk}/tasks/0/restart")
    assert r.status_code == 204 and not r.content, r.text
    worker.wait_for_state(snk, "RUNNING", ["RUNNING"])
    assert worker.post(f"/connectors/{snk}/tasks/7/restart").status_code == 404

    batch = _lines("after-restarts", 20)
    append_lines(src, batch)
    sent += batch
    wait_for_lines(out, sent, alive=worker.healthy("src", snk))  # graceful restarts commit: no duplicates

    # -- delete ------------------------------------------------------------------------------------------
    r = worker.delete("/connectors/src")
    assert r.status_code == 204 and not r.content, r.text
    for path in ("/connectors/src", "/connectors/src/status", "/connectors/src/config"):
        assert worker.get(path).status_code == 404, path
    assert worker.delete("/connectors/src").status_code == 404
    assert worker.json("GET", "/connectors") == [snk]
    append_lines(src, ["after-delete"])
    assert_no_new_lines(out, len(sent), 1.0)
    assert read_lines(out) == sent
