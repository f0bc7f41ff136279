"""``/openapi.json`` describes the API accurately: checked by hand and by a bounded schemathesis run."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, checks

from tests.rest.conftest import Served
from tests.rest.fake_herder import SOURCE_CLASS, sink_config, source_config

EXPECTED_OPERATIONS = {
    ("get", "/"),
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/connectors"),
    ("post", "/connectors"),
    ("get", "/connectors/{name}"),
    ("delete", "/connectors/{name}"),
    ("get", "/connectors/{name}/config"),
    ("put", "/connectors/{name}/config"),
    ("patch", "/connectors/{name}/config"),
    ("get", "/connectors/{name}/status"),
    ("get", "/connectors/{name}/tasks"),
    ("get", "/connectors/{name}/tasks/{task}/status"),
    ("post", "/connectors/{name}/tasks/{task}/restart"),
    ("put", "/connectors/{name}/pause"),
    ("put", "/connectors/{name}/resume"),
    ("put", "/connectors/{name}/stop"),
    ("post", "/connectors/{name}/restart"),
    ("get", "/connectors/{name}/topics"),
    ("put", "/connectors/{name}/topics/reset"),
    ("get", "/connectors/{name}/offsets"),
    ("patch", "/connectors/{name}/offsets"),
    ("delete", "/connectors/{name}/offsets"),
    ("get", "/connector-plugins"),
    ("get", "/connector-plugins/{plugin}/config"),
    ("put", "/connector-plugins/{plugin}/config/validate"),
    ("get", "/admin/loggers"),
    ("get", "/admin/loggers/{logger}"),
    ("put", "/admin/loggers/{logger}"),
}


@pytest.fixture(scope="module")
def openapi(module_served: Served) -> dict[str, Any]:
    r = module_served.client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_every_route_is_published(openapi: dict[str, Any]) -> None:
    published = {(method, path) for path, item in openapi["paths"].items() for method in item}
    assert published == EXPECTED_OPERATIONS


def test_no_422_anywhere(openapi: dict[str, Any]) -> None:
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            assert "422" not in op["responses"], (method, path)
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


def test_documented_statuses(openapi: dict[str, Any]) -> None:
    def statuses(method: str, path: str) -> set[str]:
        return set(openapi["paths"][path][method]["responses"])

    assert statuses("post", "/connectors") == {"201", "400", "409", "415", "500"}
    assert {"200", "201"} <= statuses("put", "/connectors/{name}/config")
    assert {"202", "204"} <= statuses("post", "/connectors/{name}/restart")
    assert "202" in statuses("put", "/connectors/{name}/pause")
    assert "204" in statuses("put", "/connectors/{name}/stop")
    assert "204" in statuses("delete", "/connectors/{name}")
    assert {"200", "503"} <= statuses("get", "/health")


def test_request_bodies_are_described(openapi: dict[str, Any]) -> None:
    def body_schema(method: str, path: str) -> dict[str, Any]:
        content = openapi["paths"][path][method]["requestBody"]["content"]
        return content["application/json"]["schema"]  # type: ignore[no-any-return]

    schemas = openapi["components"]["schemas"]
    create = schemas[body_schema("post", "/connectors")["$ref"].rsplit("/", 1)[-1]]
    assert set(create["required"]) == {"name", "config"}
    for method, path in [
        ("put", "/connectors/{name}/config"),
        ("patch", "/connectors/{name}/config"),
        ("patch", "/connectors/{name}/offsets"),
        ("put", "/admin/loggers/{logger}"),
        ("put", "/connector-plugins/{plugin}/config/validate"),
    ]:
        assert "$ref" in body_schema(method, path)
    assert schemas["PluginInfoModel"]["required"] == ["class", "type"]  # version: absent when undefined
    assert "trace" not in schemas["AbstractStateModel"]["required"]


# --- schemathesis -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed_server() -> Iterator[Served]:
    with Served() as served:
        yield served


@pytest.fixture(scope="module")
def api_schema(fuzzed_server: Served) -> Any:
    return schemathesis.openapi.from_url(fuzzed_server.url + "/openapi.json")


SEEDED = {"src": source_config(), "snk": sink_config()}
# Values of path parameters that name existing things, so that fuzzing reaches past the 404s.
KNOWN = {
    "name": ["src", "snk"],
    "task": [0, 1],
    "plugin": ["FakeSource", "FakeSink", SOURCE_CLASS],
    "logger": ["root", "org.example", "org.example.child"],
}


def _seed(served: Served) -> None:
    """(Re)create the known connectors and loggers the fuzzer may have deleted or stopped."""
    existing = served.herder.connectors()
    for name, config in SEEDED.items():
        if name not in existing:
            served.herder.put_connector_config(name, {**config, "name": name}, allow_replace=False)
    served.levels.manager.getLogger("org.example.child")


def _aim_at_known_resources(case: Case[Any]) -> None:
    """Point about half of the cases (chosen by the generated value, so runs are reproducible) at
    resources that exist. Schemathesis re-checks a modified case before judging the response."""
    params = dict(case.path_parameters or {})
    changed = False
    for key, choices in KNOWN.items():
        if key in params:
            digest = zlib.crc32(repr(params[key]).encode())
            if digest % 2 == 0:
                params[key] = choices[(digest // 2) % len(choices)]
                changed = True
    if changed:
        case.path_parameters = params


schema = schemathesis.pytest.from_fixture("api_schema")

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


# Examples per operation; raise it (HEADRACE_FUZZ_EXAMPLES=500) for a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("HEADRACE_FUZZ_EXAMPLES", "30"))

# Query parameters that take any string by design (Kafka ignores unknown expansions and scopes): on the
# wire every value is a string, so "schema-violating" values the fuzzer makes for them are valid.
FREE_FORM_QUERY = {"GET /connectors", "PUT /admin/loggers/{logger}"}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Case[Any], fuzzed_server: Served) -> None:
    _seed(fuzzed_server)
    _aim_at_known_resources(case)
    excluded = [checks.negative_data_rejection] if case.operation.label in FREE_FORM_QUERY else []
    case.call_and_validate(checks=CHECKS, excluded_checks=excluded)


def test_fuzzing_left_the_server_healthy(fuzzed_server: Served) -> None:
    assert fuzzed_server.client.get("/health").status_code == 200
    assert isinstance(httpx.get(fuzzed_server.url + "/connectors").json(), list)


def test_interactive_docs_page_is_served(client: httpx.Client) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in r.text and "/openapi.json" in r.text
    assert "/docs" not in client.get("/openapi.json").json()["paths"]  # not part of Kafka's API
