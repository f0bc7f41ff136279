#!/usr/bin/env python3
"""Produce and consume throughput of one partition, headrace broker vs Tansu, in one run.

For every broker (started here unless ``--bootstrap`` is given) and every message size it creates a
fresh one-partition topic, produces N pre-generated messages with confluent-kafka (acks=all) and then
consumes them back from offset 0, timing each side separately. One line per measurement on stdout,
then a side-by-side table (or ``--json``). Progress goes to stderr.

    python bench/broker_throughput.py                       # headrace and tansu, 1M x 100 B + 300k x 1 KiB
    python bench/broker_throughput.py --quick               # 10% of the counts (smoke run)
    python bench/broker_throughput.py --brokers tansu --size 100 --messages 1000000
    python bench/broker_throughput.py --bootstrap 127.0.0.1:9092 --brokers mykafka
    python bench/broker_throughput.py --json > out.json

Timing: produce = first ``produce()`` call until ``flush()`` reports every message acknowledged
(acks=all); only acknowledged messages count. With ``--idempotence`` the clock starts once the producer
holds its producer id (librdkafka requests it only after a ~500 ms start-up timer). Consume =
``assign()`` (partition 0 from OFFSET_BEGINNING) until the last message, after the consumer already
knows the topic's metadata (so librdkafka's start-up timers are not measured, but the broker's
ListOffsets and first Fetch are).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
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
    fmt_int,
    log,
    parse_brokers,
    running_broker,
    set_priority,
    summarize_folded,
    table,
    unique_topic,
    wait_until_quiet,
)

DEFAULT_SIZES = [100, 1024]
DEFAULT_COUNTS = [1_000_000, 300_000]
# (size, op) -> msgs/s the headrace broker must reach on the 2-core reference machine (the targets)
TARGETS = {
    (100, "produce"): 700_000,
    (100, "consume"): 1_500_000,
    (1024, "produce"): 400_000,
    (1024, "consume"): 800_000,
}
TARGET_RATIO = 1.0
NOISE_LIMIT = 0.15  # flag a measurement when other processes used more than this share of a core
FETCH_MAX_BYTES = 64 * 1024 * 1024
CHUNK = 10_000  # produce() calls between poll(0)/progress checks; also the consume() batch size


@dataclass
class Result:
    broker: str
    op: str  # produce | consume
    size: int
    messages: int  # messages counted in the rate (acknowledged / received)
    seconds: float
    msgs_per_s: float
    mb_per_s: float  # payload bytes only, 10^6 bytes
    broker_cpu_s: float | None
    client_cpu_s: float
    round: int
    errors: int = 0
    note: str = ""
    other_cpu_s: float | None = None  # CPU used by anything else on the machine meanwhile (noise)


# --------------------------------------------------------------------------------------------------
# clients


def producer_config(bootstrap: str, n: int, size: int, args: argparse.Namespace) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": bool(args.idempotence),
        "compression.type": "none",
        "linger.ms": args.linger_ms,
        "batch.size": args.batch_size,
        "batch.num.messages": max(10_000, args.batch_size // max(size, 1) + 1),
        # big enough that produce() never blocks on a full queue for these runs
        "queue.buffering.max.messages": min(2_147_483_647, max(100_000, n + CHUNK)),
        "queue.buffering.max.kbytes": min(2_147_483_647, max(1_048_576, (n * (size + 100)) // 1024 + 1024)),
        "socket.nagle.disable": True,
        "log_level": 3,
    }


def consumer_config(bootstrap: str, args: argparse.Namespace) -> dict[str, object]:
    import uuid

    return {
        "bootstrap.servers": bootstrap,
        # assign() mode: group.id set but unused; --group: a fresh group per run, offsets auto-committed
        "group.id": f"headrace-bench-{uuid.uuid4().hex[:8]}" if args.group else "headrace-bench",
        "enable.auto.commit": bool(args.group),
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "auto.offset.reset": "earliest",
        # 4 MiB per partition: with one fetch in flight per broker, librdkafka parses one response
        # while the application drains the previous one; 16+ MiB responses pipeline worse (measured
        # ~5% slower against headrace; Tansu caps its responses at ~5.4 MB anyway)
        "fetch.max.bytes": max(FETCH_MAX_BYTES, args.partition_fetch_bytes),
        "max.partition.fetch.bytes": args.partition_fetch_bytes,
        "receive.message.max.bytes": max(FETCH_MAX_BYTES, args.partition_fetch_bytes) + 1_048_576,
        # keep librdkafka prefetching: below these thresholds it fetches, above them it backs off
        "queued.min.messages": 1_000_000,
        "queued.max.messages.kbytes": 1_048_576,
        "fetch.wait.max.ms": 100,
        "socket.nagle.disable": True,
        "log_level": 3,
    }


def run_produce(broker: Broker, topic: str, n: int, size: int, rnd: int, args: argparse.Namespace) -> Result:
    from confluent_kafka import Producer

    pool = [
        os.urandom(size) for _ in range(256)
    ]  # pre-generated payloads, varied so nothing is trivially constant
    payloads = [pool[i & 255] for i in range(n)]
    errors = 0
    first_error: list[str] = []

    def on_error(err: object, msg: object) -> None:  # called for failed messages only
        nonlocal errors
        if err is not None:
            errors += 1
            if not first_error:
                first_error.append(str(err))

    conf = producer_config(broker.bootstrap, n, size, args)
    conf.update({"delivery.report.only.error": True, "on_delivery": on_error})
    pid_assigned: list[bool] = []
    if args.idempotence:
        # librdkafka reports its idempotence state only through statistics; a substring test keeps the
        # callback cheap (it still fires every 100 ms during the measurement, a few calls per run)
        def on_stats(stats: str) -> None:
            if not pid_assigned and '"idemp_state":"Assigned"' in stats:
                pid_assigned.append(True)

        conf.update({"statistics.interval.ms": 100, "stats_cb": on_stats})
    p = Producer(conf)
    p.list_topics(topic, timeout=10)  # connect and learn the leader before the clock starts
    if args.idempotence:
        # An idempotent producer sends nothing before it holds a producer id, and librdkafka asks for
        # one only when a ~500 ms start-up timer fires: a client start-up delay (the same against a
        # sink that acknowledges instantly), kept out of the clock like the consumer's start-up timers.
        deadline = time.monotonic() + 30
        while not pid_assigned and time.monotonic() < deadline:
            p.poll(0.05)
        if not pid_assigned:
            log(f"{broker.name}: the idempotent producer got no producer id within 30 s; measuring anyway")
    produce, poll = p.produce, p.poll
    label = f"{broker.name} produce {size} B"
    prog = Progress(label, n)
    batches = (
        [[{"value": v} for v in payloads[s : s + CHUNK]] for s in range(0, n, CHUNK)]
        if args.produce_batch
        else []
    )
    cpu = CpuMeter(broker.pid)
    t0 = time.perf_counter()
    for start, batch in zip(range(0, n, CHUNK), batches, strict=False):  # --produce-batch only
        queued = p.produce_batch(topic, batch, partition=0)
        errors += len(batch) - queued
        poll(0)
        prog.update(start + CHUNK, f", {fmt_int(len(p))} in flight")
    for start in range(0, n if not args.produce_batch else 0, CHUNK):
        for v in payloads[start : start + CHUNK]:
            try:
                produce(topic, v, partition=0)
            except BufferError:  # local queue full: serve the queue, then retry this message
                while True:
                    poll(0.01)
                    try:
                        produce(topic, v, partition=0)
                        break
                    except BufferError:
                        continue
        poll(0)
        prog.update(start + CHUNK, f", {fmt_int(len(p))} in flight")
    t_sent = time.perf_counter()
    remaining = len(p)
    last_change, last_remaining = time.monotonic(), remaining
    while remaining:
        remaining = p.flush(0.5)
        if remaining:
            prog.update(n, f", waiting for acks: {fmt_int(remaining)} outstanding")
            if remaining != last_remaining:
                last_change, last_remaining = time.monotonic(), remaining
            elif time.monotonic() - last_change > args.stall_timeout:
                broker.check_alive()
                break
    t1 = time.perf_counter()
    broker_cpu, client_cpu = cpu.stop()
    prog.done()
    delivered = n - errors - remaining
    del p
    secs = t1 - t0
    note = f"send loop {t_sent - t0:.3f}s"
    if errors or remaining:
        note += f"; {errors} failed ({first_error[0] if first_error else ''}), {remaining} unacknowledged"
    return Result(
        broker.name,
        "produce",
        size,
        delivered,
        secs,
        delivered / secs,
        delivered * size / secs / 1e6,
        broker_cpu,
        client_cpu,
        rnd,
        errors + remaining,
        note,
        cpu.other_s,
    )


def run_consume(broker: Broker, topic: str, n: int, size: int, rnd: int, args: argparse.Namespace) -> Result:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer(consumer_config(broker.bootstrap, args))
    # Learn the topic's leader first: assign() on a topic the client has no metadata for arms a 500 ms
    # offset-query retry timer in librdkafka, which would otherwise dominate short runs.
    c.list_topics(topic, timeout=10)
    consume = c.consume
    label = f"{broker.name} consume {size} B"
    prog = Progress(label, n)
    got = 0
    errors = 0
    bad_size = 0
    first_error = ""
    last_offset = -1
    t_first = 0.0
    first_batch = 0
    last_data = time.monotonic()
    cpu = CpuMeter(broker.pid)
    t0 = time.perf_counter()
    if args.group:  # consumer-group mode: subscribe; the clock starts at the first message (join excluded)
        c.subscribe([topic])
    else:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    while got < n:
        msgs = consume(min(CHUNK, n - got), 1.0)
        if not msgs:
            if time.monotonic() - last_data > args.stall_timeout:
                broker.check_alive()
                log(f"{label}: no data for {args.stall_timeout:.0f}s, giving up at {got:,}/{n:,}")
                break
            prog.update(got, ", waiting for data")
            continue
        if not t_first:
            t_first = time.perf_counter()
            first_batch = len(msgs)
            if args.group:
                t0 = t_first
        # A fresh topic holds offsets 0..n-1 without gaps, so a batch is clean iff it continues at the
        # expected offset and spans exactly len(msgs) offsets; an error event in it breaks that. Only
        # then look at every message (checking each one costs the Python client ~8% at 100 B).
        first_off = msgs[0].offset()
        if first_off != last_offset + 1 or msgs[-1].offset() - first_off + 1 != len(msgs):
            for m in msgs:
                if m.error() is not None:
                    errors += 1
                    first_error = first_error or str(m.error())
                else:
                    got += 1
                    last_offset = max(last_offset, m.offset())
        else:
            last_offset = msgs[-1].offset()
            got += len(msgs)
        if len(msgs[-1].value() or b"") != size:
            bad_size += 1
        last_data = time.monotonic()
        prog.update(got)
    t1 = time.perf_counter()
    broker_cpu, client_cpu = cpu.stop()
    prog.done()
    c.close()
    counted = got
    secs = t1 - t0
    first_to_last = (got - first_batch) / (t1 - t_first) if t_first and t1 > t_first else 0.0
    note = (
        f"first batch {(t_first - t0) * 1e3:.1f} ms after assign; "
        f"first-to-last-message rate {first_to_last:,.0f} msg/s"
    )
    if errors or last_offset != n - 1 or bad_size:
        note += f"; {errors} errors ({first_error}), last offset {last_offset}, {bad_size} wrong sizes"
    return Result(
        broker.name,
        "consume",
        size,
        counted,
        secs,
        counted / secs,
        counted * size / secs / 1e6,
        broker_cpu,
        client_cpu,
        rnd,
        errors + (n - got),
        note,
        cpu.other_s,
    )


# --------------------------------------------------------------------------------------------------
# reporting


def result_line(r: Result) -> str:
    bcpu = f"{r.broker_cpu_s:.2f}" if r.broker_cpu_s is not None else "n/a"
    other = f"{r.other_cpu_s:.2f}" if r.other_cpu_s is not None else "n/a"
    noisy = "  NOISY" if is_noisy(r) else ""
    return (
        f"{r.broker:<9} {r.op:<7} {r.size:>5} B  {r.messages:>10,} msgs  {r.seconds:7.3f} s  "
        f"{r.msgs_per_s:>11,.0f} msg/s  {r.mb_per_s:8.1f} MB/s  "
        f"cpu broker {bcpu} s client {r.client_cpu_s:.2f} s other {other} s"
        f"{'  ERRORS ' + str(r.errors) if r.errors else ''}{noisy}"
    )


def summarize(results: list[Result], brokers: list[str]) -> tuple[str, list[dict[str, object]]]:
    """Median over rounds per (broker, size, op); the side-by-side table and its rows as dicts."""
    keys = sorted({(r.size, r.op) for r in results}, key=lambda k: (k[0], k[1] != "produce"))
    rows: list[list[str]] = []
    out: list[dict[str, object]] = []
    for size, op in keys:
        row: dict[str, object] = {"size": size, "op": op}
        cells = [f"{op} {size} B"]
        for b in brokers:
            rs = [r for r in results if r.broker == b and r.size == size and r.op == op]
            if rs:
                rate = statistics.median(r.msgs_per_s for r in rs)
                mb = statistics.median(r.mb_per_s for r in rs)
                per_m = [r.broker_cpu_s / max(r.messages, 1) * 1e6 for r in rs if r.broker_cpu_s is not None]
                cpu_per_m = statistics.median(per_m) if per_m else None
                noisy = sum(1 for r in rs if is_noisy(r))
                row[b] = {
                    "msgs_per_s": rate,
                    "best_msgs_per_s": max(r.msgs_per_s for r in rs),
                    "mb_per_s": mb,
                    "rounds": len(rs),
                    "noisy_rounds": noisy,
                    "broker_cpu_s_per_million": cpu_per_m,
                    "errors": sum(r.errors for r in rs),
                }
                mark = "*" if noisy else ""
                cells += [
                    fmt_int(rate) + mark,
                    f"{mb:.1f}",
                    f"{cpu_per_m:.2f}" if cpu_per_m is not None else "n/a",
                ]
            else:
                cells += ["-", "-", "-"]
        ratio = None
        if (
            "headrace" in brokers
            and "tansu" in brokers
            and isinstance(row.get("headrace"), dict)
            and isinstance(row.get("tansu"), dict)
        ):
            ratio = row["headrace"]["msgs_per_s"] / row["tansu"]["msgs_per_s"]  # type: ignore[index]
        row["ratio_headrace_tansu"] = ratio
        target = TARGETS.get((size, op))
        row["target_msgs_per_s"] = target
        verdict = ""
        if isinstance(row.get("headrace"), dict):
            ok_target = target is None or row["headrace"]["msgs_per_s"] >= target  # type: ignore[index]
            ok_ratio = ratio is None or ratio >= TARGET_RATIO
            verdict = "ok" if ok_target and ok_ratio else "MISS"
            row["meets_targets"] = ok_target and ok_ratio
        cells += [f"{ratio:.2f}" if ratio is not None else "-", fmt_int(target) if target else "-", verdict]
        rows.append(cells)
        out.append(row)
    headers = ["measurement"]
    for b in brokers:
        headers += [f"{b} msg/s", "MB/s", "cpu-s/M"]
    headers += ["ratio h/t", "target msg/s", ""]
    return table(headers, rows), out


# --------------------------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        mult = 1
        for suffix, m in (("kib", 1024), ("kb", 1024), ("k", 1000), ("m", 1_000_000)):
            if part.endswith(suffix):
                part, mult = part[: -len(suffix)], m
                break
        out.append(int(float(part) * mult))
    return out


def is_noisy(r: Result) -> bool:
    return r.other_cpu_s is not None and r.other_cpu_s > max(0.05, NOISE_LIMIT * r.seconds)


def measure_pair(broker: Broker, size: int, n: int, rnd: int, args: argparse.Namespace) -> list[Result]:
    """Produce n messages of ``size`` B to a fresh topic, then consume them; the measured results."""
    topic = unique_topic(f"bench-tp-{size}b")
    create_topic(broker.bootstrap, topic, 1)
    log(f"{broker.name}: round {rnd}: producing {n:,} x {size} B to {topic}")
    out = [run_produce(broker, topic, n, size, rnd, args)]
    if args.only == "consume":
        out.clear()
    if args.only != "produce":
        log(f"{broker.name}: round {rnd}: consuming {n:,} x {size} B from {topic}")
        out.append(run_consume(broker, topic, n, size, rnd, args))
    return out


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
    ap.add_argument(
        "--size",
        type=int_list,
        default=None,
        help="message payload sizes in bytes, comma-separated (default: 100,1024; '1kb' = 1024)",
    )
    ap.add_argument(
        "--messages",
        type=int_list,
        default=None,
        help="message counts, one per size or one for all (default: 1000000,300000)",
    )
    ap.add_argument("--quick", action="store_true", help="10%% of the message counts (smoke run)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds per measurement; the table shows medians")
    ap.add_argument(
        "--only",
        choices=["produce", "consume", "both"],
        default="both",
        help="measure only one side (consume still produces its data first, untimed)",
    )
    ap.add_argument("--linger-ms", type=float, default=10.0, help="producer linger.ms (default 10)")
    ap.add_argument("--batch-size", type=int, default=1_000_000, help="producer batch.size (default 1000000)")
    ap.add_argument(
        "--partition-fetch-bytes",
        type=int,
        default=4 * 1024 * 1024,
        help="consumer max.partition.fetch.bytes (default 4 MiB; fetch.max.bytes is 64 MiB)",
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
        help="redo a measurement up to this many times when other processes disturbed it (default 2)",
    )
    ap.add_argument(
        "--stall-timeout", type=float, default=60.0, help="give up after this many seconds w/o progress"
    )
    add_common_arguments(ap)
    ap.add_argument(
        "--idempotence",
        action="store_true",
        help="producer with enable.idempotence=true (InitProducerId + sequence checks on the broker)",
    )
    ap.add_argument(
        "--produce-batch",
        action="store_true",
        help="send with Producer.produce_batch (one Python call per 10k messages) instead of produce()",
    )
    ap.add_argument(
        "--group",
        action="store_true",
        help="consumer subscribes as a group member (join + committed offsets) instead of assign()",
    )
    args = ap.parse_args(argv)

    set_priority(args.nice)
    brokers = parse_brokers(args.brokers)
    if args.bootstrap and len(brokers) != 1:
        brokers = ["external"] if args.brokers == ap.get_default("brokers") else brokers
        if len(brokers) != 1:
            ap.error("--bootstrap takes exactly one broker label in --brokers")
    sizes = args.size or DEFAULT_SIZES
    counts = args.messages or (DEFAULT_COUNTS if args.size is None else [DEFAULT_COUNTS[0]])
    if len(counts) == 1:
        counts = counts * len(sizes)
    if len(counts) != len(sizes):
        ap.error("--messages needs one count per --size (or a single count)")
    if args.quick:
        counts = [max(CHUNK, c // 10) for c in counts]
    plan = list(zip(sizes, counts, strict=True))

    log(
        f"broker throughput: brokers {', '.join(brokers)}; "
        + ", ".join(f"{c:,} x {s} B" for s, c in plan)
        + f"; {args.repeat} round(s); acks=all, 1 partition"
    )
    results: list[Result] = []
    profiles: dict[str, str] = {}
    failures: list[str] = []

    def record(r: Result) -> None:
        results.append(r)
        if not args.json:
            print(result_line(r), flush=True)
        log(f"{r.broker} {r.op} {r.size} B: {r.msgs_per_s:,.0f} msg/s ({r.note})")

    for name in brokers:
        try:
            with running_broker(name, args.bootstrap, args.data_dir, args.py_spy) as broker:
                for rnd in range(1, args.repeat + 1):
                    for size, n in plan:
                        for attempt in range(args.retry_noisy + 1):
                            wait_until_quiet({broker.pid} if broker.pid else set(), args.quiet_wait)
                            measured = measure_pair(broker, size, n, rnd, args)
                            noisy = [r for r in measured if is_noisy(r)]
                            if not noisy or attempt == args.retry_noisy:
                                break
                            log(f"{name}: {size} B measurement disturbed by other processes, redoing it")
                        for r in measured:
                            record(r)
                if broker.profiler is not None:
                    broker.profiler.stop()
                    profiles[name] = summarize_folded(broker.profiler.out)
                    broker.profiler = None
        except Exception as e:  # one broker failing must not hide the other's numbers
            failures.append(f"{name}: {type(e).__name__}: {e}")
            log(f"{name}: FAILED: {type(e).__name__}: {str(e)[:2000]}")

    text, rows = summarize(results, brokers)
    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "broker_throughput",
                    "host": {
                        "python": platform.python_version(),
                        "cpus": os.cpu_count(),
                        "machine": platform.machine(),
                    },
                    "settings": {
                        "sizes": sizes,
                        "messages": [c for _, c in plan],
                        "repeat": args.repeat,
                        "linger_ms": args.linger_ms,
                        "batch_size": args.batch_size,
                        "max_partition_fetch_bytes": args.partition_fetch_bytes,
                        "acks": "all",
                        "partitions": 1,
                    },
                    "results": [asdict(r) for r in results],
                    "summary": rows,
                    "failures": failures,
                },
                indent=2,
            )
        )
    else:
        print()
        print(
            f"broker throughput, 1 partition, acks=all, median of {args.repeat} round(s) "
            f"(cpu-s/M = broker CPU seconds per million messages)"
        )
        print(text)
        if any(is_noisy(r) for r in results):
            print("* includes rounds disturbed by other processes on this machine (NOISY above)")
        for name, prof in profiles.items():
            print(f"\npy-spy profile of the {name} broker over the whole run:\n{prof}")
        for f in failures:
            print(f"FAILED {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
