"""Task progress in the status endpoints: present on a task only once it reported some, otherwise the
JSON is exactly Kafka Connect's; the OpenAPI document describes the field."""

from __future__ import annotations

import httpx

from tests.rest.fake_herder import FakeHerder
from tests.rest.test_connectors import create

WORKER = "127.0.0.1:8083"
PROGRESS = {"phase": "snapshot", "rows_done": 1200, "rows_per_second": 5300.5, "eta_seconds": None}


def test_status_shows_progress_only_on_tasks_that_reported(client: httpx.Client, herder: FakeHerder) -> None:
    create(client, "src")
    herder.report_progress("src", 1, PROGRESS)
    assert client.get("/connectors/src/status").json() == {
        "name": "src",
        "connector": {"state": "RUNNING", "worker_id": WORKER},
        "tasks": [
            {"id": 0, "state": "RUNNING", "worker_id": WORKER},
            {"id": 1, "state": "RUNNING", "worker_id": WORKER, "progress": PROGRESS},
        ],
        "type": "source",
    }
    assert client.get("/connectors/src/tasks/1/status").json() == {
        "id": 1,
        "state": "RUNNING",
        "worker_id": WORKER,
        "progress": PROGRESS,
    }
    assert client.get("/connectors/src/tasks/0/status").json() == {
        "id": 0,
        "state": "RUNNING",
        "worker_id": WORKER,
    }
    expanded = client.get("/connectors", params={"expand": "status"}).json()
    assert expanded["src"]["status"]["tasks"][1]["progress"] == PROGRESS

    herder.report_progress("src", 1, None)  # cleared: Kafka's shape again
    assert "progress" not in client.get("/connectors/src/tasks/1/status").json()


def test_openapi_describes_progress_as_optional(client: httpx.Client) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    task_state = schemas["TaskStateModel"]
    assert task_state["properties"]["progress"]["type"] == "object"
    assert "progress" not in task_state.get("required", [])
