"""Shared fixtures: the broker under test, fresh headrace brokers for tests that kill them, topic names.

Select the broker with ``HEADRACE_TEST_BROKER=headrace|tansu`` (default headrace) or point the tests at a
running one with ``HEADRACE_TEST_BOOTSTRAP=host:port``. ``HEADRACE_REQUIRE_SERVERS=1`` (set by CI) turns
"server not available" skips into failures. Every process a fixture starts is stopped in its teardown,
whatever the test did; when a test fails, the tail of each broker log it used is attached to the report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.brokers import (
    BOOTSTRAP_ENV,
    BrokerUnderTest,
    HeadraceBrokers,
    broker_kind,
    kill_leftovers,
    log_since,
    log_size,
    start_kind,
    tail,
    unique_topic,
)
from tests.support.require import require_or_skip
from tests.support.server_fixtures import (  # noqa: F401 - session fixtures
    _s3_session,
    elasticsearch_server,
    mariadb_server,
    postgres_server,
    s3,
)
from tests.support.servers import ServerProcess

__all__ = ["require_or_skip"]

# Logs each test used: (label, server, byte offset where this test's part starts).
_LOGS_KEY = pytest.StashKey[list[tuple[str, ServerProcess, int]]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: starts processes or servers (brokers, workers, databases, object stores); "
        '`-m "not slow"` selects the fast unit tier',
    )
    config.addinivalue_line(
        "markers",
        "headrace_only: needs the headrace broker's own process or data dir (SIGKILL, restart, "
        "raw protocol edge cases); skipped when another broker is under test",
    )
    config.addinivalue_line(
        "markers",
        "xfail_tansu(reason): a known gap of the Tansu broker; expected to fail under "
        "HEADRACE_TEST_BROKER=tansu, a normal test otherwise",
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    kill_leftovers()  # fixtures stop their servers; this catches what an interrupted run left behind


def pytest_report_header(config: pytest.Config) -> str:
    kind = broker_kind()
    where = f" at {os.environ[BOOTSTRAP_ENV]}" if kind == "external" else ""
    return f"broker under test: {kind}{where}"


# Fixtures that start a process or a server (directly or through the fixtures they use). A test using
# any of them is marked ``slow``, so ``python -m pytest -m "not slow"`` is the fast unit tier; modules
# that start processes themselves carry ``pytestmark = pytest.mark.slow``.
SERVER_FIXTURES = frozenset(
    {
        "_session_broker",  # the shared broker process
        "headrace_brokers",  # private broker processes
        "postgres_server",  # a throwaway PostgreSQL
        "mariadb_server",  # a throwaway MariaDB
        "elasticsearch_server",  # a throwaway noida-db (Elasticsearch API)
        "es_server",  # a private noida-db the test may stop and start
        "_s3_session",  # SeaweedFS
        "make_cluster",  # distributed worker processes
        "start_worker",  # standalone worker processes
        "tansu",
        "replica_server",
        "postgres",
        "group_broker",  # brokers for group tests (tests/broker, tests/connect/distributed)
        "bootstrap",  # the store tests' brokers
        "fuzzed_server",  # schemathesis against the whole API (long, though in-process)
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kind = broker_kind()
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if kind != "headrace" and item.get_closest_marker("headrace_only"):
            item.add_marker(pytest.mark.skip(reason=f"headrace only (broker under test: {kind})"))
        marker = item.get_closest_marker("xfail_tansu")
        if kind == "tansu" and marker is not None:
            reason = marker.args[0] if marker.args else "known Tansu gap"
            item.add_marker(pytest.mark.xfail(reason=f"Tansu: {reason}", strict=False))


def _remember_log(item: pytest.Item, label: str, server: ServerProcess) -> None:
    item.stash.setdefault(_LOGS_KEY, []).append((label, server, log_size(server)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for label, server, offset in item.stash.get(_LOGS_KEY, []):
            status = "running" if server.proc.poll() is None else f"exited {server.proc.returncode}"
            text = tail(log_since(server, offset), 60) or "(empty)"
            report.sections.append((f"{label} log tail ({server.log_path}, {status})", text))


# ------------------------------------------------------------------------------------------ brokers


class _SessionBroker:
    """The shared broker. If a test crashed it, the next test gets a fresh one (the crash is reported
    by the test during which it happened)."""

    def __init__(self) -> None:
        self.kind = broker_kind()
        self.started: list[ServerProcess] = []
        self.current: BrokerUnderTest | None = None
        self.start_error: str | None = None

    def get(self) -> BrokerUnderTest:
        if self.kind == "external":
            return BrokerUnderTest("external", os.environ[BOOTSTRAP_ENV], None)
        if self.start_error is not None:  # do not pay a failing start-up for every test
            pytest.fail(
                f"the {self.kind} broker failed to start earlier in this session:\n{self.start_error}",
                pytrace=False,
            )
        if self.current is None or not self.current.alive():
            try:
                server = start_kind(self.kind)
            except RuntimeError as e:
                self.start_error = str(e)
                raise
            self.started.append(server)
            self.current = BrokerUnderTest(self.kind, server.bootstrap, server)
        return self.current

    def close(self) -> None:
        for server in reversed(self.started):
            server.cleanup()


@pytest.fixture(scope="session")
def _session_broker() -> Iterator[_SessionBroker]:
    holder = _SessionBroker()
    try:
        yield holder
    finally:
        holder.close()


@pytest.fixture
def broker(_session_broker: _SessionBroker, request: pytest.FixtureRequest) -> Iterator[BrokerUnderTest]:
    """The session's broker under test (selected by ``HEADRACE_TEST_BROKER``). Tests must not kill it
    and must use their own topics; a test during which it dies fails."""
    b = _session_broker.get()
    if b.server is not None:
        _remember_log(request.node, f"{b.kind} broker", b.server)
    yield b
    if not b.alive():
        assert b.server is not None
        pytest.fail(
            f"the {b.kind} broker died during this test (exit code {b.server.proc.returncode}); "
            f"log tail:\n{tail(b.server.log_text(), 40)}",
            pytrace=False,
        )


@pytest.fixture
def headrace_brokers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HeadraceBrokers]:
    """A factory of private headrace brokers (function-scoped; for tests that kill or damage them)."""
    if broker_kind() != "headrace":
        pytest.skip(f"headrace only (broker under test: {broker_kind()})")
    brokers = HeadraceBrokers(
        tmp_path, on_start=lambda label, server: _remember_log(request.node, label, server)
    )
    try:
        yield brokers
    finally:
        brokers.close()


# --------------------------------------------------------------------------------------------- topics


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic name unique to this test and run (not created: tests create it with the API under test)."""
    return unique_topic(request.node.name)
