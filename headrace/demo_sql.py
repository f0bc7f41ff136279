"""The database part of ``headrace demo``: a SQLite table -> SqlSource -> the broker -> SqlSink -> a
second SQLite database, while rows are inserted and updated in the source; live progress, then a check
that both tables are equal. Nothing to install: SQLite ships with Python."""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

TOPIC_PREFIX = "demo.sql."
_CENT = decimal.Decimal("0.01")


def _now() -> str:
    """UTC now as SQLAlchemy writes SQLite timestamps (text that sorts and compares as time)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _rows(engine: sa.Engine, table: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        result = conn.execute(sa.text(f"SELECT id, customer, amount, updated FROM {table} ORDER BY id"))
        # NUMERIC(10, 2): SQLite keeps a REAL (8.309999…), the replica the exact text ('8.31')
        return [(r[0], r[1], decimal.Decimal(str(r[2])).quantize(_CENT), str(r[3])) for r in result]


def run_sql_pipeline(
    data_dir: Path,
    rows: int,
    add_connector: Callable[[dict[str, str]], None],
    progress: Callable[[str, int, int, float], None],
) -> str:
    """Runs the pipeline; returns the closing line, raises RuntimeError when the tables differ."""
    src_file, dst_file = data_dir / "shop.sqlite", data_dir / "replica.sqlite"
    src_file.unlink(missing_ok=True)
    dst_file.unlink(missing_ok=True)
    source = sa.create_engine(f"sqlite:///{src_file}", poolclass=sa.pool.NullPool)
    replica = sa.create_engine(f"sqlite:///{dst_file}", poolclass=sa.pool.NullPool)
    with source.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, "
                "amount NUMERIC(10, 2) NOT NULL, updated TIMESTAMP NOT NULL)"
            )
        )
    updates = rows // 4
    total_changes = rows + updates
    done = threading.Event()
    changed = [0]

    def write() -> None:  # inserts, and every 4th insert an update of an earlier row
        i = 0
        while i < rows:
            with source.begin() as conn:
                for _ in range(50):
                    if i >= rows:
                        break
                    i += 1
                    conn.execute(
                        sa.text("INSERT INTO orders VALUES (:id, :c, :a, :t)"),
                        {"id": i, "c": f"customer-{i % 97}", "a": f"{(i * 7.31) % 500:.2f}", "t": _now()},
                    )
                    changed[0] += 1
                    if i % 4 == 0:
                        conn.execute(
                            sa.text("UPDATE orders SET amount = amount + 1, updated = :t WHERE id = :id"),
                            {"id": i // 2, "t": _now()},
                        )
                        changed[0] += 1
            time.sleep(0.01)
        done.set()

    print(
        f"Pipeline 2: SQLite {src_file.name}.orders -> SqlSource (timestamp+incrementing) -> topic "
        f"{TOPIC_PREFIX}orders -> SqlSink (upsert) -> SQLite {dst_file.name}; {rows:,} inserts and "
        f"{updates:,} updates while it runs",
        flush=True,
    )
    writer = threading.Thread(target=write, name="demo-sql-writer", daemon=True)
    writer.start()
    json = {"key.converter": "JsonConverter", "value.converter": "JsonConverter"}
    add_connector(
        {
            "name": "demo-sql-source",
            "connector.class": "SqlSource",
            "connection.url": f"sqlite:///{src_file}",
            "table.include.list": "orders",
            "mode": "timestamp+incrementing",
            "incrementing.column.name": "id",
            "timestamp.column.name": "updated",
            "timestamp.delay.interval.ms": "100",
            "poll.interval.ms": "100",
            "batch.max.rows": "2000",
            "topic.prefix": TOPIC_PREFIX,
            **json,
        }
    )
    add_connector(
        {
            "name": "demo-sql-sink",
            "connector.class": "SqlSink",
            "connection.url": f"sqlite:///{dst_file}",
            "topics": f"{TOPIC_PREFIX}orders",
            "table.name.format": "orders",
            "insert.mode": "upsert",
            "pk.mode": "record_value",
            "pk.fields": "id",
            "auto.create": "true",
            **json,
        }
    )
    started = last = time.monotonic()
    deadline = started + max(120.0, rows / 200)
    equal = False
    copied = 0
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            copied = _count(replica)
        except sa.exc.OperationalError:
            copied = 0
        if time.monotonic() - last >= 1:
            last = time.monotonic()
            progress("replicated", copied, rows, started)
            print(f"            source changes made: {changed[0]:,}/{total_changes:,}", flush=True)
        if done.is_set() and copied >= rows:
            equal = _rows(source, "orders") == _rows(replica, "orders")
            if equal:
                break
    progress("replicated", copied, rows, started)
    writer.join(5)
    source.dispose()
    replica.dispose()
    if not equal:
        raise RuntimeError(f"the replica table differs from the source table ({copied:,} of {rows:,} rows)")
    took = time.monotonic() - started
    return (
        f"OK: the replica table equals the source table: {rows:,} rows after {total_changes:,} changes "
        f"(inserts and updates) in {took:.1f}s"
    )


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM orders")).scalar() or 0)
