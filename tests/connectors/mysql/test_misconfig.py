"""Misconfigurations fail with a message that says what to fix: validate() reports a wrong password
on database.password (POST /connectors answers 400), start() fails on binlog_format / binlog_row_image
/ missing replication privileges, and the task fails on a purged binlog position."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connect.api.errors import ConnectException
from connect.testing import InMemoryOffsetStorageReader
from connectors.mysql import MySqlSource
from tests.connectors.mysql.helpers import started_task
from tests.support.mariadb import MariaDbServer


def test_validate_reports_a_wrong_password_on_database_password(my_config: dict[str, str]) -> None:
    result = MySqlSource().validate({**my_config, "database.password": "WrongPassw0rd!"})
    errors = result.errors()
    assert list(errors) == ["database.password"], errors
    assert "rejected the credentials of user 'headrace'" in errors["database.password"][0]
    assert "check database.user and database.password" in errors["database.password"][0]
    assert "WrongPassw0rd!" not in str(errors)
    assert MySqlSource().validate(my_config).error_count == 0


def test_validate_reports_missing_schema_history_settings(my_config: dict[str, str]) -> None:
    config = {k: v for k, v in my_config.items() if not k.startswith("schema.history")}
    errors = MySqlSource().validate(config).errors()
    assert set(errors) == {
        "schema.history.internal.kafka.topic",
        "schema.history.internal.kafka.bootstrap.servers",
    }


@pytest.fixture
def global_variable(my: MariaDbServer) -> Iterator[None]:
    """Restores the server variables the test changes."""
    before = dict(
        my.query("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('binlog_format', 'binlog_row_image')")
    )
    try:
        yield
    finally:
        for name, value in before.items():
            my.execute(f"SET GLOBAL {name} = '{value}'")


def test_binlog_format_not_row_fails_with_what_to_fix(
    my: MariaDbServer, my_config: dict[str, str], global_variable: None
) -> None:
    my.execute("SET GLOBAL binlog_format = 'STATEMENT'")
    with pytest.raises(
        ConnectException, match="binlog_format=STATEMENT, but change data capture needs ROW: set"
    ):
        MySqlSource().start(my_config)


def test_binlog_row_image_not_full_fails_with_what_to_fix(
    my: MariaDbServer, my_config: dict[str, str], global_variable: None
) -> None:
    my.execute("SET GLOBAL binlog_row_image = 'MINIMAL'")
    with pytest.raises(ConnectException, match=r"binlog_row_image=MINIMAL, but .* set binlog_row_image=FULL"):
        MySqlSource().start(my_config)


def test_missing_replication_privileges_fail_with_the_grant_to_run(
    my: MariaDbServer, my_config: dict[str, str]
) -> None:
    with my.restricted_user(["SELECT, RELOAD ON *.*"], password="pw-1") as user:
        config = {**my_config, "database.user": user, "database.password": "pw-1"}
        with pytest.raises(ConnectException) as info:
            MySqlSource().start(config)
    message = str(info.value)
    assert "lacks the REPLICATION SLAVE and REPLICATION CLIENT privilege(s)" in message
    assert f"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{user}'" in message


def test_purged_binlog_position_fails_unless_when_needed(my_db: str, my_config: dict[str, str]) -> None:
    offsets = InMemoryOffsetStorageReader()
    offsets.set({"server": "srv"}, {"file": "binlog.999999", "pos": 4, "event": 0, "row": 0, "gtids": ""})
    with pytest.raises(
        ConnectException, match=r"binlog position binlog.999999:4 .* is no longer on .*\(purged"
    ):
        started_task(my_config, offsets)
    task = started_task({**my_config, "snapshot.mode": "when_needed"}, offsets)
    task.stop()


def test_example_config_is_valid_for_the_connector(my: MariaDbServer) -> None:
    import json
    from pathlib import Path

    example = json.loads(Path("examples/connectors/mysql-source.json").read_text())["config"]
    config = {**example, **my.connector_config()}
    result = MySqlSource().validate(config)
    assert result.error_count == 0, result.errors()
    assert example["connector.class"] in MySqlSource.aliases
