"""The broker process: a TCP listener speaking the Kafka protocol over the log.

Threading: one asyncio event loop (uvloop when installed) runs every connection and every request
handler; fsyncs run on the group-commit thread (:mod:`broker.flusher`). Requests on one
connection are answered strictly in order (as Kafka does); a handler that must wait (a Fetch
long poll, a produce waiting for fsync) holds back only its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import time
from collections import deque
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from broker.apis import KafkaApis
from broker.apis.kafka_apis import new_cluster_id
from broker.config import BrokerConfig
from broker.flusher import GroupCommitFlusher
from broker.groups.coordinator import CoordinatorConfig, GroupCoordinator
from broker.groups.store import TOPIC, GroupStore
from broker.log.cleaner import CleanerConfig
from broker.log.manager import LogManager
from broker.protocol.codec import ProtocolError

log = logging.getLogger("broker.server")

MAX_QUEUED_REQUESTS = 100
BIG_FRAME = 64 * 1024


class KafkaConnection(asyncio.Protocol):
    """One client connection: frames requests, runs them in order, writes responses."""

    def __init__(self, server: BrokerServer) -> None:
        self._server = server
        self._apis = server.apis
        self._max_size = server.config.max_request_bytes
        self._buf = bytearray()
        self._queue: deque[bytearray] = deque()
        self._big: bytearray | None = None  # a large frame being received into its own buffer
        self._filled = 0
        self._busy = False
        self._write_paused = False
        self._read_paused = False
        self._closed = False
        self._pending: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not a subclass
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._queue.clear()
        self._server.connections.discard(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._process()

    def data_received(self, data: bytes) -> None:
        """Cut the byte stream into request frames (one copy per frame): small frames are sliced out of a
        shared buffer; a large frame (>= 64 KiB) gets its own buffer that later chunks are copied into."""
        big = self._big
        if big is not None:
            need = len(big) - self._filled
            n = len(data)
            if n < need:
                big[self._filled : self._filled + n] = data
                self._filled += n
                return
            big[self._filled :] = memoryview(data)[:need]
            self._big = None
            self._queue.append(big)
            data = data[need:]
        buf = self._buf
        if data:
            buf += data
        n = len(buf)
        pos = 0
        while n - pos >= 4:
            size = int.from_bytes(buf[pos : pos + 4], "big", signed=True)
            if size < 0 or size > self._max_size:
                self._close(f"request size {size} outside 0..{self._max_size} (socket.request.max.bytes)")
                return
            end = pos + 4 + size
            if end > n:
                if size >= BIG_FRAME:
                    frame = bytearray(size)
                    have = n - pos - 4
                    frame[:have] = buf[pos + 4 : n]
                    self._big, self._filled = frame, have
                    pos = n
                break
            self._queue.append(buf[pos + 4 : end])
            pos = end
        if pos:
            del buf[:pos]
        if len(self._queue) > MAX_QUEUED_REQUESTS and self.transport is not None and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()
        self._process()

    def _process(self) -> None:
        while self._queue and not self._busy and not self._write_paused and not self._closed:
            frame = self._queue.popleft()
            try:
                result = self._apis.handle(frame, self.peer)
            except ProtocolError as exc:
                self._close(str(exc))
                return
            except Exception:
                log.exception("internal error handling a request from %s; closing the connection", self.peer)
                self._close("internal error")
                return
            if result is None:
                continue
            if inspect.isawaitable(result):
                self._busy = True
                self._pending = asyncio.ensure_future(self._finish(result))
                return
            self._write(result)
        if self._read_paused and len(self._queue) < MAX_QUEUED_REQUESTS // 2 and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()

    async def _finish(self, pending: Awaitable[list[bytes] | None]) -> None:
        try:
            result = await pending
        except Exception:
            log.exception("internal error finishing a request from %s; closing the connection", self.peer)
            self._close("internal error")
            return
        self._busy = False
        if result is not None:
            self._write(result)
        self._process()

    def _write(self, buffers: list[bytes]) -> None:
        if self.transport is not None and not self._closed:
            self.transport.writelines(buffers)

    def _close(self, reason: str) -> None:
        log.warning("closing connection from %s: %s", self.peer, reason)
        self._closed = True
        self._queue.clear()
        if self.transport is not None:
            self.transport.close()


def _load_cluster_id(data_dir: Path) -> str:
    """Read ``cluster.id`` from ``meta.properties`` (as Kafka does), creating it on first start."""
    meta = data_dir / "meta.properties"
    if meta.exists():
        for line in meta.read_text().splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1].strip()
    cid = new_cluster_id()
    tmp = meta.with_suffix(".tmp")
    tmp.write_text(f"version=1\ncluster.id={cid}\n")
    tmp.replace(meta)
    return cid


class BrokerServer:
    """Lifecycle: ``await start()``, then ``await serve_until_stopped()``; ``request_stop()`` stops it."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.connections: set[KafkaConnection] = set()
        self._server: asyncio.Server | None = None
        self._stop = asyncio.Event()
        self.logs: LogManager | None = None
        self._apis: KafkaApis | None = None
        self._flusher: GroupCommitFlusher | None = None
        self._maintenance: asyncio.Future[None] | None = None
        self._groups: GroupCoordinator | None = None

    @property
    def apis(self) -> KafkaApis:
        assert self._apis is not None
        return self._apis

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        cleaner_config = CleanerConfig.from_broker_properties(cfg.properties)  # validate before opening
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        self.logs = await loop.run_in_executor(
            None,
            lambda: LogManager(cfg.data_dir, cfg.log_defaults, cfg.num_partitions, cfg.auto_create_topics),
        )
        self._flusher = GroupCommitFlusher(loop)
        logs, flusher = self.logs, self._flusher
        store = GroupStore(logs, cfg.offsets_topic_partitions, lambda parts: flusher.flush(parts))
        self._groups = GroupCoordinator(
            CoordinatorConfig(
                cfg.group_min_session_timeout_ms,
                cfg.group_max_session_timeout_ms,
                cfg.group_initial_rebalance_delay_ms,
            ),
            store,
            topic_exists=lambda t, p: (info := logs.get(t)) is not None and 0 <= p < len(info.partitions),
        )
        restored = await loop.run_in_executor(None, store.load, self._groups.restore)
        if restored:
            log.info(
                "restored %d group record(s) for %d group(s) from %s",
                restored,
                len(self._groups.groups),
                TOPIC,
            )
        self.logs.start_cleaner(cleaner_config, loop)
        self._apis = KafkaApis(cfg, self.logs, self._flusher, _load_cluster_id(cfg.data_dir), self._groups)
        self._server = await loop.create_server(
            lambda: KafkaConnection(self), cfg.host, cfg.port, reuse_address=True, backlog=1024
        )
        self._maintenance = asyncio.ensure_future(self._maintain())
        host, port = cfg.advertised
        log.info(
            "headrace broker listening on %s:%d (advertised %s:%d), data in %s, %d topic(s), "
            "started in %.2fs",
            cfg.host,
            cfg.port,
            host,
            port,
            cfg.data_dir,
            len(self.logs.topics()),
            time.monotonic() - t0,
        )

    async def _maintain(self) -> None:
        """Periodic work on the loop: retention and time-based flushes (fsync itself is off-loop)."""
        assert self.logs is not None and self._flusher is not None
        interval = max(self.config.maintenance_interval_ms, 10) / 1000
        while True:
            await asyncio.sleep(interval)
            now_ms = int(time.time() * 1000)
            try:
                self.logs.maintain(now_ms)
                due = self.logs.flush_due(now_ms)
                if due:
                    self._flusher.flush(due)  # type: ignore[arg-type]
            except Exception:
                log.exception("log maintenance failed")

    def request_stop(self) -> None:
        self._stop.set()

    async def serve_until_stopped(self) -> None:
        await self._stop.wait()
        await self.stop()

    async def stop(self) -> None:
        log.info("shutting down")
        if self._maintenance is not None:
            self._maintenance.cancel()
        if self._server is not None:
            self._server.close()
        if self._groups is not None:
            self._groups.shutdown()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        loop = asyncio.get_running_loop()
        if self.logs is not None:
            await loop.run_in_executor(None, self.logs.stop_cleaner)
        if self._flusher is not None:
            await loop.run_in_executor(None, self._flusher.close)
        if self.logs is not None:
            await loop.run_in_executor(None, self.logs.close)
        log.info("stopped cleanly")


async def run_broker(config: BrokerConfig, ready: Any = None) -> None:
    """Run a broker until SIGTERM/SIGINT. ``ready`` (optional callable) is called once listening."""
    server = BrokerServer(config)
    await server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, server.request_stop)
    if ready is not None:
        ready(server)
    await server.serve_until_stopped()


def run(config: BrokerConfig) -> None:
    """Blocking entry point used by the CLI."""
    try:
        import uvloop

        uvloop.run(run_broker(config))
    except ImportError:
        asyncio.run(run_broker(config))
