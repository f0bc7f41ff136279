"""An Elasticsearch-API server for tests and benchmarks: noida-db (pip ``noida-db``, see ``INFRA.md``).

Resolution order (:func:`start_or_connect`):

1. ``HEADRACE_TEST_ELASTICSEARCH_URL`` (``http://[user:password@]host:port``) — an already running
   Elasticsearch (or compatible) server. It cannot be stopped by the tests: :attr:`EsServer.local` is
   False and restart tests skip.
2. The ``noida-db`` binary inside the installed package (not its wrapper script, which can leave the
   server running when stopped), started with ``--only elasticsearch`` on a free port, data in a
   temporary directory; it prints a harmless GLIBC warning.
3. Neither: :class:`EsUnavailable` and fixtures call ``require_or_skip`` (a failure under
   ``HEADRACE_REQUIRE_SERVERS=1``).

Never imported by product code.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tests.support.servers import free_port

URL_ENV = "HEADRACE_TEST_ELASTICSEARCH_URL"


class EsUnavailable(RuntimeError):
    pass


def noida_binary() -> str | None:
    try:
        import noida_db  # type: ignore[import-untyped]
    except ImportError:
        return None
    path = Path(noida_db.__file__).parent / "noida-db"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


@dataclass
class EsServer:
    """An Elasticsearch-API server; ``local`` ones are owned (stoppable, removed at close)."""

    url: str
    root: Path | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def local(self) -> bool:
        return self.root is not None

    def client(self, **kwargs: Any) -> Any:
        from elasticsearch import Elasticsearch

        return Elasticsearch(self.url, request_timeout=10, **kwargs)

    def new_index(self, hint: str = "t") -> str:
        """A unique, lowercase index (or topic) name."""
        return f"{hint}-{uuid.uuid4().hex[:10]}".lower()

    def start(self, timeout: float = 30.0) -> None:
        assert self.root is not None, "not a local server"
        binary = noida_binary()
        assert binary is not None
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - handed to the child process
        try:
            self.proc = subprocess.Popen(
                [
                    binary,
                    "start",
                    "--data-dir",
                    str(self.root / "data"),
                    "--host",
                    "127.0.0.1",
                    "--only",
                    "elasticsearch",
                    "--elasticsearch-port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise EsUnavailable(f"noida-db exited with {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise EsUnavailable(f"noida-db not ready after {timeout} s: {self.log_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_text(self) -> str:
        if self.root is None:
            return ""
        try:
            return (self.root / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        if self.root is None:
            return
        self.stop(kill=True)
        shutil.rmtree(self.root, ignore_errors=True)


def start_local() -> EsServer:
    if noida_binary() is None:
        raise EsUnavailable("noida-db is not installed (pip install noida-db)")
    port = free_port()
    server = EsServer(f"http://127.0.0.1:{port}", Path(tempfile.mkdtemp(prefix="headrace-es-")), port)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


def start_or_connect() -> EsServer:
    """The server given by :data:`URL_ENV`, else a local throwaway noida-db; the caller closes it."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        try:
            with urllib.request.urlopen(url, timeout=5):
                pass
        except (OSError, urllib.error.URLError) as exc:
            raise EsUnavailable(f"{URL_ENV} server not reachable: {exc}") from exc
        parsed = urlparse(url)
        return EsServer(url, port=parsed.port or 9200)
    return start_local()
