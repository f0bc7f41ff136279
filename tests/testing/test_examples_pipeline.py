"""The example connector configs, unchanged but for their file paths and topic names, run in a real
``headrace standalone`` worker against the session broker: the file source→sink pipeline, the
dead-letter queue, the drop-in ``UppercaseFileSink`` (found on ``plugin.path``) and the installed
``CounterSource`` with its ``Multiply`` transformation (found through its entry points); and the CDC
pipeline ``postgres-source.json`` → broker → ``parquet-sink.json`` against a throwaway PostgreSQL, its
password resolved by the worker's ``env`` config provider as examples/README.md shows.

Like test_examples.py this needs ``pip install -e examples/plugin-package``.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from connect.runtime.config_files import load_connector_file, worker_properties
from tests.connectors.parquet.helpers import committed_files
from tests.support.brokers import BrokerUnderTest
from tests.support.clients import consume_confluent, create_topic
from tests.support.connect import ConnectWorker, start_connect_worker, wait_until
from tests.support.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]
CONNECTORS = REPO / "examples" / "connectors"
DEMO_DIR = "/tmp/headrace-demo"
TIMEOUT = 30.0  # generous: CI machines can be busy


def _rewrite(
    name: str, tmp_path: Path, topics: dict[str, str], override: dict[str, str] | None = None
) -> Path:
    """The example config with its files in ``tmp_path``, its topics renamed and the ``override`` keys
    (e.g. where the database is) replaced, as a JSON file."""
    config = load_connector_file(CONNECTORS / name)
    out: dict[str, Any] = {}
    for key, value in config.items():
        value = value.replace(DEMO_DIR, str(tmp_path))
        if key in ("topic", "topics", "errors.deadletterqueue.topic.name"):
            value = topics.get(value, value)
        out[key] = value
    assert set(override or {}) <= set(out), f"{name} has no {set(override or {}) - set(out)}"
    out.update(override or {})
    path = tmp_path / f"{Path(name).stem}.json"
    path.write_text(json.dumps({"name": out.pop("name"), "config": out}))
    return path


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").split("\n")[:-1]
    except FileNotFoundError:
        return []


@pytest.fixture
def pipeline(broker: BrokerUnderTest, tmp_path: Path, topic: str) -> Any:
    topics = {"lines": topic, "lines-dlq": f"{topic}-dlq", "numbers": f"{topic}-numbers"}
    for t in topics.values():
        create_topic(broker.bootstrap, t, partitions=1)
    (tmp_path / "input.txt").write_text('hello\n{"line": "from json"}\nnot json\n')
    files = [
        _rewrite(name, tmp_path, topics)
        for name in (
            "file-source.properties",
            "file-sink.json",
            "json-sink-with-dlq.json",
            "uppercase-sink.properties",
            "counter-source.json",
        )
    ]
    worker = start_connect_worker(
        broker.bootstrap,
        tmp_path / "worker",
        props={"plugin.path": str(REPO / "plugins")},
        connector_files=files,
    )
    try:
        yield worker, topics
    finally:
        worker.close()


def test_example_configs_run_end_to_end(pipeline: Any, tmp_path: Path) -> None:
    worker: ConnectWorker
    worker, topics = pipeline
    try:
        _check_pipeline(worker, topics, tmp_path)
    except BaseException as exc:
        raise AssertionError(f"{exc}\n--- worker log tail ---\n{worker.log_tail(120)}") from exc


def _check_pipeline(worker: ConnectWorker, topics: dict[str, str], tmp_path: Path) -> None:
    for name in ("file-source", "file-sink", "json-sink", "shout", "counter"):
        worker.wait_for_state(name, "RUNNING", ["RUNNING"], timeout=TIMEOUT)

    def wait_for_lines(name: str, expected: list[str]) -> None:
        path = tmp_path / name

        def check() -> bool | None:
            got = _lines(path)
            assert got == expected[: len(got)], f"{name}: {got}"
            return got == expected or None

        wait_until(name, check, timeout=TIMEOUT, alive=worker.check_alive, describe=lambda: _lines(path))

    everything = ["hello", '{"line": "from json"}', "not json"]
    wait_for_lines("output.txt", everything)
    wait_for_lines("shouted.txt", [s.upper() for s in everything])
    wait_for_lines("json-lines.txt", ["from json"])

    with open(tmp_path / "input.txt", "a") as f:
        f.write("more\n")
    wait_for_lines("output.txt", [*everything, "more"])

    dead = consume_confluent(worker.bootstrap, topics["lines-dlq"], [0], expected=3, timeout=TIMEOUT)
    assert [d.value for d in dead] == [b"hello", b"not json", b"more"]  # not JSON objects with a "line"
    assert all(any(k.startswith("__connect.errors.") for k, _ in d.headers) for d in dead)

    numbers = consume_confluent(worker.bootstrap, topics["numbers"], [0], expected=3, timeout=TIMEOUT)
    assert [json.loads(n.value or b"null") for n in numbers[:3]] == [0, 10, 20]

    # Both third-party plugins are listed by the REST API next to the built-ins.
    listed = {p["class"]: p["type"] for p in worker.json("GET", "/connector-plugins")}
    assert listed.get("headrace_example_plugin.counter.CounterSourceConnector") == "source", listed
    uppercase = [c for c in listed if c.endswith("uppercase_sink.UppercaseFileSinkConnector")]
    assert uppercase and listed[uppercase[0]] == "sink", listed
    every = {p["class"] for p in worker.json("GET", "/connector-plugins?connectorsOnly=false")}
    assert any(c.endswith("MultiplyValue") or "Multiply" in c for c in every), sorted(every)


# --- the CDC pipeline: postgres-source.json -> broker -> parquet-sink.json -------------------------------

SHOP_SCHEMA = (
    "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text)",
    "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, item text, quantity int)",
    "INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com'), (2, 'Linus', NULL), (3, 'Grace', 'g@x')",
    "INSERT INTO orders VALUES (10, 1, 'lamp', 2), (11, 3, 'desk', 1)",
)
SHOP_CHANGES = (
    "INSERT INTO customers VALUES (4, 'Edsger', 'ewd@example.com')",
    "UPDATE customers SET email = 'linus@example.com' WHERE id = 2",
    "DELETE FROM customers WHERE id = 3",
    "UPDATE orders SET quantity = 5 WHERE id = 10",
    "INSERT INTO orders VALUES (12, 4, 'chair', 4)",
)
SHOP_COLUMNS = {"customers": ("id", "name", "email"), "orders": ("id", "customer_id", "item", "quantity")}


def _lake(store: Path, topic: str) -> list[dict[str, Any]]:
    """Every change row committed for ``topic`` (no rows until a file is committed)."""
    if not committed_files(pafs.LocalFileSystem(), str(store), topic):
        return []
    rows: list[dict[str, Any]] = (
        ds.dataset(str(store / topic), format="parquet", partitioning="hive").to_table().to_pylist()
    )
    return rows


def _replay(changes: list[dict[str, Any]], columns: tuple[str, ...]) -> set[tuple[Any, ...]]:
    """The table the flattened change log describes: snapshot rows first, then changes in LSN order."""
    state: dict[Any, tuple[Any, ...]] = {}
    for row in sorted(changes, key=lambda r: (r["__op"] != "r", r["__lsn"] or 0)):
        if row["__deleted"]:
            state.pop(row["id"], None)
        else:
            state[row["id"]] = tuple(row[c] for c in columns)
    return set(state.values())


def test_cdc_examples_run_end_to_end(
    broker: BrokerUnderTest,
    tmp_path: Path,
    postgres_server: PostgresServer,
) -> None:
    """postgres-source.json and parquet-sink.json as written (but for the database's address, a topic
    prefix, slot and publication unique to the test, and tmp_path for /tmp/headrace-demo): the
    snapshot, then inserts, updates and deletes, end up as Parquet change rows whose replay equals
    each table."""
    pg = postgres_server
    with pg.database("shop") as db:
        with pg.connect(db) as conn:
            for statement in SHOP_SCHEMA:
                conn.execute(statement)  # type: ignore[arg-type]
        prefix = f"shop{uuid.uuid4().hex[:8]}"
        where = {k: v for k, v in pg.connector_config(db).items() if k != "database.password"}
        unique = f"headrace_{prefix}"
        source = _rewrite(
            "postgres-source.json",
            tmp_path,
            {},
            {**where, "topic.prefix": prefix, "slot.name": unique, "publication.name": unique},
        )
        sink = _rewrite("parquet-sink.json", tmp_path, {}, {"topics.regex": rf"{prefix}\.public\..*"})
        worker = start_connect_worker(
            broker.bootstrap,
            tmp_path / "worker",
            props={"config.providers": "env", "config.providers.env.class": "EnvVarConfigProvider"},
            connector_files=[source, sink],
            env={"PGPASSWORD": pg.password},
        )
        store = tmp_path / "lake"
        try:
            healthy = worker.healthy("shop-cdc", "shop-lake")

            def lake_matches() -> bool:
                with pg.connect(db) as conn:
                    for table, columns in SHOP_COLUMNS.items():
                        current = set(conn.execute(f"SELECT {', '.join(columns)} FROM {table}"))
                        if _replay(_lake(store, f"{prefix}.public.{table}"), columns) != current:
                            return False
                return True

            wait_until("the snapshot of both tables in Parquet", lake_matches, 40, alive=healthy)
            with pg.connect(db) as conn:
                for statement in SHOP_CHANGES:
                    conn.execute(statement)  # type: ignore[arg-type]
            wait_until("the changes in Parquet", lake_matches, 40, alive=healthy)
            # The stored and REST-visible config keeps the reference, not the password.
            shown = worker.json("GET", "/connectors/shop-cdc/config")
            assert shown["database.password"] == "${env:PGPASSWORD}", shown["database.password"]
            assert pg.password not in worker.log_text()
        except BaseException as exc:
            raise AssertionError(f"{exc}\n--- worker log tail ---\n{worker.log_tail(120)}") from exc
        finally:
            worker.close()
        customers = _lake(store, f"{prefix}.public.customers")
        assert sorted((r["id"], r["__op"]) for r in customers) == [
            (1, "r"),
            (2, "r"),
            (2, "u"),
            (3, "d"),
            (3, "r"),
            (4, "c"),
        ]
        assert {"__op", "__lsn", "__deleted", "__ts_ms"} <= set(customers[0])


# --- the two-worker cluster: distributed/worker.properties ----------------------------------------------


def test_distributed_example_forms_a_two_worker_cluster(
    broker: BrokerUnderTest, tmp_path: Path, topic: str
) -> None:
    """Two ``headrace distributed`` workers with examples/distributed/worker.properties (its group and
    internal topics made unique to the test, plugin.path absolute) form one cluster: a connector
    created through one worker runs, and both workers report it the same way."""
    props = worker_properties(str(REPO / "examples" / "distributed" / "worker.properties"), {})
    group = f"{props.pop('group.id')}-{topic}"
    del props["bootstrap.servers"]  # the session broker, through --bootstrap-servers
    for kind in ("config", "offset", "status"):
        props[f"{kind}.storage.topic"] += f"-{topic}"
    props["plugin.path"] = str(REPO / "plugins")
    topics = {"lines": topic}
    create_topic(broker.bootstrap, topic, partitions=1)
    workers: list[ConnectWorker] = []
    try:
        for i in range(2):
            workers.append(
                start_connect_worker(broker.bootstrap, tmp_path / f"w{i}", props=props, group_id=group)
            )
        sink = json.loads(_rewrite("file-sink.json", tmp_path, topics).read_text())

        def created() -> bool | None:
            r = workers[1].post("/connectors", json=sink)
            assert r.status_code in (201, 409, 503), r.text  # 503/409: the group is still forming
            return r.status_code == 201 or None

        wait_until("the connector created", created, TIMEOUT, alive=workers[1].check_alive)
        for w in workers:
            w.wait_for_state(sink["name"], "RUNNING", ["RUNNING"], timeout=TIMEOUT)
        statuses = [w.status(sink["name"]) for w in workers]
        assert statuses[0]["connector"] == statuses[1]["connector"], statuses
        assert statuses[0]["connector"]["worker_id"] in {w.worker_id for w in workers}, statuses
        assert all(w.json("GET", "/connectors") == [sink["name"]] for w in workers)
    except BaseException as exc:
        tails = "\n".join(f"--- worker {i} ---\n{w.log_tail(60)}" for i, w in enumerate(workers))
        raise AssertionError(f"{exc}\n{tails}") from exc
    finally:
        for w in workers:
            w.close()
