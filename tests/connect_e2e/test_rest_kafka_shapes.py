"""A real worker's REST bodies in Kafka Connect's shapes: plugin config listings as Kafka's
``AbstractHerder.connectorPluginConfig`` builds them, ``ConfigKeyInfo`` with ``order``, and error bodies
that are exactly ``{"error_code", "message"}``."""

from __future__ import annotations

import json

from connect.runtime.connector_config import SINK_CONFIG, SOURCE_CONFIG
from tests.support.connect import ConnectWorker
from tests.support.kafka_shapes import CONFIG_KEY_INFO_FIELDS


def _error(status: int, message: str) -> bytes:
    return json.dumps({"error_code": status, "message": message}, separators=(",", ":")).encode()


def test_connector_plugin_config_is_plugin_keys_then_framework_keys(worker: ConnectWorker) -> None:
    for plugin, framework in (("FileStreamSource", SOURCE_CONFIG), ("FileStreamSink", SINK_CONFIG)):
        r = worker.get(f"/connector-plugins/{plugin}/config")
        assert r.status_code == 200, r.text
        keys = r.json()
        assert all(list(k) == CONFIG_KEY_INFO_FIELDS for k in keys), keys[0]
        names = [k["name"] for k in keys]
        assert len(names) == len(set(names)), names
        framework_names = framework.names()
        own = [n for n in names if n not in framework_names]
        assert own, names  # the plugin declares keys of its own ...
        # ... listed first, then every framework key it does not declare, in the framework's order
        assert names == own + [n for n in framework_names if n in names[len(own) :]], names
        assert set(framework_names) <= set(names)
    sink = [k["name"] for k in worker.json("GET", "/connector-plugins/FileStreamSink/config")]
    assert {"topics", "topics.regex", "errors.deadletterqueue.topic.name"} <= set(sink)
    assert not any(n.startswith("topic.creation.") for n in sink)
    source = [k["name"] for k in worker.json("GET", "/connector-plugins/FileStreamSource/config")]
    assert "topic.creation.groups" in source and "topics" not in source


def test_other_plugins_list_their_own_keys_only(worker: ConnectWorker) -> None:
    plugins = worker.json("GET", "/connector-plugins", params={"connectorsOnly": "false"})
    others = [p for p in plugins if p["type"] not in ("source", "sink")]
    assert others
    for p in others:
        keys = worker.json("GET", f"/connector-plugins/{p['class']}/config")
        assert not {"connector.class", "tasks.max", "transforms"} & {k["name"] for k in keys}, p
        assert all(list(k) == CONFIG_KEY_INFO_FIELDS for k in keys), p


def test_error_bodies(worker: ConnectWorker) -> None:
    r = worker.get("/connectors/nope")
    assert (r.status_code, r.content) == (404, _error(404, "Connector nope not found"))

    r = worker.post(
        "/connectors",
        json={"name": "bad", "config": {"connector.class": "FileStreamSource", "tasks.max": "0"}},
    )
    assert r.status_code == 400, r.text
    body = r.json()
    assert list(body) == ["error_code", "message"]
    lines = body["message"].split("\n")
    assert lines[0] == "Connector configuration is invalid and contains the following 2 error(s):"
    assert lines[-1] == (
        "You can also find the above list of errors at the endpoint "
        "`/connector-plugins/{connectorType}/config/validate`"
    )
    assert sorted(lines[1:-1]) == [
        "Invalid value 0 for configuration tasks.max: Value must be at least 1",
        'Missing required configuration "topic" which has no default value.',
    ]

    r = worker.post(
        "/connectors", content=b'{"name": "x", "config": {', headers={"content-type": "application/json"}
    )
    assert (r.status_code, r.content) == (400, _error(400, "Invalid request: Request body is not valid JSON"))
    r = worker.delete("/connector-plugins")
    assert (r.status_code, r.content) == (405, _error(405, "HTTP 405 Method Not Allowed"))
    assert worker.json("GET", "/connectors") == []
