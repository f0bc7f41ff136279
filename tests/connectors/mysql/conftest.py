"""Fixtures for MySqlSource tests: one throwaway MariaDB per session (``tests/support/mariadb.py``), a
fresh database per test, and helpers that run the task in-process with the ``connect.testing`` fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mariadb import MariaDbServer


@pytest.fixture
def my(mariadb_server: MariaDbServer) -> MariaDbServer:
    return mariadb_server


@pytest.fixture
def my_db(mariadb_server: MariaDbServer) -> Iterator[str]:
    """A fresh database for the test (dropped afterwards)."""
    with mariadb_server.database() as name:
        yield name


@pytest.fixture
def my_config(mariadb_server: MariaDbServer, my_db: str, tmp_path: Path) -> dict[str, str]:
    """A MySqlSource config capturing ``my_db`` with a file schema history in ``tmp_path``."""
    return {
        **mariadb_server.connector_config(),
        "topic.prefix": "srv",
        "database.include.list": my_db,
        "poll.interval.ms": "100",
        "schema.history.internal": "io.debezium.storage.file.history.FileSchemaHistory",
        "schema.history.internal.file.filename": str(tmp_path / "history.jsonl"),
    }
