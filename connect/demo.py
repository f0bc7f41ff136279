"""``headrace demo``: the main job on embedded defaults, with nothing but Python installed.

Starts the included broker on a free port in a temporary (or given) data directory, then moves
``--messages`` JSON change events through it: a producer writes them keyed to a 3-partition topic,
a consumer reads them back and checks that every one arrived in order per key. Progress is printed
every second. Afterwards the broker keeps serving (until Ctrl-C or ``--duration``) and the demo
prints how to reach it with any Kafka tool.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TOPIC = "demo.inventory.orders"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _EmbeddedBroker:
    """The broker on its own event-loop thread; ``stop()`` shuts it down cleanly."""

    def __init__(self, data_dir: Path, port: int) -> None:
        from broker.config import BrokerConfig

        self.config = BrokerConfig.from_properties(data_dir, "127.0.0.1", port, {"num.partitions": "3"})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="headrace-broker", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        from broker.server import BrokerServer

        async def main() -> None:
            self._server = BrokerServer(self.config)
            try:
                await self._server.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            await self._server.serve_until_stopped()

        asyncio.run(main())

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.request_stop)
        self._thread.join(30)


def _progress(label: str, done: int, total: int, started: float) -> None:
    elapsed = max(time.monotonic() - started, 1e-9)
    rate = done / elapsed
    eta = (total - done) / rate if rate > 0 else float("inf")
    print(
        f"  {label:<9} {done:>9,}/{total:,} ({100 * done / max(total, 1):5.1f}%)  {rate:>10,.0f} rec/s"
        f"  eta {eta:5.1f}s",
        flush=True,
    )


def _produce(bootstrap: str, total: int) -> dict[str, list[int]]:
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": 500_000,
        }
    )
    sent: dict[str, list[int]] = {}
    acked = 0
    errors: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        nonlocal acked
        if err is not None:
            errors.append(str(err))
        else:
            acked += 1

    started = last = time.monotonic()
    for i in range(total):
        key = f"order-{i % 1000}"
        event = {
            "op": "c" if i < 1000 else "u",
            "after": {"id": i % 1000, "version": i // 1000, "amount": round((i * 7.31) % 500, 2)},
            "ts_ms": int(time.time() * 1000),
        }
        sent.setdefault(key, []).append(i)
        while True:
            try:
                producer.produce(TOPIC, json.dumps(event).encode(), key.encode(), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        if time.monotonic() - last >= 1:
            last = time.monotonic()
            _progress("produced", acked, total, started)
    producer.flush(60)
    _progress("produced", acked, total, started)
    if errors or acked != total:
        raise RuntimeError(f"{total - acked} records not acknowledged: {errors[:3]}")
    return sent


def _consume(bootstrap: str, total: int, sent: dict[str, list[int]]) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "headrace-demo",
            "enable.auto.commit": False,
            "queued.min.messages": 100_000,
        }
    )
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(3)])
    seen: dict[str, list[int]] = {}
    count = 0
    started = last = time.monotonic()
    deadline = started + 120
    try:
        while count < total and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 0.5):
                if msg.error():
                    continue
                event = json.loads(msg.value())
                after = event["after"]
                seen.setdefault(msg.key().decode(), []).append(after["version"] * 1000 + after["id"])
                count += 1
            if time.monotonic() - last >= 1:
                last = time.monotonic()
                _progress("consumed", count, total, started)
    finally:
        consumer.close()
    _progress("consumed", count, total, started)
    if seen != sent:
        missing = sum(len(v) for v in sent.values()) - sum(len(v) for v in seen.values())
        raise RuntimeError(f"read back differs from what was written ({missing} missing)")


def run_demo(args: argparse.Namespace) -> int:
    own_dir = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="headrace-demo-")) if own_dir else Path(args.data_dir)
    port = args.port or _free_port()
    bootstrap = f"127.0.0.1:{port}"
    print(f"Headrace demo: starting the included broker on {bootstrap} (data in {data_dir})", flush=True)
    broker = _EmbeddedBroker(data_dir, port)
    try:
        broker.start()
    except OSError as exc:
        print(f"headrace: demo cannot start the broker: {exc}", file=sys.stderr)
        return 1
    try:
        print(
            f"Pipeline: generator -> topic {TOPIC} (3 partitions, keyed) -> reader that checks order per key"
        )
        started = time.monotonic()
        sent = _produce(bootstrap, args.messages)
        _consume(bootstrap, args.messages, sent)
        took = time.monotonic() - started
        print(
            f"OK: {args.messages:,} records written and read back in order per key in {took:.1f}s "
            f"({args.messages / took:,.0f} rec/s end to end)"
        )
        print(
            f"The broker keeps serving on {bootstrap}. Try any Kafka tool, e.g.:\n"
            f"  kafkacat -b {bootstrap} -L\n  kafkacat -b {bootstrap} -C -t {TOPIC} -c 3 -e"
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        if args.duration is None:
            print("Press Ctrl-C to stop.", flush=True)
        stop.wait(args.duration)
        return 0
    except Exception as exc:
        print(f"headrace: demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        broker.stop()
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        print("Broker stopped.", flush=True)
