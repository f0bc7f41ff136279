"""Bodies byte for byte as Kafka Connect's entity classes serialize them, read off the wire from a real
uvicorn server with a real HTTP client (``urllib``, so nothing but the bytes sent is involved)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from connect.runtime.models import (
    AbstractState,
    ConfigKeyInfo,
    ConnectorStateInfo,
    PluginInfo,
    TaskState,
)
from tests.rest.conftest import Served
from tests.rest.fake_herder import source_config
from tests.support.kafka_shapes import CONFIG_KEY_INFO_FIELDS


def call(
    served: Served, method: str, path: str, body: bytes | None = None, content_type: str | None = None
) -> tuple[int, str, bytes]:
    """(status, content type, raw body) of one request."""
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(served.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["content-type"], response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers["content-type"], e.read()


def error_bytes(status: int, message: str) -> bytes:
    """What Jackson writes for Kafka's ErrorMessage (compact, fields in this order)."""
    return json.dumps({"error_code": status, "message": message}, separators=(",", ":")).encode()


# --- ConfigKeyInfo --------------------------------------------------------------------------------------


def test_config_key_info_writes_order_last(served: Served) -> None:
    status, _, raw = call(served, "GET", "/connector-plugins/FakeSource/config")
    assert status == 200
    keys = json.loads(raw)
    assert keys and all(list(k) == CONFIG_KEY_INFO_FIELDS for k in keys)
    assert b"order_in_group" not in raw


def test_validate_definitions_write_order_too(served: Served) -> None:
    config = json.dumps(source_config(name="x")).encode()
    status, _, raw = call(
        served, "PUT", "/connector-plugins/FakeSource/config/validate", config, "application/json"
    )
    assert status == 200
    body = json.loads(raw)
    assert list(body) == ["name", "error_count", "groups", "configs"]
    for info in body["configs"]:
        assert list(info) == ["definition", "value"]
        assert list(info["value"]) == ["name", "value", "recommended_values", "errors", "visible"]
        if info["definition"] is not None:
            assert list(info["definition"])[-1] == "order"
    assert b"order_in_group" not in raw


def test_entity_json_matches_kafka() -> None:
    key = ConfigKeyInfo("k", "STRING", False, None, "LOW", "doc", None, 1, "NONE", "k", [])
    assert json.dumps(key.to_json(), separators=(",", ":")) == (
        '{"name":"k","type":"STRING","required":false,"default_value":null,"importance":"LOW",'
        '"documentation":"doc","group":null,"width":"NONE","display_name":"k","dependents":[],"order":1}'
    )
    assert PluginInfo("a.B", "transformation", "").to_json() == {"class": "a.B", "type": "transformation"}
    assert PluginInfo("a.B", "predicate", "undefined").to_json() == {"class": "a.B", "type": "predicate"}
    assert PluginInfo("a.C", "source", "1.0").to_json() == {
        "class": "a.C",
        "type": "source",
        "version": "1.0",
    }
    state = ConnectorStateInfo(
        "c",
        AbstractState("RUNNING", "w:8083", ""),
        [TaskState("FAILED", "w:8083", "boom", 0), TaskState("RUNNING", "w:8083", None, 1)],
        "source",
    )
    assert json.dumps(state.to_json(), separators=(",", ":")) == (
        '{"name":"c","connector":{"state":"RUNNING","worker_id":"w:8083"},'
        '"tasks":[{"id":0,"state":"FAILED","worker_id":"w:8083","trace":"boom"},'
        '{"id":1,"state":"RUNNING","worker_id":"w:8083"}],"type":"source"}'
    )


# --- error bodies ---------------------------------------------------------------------------------------


def test_unknown_connector_body(served: Served) -> None:
    assert call(served, "GET", "/connectors/nope") == (
        404,
        "application/json",
        error_bytes(404, "Connector nope not found"),
    )


def test_invalid_config_body(served: Served) -> None:
    config = source_config(**{"tasks.max": "0"})
    del config["topic"]
    request = json.dumps({"name": "src", "config": config}).encode()
    status, content_type, raw = call(served, "POST", "/connectors", request, "application/json")
    assert (status, content_type) == (400, "application/json")
    message = (
        "Connector configuration is invalid and contains the following 2 error(s):\n"
        "Invalid value 0 for configuration tasks.max: Value must be at least 1\n"
        'Missing required configuration "topic" which has no default value.\n'
        "You can also find the above list of errors at the endpoint "
        "`/connector-plugins/{connectorType}/config/validate`"
    )
    assert raw == error_bytes(400, message)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/connectors", b'{"name": "x", "config": {'),
        ("PUT", "/connectors/x/config", b"{'connector.class': 'FakeSource'}"),
        ("PUT", "/connector-plugins/FakeSource/config/validate", b'{"a": "b",}'),
    ],
)
def test_malformed_json_body(served: Served, method: str, path: str, body: bytes) -> None:
    # Kafka answers 500 with Jackson's parser message here; Headrace answers 400, in Kafka's shape.
    assert call(served, method, path, body, "application/json") == (
        400,
        "application/json",
        error_bytes(400, "Invalid request: Request body is not valid JSON"),
    )
    assert json.loads(call(served, "GET", "/connectors")[2]) == []


@pytest.mark.parametrize(
    ("method", "path", "content_type", "status", "message"),
    [
        ("GET", "/no/such/path", None, 404, "HTTP 404 Not Found"),
        ("GET", "/connectors/x/tasks/one/status", None, 404, "HTTP 404 Not Found"),
        ("DELETE", "/connector-plugins", None, 405, "HTTP 405 Method Not Allowed"),
        ("POST", "/connectors", "text/plain", 415, "HTTP 415 Unsupported Media Type"),
    ],
)
def test_jersey_error_bodies(
    served: Served, method: str, path: str, content_type: str | None, status: int, message: str
) -> None:
    body = b'{"name": "x", "config": {}}' if content_type else None
    assert call(served, method, path, body, content_type) == (
        status,
        "application/json",
        error_bytes(status, message),
    )


def test_unexpected_error_body(served: Served) -> None:
    served.herder.raise_on("connectors", RuntimeError("details stay in the log"))
    assert call(served, "GET", "/connectors") == (
        500,
        "application/json",
        error_bytes(500, "Internal server error; the worker log has the details."),
    )


def test_openapi_error_model_has_exactly_kafkas_fields(served: Served) -> None:
    schema: dict[str, Any] = json.loads(call(served, "GET", "/openapi.json")[2])
    error = schema["components"]["schemas"]["ErrorMessage"]
    assert list(error["properties"]) == ["error_code", "message"]
    assert error.get("additionalProperties") in (None, False)
