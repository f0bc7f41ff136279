"""Every ``/connectors`` route over real HTTP: status codes, JSON shapes (Kafka Connect's), error paths."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest

from connect.runtime.exceptions import NotFoundError
from connect.runtime.models import ConnectorOffset
from tests.rest.fake_herder import SINK_CLASS, FakeHerder, sink_config, source_config

SECRET = "s3cr3t-pw"


def create(
    client: httpx.Client, name: str = "src", config: Mapping[str, object] | None = None
) -> httpx.Response:
    r = client.post("/connectors", json={"name": name, "config": config or source_config()})
    assert r.status_code == 201, r.text
    return r


def assert_error(r: httpx.Response, status: int, fragment: str = "") -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["error_code", "message"], body  # Kafka's ErrorMessage, nothing more
    assert body["error_code"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert fragment in body["message"]
    assert "Traceback" not in r.text
    return body  # type: ignore[no-any-return]


# --- list / create ----------------------------------------------------------------------------------


def test_list_is_empty_then_sorted_names(client: httpx.Client) -> None:
    assert client.get("/connectors").json() == []
    create(client, "b")
    create(client, "a")
    r = client.get("/connectors")
    assert r.status_code == 200
    assert r.json() == ["a", "b"]


def test_list_expand_status_info_and_both(client: httpx.Client) -> None:
    create(client, "src")
    status = client.get("/connectors", params={"expand": "status"}).json()
    assert list(status) == ["src"]
    assert set(status["src"]) == {"status"}
    assert status["src"]["status"]["connector"]["state"] == "RUNNING"

    info = client.get("/connectors?expand=info").json()
    assert set(info["src"]) == {"info"}
    assert info["src"]["info"]["type"] == "source"
    assert info["src"]["info"]["config"]["connection.password"] == "[hidden]"

    both = client.get("/connectors?expand=status&expand=info").json()
    assert set(both["src"]) == {"status", "info"}
    assert client.get("/connectors?expand=bogus").json() == {"src": {}}


def test_list_expand_skips_connectors_deleted_meanwhile(client: httpx.Client, herder: FakeHerder) -> None:
    create(client, "gone")
    herder.raise_on("connector_status", NotFoundError("Connector gone not found"))
    assert client.get("/connectors?expand=status").json() == {}


def test_create_returns_201_info_and_location(client: httpx.Client, herder: FakeHerder) -> None:
    r = client.post("/connectors", json={"name": "src", "config": source_config()})
    assert r.status_code == 201
    assert r.headers["location"] == "/connectors/src"
    body = r.json()
    assert body == {
        "name": "src",
        "config": {**source_config(), "connection.password": "[hidden]", "name": "src"},
        "tasks": [{"connector": "src", "task": 0}, {"connector": "src", "task": 1}],
        "type": "source",
    }
    assert SECRET not in r.text
    # the herder got the name added to the config, and the real secret
    assert herder.raw_config("src")["name"] == "src"
    assert herder.raw_config("src")["connection.password"] == SECRET


def test_create_location_is_url_encoded(client: httpx.Client) -> None:
    r = create(client, "my connector")
    assert r.headers["location"] == "/connectors/my%20connector"
    assert client.get("/connectors/my connector").json()["name"] == "my connector"


def test_create_accepts_numbers_and_booleans_as_strings(client: httpx.Client, herder: FakeHerder) -> None:
    config = {**source_config(), "tasks.max": 3, "extra.ratio": 0.5, "extra.flag": True}
    create(client, "src", config)
    raw = herder.raw_config("src")
    assert raw["tasks.max"] == "3"
    assert raw["extra.ratio"] == "0.5"
    assert raw["extra.flag"] == "true"


def test_create_trims_the_name(client: httpx.Client) -> None:
    r = client.post("/connectors", json={"name": "  padded ", "config": source_config()})
    assert r.status_code == 201
    assert r.json()["name"] == "padded"


def test_create_existing_is_409(client: httpx.Client) -> None:
    create(client, "src")
    r = client.post("/connectors", json={"name": "src", "config": source_config()})
    assert_error(r, 409, "already exists")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"config": {}}, "name"),
        ({"name": "x"}, "config"),
        ({"name": "x", "config": "nope"}, "config"),
        ({"name": 5, "config": {}}, "name"),
        ([1, 2], "request body"),
        ({"name": "", "config": source_config()}, "must not be empty"),
        ({"name": "   ", "config": source_config()}, "must not be empty"),
        ({"name": "bad\nname", "config": source_config()}, "control characters"),
        ({"name": "x", "config": {**source_config(), "name": "y"}}, "doesn't match connector name"),
        ({"name": "x", "config": {"a": None}}, "config.a"),
        ({"name": "x", "config": {"a": ["l"]}}, "config.a"),
        ({"name": "x", "config": {"a": {"b": "c"}}}, "config.a"),
        ({"name": "x", "config": source_config(), "initial_state": "SLEEPING"}, "initial_state"),
    ],
)
def test_create_bad_request_is_400(client: httpx.Client, body: object, fragment: str) -> None:
    r = client.post("/connectors", json=body)
    assert_error(r, 400, fragment)
    assert client.get("/connectors").json() == []


def test_bad_values_are_not_echoed(client: httpx.Client) -> None:
    r = client.post("/connectors", json={"name": "x", "config": {"connection.password": {"pw": SECRET}}})
    assert_error(r, 400, "connection.password")
    assert SECRET not in r.text


def test_create_invalid_json_is_400(client: httpx.Client) -> None:
    r = client.post("/connectors", content=b'{"name": ', headers={"content-type": "application/json"})
    assert_error(r, 400, "not valid JSON")


def test_create_empty_body_is_400(client: httpx.Client) -> None:
    r = client.post("/connectors", headers={"content-type": "application/json"})
    assert_error(r, 400, "body is required")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_create_non_json_content_type_is_415(client: httpx.Client, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = b'{"name": "x", "config": {}}'
    r = client.post("/connectors", content=body, headers=headers)
    assert r.json() == {"error_code": 415, "message": "HTTP 415 Unsupported Media Type"}
    assert_error(r, 415)


def test_create_invalid_config_is_400_with_errors_in_the_message(client: httpx.Client) -> None:
    config = source_config(**{"tasks.max": "0"})
    del config["topic"]
    r = client.post("/connectors", json={"name": "src", "config": config})
    body = assert_error(r, 400)
    validated = client.put(
        "/connector-plugins/FakeSource/config/validate", json={**config, "name": "src"}
    ).json()
    reasons = [e for c in validated["configs"] for e in c["value"]["errors"]]
    assert len(reasons) == 2
    assert body == {
        "error_code": 400,
        "message": "Connector configuration is invalid and contains the following 2 error(s):\n"
        + "\n".join(reasons)
        + "\nYou can also find the above list of errors at the endpoint "
        "`/connector-plugins/{connectorType}/config/validate`",
    }
    assert SECRET not in r.text
    assert client.get("/connectors").json() == []


def test_create_unknown_class_is_400(client: httpx.Client) -> None:
    r = client.post("/connectors", json={"name": "x", "config": {"connector.class": "Nope"}})
    assert_error(r, 400, "Failed to find any class")


@pytest.mark.parametrize(
    ("initial", "state"), [("PAUSED", "PAUSED"), ("stopped", "STOPPED"), ("RUNNING", "RUNNING")]
)
def test_create_with_initial_state(client: httpx.Client, initial: str, state: str) -> None:
    r = client.post("/connectors", json={"name": "src", "config": source_config(), "initial_state": initial})
    assert r.status_code == 201
    assert client.get("/connectors/src/status").json()["connector"]["state"] == state


def test_trailing_slash_is_the_same_resource(client: httpx.Client) -> None:
    r = client.post("/connectors/", json={"name": "src", "config": source_config()})
    assert r.status_code == 201
    assert client.get("/connectors/").json() == ["src"]
    assert client.get("/connectors/src/").json()["name"] == "src"


# --- one connector ------------------------------------------------------------------------------------


def test_get_connector(client: httpx.Client) -> None:
    created = create(client, "src").json()
    r = client.get("/connectors/src")
    assert r.status_code == 200
    assert r.json() == created


def test_unknown_connector_is_404_everywhere(client: httpx.Client) -> None:
    for method, path in [
        ("GET", "/connectors/nope"),
        ("GET", "/connectors/nope/config"),
        ("GET", "/connectors/nope/status"),
        ("GET", "/connectors/nope/tasks"),
        ("GET", "/connectors/nope/tasks/0/status"),
        ("POST", "/connectors/nope/tasks/0/restart"),
        ("PUT", "/connectors/nope/pause"),
        ("PUT", "/connectors/nope/resume"),
        ("PUT", "/connectors/nope/stop"),
        ("POST", "/connectors/nope/restart"),
        ("DELETE", "/connectors/nope"),
        ("GET", "/connectors/nope/topics"),
        ("PUT", "/connectors/nope/topics/reset"),
        ("GET", "/connectors/nope/offsets"),
        ("DELETE", "/connectors/nope/offsets"),
    ]:
        r = client.request(method, path)
        assert_error(r, 404, "nope")


def test_get_config_is_masked(client: httpx.Client) -> None:
    create(client, "src")
    create(client, "snk", sink_config())
    r = client.get("/connectors/src/config")
    assert r.status_code == 200
    assert r.json() == {**source_config(), "connection.password": "[hidden]", "name": "src"}
    sink = client.get("/connectors/snk/config").json()
    assert sink["api.secret"] == "[hidden]"
    assert "tok-123" not in str(sink)


def test_put_config_creates_201_then_updates_200(client: httpx.Client, herder: FakeHerder) -> None:
    r = client.put("/connectors/snk/config", json=sink_config())
    assert r.status_code == 201
    assert r.headers["location"] == "/connectors/snk"
    assert r.json()["type"] == "sink"
    assert r.json()["config"]["name"] == "snk"
    assert r.json()["config"]["api.secret"] == "[hidden]"

    r = client.put("/connectors/snk/config", json=sink_config(**{"flush.size": "99"}))
    assert r.status_code == 200
    assert "location" not in r.headers
    assert r.json()["config"]["flush.size"] == "99"
    assert herder.raw_config("snk")["api.secret"] == "tok-123"


def test_put_config_errors(client: httpx.Client) -> None:
    assert_error(
        client.put("/connectors/a/config", json={**sink_config(), "name": "b"}), 400, "doesn't match"
    )
    assert_error(client.put("/connectors/a/config", json=["x"]), 400)
    assert_error(client.put("/connectors/a/config", json={"k": {"x": 1}}), 400, "k")
    assert_error(
        client.put("/connectors/a/config", json=sink_config(**{"flush.size": "-1"})), 400, "flush.size"
    )
    assert client.get("/connectors").json() == []


def test_status_and_task_status(client: httpx.Client, herder: FakeHerder) -> None:
    create(client, "src")
    r = client.get("/connectors/src/status")
    assert r.status_code == 200
    assert r.json() == {
        "name": "src",
        "connector": {"state": "RUNNING", "worker_id": "127.0.0.1:8083"},
        "tasks": [
            {"id": 0, "state": "RUNNING", "worker_id": "127.0.0.1:8083"},
            {"id": 1, "state": "RUNNING", "worker_id": "127.0.0.1:8083"},
        ],
        "type": "source",
    }
    herder.fail_task("src", 1, "Boom: disk full")
    r = client.get("/connectors/src/tasks/1/status")
    assert r.status_code == 200
    assert r.json() == {"id": 1, "state": "FAILED", "worker_id": "127.0.0.1:8083", "trace": "Boom: disk full"}
    assert_error(client.get("/connectors/src/tasks/7/status"), 404, "src-7")
    assert_error(client.get("/connectors/src/tasks/one/status"), 404)


def test_task_configs(client: httpx.Client) -> None:
    create(client, "src")
    r = client.get("/connectors/src/tasks")
    assert r.status_code == 200
    tasks = r.json()
    assert [t["id"] for t in tasks] == [{"connector": "src", "task": 0}, {"connector": "src", "task": 1}]
    assert all(t["config"]["connection.password"] == "[hidden]" for t in tasks)
    assert SECRET not in r.text


def test_pause_resume_stop(client: httpx.Client) -> None:
    create(client, "src")

    def states() -> tuple[str, list[str]]:
        s = client.get("/connectors/src/status").json()
        return s["connector"]["state"], [t["state"] for t in s["tasks"]]

    r = client.put("/connectors/src/pause")
    assert (r.status_code, r.content) == (202, b"")
    assert states() == ("PAUSED", ["PAUSED", "PAUSED"])

    r = client.put("/connectors/src/resume")
    assert (r.status_code, r.content) == (202, b"")
    assert states() == ("RUNNING", ["RUNNING", "RUNNING"])

    r = client.put("/connectors/src/stop")
    assert (r.status_code, r.content) == (204, b"")
    assert states() == ("STOPPED", [])
    assert client.get("/connectors/src").json()["tasks"] == []

    assert client.put("/connectors/src/resume").status_code == 202
    assert states() == ("RUNNING", ["RUNNING", "RUNNING"])


def test_restart_plain_is_204(client: httpx.Client, herder: FakeHerder) -> None:
    create(client, "src")
    herder.fail_connector("src")
    r = client.post("/connectors/src/restart")
    assert (r.status_code, r.content) == (204, b"")
    assert client.get("/connectors/src/status").json()["connector"]["state"] == "RUNNING"
    assert ("restart_connector", ("src", False, False)) in herder.calls


def test_restart_with_tasks_is_202_with_state(client: httpx.Client, herder: FakeHerder) -> None:
    create(client, "src")
    r = client.post("/connectors/src/restart", params={"includeTasks": "true"})
    assert r.status_code == 202
    body = r.json()
    assert body["connector"]["state"] == "RESTARTING"
    assert [t["state"] for t in body["tasks"]] == ["RESTARTING", "RESTARTING"]


def test_restart_only_failed_tasks(client: httpx.Client, herder: FakeHerder) -> None:
    create(client, "src")
    herder.fail_task("src", 0)
    r = client.post("/connectors/src/restart?includeTasks=true&onlyFailed=true")
    assert r.status_code == 202
    body = r.json()
    assert body["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in body["tasks"]] == ["RESTARTING", "RUNNING"]
    assert ("restart_connector", ("src", True, True)) in herder.calls
    status = client.get("/connectors/src/status").json()
    assert [t["state"] for t in status["tasks"]] == ["RUNNING", "RUNNING"]


def test_restart_bad_flag_is_400(client: httpx.Client) -> None:
    create(client, "src")
    assert_error(client.post("/connectors/src/restart?includeTasks=maybe"), 400, "includeTasks")


def test_restart_task(client: httpx.Client, herder: FakeHerder) -> None:
    create(client, "src")
    herder.fail_task("src", 1)
    r = client.post("/connectors/src/tasks/1/restart")
    assert (r.status_code, r.content) == (204, b"")
    assert client.get("/connectors/src/tasks/1/status").json()["state"] == "RUNNING"
    assert_error(client.post("/connectors/src/tasks/5/restart"), 404)


def test_delete(client: httpx.Client) -> None:
    create(client, "src")
    r = client.delete("/connectors/src")
    assert (r.status_code, r.content) == (204, b"")
    assert_error(client.get("/connectors/src"), 404)
    assert client.get("/connectors").json() == []


def test_topics_and_reset(client: httpx.Client) -> None:
    create(client, "src")
    create(client, "snk", sink_config())
    assert client.get("/connectors/src/topics").json() == {"src": {"topics": ["orders"]}}
    assert client.get("/connectors/snk/topics").json() == {"snk": {"topics": ["customers", "orders"]}}
    r = client.put("/connectors/src/topics/reset")
    assert (r.status_code, r.content) == (202, b"")
    assert client.get("/connectors/src/topics").json() == {"src": {"topics": []}}


# --- offsets (KIP-875) --------------------------------------------------------------------------------


def test_offsets_get_alter_reset(client: httpx.Client, herder: FakeHerder) -> None:
    create(client, "src")
    herder.set_offsets("src", [ConnectorOffset({"table": "orders"}, {"lsn": 10})])
    r = client.get("/connectors/src/offsets")
    assert r.status_code == 200
    assert r.json() == {"offsets": [{"partition": {"table": "orders"}, "offset": {"lsn": 10}}]}

    patch = {"offsets": [{"partition": {"table": "orders"}, "offset": {"lsn": 42}}]}
    assert_error(client.patch("/connectors/src/offsets", json=patch), 400, "STOPPED")

    assert client.put("/connectors/src/stop").status_code == 204
    r = client.patch("/connectors/src/offsets", json=patch)
    assert r.status_code == 200
    assert r.json() == {"message": "The offsets for this connector have been altered successfully"}
    assert client.get("/connectors/src/offsets").json() == patch

    removal = {"offsets": [{"partition": {"table": "orders"}, "offset": None}]}
    assert client.patch("/connectors/src/offsets", json=removal).status_code == 200
    assert client.get("/connectors/src/offsets").json() == {"offsets": []}

    r = client.delete("/connectors/src/offsets")
    assert r.status_code == 200
    assert r.json() == {"message": "The offsets for this connector have been reset successfully"}


def test_reset_offsets_requires_stopped(client: httpx.Client) -> None:
    create(client, "src")
    assert_error(client.delete("/connectors/src/offsets"), 400, "STOPPED")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"offsets": []}, "Partitions / offsets need to be provided"),
        ({}, "offsets"),
        ({"offsets": None}, "offsets"),
        ({"offsets": [{"partition": "x", "offset": {}}]}, "partition"),
        ({"offsets": [{"partition": {"a": 1}, "offset": 5}]}, "offset"),
    ],
)
def test_alter_offsets_bad_body_is_400(client: httpx.Client, body: object, fragment: str) -> None:
    create(client, "src")
    client.put("/connectors/src/stop")
    assert_error(client.patch("/connectors/src/offsets", json=body), 400, fragment)


def test_alter_sink_offsets_validated_by_herder(client: httpx.Client) -> None:
    create(client, "snk", sink_config())
    client.put("/connectors/snk/stop")
    bad = {"offsets": [{"partition": {"topic": "t"}, "offset": {"kafka_offset": 3}}]}
    assert_error(client.patch("/connectors/snk/offsets", json=bad), 400, "kafka_topic")
    good = {
        "offsets": [{"partition": {"kafka_topic": "t", "kafka_partition": 0}, "offset": {"kafka_offset": 3}}]
    }
    assert client.patch("/connectors/snk/offsets", json=good).status_code == 200


def test_sink_type_in_info(client: httpx.Client) -> None:
    create(client, "snk", sink_config(**{"connector.class": SINK_CLASS}))
    assert client.get("/connectors/snk").json()["type"] == "sink"
