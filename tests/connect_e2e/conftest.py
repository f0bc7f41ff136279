"""Fixtures for the Connect end-to-end tests: real ``headrace standalone`` worker processes (REST over
HTTP on free ports) against the session's broker (``broker`` fixture of ``tests/conftest.py``).

Every worker a test starts is stopped in the fixture's teardown, whatever the test did; when a test
fails, the tail of each worker log it used is attached to the report.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.brokers import BrokerUnderTest
from tests.support.connect import ConnectWorker, start_connect_worker

_WORKERS_KEY = pytest.StashKey[list[ConnectWorker]]()

StartWorker = Callable[..., ConnectWorker]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for worker in item.stash.get(_WORKERS_KEY, []):
            for server in worker.history:
                status = "running" if server.proc.poll() is None else f"exited {server.proc.returncode}"
                lines = server.log_text().splitlines()[-80:]
                report.sections.append(
                    (f"connect worker log tail ({server.log_path}, {status})", "\n".join(lines) or "(empty)")
                )


@pytest.fixture
def start_worker(
    broker: BrokerUnderTest, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StartWorker]:
    """Factory: ``start_worker(props={...}, connector_files=[...], log_level="INFO")`` starts a standalone
    worker against the session broker, in ``tmp_path``; all are stopped at teardown."""
    workers: list[ConnectWorker] = []
    request.node.stash[_WORKERS_KEY] = workers

    def start(props: Mapping[str, str] | None = None, **kwargs: Any) -> ConnectWorker:
        worker = start_connect_worker(broker.bootstrap, tmp_path / f"w{len(workers)}", props, **kwargs)
        workers.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in reversed(workers):
            worker.close()


@pytest.fixture
def worker(start_worker: StartWorker) -> ConnectWorker:
    """One standalone worker with the default test properties (offset.flush.interval.ms=500)."""
    return start_worker()


@pytest.fixture
def snk() -> str:
    """A sink connector name unique to this test: the sink's consumer group is ``connect-<name>``, and
    tests share a broker, so a reused name would share (and mix up) committed offsets."""
    return f"snk-{uuid.uuid4().hex[:8]}"
