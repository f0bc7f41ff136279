"""``headrace demo``: the main job on embedded defaults, with nothing but Python installed.

Starts the included broker on a free port in a temporary (or given) data directory and a standalone
Connect worker (with its REST API) in the same process, generates ``--messages`` JSON change events
into a file, and runs a pipeline FileStreamSource -> broker topic -> FileStreamSink, printing live
progress every second; then checks the copy is identical to the input. Then a database pipeline
(:mod:`headrace.demo_sql`): a SQLite table, written to while it runs -> SqlSource -> broker -> SqlSink ->
a second SQLite database, checked equal at the end. Afterwards everything keeps
running (until Ctrl-C or ``--duration``): append lines to the input and watch them arrive.
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

TOPIC = "demo.orders"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _EmbeddedBroker:
    """The broker on its own event-loop thread; ``stop()`` shuts it down cleanly."""

    def __init__(self, data_dir: Path, port: int) -> None:
        from broker.config import BrokerConfig

        self.config = BrokerConfig.from_properties(data_dir, "127.0.0.1", port, {})
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
    print(
        f"  {label:<9} {done:>9,}/{total:,} ({100 * done / max(total, 1):5.1f}%)  {rate:>10,.0f} rec/s"
        f"  eta {_eta(done, total, rate)}",
        flush=True,
    )


def _eta(done: int, total: int, rate: float) -> str:
    """Time left at ``rate``, or "--" while nothing has moved yet (no rate to extrapolate from)."""
    if done >= total:
        return "0.0s"
    return f"{(total - done) / rate:.1f}s" if rate > 0 else "--"


def _write_input(path: Path, total: int) -> None:
    started = last = time.monotonic()
    with open(path, "w") as f:
        for i in range(total):
            f.write(
                json.dumps(
                    {
                        "op": "c" if i < 1000 else "u",
                        "id": i % 1000,
                        "version": i // 1000,
                        "amount": round((i * 7.31) % 500, 2),
                    }
                )
                + "\n"
            )
            if time.monotonic() - last >= 1:
                last = time.monotonic()
                _progress("generated", i + 1, total, started)
    _progress("generated", total, total, started)


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def run_demo(args: argparse.Namespace) -> int:
    from headrace.demo_sql import run_sql_pipeline
    from headrace.launcher import StandaloneWorker

    own_dir = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="headrace-demo-")) if own_dir else Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = args.port or _free_port()
    bootstrap = f"127.0.0.1:{port}"
    input_file, output_file = data_dir / "orders.jsonl", data_dir / "orders-copy.jsonl"
    output_file.unlink(missing_ok=True)
    print(f"Headrace demo: starting the included broker on {bootstrap} (data in {data_dir})", flush=True)
    broker = _EmbeddedBroker(data_dir / "broker", port)
    worker: StandaloneWorker | None = None
    try:
        broker.start()
        worker = StandaloneWorker(
            {
                "bootstrap.servers": bootstrap,
                "offset.flush.interval.ms": "1000",
                "offset.storage.file.filename": str(data_dir / "connect.offsets"),
            },
            "127.0.0.1",
            0,
        )
        worker.start()
    except (OSError, RuntimeError) as exc:
        print(f"headrace: demo cannot start: {exc}", file=sys.stderr)
        broker.stop()
        return 1
    rest = f"http://127.0.0.1:{worker.rest_port}"
    try:
        print(f"Connect worker REST API: {rest}/connectors", flush=True)
        print(f"Generating {args.messages:,} change events into {input_file}", flush=True)
        _write_input(input_file, args.messages)
        print(
            f"Pipeline: FileStreamSource({input_file.name}) -> topic {TOPIC} -> "
            f"FileStreamSink({output_file.name})",
            flush=True,
        )
        worker.add_connector(
            {
                "name": "demo-source",
                "connector.class": "FileStreamSource",
                "file": str(input_file),
                "topic": TOPIC,
                "batch.size": "5000",
                "key.converter": "StringConverter",
                "value.converter": "StringConverter",
            }
        )
        worker.add_connector(
            {
                "name": "demo-sink",
                "connector.class": "FileStreamSink",
                "file": str(output_file),
                "topics": TOPIC,
                "value.converter": "StringConverter",
            }
        )
        started = last = time.monotonic()
        deadline = started + max(120.0, args.messages / 2000)
        done = 0
        while done < args.messages and time.monotonic() < deadline:
            time.sleep(0.2)
            done = _count_lines(output_file)
            if time.monotonic() - last >= 1:
                last = time.monotonic()
                _progress("delivered", done, args.messages, started)
        _progress("delivered", done, args.messages, started)
        if input_file.read_bytes() != output_file.read_bytes():
            raise RuntimeError(f"the copy differs from the input ({done:,} of {args.messages:,} lines)")
        took = time.monotonic() - started
        print(
            f"OK: {args.messages:,} records moved through the broker and written in order in {took:.1f}s "
            f"({args.messages / took:,.0f} rec/s end to end)"
        )
        if args.rows > 0:
            print(run_sql_pipeline(data_dir, args.rows, worker.add_connector, _progress), flush=True)
        print(
            f"Try:\n  curl {rest}/connectors?expand=status\n  kcat -b {bootstrap} -C -t {TOPIC} -c 3 -e\n"
            f'  echo \'{{"op": "c", "id": 1}}\' >> {input_file}   # appears in {output_file.name}',
            flush=True,
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
        worker.stop()
        broker.stop()
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        print("Stopped.", flush=True)
