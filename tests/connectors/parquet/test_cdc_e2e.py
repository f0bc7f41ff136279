"""PostgreSQL -> PostgresSource -> topic -> ParquetSink -> a table pyarrow.dataset can query, in one real
``headrace standalone`` worker: the snapshot, an update and a delete arrive as flattened change rows
(``__op``, ``__lsn``, ``__deleted``), and replaying the change log gives the database's current rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from tests.connectors.parquet.helpers import committed_files
from tests.support.brokers import BrokerUnderTest
from tests.support.connect import ConnectWorker, start_connect_worker, wait_until, write_connector_file
from tests.support.postgres import PostgresServer, PostgresUnavailable, start_or_connect
from tests.support.require import require_or_skip


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    try:
        server = start_or_connect()
    except PostgresUnavailable as exc:
        require_or_skip(f"PostgreSQL not available: {exc}")
    try:
        yield server
    finally:
        server.close()


def test_postgres_changes_become_a_queryable_parquet_table(
    broker: BrokerUnderTest, tmp_path: Path, postgres: PostgresServer
) -> None:
    with postgres.database() as db:
        with postgres.connect(db) as conn:
            conn.execute("CREATE TABLE items (id int PRIMARY KEY, label text, price double precision)")
            conn.execute("ALTER TABLE items REPLICA IDENTITY FULL")
            conn.execute("INSERT INTO items VALUES (1, 'one', 1.5), (2, 'two', 2.5), (3, 'three', 3.5)")
        prefix = f"cdc{uuid.uuid4().hex[:8]}"
        topic = f"{prefix}.public.items"
        store = tmp_path / "lake"
        source = {
            **postgres.connector_config(db),
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "topic.prefix": prefix,
            "table.include.list": "public.items",
            "slot.name": f"slot_{uuid.uuid4().hex[:10]}",
            "poll.interval.ms": "100",
            "value.converter": "JsonConverter",
            "value.converter.schemas.enable": "true",
        }
        sink = {
            "connector.class": "ParquetSink",
            "topics": topic,
            "store.url": f"file://{store}",
            "flush.size": "100",
            "rotate.schedule.interval.ms": "500",
            "value.converter": "JsonConverter",
            "value.converter.schemas.enable": "true",
        }
        files = [
            write_connector_file(tmp_path / "pg.json", "pg", source),
            write_connector_file(tmp_path / "pq.json", "pq", sink),
        ]
        worker: ConnectWorker = start_connect_worker(broker.bootstrap, tmp_path / "w", connector_files=files)
        try:
            healthy = worker.healthy("pg", "pq")
            local = pafs.LocalFileSystem()

            def rows() -> list[dict[str, object]]:
                if not committed_files(local, str(store), topic):
                    return []
                return list(
                    ds.dataset(str(store / topic), format="parquet", partitioning="hive")
                    .to_table()
                    .to_pylist()
                )

            wait_until("the snapshot in Parquet", lambda: len(rows()) >= 3, 60, alive=healthy)
            with postgres.connect(db) as conn:
                conn.execute("UPDATE items SET label = 'uno', price = 1.0 WHERE id = 1")
                conn.execute("DELETE FROM items WHERE id = 2")
            wait_until("the update and the delete in Parquet", lambda: len(rows()) >= 5, 60, alive=healthy)
        finally:
            worker.close()
        table = ds.dataset(str(store / topic), format="parquet", partitioning="hive").to_table()
        assert {"id", "label", "price", "__op", "__lsn", "__deleted"} <= set(table.schema.names)
        log = table.sort_by([("__lsn", "ascending")]).to_pylist() if table.num_rows else []
        ops = sorted((r["id"], r["__op"]) for r in log)
        assert ops == [(1, "r"), (1, "u"), (2, "d"), (2, "r"), (3, "r")], ops
        state: dict[object, dict[str, object]] = {}
        for r in sorted(log, key=lambda r: (r["__op"] != "r", r["__lsn"] or 0)):
            if r["__deleted"]:
                state.pop(r["id"], None)
            else:
                state[r["id"]] = {"label": r["label"], "price": r["price"]}
        with postgres.connect(db) as conn:
            current = {
                i: {"label": label, "price": price} for i, label, price in conn.execute("SELECT * FROM items")
            }
        assert state == current
