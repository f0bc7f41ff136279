#!/usr/bin/env python3
"""End-to-end latency (produce -> broker -> consume) at a fixed rate, headrace broker vs Tansu.

A producer thread sends at a fixed rate (open loop: message i is due at start + i/rate) with
linger.ms=0 and acks=all; each payload carries its sequence number and ``time.perf_counter_ns()``
taken just before ``produce()``. In the same process a consumer (assigned to partition 0, no group
coordination) stamps each arrival and records ``receive - send``. Reported: p50/p99/p99.9/max and the
mean over the measurement window (after a warm-up that is not counted). One line per broker, then a
table (or ``--json``); progress goes to stderr.

    python bench/latency.py                                # headrace and tansu, 10k msg/s for 10 s, 100 B
    python bench/latency.py --brokers tansu --rate 1000 --duration 5
    python bench/latency.py --bootstrap 127.0.0.1:9092 --brokers mykafka
    python bench/latency.py --quick --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import sys
import threading
import time
from array import array
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (
    Broker,
    CpuMeter,
    Progress,
    add_common_arguments,
    create_topic,
    log,
    parse_brokers,
    running_broker,
    set_priority,
    summarize_folded,
    table,
    unique_topic,
    wait_until_quiet,
)

TARGET_P99_MS = 5.0
HEADER = struct.Struct("<qq")  # sequence number, send time (perf_counter_ns)
PROBE_SEQ = -1


@dataclass
class LatencyResult:
    broker: str
    rate_target: float
    rate_achieved: float
    duration_s: float
    size: int
    sent: int
    received: int
    missing: int
    duplicates: int
    delivery_errors: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float
    max_send_lag_ms: float  # how far the producer fell behind its schedule (client-side stall)
    broker_cpu_s: float | None
    client_cpu_s: float
    other_cpu_s: float | None  # CPU used by anything else on the machine meanwhile (noise)


def percentile(sorted_vals: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_vals:
        return 0
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def run_latency(broker: Broker, args: argparse.Namespace) -> LatencyResult:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

    topic = unique_topic("bench-latency")
    create_topic(broker.bootstrap, topic, 1)
    errors = 0

    def on_error(err: object, msg: object) -> None:  # delivery.report.only.error: failures only
        nonlocal errors
        if err is not None:
            errors += 1

    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "acks": "all",
            "linger.ms": 0,
            "enable.idempotence": False,
            "compression.type": "none",
            "socket.nagle.disable": True,
            "log_level": 3,
            "delivery.report.only.error": True,
            "on_delivery": on_error,
        }
    )
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "headrace-bench-latency",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": args.fetch_wait_ms,
            "fetch.min.bytes": 1,
            "socket.nagle.disable": True,
            "log_level": 3,
        }
    )
    producer.list_topics(topic, timeout=10)
    consumer.list_topics(topic, timeout=10)
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    pad = os.urandom(max(0, args.size - HEADER.size))

    # 1. make sure the whole path is up: probe messages until one comes back
    log(f"{broker.name}: waiting for the produce->consume path to come up ...")
    deadline = time.monotonic() + 30
    while True:
        producer.produce(topic, HEADER.pack(PROBE_SEQ, time.perf_counter_ns()) + pad, partition=0)
        producer.poll(0)
        m = consumer.poll(0.2)
        if m is not None and m.error() is None:
            break
        if time.monotonic() > deadline:
            broker.check_alive()
            raise RuntimeError("no probe message came back within 30 s")

    # 2. warm-up + measurement, sent by a paced producer thread; warm-up sequence numbers are not counted
    interval_ns = int(1e9 / args.rate)
    n_warm = int(args.rate * args.warmup)
    n_meas = int(args.rate * args.duration)
    total = n_warm + n_meas
    lat_ns = array("q", [-1]) * total
    max_lag_ns = 0
    sent = 0
    stop = threading.Event()

    def produce_loop() -> None:
        nonlocal max_lag_ns, sent
        produce, poll, pack, now = producer.produce, producer.poll, HEADER.pack, time.perf_counter_ns
        start = now() + 1_000_000
        for seq in range(total):
            due = start + seq * interval_ns
            t = now()
            if t < due:
                time.sleep((due - t) / 1e9)
                t = now()
            if seq >= n_warm and t - due > max_lag_ns:
                max_lag_ns = t - due
            produce(topic, pack(seq, now()) + pad, partition=0)
            sent = seq + 1
            poll(0)
            if stop.is_set():
                return
        producer.flush(30)

    log(
        f"{broker.name}: {args.warmup:g} s warm-up + {args.duration:g} s at {args.rate:,.0f} msg/s, "
        f"{args.size} B, linger.ms=0, acks=all"
    )
    cpu: CpuMeter | None = None
    prog = Progress(f"{broker.name} latency", n_meas, "msgs received")
    thread = threading.Thread(target=produce_loop, name="paced-producer", daemon=True)
    received = dups = 0
    poll, unpack, now = consumer.poll, HEADER.unpack_from, time.perf_counter_ns
    t_meas0 = t_meas1 = 0.0
    thread.start()
    drain_deadline: float | None = None
    try:
        while received < n_meas:
            m = poll(0.1)
            if m is None:
                if not thread.is_alive():
                    if drain_deadline is None:
                        drain_deadline = time.monotonic() + args.drain_timeout
                    elif time.monotonic() > drain_deadline:
                        break
                broker.check_alive()
                continue
            t_recv = now()
            if m.error() is not None:
                continue
            seq, t_send = unpack(m.value())
            if seq < n_warm:
                continue
            if cpu is None:
                cpu = CpuMeter(broker.pid)
                t_meas0 = time.perf_counter()
            if lat_ns[seq] >= 0:
                dups += 1
                continue
            lat_ns[seq] = t_recv - t_send
            received += 1
            prog.update(received, f", sent {max(0, sent - n_warm):,}")
        t_meas1 = time.perf_counter()
    finally:
        stop.set()
        thread.join(timeout=35)
        prog.done()
    broker_cpu, client_cpu = cpu.stop() if cpu else (None, 0.0)
    consumer.close()

    vals = sorted(v for v in lat_ns[n_warm:] if v >= 0)
    sent_meas = max(0, sent - n_warm)
    elapsed = max(t_meas1 - t_meas0, 1e-9)

    def ms(v: float) -> float:
        return v / 1e6

    return LatencyResult(
        broker=broker.name,
        rate_target=args.rate,
        rate_achieved=received / elapsed if received else 0.0,
        duration_s=args.duration,
        size=args.size,
        sent=sent_meas,
        received=received,
        missing=sent_meas - received,
        duplicates=dups,
        delivery_errors=errors,
        p50_ms=ms(percentile(vals, 50)),
        p99_ms=ms(percentile(vals, 99)),
        p999_ms=ms(percentile(vals, 99.9)),
        max_ms=ms(vals[-1] if vals else 0),
        mean_ms=ms(sum(vals) / len(vals) if vals else 0),
        max_send_lag_ms=ms(max_lag_ns),
        broker_cpu_s=broker_cpu,
        client_cpu_s=client_cpu,
        other_cpu_s=cpu.other_s if cpu else None,
    )


def is_noisy(r: LatencyResult) -> bool:
    """Other processes used more than 15% of a core during the measurement."""
    return r.other_cpu_s is not None and r.other_cpu_s > 0.15 * r.duration_s


def result_line(r: LatencyResult) -> str:
    bcpu = f"{r.broker_cpu_s:.2f}" if r.broker_cpu_s is not None else "n/a"
    extra = ""
    if r.missing or r.duplicates or r.delivery_errors:
        extra = f"  MISSING {r.missing} DUP {r.duplicates} ERR {r.delivery_errors}"
    if is_noisy(r):
        extra += f"  NOISY (other processes used {r.other_cpu_s:.1f} CPU-s)"
    return (
        f"{r.broker:<9} latency {r.size} B @ {r.rate_target:,.0f} msg/s x {r.duration_s:g} s: "
        f"p50 {r.p50_ms:.2f} ms  p99 {r.p99_ms:.2f} ms  p99.9 {r.p999_ms:.2f} ms  max {r.max_ms:.2f} ms  "
        f"({r.received:,} msgs, {r.rate_achieved:,.0f} msg/s, cpu broker {bcpu} s){extra}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--brokers",
        default="headrace,tansu",
        help="comma-separated brokers to start and compare (default: headrace,tansu); "
        "with --bootstrap: the label of that broker",
    )
    ap.add_argument(
        "--bootstrap", metavar="HOST:PORT", help="use this running broker instead of starting one"
    )
    ap.add_argument("--rate", type=float, default=10_000, help="messages per second (default 10000)")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds (default 10)")
    ap.add_argument(
        "--warmup", type=float, default=1.0, help="uncounted seconds before measuring (default 1)"
    )
    ap.add_argument("--size", type=int, default=100, help="payload bytes (default 100, minimum 16)")
    ap.add_argument(
        "--fetch-wait-ms",
        type=int,
        default=500,
        help="consumer fetch.wait.max.ms (default 500, Kafka's default); the broker must answer "
        "a waiting fetch as soon as data arrives",
    )
    ap.add_argument(
        "--drain-timeout",
        type=float,
        default=5.0,
        help="seconds to wait for stragglers after the last send (default 5)",
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="wait up to this many seconds for other busy processes to finish before measuring (default 60)",
    )
    ap.add_argument(
        "--retry-noisy",
        type=int,
        default=2,
        help="redo the measurement up to this many times when other processes disturbed it (default 2)",
    )
    ap.add_argument("--quick", action="store_true", help="2 s measurement, 0.5 s warm-up (smoke run)")
    add_common_arguments(ap)
    args = ap.parse_args(argv)
    if args.size < HEADER.size:
        ap.error(f"--size must be at least {HEADER.size} (sequence number + timestamp)")
    if args.quick:
        args.duration, args.warmup = min(args.duration, 2.0), min(args.warmup, 0.5)

    set_priority(args.nice)
    brokers = parse_brokers(args.brokers)
    if args.bootstrap and len(brokers) != 1:
        brokers = ["external"] if args.brokers == ap.get_default("brokers") else brokers
        if len(brokers) != 1:
            ap.error("--bootstrap takes exactly one broker label in --brokers")

    log(
        f"latency: brokers {', '.join(brokers)}; "
        f"{args.rate:,.0f} msg/s for {args.duration:g} s, {args.size} B"
    )
    results: list[LatencyResult] = []
    failures: list[str] = []
    profiles: dict[str, str] = {}
    for name in brokers:
        try:
            with running_broker(name, args.bootstrap, args.data_dir, args.py_spy) as broker:
                for attempt in range(args.retry_noisy + 1):
                    wait_until_quiet({broker.pid} if broker.pid else set(), max_wait=args.quiet_wait)
                    r = run_latency(broker, args)
                    if not is_noisy(r) or attempt == args.retry_noisy:
                        break
                    log(f"{name}: disturbed by other processes ({r.other_cpu_s:.1f} CPU-s), redoing it")
                results.append(r)
                if not args.json:
                    print(result_line(r), flush=True)
                log(f"{name}: p99 {r.p99_ms:.2f} ms (max send lag {r.max_send_lag_ms:.2f} ms)")
                if broker.profiler is not None:
                    broker.profiler.stop()
                    profiles[name] = summarize_folded(broker.profiler.out)
                    broker.profiler = None
        except Exception as e:  # one broker failing must not hide the other's numbers
            failures.append(f"{name}: {type(e).__name__}: {e}")
            log(f"{name}: FAILED: {type(e).__name__}: {str(e)[:2000]}")

    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "latency",
                    "host": {
                        "python": platform.python_version(),
                        "cpus": os.cpu_count(),
                        "machine": platform.machine(),
                    },
                    "settings": {
                        "rate": args.rate,
                        "duration_s": args.duration,
                        "warmup_s": args.warmup,
                        "size": args.size,
                        "linger_ms": 0,
                        "acks": "all",
                        "fetch_wait_max_ms": args.fetch_wait_ms,
                    },
                    "target_p99_ms": TARGET_P99_MS,
                    "results": [asdict(r) for r in results],
                    "failures": failures,
                },
                indent=2,
            )
        )
    else:
        rows = []
        for r in results:
            verdict = (
                ("ok" if r.p99_ms <= TARGET_P99_MS and not r.missing else "MISS")
                if r.broker == "headrace"
                else ""
            )
            rows.append(
                [
                    r.broker,
                    f"{r.received:,}",
                    f"{r.rate_achieved:,.0f}",
                    f"{r.p50_ms:.2f}",
                    f"{r.p99_ms:.2f}",
                    f"{r.p999_ms:.2f}",
                    f"{r.max_ms:.2f}",
                    f"{r.mean_ms:.2f}",
                    f"{r.missing}",
                    f"{r.broker_cpu_s:.2f}" if r.broker_cpu_s is not None else "n/a",
                    verdict,
                ]
            )
        print()
        print(
            f"end-to-end latency, {args.size} B at {args.rate:,.0f} msg/s for {args.duration:g} s, "
            f"linger.ms=0, acks=all (ms; target p99 <= {TARGET_P99_MS:g} ms)"
        )
        print(
            table(
                [
                    "broker",
                    "msgs",
                    "msg/s",
                    "p50",
                    "p99",
                    "p99.9",
                    "max",
                    "mean",
                    "missing",
                    "broker cpu-s",
                    "",
                ],
                rows,
            )
        )
        for name, prof in profiles.items():
            print(f"\npy-spy profile of the {name} broker over the whole run:\n{prof}")
        for f in failures:
            print(f"FAILED {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
