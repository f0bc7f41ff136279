#!/usr/bin/env python3
"""Commit-to-searchable latency of the MySQL -> search pipeline (issue 14): a throwaway MariaDB, the
included broker, noida-db (an Elasticsearch-API server) and one real ``headrace standalone`` worker
running the example pair ``examples/connectors/mysql-source.json`` + ``search-sink.json``, adapted to
the throwaway servers exactly as ``tests/connectors/elasticsearch/test_mysql_e2e.py`` does.

After the snapshot (``--rows`` rows) is in the index, N single-row changes (inserts, updates and a few
deletes, one autocommit statement each) are committed at a steady rate. Each change writes a version
marker ``v`` (its sequence number) into the row; ids of deleted rows are never reused, so a change is
visible once ``GET <index>/_doc/<id>`` shows ``v >= k`` (insert, update) or no document (delete).
Clock: from the return of the committing statement until the response of the first poll that shows
the change. A separate thread polls every pending change at once (one ``_mget``) every ~5 ms, so the
writer is never paced by the polling. noida-db's GET is realtime (no refresh needed), as is
Elasticsearch's.

Reference, same run and same noida-db: one document written with a direct ``_bulk`` request, then
read back with a refresh-free GET (``--ref-count`` round trips, one after the other): the part of the
latency that is the search server and its client rather than the pipeline.

One comparable line per measurement, then a table (or ``--json``); progress on stderr.

    python bench/es_pipeline.py                     # 300 changes at 20/s
    python bench/es_pipeline.py --changes 600 --rate 50
    python bench/es_pipeline.py --set consumer.fetch.max.wait.ms=10   # a worker property
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import log, print_result, running_broker, settle, start_run, table

from connect.runtime.config_files import load_connector_file
from tests.support.connect import start_connect_worker, wait_until, write_connector_file
from tests.support.mariadb import MariaDbServer
from tests.support.mariadb import start_or_connect as start_mariadb
from tests.support.noida import EsServer
from tests.support.noida import start_or_connect as start_noida

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "connectors"
POLL_INTERVAL = 0.005
DELETE_EVERY = 25  # one change in 25 is a delete
INSERT_EVERY = 3  # of the others, one in 3 is an insert, the rest are updates
SINK_KEYS = ("batch.size", "linger.ms", "max.in.flight.requests", "write.method", "external.version.source")


@dataclass
class Stats:
    what: str
    count: int
    p50: float
    p90: float
    p99: float
    max: float
    note: str

    def line(self) -> str:
        return (
            f"es_pipeline {self.what}: n={self.count} p50={self.p50:.1f} ms p90={self.p90:.1f} ms "
            f"p99={self.p99:.1f} ms max={self.max:.1f} ms [{self.note}]"
        )


def _pct(sorted_ms: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of an ascending list."""
    return sorted_ms[min(len(sorted_ms), max(1, math.ceil(q * len(sorted_ms)))) - 1]


def stats(what: str, ms: list[float], note: str) -> Stats:
    s = sorted(ms)
    return Stats(what, len(s), _pct(s, 0.5), _pct(s, 0.9), _pct(s, 0.99), s[-1], note)


@dataclass
class Pending:
    k: int
    id: int
    delete: bool
    committed: float


class Poller(threading.Thread):
    """Polls every pending change with one ``_mget`` every ``POLL_INTERVAL`` s; records latencies."""

    def __init__(self, es: EsServer, index: str) -> None:
        super().__init__(name="poller", daemon=True)
        self.client = es.client()
        self.index = index
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.pending: list[Pending] = []
        self.latencies: dict[int, float] = {}
        self.polls = 0
        self.stopping = False
        self.error: BaseException | None = None

    def add(self, change: Pending) -> None:
        with self.lock:
            self.pending.append(change)
        self.wake.set()

    def outstanding(self) -> int:
        with self.lock:
            return len(self.pending)

    def run(self) -> None:
        try:
            while not self.stopping:
                with self.lock:
                    batch = list(self.pending)
                if not batch:
                    self.wake.wait(0.05)
                    self.wake.clear()
                    continue
                started = time.perf_counter()
                ids = sorted({str(c.id) for c in batch})
                found = self.client.mget(index=self.index, ids=ids)["docs"]
                now = time.perf_counter()
                self.polls += 1
                docs = {d["_id"]: d.get("_source") if d.get("found") else None for d in found}
                done = set()
                for c in batch:
                    doc = docs.get(str(c.id))
                    if (doc is None) if c.delete else (doc is not None and int(doc["v"]) >= c.k):
                        self.latencies[c.k] = (now - c.committed) * 1000
                        done.add(c.k)
                if done:
                    with self.lock:
                        self.pending = [c for c in self.pending if c.k not in done]
                rest = POLL_INTERVAL - (time.perf_counter() - started)
                if rest > 0:
                    time.sleep(rest)
        except BaseException as exc:  # reported by the writer
            self.error = exc
        finally:
            self.client.close()


