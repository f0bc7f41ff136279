"""Catalog queries and pre-flight checks over a regular psycopg connection.

Used by the connector (``validate``: can we connect, is ``wal_level`` logical; ``start``: that, and do
the listed tables exist, is the slot ours) and by the task (table columns, primary keys, types, the
publication, the slot). Every failure becomes a :class:`~connect.api.errors.ConnectException` (or,
in ``validate``, a message on the config key to fix) that says what to fix; no message contains the
password.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg import sql

from connect.api.errors import ConnectException
from connectors.postgres.config import Settings
from connectors.postgres.types import SESSION_OPTIONS, TypeInfo

log = logging.getLogger("connectors.postgres")


def _where(settings: Settings) -> str:
    return f"{settings.hostname}:{settings.port}"


@dataclass(frozen=True)
class ConnectProblem:
    """Why a connection attempt failed: what to fix, and the config keys it is about."""

    message: str
    keys: tuple[str, ...]


def diagnose_connect_error(settings: Settings, exc: psycopg.Error) -> ConnectProblem:
    """A message that says what to fix for a failed connection attempt, and the keys to fix."""
    text = str(exc).strip()
    where = _where(settings)
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return ConnectProblem(
            f"PostgreSQL at {where} rejected the credentials of user '{settings.user}' (password "
            "authentication failed): check database.user and database.password",
            ("database.password",),
        )
    if "database" in lowered and "does not exist" in lowered:
        return ConnectProblem(
            f"database '{settings.dbname}' does not exist on PostgreSQL at {where}: check database.dbname",
            ("database.dbname",),
        )
    if "role" in lowered and "does not exist" in lowered:
        return ConnectProblem(
            f"user '{settings.user}' does not exist on PostgreSQL at {where}: check database.user",
            ("database.user",),
        )
    if "replication" in lowered and (
        "permission" in lowered or "must be superuser" in lowered or "pg_hba" in lowered
    ):
        return ConnectProblem(
            f"user '{settings.user}' may not open a replication connection to PostgreSQL at {where}: "
            f"ALTER ROLE {settings.user} WITH REPLICATION (and allow replication in pg_hba.conf). "
            f"Server said: {text}",
            ("database.user",),
        )
    unresolved = "could not translate host name" in lowered
    if unresolved or "refused" in lowered or "timeout" in lowered:
        return ConnectProblem(
            f"cannot reach PostgreSQL at {where}: {text}. Check database.hostname and database.port, and "
            "that the server is running",
            ("database.hostname",) if unresolved else ("database.hostname", "database.port"),
        )
    return ConnectProblem(
        f"cannot connect to PostgreSQL at {where} as '{settings.user}': {text}", ("database.hostname",)
    )


def explain_connect_error(settings: Settings, exc: psycopg.Error) -> ConnectException:
    """:func:`diagnose_connect_error` as the exception the connector and task raise."""
    return ConnectException(diagnose_connect_error(settings, exc).message)


def connect(settings: Settings, replication: bool = False) -> psycopg.Connection[Any]:
    """An autocommit connection with the session settings the text converters expect."""
    try:
        return psycopg.connect(autocommit=True, options=SESSION_OPTIONS, **settings.conninfo(replication))
    except psycopg.Error as exc:
        raise explain_connect_error(settings, exc) from None


def check_wal_level(conn: psycopg.Connection[Any], settings: Settings) -> None:
    row = conn.execute("SHOW wal_level").fetchone()
    level = row[0] if row else "?"
    if level != "logical":
        raise ConnectException(
            f"PostgreSQL at {_where(settings)} runs with wal_level={level}, but change data capture needs "
            "wal_level=logical: set wal_level = logical in postgresql.conf (or run ALTER SYSTEM SET "
            "wal_level = logical) and restart PostgreSQL"
        )


VALIDATE_TIMEOUT_S = 5.0  # validate() waits at most this long for the server (or database.connect.timeout.ms)


def check_connection(settings: Settings) -> list[tuple[str, str]]:
    """What ``validate()`` reports about the database: ``(config key, message)`` per problem, none if
    PostgreSQL accepts the connection and runs with ``wal_level=logical``. Waits at most
    :data:`VALIDATE_TIMEOUT_S`; no message contains the password."""
    quick = replace(settings, connect_timeout_s=min(settings.connect_timeout_s, VALIDATE_TIMEOUT_S))
    try:
        conn = psycopg.connect(autocommit=True, **quick.conninfo())
    except psycopg.Error as exc:
        problem = diagnose_connect_error(quick, exc)
        return [(key, _without_password(problem.message, settings)) for key in problem.keys]
    try:
        check_wal_level(conn, settings)
    except ConnectException as exc:
        return [("database.hostname", str(exc))]
    except psycopg.Error as exc:
        message = f"cannot query PostgreSQL at {_where(settings)}: {str(exc).strip()}"
        return [("database.hostname", _without_password(message, settings))]
    finally:
        conn.close()
    return []


def _without_password(message: str, settings: Settings) -> str:
    return message.replace(settings.password, "[hidden]") if settings.password else message


@dataclass(frozen=True)
class TableRef:
    schema: str
    name: str
    oid: int

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def ident(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.name))


_TABLES = """
SELECT n.nspname, c.relname, c.oid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
  AND n.nspname NOT LIKE 'pg_temp%%'
