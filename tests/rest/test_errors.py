"""Error shapes and statuses, leader forwarding, and secrets kept out of responses and logs."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx
import pytest

from connect.runtime.exceptions import (
    AlreadyExistsException,
    HerderError,
    NotFoundException,
    NotLeaderError,
    RebalanceInProgressError,
)
from rest.forward import ForwardError, HttpForwarder
from tests.rest.conftest import Served
from tests.rest.fake_herder import FakeHerder, source_config
from tests.rest.test_connectors import SECRET, assert_error, create


def test_unknown_route_is_404_in_kafka_shape(client: httpx.Client) -> None:
    for path in ("/nope", "/connectors/a/b/c/d", "/connector-plugins/x/y"):
        body = assert_error(client.get(path), 404)
        assert body == {"error_code": 404, "message": "HTTP 404 Not Found"}


def test_wrong_method_is_405_in_kafka_shape(client: httpx.Client) -> None:
    r = client.delete("/connector-plugins")
    assert_error(r, 405, "Method Not Allowed")
    assert r.headers["allow"] == "GET"
    assert_error(client.post("/connectors/x/pause"), 405)
    assert_error(client.get("/connectors/x/stop"), 405)


def test_unexpected_exception_is_a_generic_500(
    client: httpx.Client, herder: FakeHerder, caplog: pytest.LogCaptureFixture
) -> None:
    herder.raise_on("connectors", ZeroDivisionError(f"secret detail {SECRET}"))
    with caplog.at_level(logging.ERROR, logger="rest.errors"):
        r = client.get("/connectors")
    body = assert_error(r, 500)
    assert body == {"error_code": 500, "message": "Internal server error; the worker log has the details."}
    assert SECRET not in r.text and "ZeroDivisionError" not in r.text
    # the traceback is in the worker's log
    record = next(rec for rec in caplog.records if rec.name == "rest.errors")
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
    assert "GET /connectors" in record.getMessage()


def test_unexpected_exception_on_every_kind_of_route_is_500(client: httpx.Client, herder: FakeHerder) -> None:
    herder.raise_on("kafka_cluster_id", RuntimeError("x"))
    herder.raise_on("metrics_text", RuntimeError("x"))
    herder.raise_on("pause_connector", KeyError("x"))
    assert_error(client.get("/"), 500)
    assert_error(client.get("/metrics"), 500)
    assert_error(client.put("/connectors/a/pause"), 500)


def test_herder_error_status_and_message_only(client: httpx.Client, herder: FakeHerder) -> None:
    class Forbidden(HerderError):
        status = 403

    herder.raise_on("connector_active_topics", Forbidden("Topic tracking is disabled.", hint="ask an admin"))
    r = client.get("/connectors/a/topics")
    assert r.status_code == 403
    # details stay in-process: Kafka's error body has exactly these two fields
    assert r.json() == {"error_code": 403, "message": "Topic tracking is disabled."}


def test_plugin_api_exceptions_map_to_404_and_409(client: httpx.Client, herder: FakeHerder) -> None:
    herder.raise_on("connector_info", NotFoundException("Connector x not found"))
    assert_error(client.get("/connectors/x"), 404, "Connector x not found")
    herder.raise_on("put_connector_config", AlreadyExistsException("Connector x already exists"))
    assert_error(client.put("/connectors/x/config", json=source_config()), 409, "already exists")


def test_rebalance_in_progress_is_409(client: httpx.Client, herder: FakeHerder) -> None:
    create(client, "src")
    herder.rebalancing = True
    assert_error(
        client.post("/connectors", json={"name": "b", "config": source_config()}), 409, "stale configuration"
    )
    assert_error(client.delete("/connectors/src"), 409)
    assert_error(client.put("/connectors/src/pause"), 409)
    assert client.get("/connectors/src").status_code == 200  # reads still work
    herder.raise_on("connector_status", RebalanceInProgressError("rebalancing"))
    assert_error(client.get("/connectors/src/status"), 409, "rebalancing")


def test_not_leader_without_forwarder_is_409(client: httpx.Client, herder: FakeHerder) -> None:
    herder.leader_url = "http://leader:8083"
    assert_error(
        client.post("/connectors", json={"name": "b", "config": source_config()}), 409, "not the leader"
    )


# --- forwarding ---------------------------------------------------------------------------------------


class RecordingForwarder:
    def __init__(self, answer: tuple[int, Any] = (201, {"name": "b"})) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, str, list[tuple[str, str]], Any]] = []
        self.error: Exception | None = None

    def __call__(
        self, leader_url: str, method: str, path: str, query: list[tuple[str, str]], body: Any
    ) -> tuple[int, Any]:
        self.calls.append((leader_url, method, path, query, body))
        if self.error is not None:
            raise self.error
        return self.answer


@pytest.fixture
def forwarding() -> Any:
    forwarder = RecordingForwarder()
    with Served(forward=forwarder) as s:
        s.herder.leader_url = "http://leader:8083"
        yield s, forwarder


def test_not_leader_forwards_to_the_leader(forwarding: tuple[Served, RecordingForwarder]) -> None:
    served, forwarder = forwarding
    body = {"name": "b", "config": source_config()}
    r = served.client.post("/connectors", json=body)
    assert r.status_code == 201
    assert r.json() == {"name": "b"}
    assert r.headers["location"] == "/connectors/b"
    assert forwarder.calls == [("http://leader:8083", "POST", "/connectors", [("forward", "true")], body)]


def test_forwarding_keeps_query_and_encodes_path(forwarding: tuple[Served, RecordingForwarder]) -> None:
    served, forwarder = forwarding
    forwarder.answer = (204, None)
    r = served.client.post("/connectors/my conn/restart?includeTasks=false&forward=true")
    assert (r.status_code, r.content) == (204, b"")
    assert forwarder.calls == [
        (
            "http://leader:8083",
            "POST",
            "/connectors/my%20conn/restart",
            [("includeTasks", "false"), ("forward", "false")],
            None,
        )
    ]


def test_leader_errors_pass_through(forwarding: tuple[Served, RecordingForwarder]) -> None:
    served, forwarder = forwarding
    forwarder.answer = (409, {"error_code": 409, "message": "Connector b already exists"})
    r = served.client.post("/connectors", json={"name": "b", "config": source_config()})
    assert_error(r, 409, "already exists")


def test_no_third_hop(forwarding: tuple[Served, RecordingForwarder]) -> None:
    served, forwarder = forwarding
    r = served.client.put("/connectors/b/pause?forward=false")
    assert_error(r, 409, "conflicting operation")
    assert forwarder.calls == []


def test_unknown_leader_is_409(forwarding: tuple[Served, RecordingForwarder]) -> None:
    served, forwarder = forwarding
    served.herder.raise_on("delete_connector", NotLeaderError("not the leader", None))
    assert_error(served.client.delete("/connectors/b"), 409, "no known leader")
    assert forwarder.calls == []


def test_unreachable_leader_is_500(forwarding: tuple[Served, RecordingForwarder]) -> None:
    served, forwarder = forwarding
    forwarder.error = ForwardError("ConnectionRefusedError: [Errno 111] Connection refused")
    r = served.client.delete("/connectors/b")
    assert_error(r, 500, "Could not forward the request to the leader at http://leader:8083")


def test_http_forwarder_between_two_workers() -> None:
    """A follower forwards a create to the leader over real HTTP; two hops at most."""
    with (
        Served(forward=HttpForwarder(timeout=10)) as leader,
        Served(forward=HttpForwarder(timeout=10)) as follower,
    ):
        follower.herder.leader_url = leader.url
        r = follower.client.post("/connectors", json={"name": "b", "config": source_config()})
        assert r.status_code == 201, r.text
        assert r.headers["location"] == "/connectors/b"
        assert r.json()["config"]["connection.password"] == "[hidden]"
        assert leader.client.get("/connectors").json() == ["b"]
        assert follower.herder.connectors() == []
        assert ("put_connector_config", ("b", False)) in leader.herder.calls

        # errors and empty answers come back as the leader sent them
        assert_error(follower.client.post("/connectors", json={"name": "b", "config": source_config()}), 409)
        r = follower.client.put("/connectors/b/pause")
        assert (r.status_code, r.content) == (202, b"")
        assert leader.client.get("/connectors/b/status").json()["connector"]["state"] == "PAUSED"

        # a leader that is itself not the leader any more: forwarded once more, then 409
        leader.herder.leader_url = follower.url
        assert_error(follower.client.put("/connectors/b/resume"), 409, "conflicting operation")


def test_http_forwarder_unreachable_leader() -> None:
    with pytest.raises(ForwardError):
        HttpForwarder(timeout=2)("http://127.0.0.1:9", "GET", "/connectors", [], None)


# --- secrets --------------------------------------------------------------------------------------------


def test_secrets_never_in_logs(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        create(client, "src")
        client.put("/connectors/src/config", json=source_config())
        client.put("/connector-plugins/FakeSource/config/validate", json=source_config())
        client.post("/connectors", json={"name": "x", "config": {"connection.password": [SECRET]}})
        client.get("/connectors/src/tasks")
    assert caplog.records, "the access log should have recorded the requests"
    assert any("/connectors" in r.getMessage() for r in caplog.records if r.name == "uvicorn.access")
    assert SECRET not in caplog.text


def test_concurrent_requests_are_served_in_parallel(client: httpx.Client, herder: FakeHerder) -> None:
    """Herder calls block; they run on worker threads, so one slow call does not stall the others."""
    gate = threading.Event()
    entered = threading.Event()
    original = herder.connector_status

    def slow(name: str) -> Any:
        entered.set()
        gate.wait(10)
        return original(name)

    create(client, "src")
    herder.connector_status = slow  # type: ignore[method-assign]
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(client.get("/connectors/src/status").status_code))
    t.start()
    try:
        assert entered.wait(5)
        with httpx.Client(base_url=str(client.base_url), timeout=5) as other:
            assert other.get("/connectors").json() == ["src"]
    finally:
        gate.set()
        t.join(10)
    assert result == [200]
