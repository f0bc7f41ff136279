"""``RestServer``: the REST app served by uvicorn on a background thread (used by the worker CLI).

::

    server = RestServer(create_app(herder), "0.0.0.0", 8083)
    server.start()          # returns once the socket listens; server.port is the actual port
    ...
    server.stop()           # graceful, bounded by shutdown_timeout

The socket is bound by ``bind()`` (or ``start()``) itself, so a port in use fails there with ``OSError``
and port 0 picks a free port whose number is known before the server starts. Uvicorn's access log
(method, path, status; never bodies) goes to the ``uvicorn.access`` logger; logging configuration is left
to the application.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["RestServer"]


class RestServer:
    def __init__(
        self,
        app: Any,
        host: str = "0.0.0.0",
        port: int = 8083,
        *,
        shutdown_timeout: float = 10.0,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self.shutdown_timeout = shutdown_timeout
        self.access_log = access_log
        self._port: int | None = None
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- addresses -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (the one picked by the OS when constructed with port 0)."""
        if self._port is None:
            raise RuntimeError("RestServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` to reach this server (loopback when bound to every interface)."""
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle -----------------------------------------------------------------------------------

    def bind(self) -> int:
        """Bind the listening socket now (``start()`` does it if not done) and return the port: lets a
        worker learn the port picked for port 0 before it builds what needs it (its ``worker_id``)."""
        if self._socket is None:
            self._socket = self._bind()
            self._port = int(self._socket.getsockname()[1])
        return self.port

    def _bind(self) -> socket.socket:
        infos = socket.getaddrinfo(
            self.host or None, self._requested_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and self.host in ("", "::"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(address)
            sock.set_inheritable(True)
        except BaseException:
            sock.close()
            raise
        return sock

    def start(self, timeout: float = 30.0) -> None:
        """Bind, start serving on a background thread and return once the server accepts connections.

        OSError when the address cannot be bound; RuntimeError when the app fails to start in time."""
        if self._thread is not None:
            raise RuntimeError("RestServer already started")
        if self.app is None:
            raise RuntimeError("RestServer has no app to serve")
        self.bind()
        sock = self._socket
        assert sock is not None
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_config=None,
            access_log=self.access_log,
            lifespan="on",
            ws="none",
            server_header=False,
            timeout_graceful_shutdown=max(1, math.ceil(self.shutdown_timeout)),
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=self._run, args=(server, sock), name=f"rest-server-{self._port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive():
                self._cleanup()
                raise RuntimeError(f"REST server failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"REST server did not start within {timeout} s")
            time.sleep(0.005)

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as e:  # SystemExit from a failed lifespan startup included
            self._error = e

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting connections, let in-flight requests finish (at most ``shutdown_timeout``) and
        wait for the server thread (at most ``timeout``, default ``shutdown_timeout`` + 5 s). Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            self._cleanup()
            return
        server.should_exit = True
        thread.join(self.shutdown_timeout + 5.0 if timeout is None else timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(2.0)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._server = None
        self._thread = None

    def __enter__(self) -> RestServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