def _configs(
    my: MariaDbServer, es: EsServer, bootstrap: str, db: str
) -> tuple[dict[str, str], dict[str, str], str]:
    """The example pair, adapted to the throwaway servers as test_mysql_e2e.py does; and the topic."""
    prefix = f"shop{uuid.uuid4().hex[:6]}"
    source = load_connector_file(EXAMPLES / "mysql-source.json")
    source.update(
        {
            **my.connector_config(),
            "topic.prefix": prefix,
            "database.include.list": db,
            "table.include.list": f"{db}.customers",
            "database.server.id": str(5400 + uuid.uuid4().int % 500),
            "poll.interval.ms": "50",
            "schema.history.internal.kafka.bootstrap.servers": bootstrap,
            "schema.history.internal.kafka.topic": f"history.{prefix}",
        }
    )
    topic = f"{prefix}.{db}.customers"
    sink = load_connector_file(EXAMPLES / "search-sink.json")
    sink.update(
        {
            "topics.regex": topic.replace(".", "\\."),
            "connection.url": es.url,
            "errors.deadletterqueue.topic.name": f"{prefix}-dlq",
        }
    )
    source.pop("name", None)
    sink.pop("name", None)
    return source, sink, topic


def _write_changes(
    my: MariaDbServer, db: str, poller: Poller, rows: int, n: int, rate: float, worker: Any
) -> dict[str, int]:
    """N single-row autocommit changes at ``rate``/s on a fixed schedule (a late one is not made up by
    a burst beyond catching up to the schedule); each handed to the poller once committed."""
    live = list(range(1, rows + 1))
    next_id = rows + 1
    counts = {"insert": 0, "update": 0, "delete": 0}
    interval = 1.0 / rate
    with my.connect(db) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        for k in range(1, n + 1):
            due = start + (k - 1) * interval
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            if poller.error is not None:
                raise RuntimeError(f"the poller failed: {poller.error!r}") from poller.error
            # deletes and updates take rows from the front, so recent inserts are rarely touched again
            if k % DELETE_EVERY == 0 and len(live) > 1:
                id_, op = live.pop(0), "delete"
                cur.execute(f"DELETE FROM customers WHERE id = {id_}")
            elif k % INSERT_EVERY == 0:
                id_, op = next_id, "insert"
                next_id += 1
                live.append(id_)
                cur.execute(f"INSERT INTO customers VALUES ({id_}, 'new-{id_}', 'c{k}', {k})")
            else:
                id_, op = live[k % len(live)], "update"
                cur.execute(f"UPDATE customers SET city = 'c{k}', v = {k} WHERE id = {id_}")
            poller.add(Pending(k, id_, op == "delete", time.perf_counter()))
            counts[op] += 1
            if k % max(1, int(rate) * 5) == 0:
                log(f"{k}/{n} committed, {poller.outstanding()} not yet visible")
                worker.check_alive()
    return counts


def _reference(es: EsServer, n: int) -> list[float]:
    """Direct ``_bulk`` of one document, then a refresh-free GET until it shows: round trip in ms."""
    client = es.client()
    index = f"bench-ref-{uuid.uuid4().hex[:8]}"
    out = []
    try:
        for k in range(n + 5):  # 5 warm-up round trips (index creation, connection)
            body = orjson.dumps({"index": {"_index": index, "_id": str(k % 50)}}) + b"\n"
            body += orjson.dumps({"id": k % 50, "name": f"n{k}", "city": f"c{k}", "v": k}) + b"\n"
            t0 = time.perf_counter()
            resp = client.bulk(body=body)  # type: ignore[arg-type]
            assert not resp["errors"], resp
            while True:
                doc = client.options(ignore_status=404).get(index=index, id=str(k % 50))
                if doc.get("found") and doc["_source"]["v"] == k:
                    break
                time.sleep(POLL_INTERVAL)
            if k >= 5:
                out.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.01)
    finally:
        client.close()
    return out


def run(args: argparse.Namespace) -> tuple[list[Stats], dict[str, Any]]:
    """Start everything, measure, stop everything (also on Ctrl-C / SIGTERM)."""
    my = es = None
    try:
        log("starting MariaDB ...")
        my = start_mariadb()
        log("starting noida-db ...")
        es = start_noida()
        with (
            my.database("shop") as db,
            tempfile.TemporaryDirectory(prefix="es-pipeline-") as tmp,
            running_broker("headrace", args.bootstrap, args.data_dir) as broker,
        ):
            return _measure(args, my, es, broker, db, Path(tmp))
    finally:
        if es is not None:
            es.close()
        if my is not None:
            my.close()


