"""schemathesis against the OpenAPI document the *real* worker publishes: no request it generates gets a
5xx from a running standalone worker (real herder, real broker), and the worker stays healthy.

The REST layer's full conformance checks against an in-memory herder live in tests/rest/test_openapi.py;
this run is about the real runtime behind the routes.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, checks

from tests.support.brokers import BrokerUnderTest
from tests.support.connect import ConnectWorker, start_connect_worker

SEED = "fuzz-src"


@pytest.fixture(scope="module")
def live_worker(_session_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    broker: BrokerUnderTest = _session_broker.get()
    work = tmp_path_factory.mktemp("fuzz-worker")
    (work / "in.txt").write_text("a\nb\n")
    worker = start_connect_worker(broker.bootstrap, work / "w")
    try:
        yield worker, work
    finally:
        worker.close()


@pytest.fixture(scope="module")
def live_schema(live_worker: Any) -> Any:
    worker: ConnectWorker = live_worker[0]
    return schemathesis.openapi.from_url(worker.url + "/openapi.json")


def _seed(worker: ConnectWorker, work: Path) -> None:
    r = httpx.get(worker.url + f"/connectors/{SEED}", timeout=30)
    if r.status_code == 404:
        config = {"connector.class": "FileStreamSource", "file": str(work / "in.txt"), "topic": "fuzz-lines"}
        httpx.put(worker.url + f"/connectors/{SEED}/config", json=config, timeout=30)


def _aim(case: Case[Any]) -> None:
    params = dict(case.path_parameters or {})
    if "name" in params and zlib.crc32(repr(params["name"]).encode()) % 2 == 0:
        params["name"] = SEED
        if "task" in params:
            params["task"] = 0
        case.path_parameters = params


schema = schemathesis.pytest.from_fixture("live_schema")


@pytest.mark.timeout(600)
@schema.parametrize()
@settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_live_worker_answers_no_5xx(case: Case[Any], live_worker: Any) -> None:
    worker, work = live_worker
    _seed(worker, work)
    _aim(case)
    case.call_and_validate(checks=[checks.not_a_server_error])


def test_live_worker_healthy_after_fuzzing(live_worker: Any) -> None:
    worker: ConnectWorker = live_worker[0]
    worker.check_alive()
    assert httpx.get(worker.url + "/health", timeout=30).status_code == 200
