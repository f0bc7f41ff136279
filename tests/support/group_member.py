"""One consumer-group member, run as its own process so a test can SIGKILL it.

    python tests/support/group_member.py --client confluent|kafka-python|aiokafka \
        --bootstrap HOST:PORT --topic T --group G [--session-timeout-ms 6000] [--heartbeat-ms 500]

It subscribes to ``--topic`` in ``--group`` and loops: poll, *process* (print the records), then commit
synchronously what it printed (at-least-once: a record is reported before its offset is committed, so
whatever a killed member committed the test has seen). A missing committed offset is an error, never a
silent reset (``auto.offset.reset`` = error/none). Standalone on purpose: imports no test code.

Output: one JSON object per line on stdout, flushed at once:
    {"ev": "started"}
    {"ev": "assigned", "partitions": [0, 1]}            # whenever the assignment changes
    {"ev": "records", "recs": [[partition, offset, value_text], ...]}
    {"ev": "committed", "offsets": {"0": next_offset, ...}}
    {"ev": "error", "msg": "..."}                      # a consumer or commit error (the test fails on it)
    {"ev": "closed"}
With HEADRACE_MEMBER_DEBUG=1 in the environment the client library's debug log goes to stderr.
Input: the line ``close`` on stdin makes it leave the group cleanly (the client's close()/stop()) and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
from typing import Any

_out_lock = threading.Lock()


def emit(ev: str, **fields: Any) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps({"ev": ev, **fields}) + "\n")
        sys.stdout.flush()


class Stop:
    """Set when ``close`` arrives on stdin (or stdin closes: the test is gone)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            if line.strip() == "close":
                break
        self.event.set()

    def __bool__(self) -> bool:
        return self.event.is_set()


class Tracker:
    """Reports assignment changes."""

    def __init__(self) -> None:
        self.last: list[int] | None = None

    def update(self, partitions: list[int]) -> None:
        partitions = sorted(partitions)
        if partitions != self.last:
            self.last = partitions
            emit("assigned", partitions=partitions)


def run_confluent(args: argparse.Namespace, stop: Stop) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "client.id": args.client_id,
            "session.timeout.ms": args.session_timeout_ms,
            "heartbeat.interval.ms": args.heartbeat_ms,
            "enable.auto.commit": False,
            "auto.offset.reset": "error",
            "partition.assignment.strategy": args.assignor,
            "fetch.wait.max.ms": 100,
            **({"debug": "cgrp"} if os.environ.get("HEADRACE_MEMBER_DEBUG") else {}),
        }
    )
    tracker = Tracker()
    c.subscribe([args.topic])
    emit("started")
    try:
        while not stop:
            msgs = c.consume(num_messages=args.max_records, timeout=0.1)
            tracker.update([tp.partition for tp in c.assignment()])
            recs = []
            for m in msgs:
                if m.error() is not None:
                    emit("error", msg=str(m.error()))
                    continue
                recs.append([m.partition(), m.offset(), m.value().decode()])
            if not recs:
                continue
            emit("records", recs=recs)
            nxt: dict[int, int] = {}
            for p, o, _ in recs:
                nxt[p] = max(nxt.get(p, 0), o + 1)
            try:
                c.commit(
                    offsets=[TopicPartition(args.topic, p, o) for p, o in nxt.items()], asynchronous=False
                )
            except KafkaException as exc:  # e.g. a rebalance took the partitions away: redelivered later
                emit("commit_failed", msg=str(exc))
                continue
            emit("committed", offsets={str(p): o for p, o in nxt.items()})
    finally:
        c.close()
    emit("closed")


def run_kafka_python(args: argparse.Namespace, stop: Stop) -> None:
    from kafka import KafkaConsumer, OffsetAndMetadata
    from kafka.errors import KafkaError

    c = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        client_id=args.client_id,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_ms,
        enable_auto_commit=False,
        auto_offset_reset="none",
        fetch_max_wait_ms=100,
    )
    # Know the topic's partitions before joining. Otherwise kafka-python 3.0.12 joins with no partition
    # metadata (empty assignment), rejoins as soon as the metadata arrives, and sometimes never applies the
    # second SyncGroup's assignment nor resumes heartbeats (a client hang, seen ~1 in 8 runs).
    while not c.partitions_for_topic(args.topic) and not stop:
        time.sleep(0.05)
    c.subscribe([args.topic])
    tracker = Tracker()
    emit("started")
    try:
        while not stop:
            try:
                batches = c.poll(timeout_ms=100, max_records=args.max_records)
            except KafkaError as exc:
                emit("error", msg=repr(exc))
                continue
            tracker.update([tp.partition for tp in c.assignment()])
            recs = [[r.partition, r.offset, r.value.decode()] for rs in batches.values() for r in rs]
            if not recs:
                continue
            emit("records", recs=recs)
            nxt = {tp: rs[-1].offset + 1 for tp, rs in batches.items() if rs}
            try:
                c.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in nxt.items()})
            except KafkaError as exc:
                emit("commit_failed", msg=repr(exc))
                continue
            emit("committed", offsets={str(tp.partition): o for tp, o in nxt.items()})
    finally:
        c.close()
    emit("closed")


async def run_aiokafka(args: argparse.Namespace, stop: Stop) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    c = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        client_id=args.client_id,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_ms,
        enable_auto_commit=False,
        auto_offset_reset="none",
        fetch_max_wait_ms=100,
    )
    await c.start()
    tracker = Tracker()
    emit("started")
    try:
        while not stop:
            try:
                batches = await c.getmany(timeout_ms=100, max_records=args.max_records)
            except KafkaError as exc:
                emit("error", msg=repr(exc))
                continue
            tracker.update([tp.partition for tp in c.assignment()])
            recs = [[r.partition, r.offset, r.value.decode()] for rs in batches.values() for r in rs]
            if not recs:
                continue
            emit("records", recs=recs)
            nxt = {tp: rs[-1].offset + 1 for tp, rs in batches.items() if rs}
            try:
                await c.commit(nxt)
            except KafkaError as exc:
                emit("commit_failed", msg=repr(exc))
                continue
            emit("committed", offsets={str(tp.partition): o for tp, o in nxt.items()})
    finally:
        await c.stop()
    emit("closed")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", choices=("confluent", "kafka-python", "aiokafka"), required=True)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--client-id", default="headrace-group-member")
    ap.add_argument("--session-timeout-ms", type=int, default=6000)
    ap.add_argument("--heartbeat-ms", type=int, default=500)
    ap.add_argument("--max-records", type=int, default=50)
    ap.add_argument("--assignor", default="range", help="confluent only: partition.assignment.strategy")
    args = ap.parse_args()
    if os.environ.get("HEADRACE_MEMBER_DEBUG"):  # client library logs to stderr, for post-mortems
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    stop = Stop()
    try:
        if args.client == "confluent":
            run_confluent(args, stop)
        elif args.client == "kafka-python":
            run_kafka_python(args, stop)
        else:
            asyncio.run(run_aiokafka(args, stop))
    except Exception as exc:  # report, then fail the process
        emit("error", msg=f"crashed: {exc!r}")
        raise


if __name__ == "__main__":
    main()
