"""Fixtures for distributed-mode end-to-end tests: clusters (``cluster.py``) of real ``headrace
distributed`` worker processes against a real broker. Every worker is stopped at teardown; when a test
fails, each worker's log tail is attached to the report.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.connect_distributed.cluster import Cluster, cluster_props
from tests.support.brokers import STARTED, BrokerUnderTest, broker_kind, start_kind
from tests.support.connect import ConnectWorker
from tests.support.workers import WORKERS_KEY, attach_worker_logs


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    attach_worker_logs(item, outcome.get_result(), "distributed worker", 60)  # type: ignore[attr-defined]


@pytest.fixture
def kafka(request: pytest.FixtureRequest) -> Iterator[BrokerUnderTest]:
    """The broker named by the test's parameter (``headrace`` or ``tansu``): the session broker when it
    is of that kind (or external), else a private one started for this test."""
    kind: str = request.param
    if broker_kind() in (kind, "external"):
        yield request.getfixturevalue("broker")
        return
    server = start_kind(kind)
    try:
        yield BrokerUnderTest(kind, server.bootstrap, server)
    finally:
        server.cleanup()
        if server in STARTED:
            STARTED.remove(server)


@pytest.fixture
def make_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Factory ``make_cluster(bootstrap) -> Cluster``; every worker is stopped at teardown."""
    clusters: list[Cluster] = []
    workers: list[ConnectWorker] = []
    request.node.stash[WORKERS_KEY] = workers

    class _Tracked(Cluster):
        def add(self, count: int = 1) -> list[ConnectWorker]:
            try:
                return super().add(count)
            finally:
                workers[:] = [w for c in clusters for w in c.workers]

    def make(bootstrap: str) -> Cluster:
        group = f"connect-{uuid.uuid4().hex[:8]}"
        cluster = _Tracked(bootstrap, tmp_path / group, group, cluster_props(group))
        cluster.work_dir.mkdir(parents=True)
        clusters.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for c in clusters:
            c.close()
