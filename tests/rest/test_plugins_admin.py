"""``GET /``, ``/health``, ``/metrics``, ``/connector-plugins`` and ``/admin/loggers`` over real HTTP."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.rest.conftest import Served
from tests.rest.fake_herder import SINK_CLASS, SOURCE_CLASS, VERSION, FakeHerder, source_config
from tests.rest.test_connectors import assert_error, create

# --- root, health, metrics --------------------------------------------------------------------------


def test_root(client: httpx.Client) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.json() == {"version": "0.1.0", "commit": "abc123", "kafka_cluster_id": "fake-cluster-0001"}


def test_health(client: httpx.Client, herder: FakeHerder) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {
        "status": "healthy",
        "message": "Worker has completed startup and is ready to handle requests.",
    }
    herder.healthy = False
    r = client.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "unhealthy"
    assert "stuck" in r.json()["message"]


def test_health_check_that_raises_is_503(client: httpx.Client, herder: FakeHerder) -> None:
    herder.raise_on("health", RuntimeError("database password=hunter2 is wrong"))
    r = client.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "unhealthy"
    assert "hunter2" not in r.text


def test_metrics(client: httpx.Client) -> None:
    create(client, "src")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "headrace_connectors 1\n" in r.text
    assert "# TYPE headrace_connectors gauge" in r.text


# --- plugins ----------------------------------------------------------------------------------------


def test_connector_plugins(client: httpx.Client) -> None:
    r = client.get("/connector-plugins")
    assert r.status_code == 200
    assert r.json() == [
        {"class": SOURCE_CLASS, "type": "source", "version": VERSION},
        {"class": SINK_CLASS, "type": "sink", "version": VERSION},
    ]
    assert client.get("/connector-plugins?connectorsOnly=true").json() == r.json()
    everything = client.get("/connector-plugins", params={"connectorsOnly": "false"}).json()
    assert {p["type"] for p in everything} == {"source", "sink", "transformation", "predicate", "converter"}
    assert_error(client.get("/connector-plugins?connectorsOnly=perhaps"), 400, "connectorsOnly")


def test_plugin_config(client: httpx.Client) -> None:
    r = client.get("/connector-plugins/FakeSource/config")
    assert r.status_code == 200
    keys = {k["name"]: k for k in r.json()}
    # Kafka's ConfigKeyInfo, field for field and in Jackson's order ("order" last)
    assert list(keys["connection.password"].items()) == [
        ("name", "connection.password"),
        ("type", "PASSWORD"),
        ("required", False),
        ("default_value", None),
        ("importance", "HIGH"),
        ("documentation", "Database password."),
        ("group", "Connection"),
        ("width", "NONE"),
        ("display_name", "connection.password"),
        ("dependents", []),
        ("order", 3),
    ]
    assert '"dependents":[],"order":3}' in r.text
    assert keys["topic"]["required"] is True
    assert client.get(f"/connector-plugins/{SOURCE_CLASS}/config").json() == r.json()
    assert_error(client.get("/connector-plugins/Nope/config"), 404, "Nope")


def test_validate(client: httpx.Client) -> None:
    r = client.put("/connector-plugins/FakeSource/config/validate", json=source_config(name="x"))
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == SOURCE_CLASS
    assert body["error_count"] == 0
    assert body["groups"] == ["Common", "Error Handling", "Connection"]
    values = {c["value"]["name"]: c["value"] for c in body["configs"]}
    assert values["connection.password"]["value"] == "[hidden]"
    assert "s3cr3t-pw" not in r.text
    assert values["batch.size"] == {
        "name": "batch.size",
        "value": "100",
        "recommended_values": [],
        "errors": [],
        "visible": True,
    }


def test_validate_reports_errors(client: httpx.Client) -> None:
    config = {"connector.class": "FakeSource", "tasks.max": 0, "batch.size": "lots"}
    r = client.put("/connector-plugins/FakeSource/config/validate", json=config)
    assert r.status_code == 200
    body = r.json()
    errors = {c["value"]["name"]: c["value"]["errors"] for c in body["configs"] if c["value"]["errors"]}
    assert set(errors) == {"name", "tasks.max", "connection.url", "topic", "batch.size"}
    assert body["error_count"] == 5


def test_validate_errors(client: httpx.Client) -> None:
    url = "/connector-plugins/FakeSource/config/validate"
    assert_error(client.put(url, json={"connector.class": "FakeSink"}), 400, "does not match")
    assert_error(client.put("/connector-plugins/Nope/config/validate", json={}), 404, "Nope")
    assert_error(client.put(url, json={"a": [1]}), 400, "a")
    assert_error(client.put(url, content=b"not json", headers={"content-type": "application/json"}), 400)


# --- loggers ----------------------------------------------------------------------------------------


def test_list_loggers_has_root(client: httpx.Client) -> None:
    r = client.get("/admin/loggers")
    assert r.status_code == 200
    assert r.json() == {"root": {"level": "WARN", "last_modified": None}}


def test_set_and_get_logger_levels(served: Served) -> None:
    client, levels = served.client, served.levels
    child = levels.manager.getLogger("org.example.connect.child")
    other = levels.manager.getLogger("org.example.connector")
    child.setLevel(logging.ERROR)

    r = client.put("/admin/loggers/org.example.connect", json={"level": "trace"})
    assert r.status_code == 200
    assert r.json() == ["org.example.connect", "org.example.connect.child"]
    assert child.level == 5
    assert other.level == logging.NOTSET  # a sibling with a common prefix is not below the namespace

    listed = client.get("/admin/loggers").json()
    assert listed["org.example.connect"]["level"] == "TRACE"
    assert isinstance(listed["org.example.connect"]["last_modified"], int)
    assert listed["root"] == {"level": "WARN", "last_modified": None}
    assert list(listed) == sorted(listed)

    r = client.get("/admin/loggers/org.example.connect.child")
    assert r.status_code == 200
    assert r.json()["level"] == "TRACE"
    # a logger without its own level reports the effective one
    assert client.get("/admin/loggers/org.example.connector").json() == {
        "level": "WARN",
        "last_modified": None,
    }
    assert client.get("/admin/loggers/ROOT").json()["level"] == "WARN"
    assert_error(client.get("/admin/loggers/no.such.logger"), 404, "no.such.logger")


@pytest.mark.parametrize(
    ("given", "level", "shown"),
    [
        ("DEBUG", logging.DEBUG, "DEBUG"),
        ("info", logging.INFO, "INFO"),
        ("WARN", logging.WARNING, "WARN"),
        ("warning", logging.WARNING, "WARN"),
        ("ERROR", logging.ERROR, "ERROR"),
        ("FATAL", logging.CRITICAL, "FATAL"),
        ("critical", logging.CRITICAL, "FATAL"),
        ("OFF", logging.CRITICAL + 10, "OFF"),
    ],
)
def test_level_names(served: Served, given: str, level: int, shown: str) -> None:
    r = served.client.put("/admin/loggers/lvl.test", json={"level": given})
    assert r.status_code == 200
    assert r.json() == ["lvl.test"]
    assert served.levels.manager.getLogger("lvl.test").level == level
    assert served.client.get("/admin/loggers/lvl.test").json()["level"] == shown


def test_set_root_sets_every_logger(served: Served) -> None:
    manager = served.levels.manager
    manager.getLogger("a.b")
    r = served.client.put("/admin/loggers/root", json={"level": "ERROR"})
    assert r.status_code == 200
    assert r.json() == ["a.b", "root"]
    assert served.levels.root.level == logging.ERROR
    assert manager.getLogger("a.b").level == logging.ERROR


def test_set_level_errors(client: httpx.Client) -> None:
    assert_error(client.put("/admin/loggers/x", json={"level": "LOUD"}), 400, "Invalid log level 'LOUD'")
    assert_error(client.put("/admin/loggers/x", json={}), 400, "level")
    assert_error(client.put("/admin/loggers/x", json={"level": 10}), 400, "level")
    assert_error(client.put("/admin/loggers/x?scope=cluster", json={"level": "INFO"}), 400, "scope=cluster")
    assert client.put("/admin/loggers/x?scope=worker", json={"level": "INFO"}).status_code == 200


def test_default_levels_control_the_process_logging() -> None:
    """Without ``loggers=``, the app drives the process's own ``logging`` hierarchy."""
    from rest.loggers import LoggerLevels

    levels = LoggerLevels()
    name = "headrace.test.rest.default_levels"
    try:
        assert levels.set_level(name, logging.DEBUG) == [name]
        assert logging.getLogger(name).level == logging.DEBUG
    finally:
        logging.getLogger(name).setLevel(logging.NOTSET)
