"""Plain connections to MySQL/MariaDB: credentials, pre-flight checks with what to fix, the captured
tables and their ``SHOW CREATE TABLE``, binlog positions. Used by the connector (``start``,
``validate``) and the task (task thread)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pymysql

from connect.api.errors import ConnectException
from connectors.mysql.config import Settings

_ACCESS_DENIED = 1045
_UNKNOWN_DB = 1049


class CredentialsError(ConnectException):
    """The server rejected the user or password."""


class UnreachableError(ConnectException):
    """No connection to the server at all."""


def where(settings: Settings) -> str:
    return f"MySQL at {settings.hostname}:{settings.port}"


def connect(settings: Settings, **extra: Any) -> pymysql.connections.Connection[Any]:
    """A connection, or a :class:`ConnectException` saying what to fix (never the password)."""
    try:
        return pymysql.connect(**settings.connect_args(), autocommit=True, **extra)
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else 0
        reason = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code == _ACCESS_DENIED:
            raise CredentialsError(
                f"{where(settings)} rejected the credentials of user '{settings.user}' ({reason}): check "
                "database.user and database.password"
            ) from None
        raise UnreachableError(
            f"Cannot connect to {where(settings)} ({reason}): check database.hostname and database.port, "
            "and that the server accepts TCP connections"
        ) from None


def variables(conn: pymysql.connections.Connection[Any], *names: str) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN (" + ",".join(["%s"] * len(names)) + ")", names
        )
        return {str(k).lower(): str(v) for k, v in cur.fetchall()}


@dataclass(frozen=True)
class ServerInfo:
    version: str
    mariadb: bool
    server_id: int


def server_info(conn: pymysql.connections.Connection[Any]) -> ServerInfo:
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION(), @@server_id")
        row = cur.fetchone()
    assert row is not None
    return ServerInfo(str(row[0]), "mariadb" in str(row[0]).lower(), int(row[1]))


def binlog_problems(conn: pymysql.connections.Connection[Any], settings: Settings) -> list[str]:
    """What keeps the server from change data capture, each with what to fix."""
    v = variables(conn, "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata")
    problems = []
    server = where(settings)
    if v.get("log_bin", "OFF").upper() != "ON":
        problems.append(
            f"{server} does not write a binary log (log_bin=OFF): start the server with log-bin (and "
            "binlog_format=ROW, binlog_row_image=FULL)"
        )
        return problems
    fmt = v.get("binlog_format", "").upper()
    if fmt != "ROW":
        problems.append(
            f"{server} runs with binlog_format={fmt}, but change data capture needs ROW: set "
            "binlog_format=ROW in the server configuration (or SET GLOBAL binlog_format=ROW, then restart "
            "the connector)"
        )
    image = v.get("binlog_row_image", "").upper()
    if image and image != "FULL":
        problems.append(
            f"{server} runs with binlog_row_image={image}, but change events need full before and after "
            "images: set binlog_row_image=FULL in the server configuration (or SET GLOBAL "
            "binlog_row_image=FULL, then restart the connector)"
        )
    metadata = v.get("binlog_row_metadata", "").upper()
    if metadata and metadata != "FULL":
        problems.append(
            f"{server} runs with binlog_row_metadata={metadata}, but decoding binlog rows with the schema "
            "they were written with needs FULL: set binlog_row_metadata=FULL in the server configuration "
            "(or SET GLOBAL binlog_row_metadata=FULL, then restart the connector)"
        )
    return problems


_GRANT_PRIVS = re.compile(r"^GRANT (.+?) ON (\S+) TO ", re.IGNORECASE)


def missing_privileges(conn: pymysql.connections.Connection[Any], settings: Settings) -> list[str]:
    """The replication privileges the user lacks (REPLICATION SLAVE, REPLICATION CLIENT)."""
    with conn.cursor() as cur:
        cur.execute("SHOW GRANTS FOR CURRENT_USER()")
        grants = [str(r[0]) for r in cur.fetchall()]
    held: set[str] = set()
    for grant in grants:
        m = _GRANT_PRIVS.match(grant)
        if m and m.group(2) in ("*.*", "`*`.`*`"):
            held |= {p.strip().upper() for p in m.group(1).split(",")}
    if "ALL PRIVILEGES" in held or "ALL" in held:
        return []
    missing = []
    if "REPLICATION SLAVE" not in held and "REPLICATION REPLICA" not in held:
        missing.append("REPLICATION SLAVE")
    if not held & {"REPLICATION CLIENT", "BINLOG MONITOR", "SUPER"}:
        missing.append("REPLICATION CLIENT")
    return missing


def check_privileges(conn: pymysql.connections.Connection[Any], settings: Settings) -> None:
    missing = missing_privileges(conn, settings)
    if missing:
        raise ConnectException(
            f"User '{settings.user}' lacks the {' and '.join(missing)} privilege(s) needed to read the "
            f"binlog of {where(settings)}: GRANT {', '.join(missing)} ON *.* TO '{settings.user}'@'<host>'"
        )


def preflight(settings: Settings) -> None:
    """Everything a running connector needs, checked over one connection; raises with what to fix."""
    conn = connect(settings)
    try:
        problems = binlog_problems(conn, settings)
        if problems:
            raise ConnectException("; ".join(problems))
        check_privileges(conn, settings)
    finally:
        conn.close()


def binary_logs(conn: pymysql.connections.Connection[Any]) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        return [str(r[0]) for r in cur.fetchall()]


def master_status(conn: pymysql.connections.Connection[Any]) -> tuple[str, int]:
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
    if row is None:
        raise ConnectException("SHOW MASTER STATUS returned nothing: is the binary log enabled (log_bin)?")
    return str(row[0]), int(row[1])


def gtid_executed(conn: pymysql.connections.Connection[Any], mariadb: bool) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT @@gtid_binlog_pos" if mariadb else "SELECT @@global.gtid_executed")
        row = cur.fetchone()
    return str(row[0] or "") if row else ""


@dataclass(frozen=True)
class TableRef:
    db: str
    name: str
    estimated_rows: int

    @property
    def qualified(self) -> str:
        return f"{self.db}.{self.name}"


def captured_tables(conn: pymysql.connections.Connection[Any], settings: Settings) -> list[TableRef]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES "
            "WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME"
        )
        rows = cur.fetchall()
    return [TableRef(str(d), str(t), int(n)) for d, t, n in rows if settings.table_included(str(d), str(t))]


def show_create(conn: pymysql.connections.Connection[Any], table: TableRef) -> str:
    with conn.cursor() as cur:
        cur.execute(f"SHOW CREATE TABLE {quote(table.db)}.{quote(table.name)}")
        row = cur.fetchone()
    assert row is not None
    return str(row[1])


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
