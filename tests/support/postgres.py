"""A throwaway PostgreSQL 15 server for tests and benchmarks (see ``INFRA.md``).

Resolution order (:func:`start_or_connect`):

1. ``HEADRACE_TEST_POSTGRES_DSN`` — an already running server (it must run with ``wal_level=logical``
   and the DSN's user must be a superuser or have REPLICATION and CREATE rights). Such a server cannot be
   restarted by the tests: :attr:`PostgresServer.local` is False and restart tests skip.
2. The binaries in ``/usr/lib/postgresql/15/bin``: ``initdb`` in a temporary directory owned by the
   ``postgres`` OS user (PostgreSQL refuses to run as root), started with ``runuser -u postgres`` on a
   free port, ``wal_level=logical``, ``fsync=off``. TCP connections need a password (scram-sha-256), so a
   wrong password really fails; the Unix socket in the data directory trusts local users.
3. Neither: :func:`start_or_connect` raises :class:`PostgresUnavailable` and fixtures call
   ``require_or_skip`` (a failure under ``HEADRACE_REQUIRE_SERVERS=1``).

Never imported by product code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests.support.servers import free_port

DSN_ENV = "HEADRACE_TEST_POSTGRES_DSN"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "headrace-test-pw"


class PostgresUnavailable(RuntimeError):
    pass


def _run_as_postgres(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    cmd = ["runuser", "-u", "postgres", "--", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise PostgresUnavailable(
            f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr[-2000:]}"
        )
    return result


@dataclass
class PostgresServer:
    """A PostgreSQL server the tests may use; ``local`` servers are owned (restartable, removed at close)."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    data_dir: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return self.data_dir is not None

    def dsn(self, dbname: str | None = None, password: str | None = None) -> str:
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"password={self.password if password is None else password} dbname={dbname or self.dbname}"
        )

    def connect(self, dbname: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
        """An autocommit connection (the caller closes it)."""
        return psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=10, **kwargs)

    def connector_config(self, dbname: str) -> dict[str, str]:
        """The ``database.*`` keys of a PostgresSource pointing at ``dbname``."""
        return {
            "database.hostname": self.host,
            "database.port": str(self.port),
            "database.user": self.user,
            "database.password": self.password,
            "database.dbname": dbname,
        }

    # -- local servers only --------------------------------------------------------------------

    def _pg_ctl(self, *args: str, timeout: float = 60.0) -> None:
        assert self.data_dir is not None, "not a local server"
        _run_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), *args, timeout=timeout)

    def start(self) -> None:
        assert self.data_dir is not None, "not a local server"
        opts = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        self._pg_ctl(
            "-l",
            str(self.data_dir / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
            "-o",
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 {opts}",
        )

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` (or ``immediate``: a crash, no checkpoint)."""
        self._pg_ctl("-w", "-t", "60", "stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def log_text(self) -> str:
        if self.data_dir is None:
            return ""
        try:
            return (self.data_dir / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        if self.data_dir is None:
            return
        try:
            self._pg_ctl("-w", "-t", "30", "stop", "-m", "immediate")
        except PostgresUnavailable:
            pass
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    # -- per-test databases --------------------------------------------------------------------

    @contextmanager
    def database(self, prefix: str = "t") -> Iterator[str]:
        """A new empty database; dropped afterwards with every replication slot created in it."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield name
        finally:
            drop_database(self, name)


def drop_database(server: PostgresServer, name: str) -> None:
    """Terminate the database's sessions (walsenders included), drop its slots, then drop it."""
    with server.connect() as conn:
        deadline = time.monotonic() + 20
        while True:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            try:
                conn.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE database = %s",
                    (name,),
                )
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                return
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def start_local(settings: dict[str, str] | None = None) -> PostgresServer:
    """initdb + start a server from :data:`PG_BIN` (raises :class:`PostgresUnavailable` if impossible)."""
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        raise PostgresUnavailable(
            f"PostgreSQL 15 binaries not found in {PG_BIN} (apt-get install postgresql-15)"
        )
    root = Path(tempfile.mkdtemp(prefix="headrace-pg-"))
    os.chmod(root, 0o755)
    data = root / "data"
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    shutil.chown(root, "postgres")
    shutil.chown(pwfile, "postgres")
    try:
        _run_as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        server = PostgresServer(
            "127.0.0.1",
            free_port(),
            "postgres",
            PASSWORD,
            "postgres",
            data,
            {
                "wal_level": "logical",
                "max_replication_slots": "40",
                "max_wal_senders": "40",
                "max_connections": "200",
                "fsync": "off",
                "full_page_writes": "off",
                "wal_sender_timeout": "60s",
                **(settings or {}),
            },
        )
        server.start()
    except BaseException:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "stop",
                "-m",
                "immediate",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


def from_env() -> PostgresServer | None:
    dsn = os.environ.get(DSN_ENV, "").strip()
    if not dsn:
        return None
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    return PostgresServer(
        str(info.get("host", "127.0.0.1")),
        int(str(info.get("port") or 5432)),
        str(info.get("user", "postgres")),
        str(info.get("password", "")),
        str(info.get("dbname", "postgres")),
    )


def start_or_connect() -> PostgresServer:
    """The server given by :data:`DSN_ENV`, else a local throwaway one; the caller closes it."""
    server = from_env()
    if server is not None:
        try:
            with server.connect() as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise PostgresUnavailable(f"{DSN_ENV} server not reachable: {exc}") from exc
        return server
    return start_local()
