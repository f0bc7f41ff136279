#!/usr/bin/env python3
"""Connect runtime throughput: a generating source task -> broker -> a discarding sink task, through a
real ``headrace standalone`` worker process, JsonConverter with schemas enabled (keys and values).

Two phases, one after the other (two cores: never let them compete):

1. **source**: the generating source (``BenchSource``) returns ``--batch`` pre-built records per
   ``poll()``; the runtime converts (JsonConverter, schemas.enable=true), produces (acks=all,
   idempotent) and commits source offsets every ``--flush-ms``. Clock, per task: the first ``poll()``
   until the broker acknowledged the last record (``commit_record`` of the last record) — and, second
   figure, until the first offset commit covering it (``SourceTask.commit()`` after the last batch).
2. **sink**: a discarding sink connector (``BenchSink``) subscribes to the topic, which then holds all
   N records; the runtime consumes, converts (JsonConverter) and calls ``put()``, which only counts.
   Clock, per task: end of the first ``put()`` until the end of the ``put()`` that delivers its last
   record; the records of the first batch are not counted (they were consumed before the clock started).

Both plugins live in a module written to a temporary ``plugin.path`` directory, loaded by the worker
exactly like a third party's plugin. The broker is ``headrace broker`` on a temporary data dir (or
``--bootstrap`` for a running one). One comparable line per task and path on stdout, then a summary
table (or ``--json``); progress on stderr. ``--profile DIR`` also samples the worker with py-spy during
each phase and prints its hot spots (the profiled run's rates are lower; measure without it).

    python bench/connect_throughput.py                 # 1M records, 1 source task, 1 sink task
    python bench/connect_throughput.py --quick         # 100k records
    python bench/connect_throughput.py --tasks 2       # 2 source tasks (one partition each), 2 sink tasks
    python bench/connect_throughput.py --profile /tmp/prof
    python bench/connect_throughput.py --json
    python bench/connect_throughput.py --repeat 3      # 3 rounds, the median round per path and task
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
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
    unique_topic,
    wait_for_task_stats,
    write_plugin,
)

from tests.support.connect import ConnectWorker

TARGET_SOURCE = 150_000.0
TARGET_SINK = 200_000.0

PLUGIN_MODULE = "headrace_bench_plugins.py"
PLUGIN_SOURCE = textwrap.dedent(
    '''
    """Benchmark plugins: a generating source and a discarding sink (written by bench/connect_throughput.py).

    Each task reports its timings in ``<stats.dir>/<kind>-<task>.json`` (time.time() seconds): progress at
    most twice a second, and a final report with ``"done": true``.
    """

    import json
    import os
    import threading
    import time

    from connect.api import ConfigDef, Schema, SchemaBuilder, SinkConnector, SinkTask
    from connect.api import SourceConnector, SourceRecord, SourceTask, Struct

    VALUE_SCHEMA = (
        SchemaBuilder.struct()
        .name("bench.Order")
        .field("id", Schema.INT64_SCHEMA)
        .field("customer", Schema.STRING_SCHEMA)
        .field("amount", Schema.FLOAT64_SCHEMA)
        .field("quantity", Schema.INT32_SCHEMA)
        .field("status", Schema.STRING_SCHEMA)
        .field("note", Schema.OPTIONAL_STRING_SCHEMA)
        .field("created_at", Schema.INT64_SCHEMA)
        .field("paid", Schema.BOOLEAN_SCHEMA)
        .build()
    )
    KEY_SCHEMA = Schema.INT64_SCHEMA
    STATUSES = ("new", "paid", "shipped", "delivered", "returned")

    SOURCE_CONFIG = (
        ConfigDef()
        .define("topic", "string", importance="high", doc="Topic to write to.")
        .define("records", "long", importance="high", doc="Records to generate, in total.")
        .define("batch", "int", 2000, "medium", "Records per poll().")
        .define("stats.dir", "string", importance="high", doc="Where tasks write their timings.")
        .define("task.index", "int", 0, "low", "Set by the connector.")
        .define("task.records", "long", 0, "low", "Set by the connector.")
    )
    SINK_CONFIG = (
        ConfigDef()
        .define("records.per.partition", "long", importance="high", doc="Records in each partition.")
        .define("stats.dir", "string", importance="high", doc="Where tasks write their timings.")
        .define("task.index", "int", 0, "low", "Set by the connector.")
    )


    def _write(path, data):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)


    class BenchSourceConnector(SourceConnector):
        def version(self):
            return "1.0"

        def config(self):
            return SOURCE_CONFIG

        def start(self, props):
            self._props = dict(props)
            self._values = SOURCE_CONFIG.parse(props)

        def task_class(self):
            return BenchSourceTask

        def task_configs(self, max_tasks):
            total = self._values["records"]
            out = []
            for i in range(max_tasks):
                share = total // max_tasks + (1 if i < total % max_tasks else 0)
                out.append({**self._props, "task.index": str(i), "task.records": str(share)})
            return out

        def stop(self):
            pass


    class BenchSourceTask(SourceTask):
        def __init__(self):
            self._halt = threading.Event()

        def version(self):
            return "1.0"

        def start(self, props):
            v = SOURCE_CONFIG.parse(props)
            self._topic = v["topic"]
            self._index = v["task.index"]
            self._total = v["task.records"]
            self._batch = v["batch"]
            self._partition = {"task": self._index}
            self._next = 0
            self._last = None
            self._first_poll = None
            self._last_ack = None
            self._committed = None
            self._cpu0 = self._cpu = None
            self._report_at = 0.0
            self._path = os.path.join(v["stats.dir"], f"source-{self._index}.json")
            # 1024 distinct values, built once: the benchmark measures the runtime, not the generator.
            base = int(time.time() * 1000)
            self._values = [
                Struct(VALUE_SCHEMA, {
                    "id": i,
                    "customer": f"customer-{i % 997:05d}",
                    "amount": round(i * 1.37 % 1000, 2),
                    "quantity": i % 17 + 1,
                    "status": STATUSES[i % len(STATUSES)],
                    "note": None if i % 3 else f"note for order {i}",
                    "created_at": base + i,
                    "paid": bool(i % 2),
                })
                for i in range(1024)
            ]

        def poll(self):
            if self._next >= self._total:
                self._halt.wait(0.05)
                return None
            now = time.time()
            if self._first_poll is None:
                self._first_poll = now
                self._cpu0 = time.thread_time()
            start, end = self._next, min(self._next + self._batch, self._total)
            topic, partition, values, spart = self._topic, self._index, self._values, self._partition
            key_schema, value_schema = KEY_SCHEMA, VALUE_SCHEMA
            records = [
                SourceRecord(spart, {"i": i}, topic, partition, key_schema, i, value_schema, values[i & 1023])
                for i in range(start, end)
            ]
            self._next = end
            if end >= self._total:
                self._last = records[-1]
            if now >= self._report_at:
                self._report_at = now + 0.5
                self._report(False)
            return records

        def commit_record(self, record, metadata):
            if record is self._last:
                self._last_ack = time.time()
                self._cpu = time.thread_time() - self._cpu0

        def commit(self):
            if self._last is not None and self._committed is None:
                self._committed = time.time()
                if self._last_ack is None:  # cannot happen: commit() follows the flush of every record
                    self._last_ack = self._committed
                self._report(True)

        def _report(self, done):
            _write(self._path, {
                "kind": "source", "task": self._index, "records": self._total, "generated": self._next,
                "first_poll": self._first_poll, "last_ack": self._last_ack, "committed": self._committed,
                "thread_cpu": self._cpu, "done": done,
            })

        def stop(self):
            self._halt.set()


    class BenchSinkConnector(SinkConnector):
        def version(self):
            return "1.0"

        def config(self):
            return SINK_CONFIG

        def start(self, props):
            self._props = dict(props)

        def task_class(self):
            return BenchSinkTask

        def task_configs(self, max_tasks):
            return [{**self._props, "task.index": str(i)} for i in range(max_tasks)]

        def stop(self):
            pass


    class BenchSinkTask(SinkTask):
        def version(self):
            return "1.0"

        def start(self, props):
            v = SINK_CONFIG.parse(props)
            self._per_partition = v["records.per.partition"]
            self._index = v["task.index"]
            self._path = os.path.join(v["stats.dir"], f"sink-{self._index}.json")
            self._assigned = set()
            self._count = 0
            self._first_batch = 0
            self._first_put_end = None
            self._last_put_end = None
            self._cpu0 = self._cpu = None
            self._report_at = 0.0
            self._done = False

        def open(self, partitions):
            self._assigned.update(partitions)

        def close(self, partitions):
            self._assigned.difference_update(partitions)

        def put(self, records):
            n = len(records)
            if not n:
                return
            self._count += n
            now = time.time()
            if self._first_put_end is None:
                self._first_put_end = now
                self._first_batch = n
                self._cpu0 = time.thread_time()
            self._last_put_end = now
            self._cpu = time.thread_time() - self._cpu0
            expected = len(self._assigned) * self._per_partition
            if not self._done and expected and self._count >= expected:
                self._done = True
                self._report(True)
            elif now >= self._report_at:
                self._report_at = now + 0.5
                self._report(False)

        def _report(self, done):
            _write(self._path, {
                "kind": "sink", "task": self._index, "records": self._count,
                "first_batch": self._first_batch, "first_put_end": self._first_put_end,
                "last_put_end": self._last_put_end, "partitions": len(self._assigned),
                "thread_cpu": self._cpu, "done": done,
            })

        def stop(self):
            pass
    '''
)


@dataclass
class TaskResult:
    path: str  # "source" | "sink"
    task: int
    records: int
    seconds: float
    rate: float
    target: float
    committed_seconds: float | None = None  # source: until the covering offset commit
    committed_rate: float | None = None
    worker_cpu_s_per_m: float | None = None
    broker_cpu_s_per_m: float | None = None
    thread_cpu_s: float | None = None  # CPU time of the task's own thread within the clock
    profiled: bool = False

    @property
    def thread_rate(self) -> float | None:
        """Records per CPU-second of the task thread: the rate if that thread had a core to itself."""
        if not self.thread_cpu_s:
            return None
        counted = self.rate * self.seconds
        return counted / self.thread_cpu_s

    @property
    def ok(self) -> bool:
        return self.rate >= self.target

    def line(self) -> str:
        what = "poll->convert->produce->acked" if self.path == "source" else "consume->convert->put"
        text = (
            f"connect-{self.path} task {self.task}: {self.records:,} records in {self.seconds:.2f} s = "
            f"{self.rate:,.0f} rec/s ({what})"
        )
        if self.committed_rate is not None and self.committed_seconds is not None:
            text += (
                f"; {self.committed_rate:,.0f} rec/s to the offset commit ({self.committed_seconds:.2f} s)"
            )
        if self.thread_rate is not None:
            text += (
                f"; task thread {self.thread_cpu_s:.2f} CPU-s "
                f"({100 * (self.thread_cpu_s or 0) / self.seconds:.0f}% of a core) = "
                f"{self.thread_rate:,.0f} rec/s per CPU-s ({1e6 / self.thread_rate:.2f} us CPU per record)"
            )
        cpu = []
        if self.worker_cpu_s_per_m is not None:
            cpu.append(f"worker {self.worker_cpu_s_per_m:.2f}")
        if self.broker_cpu_s_per_m is not None:
            cpu.append(f"broker {self.broker_cpu_s_per_m:.2f}")
        if cpu:
            text += f"; cpu-s/M: {', '.join(cpu)}"
        text += f"; target >= {self.target:,.0f}: {'OK' if self.ok else 'BELOW'}"
        if self.profiled:
            text += " (profiled run)"
        return text


def _wait_for_tasks(
    worker: ConnectWorker, stats_dir: Path, kind: str, tasks: int, total: int, connector: str, timeout: float
) -> list[dict[str, Any]]:
    def progress(stats: list[dict[str, Any]]) -> str:
        count = sum(s.get("generated" if kind == "source" else "records", 0) for s in stats)
        label = "generated" if kind == "source" else "delivered to put()"
        return f"{kind}: {count:,}/{total:,} records {label} ({100 * count / total:5.1f}%)"

    return wait_for_task_stats(worker, stats_dir, kind, tasks, connector, timeout, progress)


def run(args: argparse.Namespace) -> list[TaskResult]:
    results: list[TaskResult] = []
    profile_dir = Path(args.profile) if args.profile else None
    with tempfile.TemporaryDirectory(prefix="connect-bench-") as tmp_name:
        tmp = Path(tmp_name)
        plugins, stats_dir = write_plugin(tmp, PLUGIN_MODULE, PLUGIN_SOURCE)
        with running_broker("headrace", args.bootstrap, args.data_dir) as broker:
            topic = unique_topic("connect-bench")
            create_topic(broker.bootstrap, topic, partitions=args.tasks)
            log(f"topic {topic} ({args.tasks} partition(s)) ready; starting the worker ...")
            worker = start_worker(broker.bootstrap, tmp / "worker", plugins, args.flush_ms, args.set)
            try:
                plugin_names = [p["class"] for p in worker.json("GET", "/connector-plugins")]
                if not any(p.endswith("BenchSourceConnector") for p in plugin_names):
                    raise RuntimeError(
                        f"the bench plugins were not loaded: {plugin_names}\n{worker.log_tail()}"
                    )
                settle(worker.pid, broker, args.wait_quiet)
                results += _source_phase(args, worker, broker, topic, stats_dir, profile_dir)
                # The idle source would keep polling: remove it so the sink phase runs alone.
                worker.json("DELETE", "/connectors/bench-source", expect=204)
                results += _sink_phase(args, worker, broker, topic, stats_dir, profile_dir)
            except BaseException:
                log(f"worker log tail:\n{worker.log_tail(40)}")
                raise
            finally:
                worker.close()
    return results


def _source_phase(
    args: argparse.Namespace,
    worker: ConnectWorker,
    broker: Any,
    topic: str,
    stats_dir: Path,
    profile_dir: Path | None,
) -> list[TaskResult]:
    log(f"source phase: {args.records:,} records, {args.tasks} task(s), batch {args.batch}")
    spy = profile_worker(worker.pid, "worker-source", profile_dir)
    w0, b0 = proc_cpu_seconds(worker.pid), proc_cpu_seconds(broker.pid)
    worker.create(
        "bench-source",
        {
            "connector.class": "BenchSourceConnector",
            "tasks.max": str(args.tasks),
            "topic": topic,
            "records": str(args.records),
            "batch": str(args.batch),
            "stats.dir": str(stats_dir),
            **JSON_SCHEMA_CONVERTERS,
        },
    )
    stats = _wait_for_tasks(
        worker, stats_dir, "source", args.tasks, args.records, "bench-source", args.timeout
    )
    w1, b1 = proc_cpu_seconds(worker.pid), proc_cpu_seconds(broker.pid)
    print_worker_profile(spy, "source phase")
    out = []
    for s in stats:
        ack_s = s["last_ack"] - s["first_poll"]
        commit_s = s["committed"] - s["first_poll"]
        r = TaskResult(
            "source",
            s["task"],
            s["records"],
            ack_s,
            s["records"] / ack_s,
            TARGET_SOURCE,
            commit_s,
            s["records"] / commit_s,
            cpu_per_m(w0, w1, args.records),
            cpu_per_m(b0, b1, args.records),
            s.get("thread_cpu"),
            profile_dir is not None,
        )
        print_result(r.line())
        out.append(r)
    return out


def _sink_phase(
    args: argparse.Namespace,
    worker: ConnectWorker,
    broker: Any,
    topic: str,
    stats_dir: Path,
    profile_dir: Path | None,
) -> list[TaskResult]:
    per_partition = args.records // args.tasks
    if per_partition * args.tasks != args.records:
        raise SystemExit("--records must be a multiple of --tasks")
    log(f"sink phase: {args.records:,} records in the topic, {args.tasks} task(s)")
    spy = profile_worker(worker.pid, "worker-sink", profile_dir)
    w0, b0 = proc_cpu_seconds(worker.pid), proc_cpu_seconds(broker.pid)
    worker.create(
        "bench-sink",
        {
            "connector.class": "BenchSinkConnector",
            "tasks.max": str(args.tasks),
            "topics": topic,
            "records.per.partition": str(per_partition),
            "stats.dir": str(stats_dir),
            **JSON_SCHEMA_CONVERTERS,
        },
    )
    stats = _wait_for_tasks(worker, stats_dir, "sink", args.tasks, args.records, "bench-sink", args.timeout)
    w1, b1 = proc_cpu_seconds(worker.pid), proc_cpu_seconds(broker.pid)
    print_worker_profile(spy, "sink phase")
    out = []
    for s in stats:
        counted = s["records"] - s["first_batch"]
        seconds = s["last_put_end"] - s["first_put_end"]
        r = TaskResult(
            "sink",
            s["task"],
            s["records"],
            seconds,
            counted / seconds if seconds > 0 else float("inf"),
            TARGET_SINK,
            worker_cpu_s_per_m=cpu_per_m(w0, w1, args.records),
            broker_cpu_s_per_m=cpu_per_m(b0, b1, args.records),
            thread_cpu_s=s.get("thread_cpu"),
            profiled=profile_dir is not None,
        )
        print_result(r.line())
        out.append(r)
    return out


def summary(results: list[TaskResult]) -> str:
    rows = []
    for r in results:
        rows.append(
            [
                r.path,
                str(r.task),
                f"{r.records:,}",
                f"{r.seconds:.2f}",
                f"{r.rate:,.0f}",
                f"{r.committed_rate:,.0f}" if r.committed_rate is not None else "-",
                f"{r.thread_rate:,.0f}" if r.thread_rate is not None else "-",
                f"{r.worker_cpu_s_per_m:.2f}" if r.worker_cpu_s_per_m is not None else "-",
                f"{r.broker_cpu_s_per_m:.2f}" if r.broker_cpu_s_per_m is not None else "-",
                f">= {r.target:,.0f}",
                "OK" if r.ok else "BELOW",
            ]
        )
    for path in ("source", "sink"):
        mine = [r for r in results if r.path == path]
        if len(mine) > 1:
            total = sum(r.records for r in mine)
            seconds = max(r.seconds for r in mine)
            rows.append(
                [
                    path,
                    "all",
                    f"{total:,}",
                    f"{seconds:.2f}",
                    f"{total / seconds:,.0f}",
                    "-",
                    "-",
                    "-",
                    "-",
                    "",
                    "",
                ]
            )
    return table(
        [
            "path",
            "task",
            "records",
            "s",
            "rec/s",
            "rec/s to commit",
            "rec/s per thread CPU-s",
            "worker cpu-s/M",
            "broker cpu-s/M",
            "target",
            "",
        ],
        rows,
        "llrrrrrrrrl",
    )


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--records", type=int, default=1_000_000, help="records through each path (default 1M)")
    p.add_argument("--quick", action="store_true", help="100k records (a smoke run)")
    p.add_argument(
        "--tasks", type=int, default=1, help="source tasks = sink tasks = topic partitions (default 1)"
    )
    p.add_argument("--batch", type=int, default=2000, help="records per source poll() (default 2000)")
    p.add_argument(
        "--flush-ms", type=int, default=1000, help="worker offset.flush.interval.ms (default 1000)"
    )
    add_worker_arguments(p, profile_help="py-spy the worker in each phase; write profiles to DIR")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds (each with a fresh broker and worker); the table shows, per path and task, the round "
        "with the median rate",
    )
    args = p.parse_args()
    if args.quick:
        args.records = 100_000
    if args.records % args.tasks:
        raise SystemExit("--records must be a multiple of --tasks")
    start_run(args)
    rounds: list[list[TaskResult]] = []
    for i in range(max(1, args.repeat)):
        if args.repeat > 1:
            log(f"round {i + 1}/{args.repeat}")
        rounds.append(run(args))
    results = median_results(rounds)
    if args.json:
        print(
            json.dumps(
                {
                    "results": [{**asdict(r), "ok": r.ok} for r in results],
                    "rounds": [[{**asdict(r), "ok": r.ok} for r in rs] for rs in rounds],
                }
                if args.repeat > 1
                else [{**asdict(r), "ok": r.ok} for r in results],
                indent=2,
            )
        )
    else:
        print()
        if args.repeat > 1:
            for r in results:
                rates = sorted(x.rate for rs in rounds for x in rs if (x.path, x.task) == (r.path, r.task))
                print(f"{r.path} task {r.task}: rec/s per round {', '.join(f'{x:,.0f}' for x in rates)}")
            print(f"(median round of {args.repeat} per path and task)")
        print(summary(results))
    return 0 if all(r.ok for r in results) else 1


def median_results(rounds: list[list[TaskResult]]) -> list[TaskResult]:
    """Per (path, task), the result of the round with the median rate (the lower middle one of an even
    count)."""
    out = []
    for r in rounds[0]:
        same = sorted(
            (x for rs in rounds for x in rs if (x.path, x.task) == (r.path, r.task)), key=lambda x: x.rate
        )
        out.append(same[(len(same) - 1) // 2])
    return out


if __name__ == "__main__":
    sys.exit(main())
