"""The standard ``connect.testing`` suites for PostgresSource and its task, against a real PostgreSQL,
plus the connector's own validation (fields, then the connection) and pre-flight messages."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from connect.api.errors import ConnectException
from connect.testing import ConnectorTests, FakeSourceConnectorContext, SourceTaskTests
from connectors.postgres import PostgresSource, PostgresSourceTask
from connectors.postgres.catalog import VALIDATE_TIMEOUT_S
from tests.connectors.postgres.conftest import execute
from tests.support.postgres import PostgresServer
from tests.support.servers import free_port


class TestPostgresSourceConnector(ConnectorTests):
    connector_class = PostgresSource

    @pytest.fixture(autouse=True)
    def _database(self, pg: PostgresServer, pg_db: str, pg_config: dict[str, str]) -> None:
        self._config = pg_config

    def connector_config(self, tmp_path: Path) -> dict[str, str]:
        return dict(self._config)


class TestPostgresSourceTask(SourceTaskTests):
    task_class = PostgresSourceTask
    stop_timeout = 1.0

    @pytest.fixture(autouse=True)
    def _database(self, pg: PostgresServer, pg_db: str, pg_config: dict[str, str]) -> None:
        self._pg, self._db, self._config = pg, pg_db, {**pg_config, "snapshot.fetch.size": "7"}

    def task_config(self, tmp_path: Path) -> dict[str, str]:
        return dict(self._config)

    def prepare(self, tmp_path: Path, config: dict[str, str]) -> None:
        execute(
            self._pg,
            self._db,
            "CREATE TABLE t (id int PRIMARY KEY, v text)",
            "INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 20) i",
        )

    def add_data(self, tmp_path: Path, config: dict[str, str]) -> bool:
        execute(self._pg, self._db, "INSERT INTO t VALUES (100, 'new')")
        return True


def _validate_errors(config: dict[str, str]) -> dict[str, list[str]]:
    return PostgresSource().validate(config).errors()


def test_validation_reports_per_field_errors_and_hides_the_password(pg_config: dict[str, str]) -> None:
    errors = _validate_errors(
        {
            **pg_config,
            "database.port": "99999",
            "snapshot.mode": "sometimes",
            "slot.name": "Bad-Slot",
            "table.include.list": "public.(",
            "database.password": "s3cret-value",
        }
    )
    assert set(errors) == {"database.port", "snapshot.mode", "slot.name", "table.include.list"}, errors
    assert "s3cret-value" not in repr(errors)
    assert set(_validate_errors({})) >= {
        "database.hostname",
        "database.user",
        "database.dbname",
        "topic.prefix",
    }
    from connectors.postgres.config import CONFIG

    assert CONFIG.mask({"database.password": "s3cret-value"}) == {"database.password": "[hidden]"}


def test_validate_tries_the_connection_and_names_the_key_to_fix(
    pg: PostgresServer, pg_config: dict[str, str]
) -> None:
    """As Debezium: validate() connects (briefly) and reports the problem on the key to fix; the
    password appears in no message."""
    assert _validate_errors(pg_config) == {}
    errors = _validate_errors({**pg_config, "database.password": "not-the-password"})
    assert list(errors) == ["database.password"], errors
    assert "rejected the credentials of user 'postgres'" in errors["database.password"][0], errors
    assert "not-the-password" not in repr(errors)
    errors = _validate_errors({**pg_config, "database.dbname": "no_such_db"})
    assert list(errors) == ["database.dbname"], errors
    assert "database 'no_such_db' does not exist" in errors["database.dbname"][0], errors
    errors = _validate_errors({**pg_config, "database.user": "no_such_user"})
    assert list(errors) in (["database.user"], ["database.password"]), errors  # scram hides unknown roles
    errors = _validate_errors({**pg_config, "database.port": str(free_port())})
    assert set(errors) == {"database.hostname", "database.port"}, errors
    assert "cannot reach PostgreSQL" in errors["database.port"][0], errors
    # a config provider reference is resolved only when the connector runs: nothing to try yet
    assert _validate_errors({**pg_config, "database.password": "${env:HEADRACE_NO_SUCH_VAR}"}) == {}


def test_validate_gives_up_after_a_short_timeout(pg_config: dict[str, str]) -> None:
    """A server that accepts TCP but never answers: validate() returns within VALIDATE_TIMEOUT_S (not
    database.connect.timeout.ms) with the problem on the host and port."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        config = {
            **pg_config,
            "database.hostname": "127.0.0.1",
            "database.port": str(silent.getsockname()[1]),
            "database.connect.timeout.ms": "60000",
        }
        started = time.monotonic()
        errors = _validate_errors(config)
        elapsed = time.monotonic() - started
    assert elapsed < VALIDATE_TIMEOUT_S + 3, elapsed
    assert set(errors) == {"database.hostname", "database.port"}, errors
    assert "timeout" in errors["database.hostname"][0], errors


def test_start_says_what_to_fix(pg: PostgresServer, pg_config: dict[str, str]) -> None:
    """What start() checks (also for problems that appear after the connector was created)."""
    wrong = {**pg_config, "database.password": "not-the-password"}
    connector = PostgresSource()
    connector.initialize(FakeSourceConnectorContext())
    with pytest.raises(ConnectException, match="rejected the credentials of user 'postgres'"):
        connector.start(wrong)
    missing = {**pg_config, "table.include.list": "public.nope,public.t.*"}
    with pytest.raises(
        ConnectException,
        match=r"do not exist in database .*: public\.nope\. Create them or fix table\.include\.list",
    ):
        connector.start(missing)
    with pytest.raises(ConnectException, match=r"check database\.dbname"):
        connector.start({**pg_config, "database.dbname": "no_such_db"})
