"""What SqlSource and SqlSink share about databases: engines, connection checks that say what to fix
(with the password masked), and the per-dialect differences (native upserts, column types, SQLite's
lack of a decimal type)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from connect.api.config import Config
from connect.api.errors import ConfigException
from connectors.sql.config import mask

__all__ = ["check_connection", "explain", "make_engine", "scrub"]

CONNECT_TIMEOUT_S = 5


def make_engine(url: URL, timeout_s: int = 10) -> Engine:
    """An engine for ``url``: pre-pinged pooled connections, a connect timeout, UTC sessions."""
    args: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend == "postgresql":
        args = {"connect_timeout": timeout_s, "options": "-c TimeZone=UTC"}
    elif backend in ("mysql", "mariadb"):
        args = {"connect_timeout": timeout_s, "init_command": "SET time_zone = '+00:00'"}
    elif backend == "sqlite":
        args = {"timeout": 30}
    return sa.create_engine(url, pool_pre_ping=True, connect_args=args, pool_size=2)


def scrub(text: str, url: URL) -> str:
    """``text`` with the URL's password (if any) replaced by ``***``."""
    if url.password:
        text = text.replace(str(url.password), "***")
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def explain(exc: BaseException, url: URL) -> tuple[str, str]:
    """The config key to fix and a one-line reason for a failure to connect to ``url``."""
    where = mask(url)
    raw = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = scrub(" ".join(str(raw).split()), url)[:400]
    low = text.lower()
    if isinstance(exc, NoSuchModuleError | ArgumentError | ImportError):
        return "connection.url", f"cannot use {where}: {text} (check the dialect+driver in connection.url)"
    if "password authentication failed" in low or "access denied" in low:
        return (
            "connection.password",
            f"the database at {where} rejected the credentials: {text}. "
            "Check connection.user and connection.password",
        )
    if ("database" in low and "does not exist" in low) or "unknown database" in low:
        return "connection.url", f"{text}: check the database name in connection.url ({where})"
    if "role" in low and "does not exist" in low:
        return "connection.user", f"{text}: check connection.user"
    if "unable to open database file" in low:
        return "connection.url", f"cannot open the SQLite file of {where}: {text}. Check the path"
    if any(w in low for w in ("connection refused", "can't connect", "could not translate", "timeout")):
        return "connection.url", f"cannot reach the database at {where}: {text}. Check host and port"
    return "connection.url", f"cannot connect to {where}: {text}"


def check_connection(url: URL) -> tuple[str, str] | None:
    """None when ``url`` accepts a connection (tried for at most a few seconds), else (key, reason)."""
    if url.get_backend_name() == "sqlite":
        db = url.database or ""
        if db and db != ":memory:" and not db.startswith("file:") and not Path(db).parent.exists():
            return "connection.url", f"the directory of the SQLite file {db} does not exist: fix the path"
    try:
        engine = make_engine(url, CONNECT_TIMEOUT_S)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        return explain(exc, url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except (SQLAlchemyError, OSError) as exc:
        return explain(exc, url)
    finally:
        engine.dispose()


def validate_connection(result: Config, configs: Mapping[str, str], url: Callable[[], URL]) -> Config:
    """A connector's ``validate()`` after the per-field checks passed: parse the settings (``url()``;
    a ConfigException lands on its key, else on ``connection.url``), then try the connection and put a
    problem on the key to fix. Skipped while a connection key is an unresolved ``${…}`` reference."""
    if result.error_count:
        return result
    by_name = {cv.name: cv for cv in result.config_values}
    try:
        target = url()
    except ConfigException as exc:
        by_name[exc.name if exc.name in by_name else "connection.url"].add_error_message(
            exc.reason or str(exc)
        )
        return result
    if any("${" in str(configs.get(k, "")) for k in ("connection.url", "connection.password")):
        return result
    problem = check_connection(target)
    if problem is not None:
        by_name[problem[0]].add_error_message(problem[1])
    return result
