"""``RestServer``: background uvicorn with a bounded, graceful stop."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from rest.app import create_app
from rest.server import RestServer
from tests.rest.conftest import isolated_levels
from tests.rest.fake_herder import FakeHerder


def app_for(herder: FakeHerder) -> FastAPI:
    return create_app(herder, loggers=isolated_levels())


def test_start_on_free_port_and_stop() -> None:
    server = RestServer(app_for(FakeHerder()), "127.0.0.1", 0)
    with pytest.raises(RuntimeError):
        _ = server.port
    server.start()
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.running
        assert httpx.get(server.url + "/connectors").json() == []
    finally:
        server.stop()
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{server.port}/connectors", timeout=2)
    server.stop()  # idempotent


def test_bind_before_start_tells_the_port() -> None:
    server = RestServer(None, "127.0.0.1", 0)
    port = server.bind()
    assert port > 0 and server.bind() == port
    with pytest.raises(RuntimeError, match="no app"):
        server.start()
    server.app = app_for(FakeHerder())
    server.start()
    try:
        assert server.port == port
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    finally:
        server.stop()


def test_stop_without_start_releases_the_port() -> None:
    server = RestServer(None, "127.0.0.1", 0)
    port = server.bind()
    server.stop()
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))


def test_context_manager_and_all_interfaces() -> None:
    with RestServer(app_for(FakeHerder()), "0.0.0.0", 0) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(server.url + "/").status_code == 200


def test_port_in_use_fails_in_start() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = RestServer(app_for(FakeHerder()), "127.0.0.1", port)
        with pytest.raises(OSError):
            server.start()
        assert not server.running


def test_start_twice_is_an_error() -> None:
    with RestServer(app_for(FakeHerder()), "127.0.0.1", 0) as server, pytest.raises(RuntimeError):
        server.start()


def test_failing_startup_is_reported() -> None:
    @asynccontextmanager
    async def broken(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("cannot start")
        yield

    server = RestServer(FastAPI(lifespan=broken), "127.0.0.1", 0)
    with pytest.raises(RuntimeError, match="failed to start"):
        server.start(timeout=10)
    assert not server.running


def test_stop_lets_in_flight_requests_finish() -> None:
    herder = FakeHerder()
    entered = threading.Event()
    original = herder.connectors

    def slow() -> list[str]:
        entered.set()
        time.sleep(0.5)
        return original()

    herder.connectors = slow  # type: ignore[method-assign]
    server = RestServer(app_for(herder), "127.0.0.1", 0, shutdown_timeout=5)
    server.start()
    result: list[Any] = []
    t = threading.Thread(target=lambda: result.append(httpx.get(server.url + "/connectors", timeout=10)))
    t.start()
    assert entered.wait(5)
    server.stop()
    t.join(5)
    assert result and result[0].status_code == 200
    assert result[0].json() == []


def test_stop_is_bounded_when_a_request_hangs() -> None:
    herder = FakeHerder()
    entered, release = threading.Event(), threading.Event()

    def stuck() -> list[str]:
        entered.set()
        release.wait(30)
        return []

    herder.connectors = stuck  # type: ignore[method-assign]
    server = RestServer(app_for(herder), "127.0.0.1", 0, shutdown_timeout=1)
    server.start()
    client = threading.Thread(
        target=lambda: _quietly(lambda: httpx.get(server.url + "/connectors", timeout=30))
    )
    client.start()
    try:
        assert entered.wait(5)
        began = time.monotonic()
        server.stop()
        assert time.monotonic() - began < 6
        assert not server.running
    finally:
        release.set()
        client.join(10)


def _quietly(fn: Any) -> None:
    try:
        fn()
    except httpx.HTTPError:
        pass