ORDER BY n.nspname, c.relname
"""


def captured_tables(conn: psycopg.Connection[Any], settings: Settings) -> list[TableRef]:
    """The tables the configuration selects; raises if a plainly named include entry matches nothing."""
    all_tables = [TableRef(s, n, o) for s, n, o in conn.execute(_TABLES).fetchall()]
    names = {t.qualified for t in all_tables}
    missing = [n for n in settings.table_include_names if n not in names]
    if missing:
        raise ConnectException(
            f"table.include.list names table(s) that do not exist in database '{settings.dbname}': "
            f"{', '.join(missing)}. Create them or fix table.include.list"
        )
    return [t for t in all_tables if settings.table_included(t.qualified)]


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type_oid: int
    typmod: int
    not_null: bool
    pk_position: int  # 1-based position in the primary key, 0 if not part of it
    type_sql: str  # format_type(), for casts of snapshot resume keys


_COLUMNS = """
SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull,
       COALESCE((SELECT k.n FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                 WHERE k.attnum = a.attnum), 0),
       format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
"""


def table_columns(conn: psycopg.Connection[Any], oid: int) -> list[ColumnInfo]:
    rows = conn.execute(_COLUMNS, (oid,)).fetchall()
    return [ColumnInfo(r[0], r[1], r[2], r[3], int(r[4]), r[5]) for r in rows]


def table_by_oid(conn: psycopg.Connection[Any], oid: int) -> TableRef | None:
    row = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = %s",
        (oid,),
    ).fetchone()
    return TableRef(row[0], row[1], oid) if row else None


class TypeCache:
    """``oid -> TypeInfo`` from pg_type (and pg_enum), cached; reads through ``conn`` on a miss."""

    def __init__(self, conn_factory: Any) -> None:
        self._conn_factory = conn_factory
        self._cache: dict[int, TypeInfo | None] = {}

    def forget(self, oid: int) -> None:
        self._cache.pop(oid, None)

    def __call__(self, oid: int) -> TypeInfo | None:
        if oid in self._cache:
            return self._cache[oid]
        conn: psycopg.Connection[Any] = self._conn_factory()
        row = conn.execute(
            "SELECT typname, typtype, typelem, typbasetype, typcategory FROM pg_type WHERE oid = %s", (oid,)
        ).fetchone()
        info: TypeInfo | None = None
        if row is not None:
            name, kind, elem, base, category = row
            labels: tuple[str, ...] = ()
            if kind == "e":
                labels = tuple(
                    r[0]
                    for r in conn.execute(
                        "SELECT enumlabel FROM pg_enum WHERE enumtypid = %s ORDER BY enumsortorder", (oid,)
                    ).fetchall()
                )
            info = TypeInfo(oid, name, kind, elem if category == "A" else 0, base, labels)
        self._cache[oid] = info
        return info


# Changes of a partitioned table's partitions are published as changes of the partitioned table, which
# is what the snapshot reads and what the topic is named after.
_VIA_ROOT = sql.SQL("WITH (publish_via_partition_root = true)")


def ensure_publication(conn: psycopg.Connection[Any], settings: Settings, tables: list[TableRef]) -> None:
    """Create the publication per ``publication.autocreate.mode`` (or check that it exists)."""
    name = settings.publication_name
    row = conn.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", (name,)).fetchone()
    mode = settings.publication_autocreate
    ident = sql.Identifier(name)
    if mode == "disabled":
        if row is None:
            raise ConnectException(
                f"publication '{name}' does not exist in database '{settings.dbname}' and "
                "publication.autocreate.mode=disabled: CREATE PUBLICATION it, or set "
                "publication.autocreate.mode to all_tables or filtered"
            )
        return
    try:
        if mode == "all_tables":
            if row is None:
                conn.execute(sql.SQL("CREATE PUBLICATION {} FOR ALL TABLES {}").format(ident, _VIA_ROOT))
                log.info("Created publication %s FOR ALL TABLES", name)
            return
        # filtered: the publication lists exactly the captured tables
        listed = sql.SQL(", ").join(t.ident() for t in tables)
        if row is None:
            if tables:
                conn.execute(
                    sql.SQL("CREATE PUBLICATION {} FOR TABLE {} {}").format(ident, listed, _VIA_ROOT)
                )
            else:
                conn.execute(sql.SQL("CREATE PUBLICATION {} {}").format(ident, _VIA_ROOT))
            log.info("Created publication %s for %d table(s)", name, len(tables))
        elif row[0]:
            log.warning(
                "Publication %s publishes ALL TABLES; publication.autocreate.mode=filtered ignored", name
            )
        elif tables:
            conn.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(ident, listed))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConnectException(
            f"user '{settings.user}' may not create or alter publication '{name}' ({exc}): create it as a "
            "superuser and set publication.autocreate.mode=disabled, or grant the rights"
        ) from None


@dataclass(frozen=True)
class SlotInfo:
    plugin: str | None
    database: str | None
    confirmed_flush: str | None
    active_pid: int | None


def slot_info(conn: psycopg.Connection[Any], slot: str) -> SlotInfo | None:
    row = conn.execute(
        "SELECT plugin, database, confirmed_flush_lsn::text, active_pid FROM pg_replication_slots "
        "WHERE slot_name = %s",
        (slot,),
    ).fetchone()
    return SlotInfo(*row) if row else None


def preflight(settings: Settings) -> list[TableRef]:
    """What the connector checks in ``start()``: connection, wal_level, tables. Returns the tables."""
    with connect(settings) as conn:
        check_wal_level(conn, settings)
        tables = captured_tables(conn, settings)
        info = slot_info(conn, settings.slot_name)
        if info is not None and (info.plugin != "pgoutput" or info.database != settings.dbname):
            raise ConnectException(
                f"replication slot '{settings.slot_name}' exists but belongs to database '{info.database}' "
                f"with plugin '{info.plugin}': choose another slot.name or drop that slot"
            )
        return tables
