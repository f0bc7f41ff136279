#!/usr/bin/env python3
"""MySqlSource throughput: N committed row changes in the binlog -> Debezium events -> broker acks,
through a real ``headrace standalone`` worker, with the raw binlog read rate of the same client library
(pymysqlreplication) as the ceiling, in the same run.

Setup: a throwaway MariaDB 10.11 (``tests/support/mariadb.py``; or ``HEADRACE_TEST_MYSQL_URL``), a table
``narrow (id bigint PRIMARY KEY, v int NOT NULL)``, the headrace broker on a temporary data dir, a
one-partition topic. The connector is created in the worker, starts streaming and is stopped; then the
N inserts are committed (transactions of 10,000 rows), so every phase reads the same N changes from the
same binlog position:

1. **decode** (ceiling): ``BinLogStreamReader`` in this process from that position, every row decoded
   (``event.rows``), nothing else. Clock: first read until the N-th row.
2. **task**: ``MySqlSourceTask`` in this process (no runtime) from that position: binlog read, type
   conversion, Debezium records (key, envelope, source block, offsets). Clock: first ``poll()`` until
   N records were returned. Its share of the ceiling is printed (target >= 0.8).
3. **runtime**: the stopped connector in the worker is resumed (its task starts at its committed
   offset, before the changes): ``poll()`` -> JsonConverter
   (schemas.enable=true, as Debezium on Kafka Connect) -> produce (acks=all) -> broker ack. Clock:
   resume until the topic's high watermark reaches N (target >= 30,000 events/s).

One comparable line per phase on stdout, then a table (or ``--json``); progress on stderr.
``--profile DIR`` samples the worker with py-spy during phase 3 and prints the hot spots.

    python bench/cdc_mysql.py               # 500k changes
    python bench/cdc_mysql.py --quick       # 100k changes
    python bench/cdc_mysql.py --profile /tmp/prof
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
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import WriteRowsEvent

from connect.testing import FakeSourceTaskContext, InMemoryOffsetStorageReader
from connectors.mysql import MySqlSourceTask
from tests.support.connect import wait_until
from tests.support.mariadb import MariaDbServer, start_or_connect

TARGET_RUNTIME = 30_000.0
TARGET_SHARE = 0.8
TXN_ROWS = 10_000
STATEMENT_ROWS = 1_000


@dataclass
class Result:
    phase: str
    changes: int
    seconds: float
    rate: float
    target: float | None
    cpu_s_per_m: float | None
    note: str
    share: float | None = None  # of the decode ceiling

    @property
    def ok(self) -> bool:
        if self.phase == "task" and self.share is not None:
            return self.share >= TARGET_SHARE
        return self.target is None or self.rate >= self.target

    def line(self) -> str:
        cpu = f", {self.cpu_s_per_m:.1f} cpu-s/M" if self.cpu_s_per_m is not None else ""
        share = f", {self.share:.2f} of ceiling" if self.share is not None else ""
        if self.phase == "task" and self.share is not None:
            target = f" (target >= {TARGET_SHARE} of ceiling: {'ok' if self.ok else 'BELOW'})"
        elif self.target:
            target = f" (target >= {self.target:,.0f}: {'ok' if self.ok else 'BELOW'})"
        else:
            target = ""
        return (
            f"cdc_mysql {self.phase}: {self.changes:,} changes in {self.seconds:.2f} s = "
            f"{self.rate:,.0f} events/s{share}{cpu}{target} [{self.note}]"
        )


def _high_watermark(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cdc-bench-watermark"})
    try:
        return int(c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    finally:
        c.close()


def _decode_phase(server: MariaDbServer, file: str, pos: int, n: int) -> Result:
    reader = BinLogStreamReader(
        connection_settings={
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "password": server.password,
        },
        server_id=9901,
        resume_stream=True,
        log_file=file,
        log_pos=pos,
        blocking=True,
        only_events=[WriteRowsEvent],
        enable_logging=False,
    )
    try:
        rows = 0
        started = time.perf_counter()
        cpu0 = time.thread_time()
        for event in reader:
            rows += len(event.rows)
            if rows >= n:
                break
        seconds = time.perf_counter() - started
        cpu = time.thread_time() - cpu0
    finally:
        reader.close()
    return Result(
        "decode",
        n,
        seconds,
        n / seconds,
        None,
        cpu / (n / 1e6),
        "pymysqlreplication rows, 1 thread: the ceiling",
    )


def _task_phase(config: dict[str, str], file: str, pos: int, n: int, ceiling: float) -> Result:
    task = MySqlSourceTask()
    offsets = InMemoryOffsetStorageReader()
    offsets.set(
        {"server": config["topic.prefix"]}, {"file": file, "pos": pos, "event": 0, "row": 0, "gtids": ""}
    )
    task.initialize(FakeSourceTaskContext(config, offsets))
    task.start(dict(config))
    try:
        seen = 0
        started = time.perf_counter()
        while seen < n:
            records = task.poll()
            if records:
                seen += sum(1 for r in records if r.topic.endswith(".narrow"))
        seconds = time.perf_counter() - started
    finally:
        task.stop()
    rate = n / seconds
    return Result(
        "task",
        n,
        seconds,
        rate,
        None,
        None,
        "binlog read + decode + Debezium records, no runtime (reader thread + task thread)",
        share=rate / ceiling,
    )


def _commit_changes(server: MariaDbServer, db: str, n: int) -> None:
    log(f"committing {n:,} inserts in transactions of {TXN_ROWS:,} rows ...")
    t0 = time.monotonic()
    with server.connect(db) as conn, conn.cursor() as cur:
        for start in range(0, n, TXN_ROWS):
            cur.execute("BEGIN")
            for s in range(start, min(start + TXN_ROWS, n), STATEMENT_ROWS):
                values = ",".join(f"({i + 1},{i % 1000})" for i in range(s, min(s + STATEMENT_ROWS, n)))
                cur.execute(f"INSERT INTO narrow VALUES {values}")
            cur.execute("COMMIT")
    log(f"committed in {time.monotonic() - t0:.1f} s")


def _runtime_phase(worker: Any, broker: Any, topic: str, n: int, args: argparse.Namespace) -> Result:
    log("phase 3: through the worker (resume -> last broker ack) ...")
    profile = Path(args.profile) if args.profile else None
    spy = profile_worker(worker.pid, "worker", profile)
    w0 = proc_cpu_seconds(worker.pid)
    started = time.monotonic()
    worker.json("PUT", "/connectors/my/resume", expect=202)
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
    return Result(
        "runtime", n, seconds, n / seconds, TARGET_RUNTIME, cpu, note + (" (profiled)" if profile else "")
    )


def run(args: argparse.Namespace) -> list[Result]:
    n = args.changes
    results: list[Result] = []
    server = start_or_connect()
    try:
        with server.database("cdcbench") as db, tempfile.TemporaryDirectory(prefix="cdc-bench-") as tmp:
            server.execute("CREATE TABLE narrow (id BIGINT PRIMARY KEY, v INT NOT NULL)", database=db)
            base = {
                **server.connector_config(),
                "topic.prefix": "bench",
                "database.include.list": db,
                "max.batch.size": str(args.batch),
                "schema.history.internal": "io.debezium.storage.file.history.FileSchemaHistory",
            }
            with running_broker("headrace", args.bootstrap, args.data_dir) as broker:
                topic = f"bench.{db}.narrow"
                create_topic(broker.bootstrap, topic, partitions=1)
                worker = start_worker(broker.bootstrap, Path(tmp) / "worker")
                try:
                    config = {
                        **base,
                        "connector.class": "MySqlSource",
                        "snapshot.mode": "no_data",
                        "database.server.id": "9902",
                        "schema.history.internal.file.filename": str(Path(tmp) / "worker-history.jsonl"),
                        **JSON_SCHEMA_CONVERTERS,
                    }
                    worker.create("my", config)
                    worker.wait_for_state("my", "RUNNING", ["RUNNING"], timeout=60)
                    wait_until("the task to stream", lambda: "Streaming changes" in worker.log_text(), 60)
                    # stopped, not paused: a paused task's binlog reader would read ahead while the
                    # changes are committed; the resumed task starts from its committed offset
                    worker.json("PUT", "/connectors/my/stop", expect=204)
                    worker.wait_for_state("my", "STOPPED", timeout=60)
                    ((file, pos, *_),) = server.query("SHOW MASTER STATUS")
                    _commit_changes(server, db, n)
                    settle(worker.pid, broker, wait_quiet=False)

                    log("phase 1: raw binlog decode (pymysqlreplication) ...")
                    results.append(_decode_phase(server, str(file), int(pos), n))
                    print_result(results[-1].line())
                    log("phase 2: the task in-process (no runtime) ...")
                    task_config = {
                        **base,
                        "snapshot.mode": "recovery",  # the history is rebuilt from the current schema
                        "database.server.id": "9903",
                        "schema.history.internal.file.filename": str(Path(tmp) / "task-history.jsonl"),
                    }
                    results.append(_task_phase(task_config, str(file), int(pos), n, results[0].rate))
                    print_result(results[-1].line())

                    results.append(_runtime_phase(worker, broker, topic, n, args))
                    results[-1].share = results[-1].rate / results[0].rate
                    print_result(results[-1].line())
                finally:
                    worker.close()
    finally:
        server.close()
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--changes", type=int, default=500_000, help="committed changes (default 500k)")
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
                f"{r.share:.2f}" if r.share is not None else "-",
                f"{r.cpu_s_per_m:.1f}" if r.cpu_s_per_m is not None else "-",
                f">= {TARGET_SHARE} of ceiling"
                if r.phase == "task"
                else f">= {r.target:,.0f}"
                if r.target
                else "(ceiling)",
                r.note,
            ]
            for r in results
        ]
        print()
        print(table(["phase", "changes", "s", "events/s", "share", "cpu-s/M", "target", "what"], rows))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
