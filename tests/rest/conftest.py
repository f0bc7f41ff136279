"""Fixtures for the REST tests: the app over a :class:`FakeHerder`, served for real by ``RestServer``.

One server per module (starting and stopping uvicorn costs ~0.3 s); its herder is reset before each test.
The logger endpoints get their own ``logging`` hierarchy, so tests (and the fuzzer) setting levels never
touch the test process's loggers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from rest.app import create_app
from rest.forward import Forwarder
from rest.loggers import LoggerLevels
from rest.server import RestServer
from tests.rest.fake_herder import FakeHerder


def isolated_levels() -> LoggerLevels:
    return LoggerLevels(logging.Manager(logging.RootLogger(logging.WARNING)))


class Served:
    """A running server with its herder, logger hierarchy and an HTTP client for it."""

    def __init__(
        self,
        herder: FakeHerder | None = None,
        *,
        forward: Forwarder | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self.herder = herder if herder is not None else FakeHerder()
        self.levels = isolated_levels()
        self.app = create_app(self.herder, forward=forward, loggers=self.levels, commit="abc123")
        self.server = RestServer(self.app, "127.0.0.1", 0, shutdown_timeout=shutdown_timeout)
        self.server.start()
        self.client = httpx.Client(base_url=self.server.url, timeout=10.0)

    def reset(self) -> None:
        """A fresh herder and logger hierarchy for the next test."""
        self.herder.reset()
        self.levels.manager.loggerDict.clear()
        self.levels.root.setLevel(logging.WARNING)
        self.levels._last_modified.clear()

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.client.close()
        self.server.stop()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(scope="module")
def module_served() -> Iterator[Served]:
    with Served() as s:
        yield s


@pytest.fixture
def served(module_served: Served) -> Served:
    module_served.reset()
    return module_served


@pytest.fixture
def herder(served: Served) -> FakeHerder:
    return served.herder


@pytest.fixture
def client(served: Served) -> httpx.Client:
    return served.client
