"""Fixtures for the REST tests: the app over a :class:`FakeHerder`, served for real by ``RestServer``.

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

    def __init__(self, herder: FakeHerder, *, forward: Forwarder | None = None, **server_args: float) -> None:
        self.herder = herder
        self.levels = isolated_levels()
        self.app = create_app(herder, forward=forward, loggers=self.levels, commit="abc123")
        self.server = RestServer(self.app, "127.0.0.1", 0, **server_args)
        self.server.start()
        self.client = httpx.Client(base_url=self.server.url, timeout=10.0)

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.client.close()
        self.server.stop()


@pytest.fixture
def herder() -> FakeHerder:
    return FakeHerder()


@pytest.fixture
def served(herder: FakeHerder) -> Iterator[Served]:
    s = Served(herder)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def client(served: Served) -> httpx.Client:
    return served.client
