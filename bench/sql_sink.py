#!/usr/bin/env python3
"""SqlSink upsert throughput into PostgreSQL, side by side with the ceiling: a raw SQLAlchemy
``executemany`` of the same rows with the same ``INSERT … ON CONFLICT DO UPDATE`` statement, in batches
of ``batch.size``, one transaction per 500-row put — in the same run, against the same server (a
throwaway PostgreSQL started here, or HEADRACE_TEST_POSTGRES_DSN).

The sink runs in-process (SqlSinkTask with a fake context, as the runtime drives it): records are
Debezium-style keyed structs of a 6-field row (key ``{"id"}``), handed over in ``put()`` calls of 500;
a put returns once its transaction committed. Half of the keys repeat (updates). The runtime's consumer
and converter are not part of it (bench/connect_throughput.py measures those). One line per side, then
the ratio.

    python bench/sql_sink.py                # 200k rows
    python bench/sql_sink.py --records 50000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connect.api import Schema, SchemaBuilder, SinkRecord, Struct, TopicPartition
from connect.testing import FakeSinkTaskContext
from connectors.sql import SqlSinkTask
from tests.support.postgres import start_or_connect

KEY = SchemaBuilder.struct().name("bench.Key").field("id", Schema.INT64_SCHEMA).build()
ROW = (
    SchemaBuilder.struct()
    .name("bench.Order")
    .field("id", Schema.INT64_SCHEMA)
    .field("customer", Schema.STRING_SCHEMA)
    .field("status", Schema.STRING_SCHEMA)
    .field("qty", Schema.INT32_SCHEMA)
    .field("price", Schema.FLOAT64_SCHEMA)
    .field("note", Schema.OPTIONAL_STRING_SCHEMA)
    .build()
)
PUT = 500


def rows(n: int) -> list[dict[str, Any]]:
    keys = max(1, n // 2)
    return [
        {
            "id": i % keys,
            "customer": f"c{i % 997}",
            "status": "open",
            "qty": i % 13,
            "price": i * 0.5,
            "note": None,
        }
        for i in range(n)
    ]


def run_sink(url: str, password: str, data: list[dict[str, Any]], batch: int) -> float:
    config = {
        "connection.url": url,
        "connection.password": password,
        "topics": "orders",
        "table.name.format": "sink_orders",
        "insert.mode": "upsert",
        "pk.mode": "record_key",
        "auto.create": "true",
        "batch.size": str(batch),
    }
    tp = TopicPartition("orders", 0)
    records = [
        SinkRecord("orders", 0, KEY, Struct(KEY, {"id": r["id"]}), ROW, Struct(ROW, r), off)
        for off, r in enumerate(data)
    ]
    task = SqlSinkTask()
    task.initialize(FakeSinkTaskContext(config, assignment=[tp]))
    task.start(config)
    task.put(records[:1])  # creates the table (DDL) outside the clock
    t0 = time.perf_counter()
    for i in range(0, len(records), PUT):
        task.put(records[i : i + PUT])
    elapsed = time.perf_counter() - t0
    task.stop()
    return len(records) / elapsed


def run_raw(engine: sa.Engine, data: list[dict[str, Any]], batch: int) -> float:
    meta = sa.MetaData()
    table = sa.Table(
        "raw_orders",
        meta,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("customer", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Column("price", sa.Double, nullable=False),
        sa.Column("note", sa.Text),
    )
    meta.create_all(engine)
    ins = postgresql.insert(table)
    stmt = ins.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={c: ins.excluded[c] for c in ("customer", "status", "qty", "price", "note")},
    )
    t0 = time.perf_counter()
    for i in range(0, len(data), PUT):
        put = data[i : i + PUT]
        # the same per-put collapsing of repeated keys a database needs (ON CONFLICT cannot touch a row twice)
        put = list({r["id"]: r for r in put}.values())
        with engine.begin() as conn:
            for j in range(0, len(put), batch):
                conn.execute(stmt, put[j : j + batch])
    return len(data) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--batch-size", type=int, default=3000)
    args = ap.parse_args()
    pg = start_or_connect()
    try:
        with pg.database("bench") as db:
            url = f"postgresql+psycopg://{pg.user}@{pg.host}:{pg.port}/{db}"
            engine = sa.create_engine(sa.make_url(url).set(password=pg.password))
            data = rows(args.records)
            raw = run_raw(engine, data, args.batch_size)
            engine.dispose()
            got = run_sink(url, pg.password, data, args.batch_size)
            print(f"sql_upsert_raw   rows={args.records} put={PUT} rows_per_s={raw:,.0f}")
            print(
                f"sql_sink_upsert  rows={args.records} put={PUT} rows_per_s={got:,.0f} (target >= 20k/task)"
            )
            print(f"sql_sink/raw     ratio={got / raw:.2f} (target >= 0.80)")
    finally:
        pg.close()


if __name__ == "__main__":
    main()
