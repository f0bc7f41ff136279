"""Fixtures for PostgresSource tests: one throwaway PostgreSQL 15 server per session
(``tests/support/postgres.py``), a fresh database per test, and helpers that run the task in-process
with the ``connect.testing`` fakes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.postgres import PostgresServer


@pytest.fixture
def pg(postgres_server: PostgresServer) -> PostgresServer:
    return postgres_server


@pytest.fixture
def pg_db(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database for the test (dropped afterwards, with its replication slots)."""
    with postgres_server.database() as name:
        yield name


@pytest.fixture
def pg_config(postgres_server: PostgresServer, pg_db: str) -> dict[str, str]:
    """A PostgresSource config for ``pg_db`` with a slot name unique to the test."""
    return {
        **postgres_server.connector_config(pg_db),
        "topic.prefix": "srv",
        "slot.name": f"slot_{uuid.uuid4().hex[:10]}",
        "poll.interval.ms": "100",
    }


def execute(server: PostgresServer, dbname: str, *statements: str, params: Any = None) -> None:
    with server.connect(dbname) as conn:
        for statement in statements:
            conn.execute(statement, params)  # type: ignore[arg-type]
