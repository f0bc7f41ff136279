"""Fixtures for the Connect end-to-end tests: real ``headrace standalone`` worker processes (REST over
HTTP on free ports) against the session's broker (``broker`` fixture of ``tests/conftest.py``).

Every worker a test starts is stopped in the fixture's teardown, whatever the test did; when a test
fails, the tail of each worker log it used is attached to the report.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.brokers import BrokerUnderTest
from tests.support.connect import ConnectWorker
from tests.support.workers import WORKERS_KEY, StartedWorkers, attach_worker_logs

StartWorker = Callable[..., ConnectWorker]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    attach_worker_logs(item, outcome.get_result(), "connect worker", 80)  # type: ignore[attr-defined]


@pytest.fixture
def start_worker(
    broker: BrokerUnderTest, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StartWorker]:
    """Factory: ``start_worker(props={...}, connector_files=[...], log_level="INFO")`` starts a standalone
    worker against the session broker, in ``tmp_path``; all are stopped at teardown."""
    workers = StartedWorkers(broker.bootstrap, tmp_path)
    request.node.stash[WORKERS_KEY] = workers
    try:
        yield workers.start
    finally:
        workers.close()


@pytest.fixture
def worker(start_worker: StartWorker) -> ConnectWorker:
    """One standalone worker with the default test properties (offset.flush.interval.ms=500)."""
    return start_worker()


@pytest.fixture
def snk() -> str:
    """A sink connector name unique to this test: the sink's consumer group is ``connect-<name>``, and
    tests share a broker, so a reused name would share (and mix up) committed offsets."""
    return f"snk-{uuid.uuid4().hex[:8]}"
