#!/usr/bin/env python3
"""PostgresSource throughput: N committed changes on a narrow table -> Debezium events -> broker acks,
through a real ``headrace standalone`` worker, with the raw pgoutput decode rate of the same changes as
the ceiling, in the same run.

Setup: a throwaway PostgreSQL 15 (``tests/support/postgres.py``; or ``HEADRACE_TEST_POSTGRES_DSN``), a
table ``narrow (id bigint PRIMARY KEY, v int NOT NULL)``, the headrace broker on a temporary data dir, a
one-partition topic. Three logical replication slots are created at the same WAL position *before* the
changes are committed, so every phase reads exactly the same N changes from PostgreSQL:

1. **decode** (ceiling): this process reads slot ``bench_raw`` over one replication connection and
   decodes every pgoutput message into tuples (``connectors.postgres.pgoutput.decode``). Clock: first
   read until the N-th row change is decoded.
2. **task**: ``PostgresSourceTask`` in this process (no runtime) on slot ``bench_task``: decode, type
   conversion and Debezium records (key, envelope, source block, offsets). Clock: first ``poll()`` until
   N records were returned.
3. **runtime**: the connector in the worker (its own slot), paused while the changes were committed,
   then resumed: ``poll()`` -> JsonConverter (schemas.enable=true, as Debezium on Kafka Connect) ->
   produce (acks=all) -> broker ack. Clock: resume until the topic's high watermark reaches N (every
   change committed in PostgreSQL before the clock started is acknowledged by the broker at the end).

One comparable line per phase on stdout, then a table (or ``--json``); progress on stderr.
``--profile DIR`` samples the worker with py-spy during phase 3 and prints the hot spots.

    python bench/cdc_postgres.py               # 1M changes
    python bench/cdc_postgres.py --quick       # 100k changes
    python bench/cdc_postgres.py --profile /tmp/prof
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (
    JSON_SCHEMA_CONVERTERS,
    add_worker_arguments,
    cpu_per_m,
    create_topic,
    log,
    print_result,
    print_worker_profile,
    proc_cpu_seconds,
    profile_worker,
    running_broker,
    settle,
    start_run,
    start_worker,
    table,
)
from confluent_kafka import Consumer, TopicPartition

from connect.testing import FakeSourceTaskContext, InMemoryOffsetStorageReader
from connectors.postgres import PostgresSourceTask
from connectors.postgres.config import parse_settings
from connectors.postgres.pgoutput import decode
from connectors.postgres.replication import ReplicationStream
from tests.support.connect import wait_until
from tests.support.postgres import start_or_connect

TARGET = 50_000.0
TXN_ROWS = 10_000


@dataclass
class Result:
    phase: str
    changes: int
    seconds: float
    rate: float
    target: float | None
    cpu_s_per_m: float | None
    note: str

    @property
    def ok(self) -> bool:
        return self.target is None or self.rate >= self.target

    def line(self) -> str:
        cpu = f", {self.cpu_s_per_m:.1f} cpu-s/M" if self.cpu_s_per_m is not None else ""
        target = f" (target >= {self.target:,.0f}: {'ok' if self.ok else 'BELOW'})" if self.target else ""
        return (
            f"cdc_postgres {self.phase}: {self.changes:,} changes in {self.seconds:.2f} s = "
            f"{self.rate:,.0f} events/s{cpu}{target} [{self.note}]"
        )


def _high_watermark(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cdc-bench-watermark"})
    try:
        return int(c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    finally:
        c.close()


def _decode_phase(settings: Any, slot: str, n: int) -> Result:
    stream = ReplicationStream(settings)
    try:
        stream.start(slot, settings.publication_name, 0)
        seen = 0
        started = time.perf_counter()
        while seen < n:
            message = stream.read()
            if message is None:
                stream.wait(0.1)
                continue
            if message[0] == 119:  # XLogData
                decoded = decode(message[25:])
                if message[25] in (73, 85, 68):  # I U D
                    seen += 1
                del decoded
        seconds = time.perf_counter() - started
    finally:
        stream.close()
    return Result("decode", n, seconds, n / seconds, None, None, "pgoutput -> tuples, 1 thread: the ceiling")


def _task_phase(config: dict[str, str], n: int) -> Result:
    task = PostgresSourceTask()
    task.initialize(FakeSourceTaskContext(config, InMemoryOffsetStorageReader()))
    task.start(dict(config))
    try:
        seen = 0
        started = time.perf_counter()
        cpu0 = time.thread_time()
        while seen < n:
            records = task.poll()
            if records:
                seen += len(records)
        seconds = time.perf_counter() - started
        cpu = time.thread_time() - cpu0
    finally:
        task.stop()
    return Result(
        "task",
        n,
        seconds,
        n / seconds,
        None,
        cpu / (n / 1e6),
        "decode + Debezium records, no runtime, 1 thread",
    )


def _commit_changes(pg: Any, db: str, n: int) -> None:
    log(f"committing {n:,} inserts in transactions of {TXN_ROWS:,} rows ...")
    t0 = time.monotonic()
    with pg.connect(db) as conn:
        for start in range(0, n, TXN_ROWS):
            conn.execute(
                "INSERT INTO narrow SELECT g, g %% 1000 FROM generate_series(%s::bigint, %s::bigint) g",
                (start + 1, min(start + TXN_ROWS, n)),
            )
    log(f"committed in {time.monotonic() - t0:.1f} s")


def _runtime_phase(worker: Any, broker: Any, topic: str, n: int, args: argparse.Namespace) -> Result:
    log("phase 3: through the worker (resume -> last broker ack) ...")
    profile = Path(args.profile) if args.profile else None
    spy = profile_worker(worker.pid, "worker", profile)
    w0 = proc_cpu_seconds(worker.pid)
    started = time.monotonic()
    worker.json("PUT", "/connectors/pg/resume", expect=202)
    deadline = started + args.timeout
    while (acked := _high_watermark(broker.bootstrap, topic)) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {acked:,} of {n:,} events acknowledged in {args.timeout} s")
        worker.check_alive()
        time.sleep(0.05)
    seconds = time.monotonic() - started
    w1 = proc_cpu_seconds(worker.pid)
    cpu = cpu_per_m(w0, w1, n)
    print_worker_profile(spy, "runtime phase")
    note = "1 task, JsonConverter schemas.enable=true, acks=all, 1 partition, worker cpu"
    return Result("runtime", n, seconds, n / seconds, TARGET, cpu, note + (" (profiled)" if profile else ""))


def run(args: argparse.Namespace) -> list[Result]:
    n = args.changes
    results: list[Result] = []
    pg = start_or_connect()
    try:
        with pg.database("cdcbench") as db, tempfile.TemporaryDirectory(prefix="cdc-bench-") as tmp:
            with pg.connect(db) as conn:
                conn.execute("CREATE TABLE narrow (id bigint PRIMARY KEY, v int NOT NULL)")
                conn.execute("CREATE PUBLICATION dbz_publication FOR ALL TABLES")
            base = {
                **pg.connector_config(db),
                "topic.prefix": "bench",
                "snapshot.mode": "no_data",
                "max.batch.size": str(args.batch),
            }
            settings = parse_settings({**base, "slot.name": "bench_raw"})
            with running_broker("headrace", args.bootstrap, args.data_dir) as broker:
                topic = "bench.public.narrow"
                create_topic(broker.bootstrap, topic, partitions=1)
                worker = start_worker(broker.bootstrap, Path(tmp) / "worker")
                try:
                    config = {
                        **base,
                        "connector.class": "PostgresSource",
                        "slot.name": "bench_worker",
                        **JSON_SCHEMA_CONVERTERS,
                    }
                    worker.create("pg", config)
                    worker.wait_for_state("pg", "RUNNING", ["RUNNING"], timeout=60)
                    wait_until("the task to stream", lambda: "Streaming changes" in worker.log_text(), 60)
                    worker.json("PUT", "/connectors/pg/pause", expect=202)
                    worker.wait_for_state("pg", "PAUSED", ["PAUSED"], timeout=60)
                    for slot in ("bench_raw", "bench_task"):
                        stream = ReplicationStream(settings)
                        stream.create_slot(slot, export_snapshot=False)
                        stream.close()
                    _commit_changes(pg, db, n)
                    settle(worker.pid, broker, wait_quiet=False)

                    log("phase 1: raw pgoutput decode ...")
                    results.append(_decode_phase(settings, "bench_raw", n))
                    print_result(results[-1].line())
                    log("phase 2: the task in-process (no runtime) ...")
                    results.append(_task_phase({**base, "slot.name": "bench_task"}, n))
                    print_result(results[-1].line())

                    results.append(_runtime_phase(worker, broker, topic, n, args))
                    print_result(results[-1].line())
                finally:
                    worker.close()
    finally:
        pg.close()
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--changes", type=int, default=1_000_000, help="committed changes (default 1M)")
    p.add_argument("--quick", action="store_true", help="100k changes")
    p.add_argument("--batch", type=int, default=4096, help="connector max.batch.size (default 4096)")
    add_worker_arguments(
        p,
        profile_help="py-spy the worker during the runtime phase",
        timeout_help="seconds for the runtime phase",
        extras=False,
    )
    args = p.parse_args()
    if args.quick:
        args.changes = 100_000
    start_run(args)
    results = run(args)
    if args.json:
        print(json.dumps([{**asdict(r), "ok": r.ok} for r in results], indent=2))
    else:
        rows = [
            [
                r.phase,
                f"{r.changes:,}",
                f"{r.seconds:.2f}",
                f"{r.rate:,.0f}",
                f"{r.cpu_s_per_m:.1f}" if r.cpu_s_per_m is not None else "-",
                f">= {r.target:,.0f}" if r.target else "(ceiling)" if r.phase == "decode" else "-",
                r.note,
            ]
            for r in results
        ]
        print()
        print(table(["phase", "changes", "s", "events/s", "cpu-s/M", "target", "what"], rows))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
