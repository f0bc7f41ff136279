"""PostgreSQL -> PostgresSource -> topic -> ParquetSink -> a table pyarrow.dataset can query, in one real
``headrace standalone`` worker: the snapshot, an update and a delete arrive as flattened change rows
(``__op``, ``__lsn``, ``__deleted``), and replaying the change log gives the database's current rows."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
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


def start_pipeline(
    broker: BrokerUnderTest, tmp_path: Path, postgres: PostgresServer, db: str, table: str, source_class: str
) -> tuple[ConnectWorker, str, Path]:
    """A worker running PostgresSource (``source_class``) for ``public.<table>`` of ``db`` and a
    ParquetSink of its topic into ``tmp_path/lake``: (worker, topic, store)."""
    prefix = f"cdc{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.public.{table}"
    store = tmp_path / "lake"
    source = {
        **postgres.connector_config(db),
        "connector.class": source_class,
        "topic.prefix": prefix,
        "table.include.list": f"public.{table}",
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
    return start_connect_worker(broker.bootstrap, tmp_path / "w", connector_files=files), topic, store


def test_postgres_changes_become_a_queryable_parquet_table(
    broker: BrokerUnderTest, tmp_path: Path, postgres: PostgresServer
) -> None:
    with postgres.database() as db:
        with postgres.connect(db) as conn:
            conn.execute("CREATE TABLE items (id int PRIMARY KEY, label text, price double precision)")
            conn.execute("ALTER TABLE items REPLICA IDENTITY FULL")
            conn.execute("INSERT INTO items VALUES (1, 'one', 1.5), (2, 'two', 2.5), (3, 'three', 3.5)")
        worker, topic, store = start_pipeline(
            broker, tmp_path, postgres, db, "items", "io.debezium.connector.postgresql.PostgresConnector"
        )
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


def test_postgres_types_are_parquet_types_that_query_engines_use(
    broker: BrokerUnderTest, tmp_path: Path, postgres: PostgresServer
) -> None:
    """timestamptz, jsonb, numeric, numeric(10,2), date, time, timestamp and uuid columns arrive as
    timestamp[us, UTC], JSON, decimals, date32, time64, timestamp and string; pyarrow and DuckDB query
    them as such; a delete of a REPLICA IDENTITY DEFAULT table has nulls in its non-key columns."""
    duckdb = pytest.importorskip("duckdb")
    with postgres.database() as db:
        with postgres.connect(db) as conn:
            conn.execute(
                "CREATE TABLE typed (id int PRIMARY KEY, at timestamptz NOT NULL, doc jsonb, amount numeric,"
                " price numeric(10,2) NOT NULL, day date, t time, ts timestamp, uid uuid)"
            )
            conn.execute(
                "INSERT INTO typed VALUES"
                ' (1, \'2024-01-02 03:04:05.123456+02\', \'{"a": {"b": 1}, "s": "x"}\', 1.5, 10.25,'
                "  '2024-01-02', '01:02:03.456789', '2024-01-02 03:04:05.654321',"
                "  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),"
                " (2, '2024-06-30 23:59:59+00', '[1, 2]', -12345678901234567.0123456789, 0.10,"
                "  '1999-12-31', '23:59:59', '1999-12-31 23:59:59', NULL),"
                " (3, '1970-01-01 00:00:00+00', NULL, NULL, 100.00, NULL, NULL, NULL, NULL)"
            )
        worker, topic, store = start_pipeline(broker, tmp_path, postgres, db, "typed", "PostgresSource")
        local = pafs.LocalFileSystem()

        def count() -> int:
            found = committed_files(local, str(store), topic)
            return sum(pq.ParquetFile(f.path).metadata.num_rows for f in found)

        try:
            healthy = worker.healthy("pg", "pq")
            wait_until("the snapshot in Parquet", lambda: count() >= 3, 60, alive=healthy)
            with postgres.connect(db) as conn:
                conn.execute("DELETE FROM typed WHERE id = 3")  # REPLICA IDENTITY DEFAULT: key only
            wait_until("the delete in Parquet", lambda: count() >= 4, 60, alive=healthy)
        finally:
            worker.close()

        paths = [f.path for f in committed_files(local, str(store), topic)]
        table = pa.concat_tables([pq.read_table(p) for p in paths])
        types = dict(zip(table.schema.names, table.schema.types, strict=True))
        assert types["at"] == pa.timestamp("us", tz="UTC")
        assert types["doc"] == pa.json_()
        assert types["amount"] == pa.decimal128(38, 10)
        assert types["price"] == pa.decimal128(38, 2)
        assert types["day"] == pa.date32()
        assert types["t"] == pa.time64("us")
        assert types["ts"] == pa.timestamp("us")
        assert types["uid"] == pa.string()
        by_id = {(r["id"], r["__op"]): r for r in table.to_pylist()}
        one, two = by_id[(1, "r")], by_id[(2, "r")]
        assert one["at"] == dt.datetime(2024, 1, 2, 1, 4, 5, 123456, tzinfo=dt.UTC)
        assert one["amount"] == decimal.Decimal("1.5") and one["price"] == decimal.Decimal("10.25")
        assert two["amount"] == decimal.Decimal("-12345678901234567.0123456789")
        assert one["day"] == dt.date(2024, 1, 2) and one["t"] == dt.time(1, 2, 3, 456789)
        assert one["ts"] == dt.datetime(2024, 1, 2, 3, 4, 5, 654321)
        assert one["uid"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        deleted = by_id[(3, "d")]
        assert deleted["__deleted"] is True
        assert deleted["at"] is None and deleted["price"] is None, "a key-only delete image has nulls"

        files_sql = "read_parquet([" + ", ".join(f"'{p}'" for p in paths) + "])"
        rows = duckdb.sql(
            f"select id, doc->>'s', doc->'a'->>'b', price, amount from {files_sql}"
            " where \"at\" > timestamptz '2024-01-02 01:00:00+00' and __op = 'r' order by id"
        ).fetchall()
        assert rows == [
            (1, "x", "1", decimal.Decimal("10.25"), decimal.Decimal("1.5000000000")),
            (2, None, None, decimal.Decimal("0.10"), decimal.Decimal("-12345678901234567.0123456789")),
        ]
        total = duckdb.sql(f"select sum(price), sum(amount) from {files_sql} where __op = 'r'").fetchall()
        assert total == [(decimal.Decimal("110.35"), decimal.Decimal("-12345678901234565.5123456789"))]
        kinds = dict(
            duckdb.sql(
                f"select column_name, column_type from (describe select * from {files_sql})"
            ).fetchall()
        )
        assert kinds["at"] == "TIMESTAMP WITH TIME ZONE" and kinds["doc"] == "JSON"
        assert kinds["ts"] == "TIMESTAMP" and kinds["day"] == "DATE" and kinds["t"] == "TIME"