def _measure(
    args: argparse.Namespace, my: MariaDbServer, es: EsServer, broker: Any, db: str, tmp: Path
) -> tuple[list[Stats], dict[str, Any]]:
    my.execute(
        "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, city VARCHAR(40), "
        "v INT NOT NULL)",
        database=db,
    )
    values = ",".join(f"({i}, 'name-{i}', 'start', 0)" for i in range(1, args.rows + 1))
    my.execute(f"INSERT INTO customers VALUES {values}", database=db)
    source, sink, topic = _configs(my, es, broker.bootstrap, db)
    files = [
        write_connector_file(tmp / "mysql.json", "mysql", source),
        write_connector_file(tmp / "search.json", "search", sink),
    ]
    props = {"offset.flush.interval.ms": "60000", **dict(kv.split("=", 1) for kv in args.set)}
    worker = start_connect_worker(broker.bootstrap, tmp / "w", props=props, connector_files=files)
    poller: Poller | None = None
    try:
        log(f"worker pid {worker.pid}, REST at {worker.url}, log {worker.log_path}")
        index = topic.lower()
        client = es.client()

        def snapshot_indexed() -> bool:
            try:
                client.indices.refresh(index=index)
                total = client.search(index=index, size=0)["hits"]["total"]["value"]
                return bool(int(total) == args.rows)
            except Exception:
                return False

        t0 = time.monotonic()
        wait_until("the snapshot in the index", snapshot_indexed, 120, 0.2, alive=worker.check_alive)
        client.close()
        log(f"snapshot of {args.rows} rows searchable after {time.monotonic() - t0:.1f} s")
        settle(worker.pid, broker, args.wait_quiet)

        poller = Poller(es, index)
        poller.start()
        log(f"committing {args.changes} changes at {args.rate:g}/s ...")
        t0 = time.monotonic()
        counts = _write_changes(my, db, poller, args.rows, args.changes, args.rate, worker)
        took = time.monotonic() - t0
        wait_until("every change to be visible", lambda: poller.outstanding() == 0, 120, 0.05)
        poller.stopping = True
        poller.join(10)
        if poller.error is not None:
            raise RuntimeError(f"the poller failed: {poller.error!r}")
        achieved = round(args.changes / took, 1)
        params: dict[str, Any] = {
            "changes": args.changes,
            "rate_per_s": args.rate,
            "achieved_rate_per_s": achieved,
            "snapshot_rows": args.rows,
            "ops": counts,
            "polls": poller.polls,
            "source": {k: source[k] for k in ("poll.interval.ms", "snapshot.mode", "value.converter")},
            "sink": {k: sink[k] for k in SINK_KEYS},
            "worker": props,
        }
        ops = ", ".join(f"{v} {k}s" for k, v in counts.items())
        results = [
            stats(
                "commit->visible",
                list(poller.latencies.values()),
                f"{ops} at {achieved}/s, 1 source + 1 sink task, GET polled every "
                f"{POLL_INTERVAL * 1000:.0f} ms",
            )
        ]
        print_result(results[-1].line())
        log(f"reference: {args.ref_count} direct _bulk + GET round trips ...")
        reference = _reference(es, args.ref_count)
        results.append(
            stats("bulk+GET reference", reference, "one doc per _bulk, then GET until found, no pipeline")
        )
        print_result(results[-1].line())
        return results, params
    finally:
        if poller is not None:
            poller.stopping = True
        log("stopping the worker ...")
        worker.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--changes", type=int, default=300, help="single-row changes committed (default 300)")
    p.add_argument("--rate", type=float, default=20.0, help="changes per second (default 20)")
    p.add_argument("--rows", type=int, default=200, help="rows in the table's snapshot (default 200)")
    p.add_argument("--ref-count", type=int, default=200, help="reference round trips (default 200)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra worker property (repeatable), e.g. --set consumer.fetch.max.wait.ms=10",
    )
    p.add_argument("--bootstrap", help="use this running broker instead of starting headrace")
    p.add_argument("--data-dir", help="parent directory of the broker's temporary data dir")
    p.add_argument(
        "--no-wait-quiet", dest="wait_quiet", action="store_false", help="do not wait for an idle machine"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    args = p.parse_args()
    start_run(args)

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)  # the finally blocks stop what was started
    results, params = run(args)
    if args.json:
        print(json.dumps({"results": [asdict(r) for r in results], "parameters": params}, indent=2))
        return 0
    rows = [
        [r.what, str(r.count), f"{r.p50:.1f}", f"{r.p90:.1f}", f"{r.p99:.1f}", f"{r.max:.1f}", r.note]
        for r in results
    ]
    print()
    print(table(["measurement", "count", "p50 ms", "p90 ms", "p99 ms", "max ms", "what"], rows))
    print()
    for key, value in params.items():
        print(f"{key}: {json.dumps(value) if isinstance(value, dict) else value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
