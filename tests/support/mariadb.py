"""A throwaway MariaDB 10.11 server for tests and benchmarks (see ``INFRA.md``).

Resolution order (:func:`start_or_connect`):

1. ``HEADRACE_TEST_MYSQL_URL`` (``mysql://user:password@host:port``) — an already running MySQL or
   MariaDB with ``binlog_format=ROW``, ``binlog_row_image=FULL`` (and, on MariaDB,
   ``binlog_row_metadata=FULL``); the user needs every privilege (tests create databases and users).
   Such a server cannot be restarted by the tests: :attr:`MariaDbServer.local` is False.
2. The binaries ``mariadb-install-db`` and ``mariadbd`` (Debian's ``mariadb-server``): a data directory
   in a temporary directory, started on a free port with the binlog in ROW format. TCP logins of the
   test user need a password, so a wrong password really fails.
3. Neither: :class:`MariaDbUnavailable` and fixtures call ``require_or_skip`` (a failure under
   ``HEADRACE_REQUIRE_SERVERS=1``).

Never imported by product code.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pymysql

from tests.support.servers import free_port

URL_ENV = "HEADRACE_TEST_MYSQL_URL"
USER = "headrace"
PASSWORD = "headrace-test-pw"
DEFAULT_OPTIONS = {
    "binlog-format": "ROW",
    "binlog-row-image": "FULL",
    "binlog-row-metadata": "FULL",
    "server-id": "1",
    "innodb-flush-log-at-trx-commit": "2",
    "sync-binlog": "0",
    "innodb-buffer-pool-size": "64M",
    "max-connections": "200",
}


class MariaDbUnavailable(RuntimeError):
    pass


def _binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )


@dataclass
class MariaDbServer:
    """A MariaDB/MySQL server the tests may use; ``local`` servers are owned (restartable, removed)."""

    host: str
    port: int
    user: str
    password: str
    root: Path | None = None  # the temporary directory holding data dir, socket and log
    options: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def local(self) -> bool:
        return self.root is not None

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "not a local server"
        return self.root / "data"

    def connect(self, database: str | None = None, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        """An autocommit connection (the caller closes it)."""
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=kwargs.pop("user", self.user),
            password=kwargs.pop("password", self.password),
            database=database,
            autocommit=True,
            connect_timeout=10,
            charset="utf8mb4",
            **kwargs,
        )

    def execute(self, *statements: str, database: str | None = None) -> None:
        with self.connect(database) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def query(self, statement: str, database: str | None = None) -> list[tuple[Any, ...]]:
        with self.connect(database) as conn, conn.cursor() as cur:
            cur.execute(statement)
            return list(cur.fetchall())

    def connector_config(self) -> dict[str, str]:
        """The ``database.*`` keys of a MySqlSource pointing at this server."""
        return {
            "database.hostname": self.host,
            "database.port": str(self.port),
            "database.user": self.user,
            "database.password": self.password,
        }

    # -- local servers only --------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        assert self.root is not None, "not a local server"
        mariadbd = _binary("mariadbd")
        assert mariadbd is not None
        opts = [f"--{k}={v}" for k, v in self.options.items()]
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - handed to the child process
        try:
            self.proc = subprocess.Popen(
                [
                    mariadbd,
                    "--no-defaults",
                    "--user=root",
                    f"--datadir={self.data_dir}",
                    f"--socket={self.root / 'sock'}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    f"--log-bin={self.data_dir / 'binlog'}",
                    f"--pid-file={self.root / 'pid'}",
                    *opts,
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
                raise MariaDbUnavailable(
                    f"mariadbd exited with {self.proc.returncode}: {self.log_text()[-2000:]}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    pass
                with pymysql.connect(
                    unix_socket=str(self.root / "sock"), user="root", connect_timeout=2
                ) as conn:
                    conn.ping()
                return
            except (OSError, pymysql.err.OperationalError):
                if time.monotonic() > deadline:
                    raise MariaDbUnavailable(f"mariadbd not ready after {timeout} s") from None
                time.sleep(0.05)

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (a clean shutdown) or SIGKILL (a crash), and wait for the process to end."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, kill: bool = False) -> None:
        self.stop(kill)
        self.start()

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

    # -- per-test databases --------------------------------------------------------------------

    @contextmanager
    def database(self, prefix: str = "t") -> Iterator[str]:
        """A new empty database, dropped afterwards."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.execute(f"CREATE DATABASE `{name}`")
        try:
            yield name
        finally:
            self.execute(f"DROP DATABASE IF EXISTS `{name}`")

    @contextmanager
    def restricted_user(self, grants: Sequence[str], password: str = "other-pw") -> Iterator[str]:
        """A new user with only ``grants`` (e.g. ``"SELECT ON *.*"``), dropped afterwards."""
        name = f"u_{uuid.uuid4().hex[:8]}"
        self.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
        for grant in grants:
            self.execute(f"GRANT {grant} TO '{name}'@'%'")
        try:
            yield name
        finally:
            self.execute(f"DROP USER IF EXISTS '{name}'@'%'")


def start_local(options: dict[str, str] | None = None) -> MariaDbServer:
    """``mariadb-install-db`` + ``mariadbd`` in a temporary directory (MariaDbUnavailable if impossible)."""
    install = _binary("mariadb-install-db")
    if install is None or _binary("mariadbd") is None:
        raise MariaDbUnavailable("MariaDB binaries not found (apt-get install mariadb-server)")
    root = Path(tempfile.mkdtemp(prefix="headrace-mariadb-"))
    server = MariaDbServer(
        "127.0.0.1", free_port(), USER, PASSWORD, root, {**DEFAULT_OPTIONS, **(options or {})}
    )
    try:
        result = subprocess.run(
            [
                install,
                "--no-defaults",
                "--user=root",
                f"--datadir={server.data_dir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise MariaDbUnavailable(f"mariadb-install-db failed: {result.stderr[-2000:]}")
        server.start()
        admin = pymysql.connect(unix_socket=str(root / "sock"), user="root", autocommit=True)
        with admin, admin.cursor() as cur:
            cur.execute(f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
            cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%' WITH GRANT OPTION")
    except BaseException:
        server.close()
        raise
    return server


def from_env() -> MariaDbServer | None:
    url = os.environ.get(URL_ENV, "").strip()
    if not url:
        return None
    parsed = urlparse(url)
    return MariaDbServer(
        parsed.hostname or "127.0.0.1",
        parsed.port or 3306,
        unquote(parsed.username or "root"),
        unquote(parsed.password or ""),
    )


def start_or_connect() -> MariaDbServer:
    """The server given by :data:`URL_ENV`, else a local throwaway one; the caller closes it."""
    server = from_env()
    if server is not None:
        try:
            server.query("SELECT 1")
        except pymysql.err.MySQLError as exc:
            raise MariaDbUnavailable(f"{URL_ENV} server not reachable: {exc}") from exc
        return server
    return start_local()
