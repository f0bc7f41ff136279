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
from kafka_common.codec import ProtocolError

log = logging.getLogger("broker.server")

MAX_QUEUED_REQUESTS = 100
BIG_FRAME = 64 * 1024  # frames at least this large are received straight into their own buffer
RECV_BUFFER = 128 * 1024  # per connection: the receive buffer small frames are cut from
SPARE_FRAME_MAX = 8 * 1024 * 1024  # a big-frame buffer up to this size is kept for the next big frame
_FRAME_ROUND = 64 * 1024


class KafkaConnection(asyncio.BufferedProtocol):
    """One client connection: frames requests, runs them in order, writes responses.

    Receive path (``get_buffer``/``buffer_updated``, event-loop thread): the transport reads into a
    shared buffer from which small frames are copied out (one copy per frame). A frame of at least
    ``BIG_FRAME`` bytes gets its own buffer and the transport then reads the rest of it straight into
    that buffer (no copy at all for the bulk of a large Produce request); the buffer is writable, so
    Produce patches offsets in place and appends from it. When a big frame was answered synchronously,
    its buffer is reused for the next big frame provided nothing references it by then (no
    allocation, zero-fill or page faults per request).
    """

    def __init__(self, server: BrokerServer) -> None:
        self._server = server
        self._apis = server.apis
        self._max_size = server.config.max_request_bytes
        self._rbuf = bytearray(RECV_BUFFER)
        self._rview = memoryview(self._rbuf)
        self._start = 0  # first byte in _rbuf not yet cut into a frame
        self._end = 0  # end of the bytes received into _rbuf
        self._queue: deque[bytes | memoryview] = deque()
        self._big: memoryview | None = None  # a large frame being received into its own buffer
        self._filled = 0
        self._spare: bytearray | None = None  # the last big frame's buffer, reused if free by then
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
        self._big = None
        self._spare = None
        self._server.connections.discard(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._process()

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where the transport reads next: the rest of the big frame, else the free tail of _rbuf."""
        big = self._big
        if big is not None:
            return big[self._filled :]
        if self._end == len(self._rbuf):  # cannot happen while frames are cut eagerly; stay safe
            self._compact()
        return self._rview[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        if self._closed:
            return
        if self._big is not None:
            self._filled += nbytes
            if self._filled < len(self._big):
                return
            self._queue.append(self._big)  # no local reference: it would pin the buffer for reuse
            self._big = None
        else:
            self._end += nbytes
            if not self._cut_frames():
                return
        if len(self._queue) > MAX_QUEUED_REQUESTS and self.transport is not None and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()
        self._process()

    def _cut_frames(self) -> bool:
        """Queue every complete frame in _rbuf; start a big frame for a large incomplete one.

        Returns False when the connection was closed for a bad size prefix.
        """
        view = self._rview
        pos, end = self._start, self._end
        while end - pos >= 4:
            size = int.from_bytes(view[pos : pos + 4], "big", signed=True)
            if size < 0 or size > self._max_size:
                self._close(f"request size {size} outside 0..{self._max_size} (socket.request.max.bytes)")
                return False
            stop = pos + 4 + size
            if stop <= end:
                self._queue.append(bytes(view[pos + 4 : stop]))
                pos = stop
                continue
            if size >= BIG_FRAME:
                frame = self._frame_buffer(size)
                have = end - pos - 4
                frame[:have] = view[pos + 4 : end]
                self._big, self._filled = frame, have
                pos = end
            break
        if pos == end:
            self._start = self._end = 0
        else:
            self._start = pos
            if len(self._rbuf) - end < BIG_FRAME + 4:  # keep room for any small frame's remainder
                self._compact()
        return True

    def _compact(self) -> None:
        rest = bytes(self._rview[self._start : self._end])
        self._rview[: len(rest)] = rest
        self._start, self._end = 0, len(rest)

    def _frame_buffer(self, size: int) -> memoryview:
        """A writable buffer of ``size`` bytes for a big frame: the last big frame's if it is free."""
        spare, self._spare = self._spare, None
        if spare is None or len(spare) < size or not _unreferenced(spare):
            spare = bytearray(-(-size // _FRAME_ROUND) * _FRAME_ROUND)
        return memoryview(spare)[:size]

    def _process(self) -> None:
        while self._queue and not self._busy and not self._write_paused and not self._closed:
            frame = self._queue.popleft()
            owner = frame.obj if isinstance(frame, memoryview) else None
            try:
                result = self._apis.handle(frame, self.peer)
            except ProtocolError as exc:
                self._close(str(exc))
                return
            except Exception:
                log.exception("internal error handling a request from %s; closing the connection", self.peer)
                self._close("internal error")
                return
            del frame
            if (
                isinstance(owner, bytearray)
                and len(owner) <= SPARE_FRAME_MAX
                and not inspect.isawaitable(result)
            ):
                # Reused by the next big frame if by then nothing references it: the transport may
                # still hold the view it read into until this callback returns (uvloop does).
                self._spare = owner
            owner = None
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


def _unreferenced(buf: bytearray) -> bool:
    """True if no memoryview of ``buf`` (or other export of its memory) is alive: CPython refuses to
    resize a bytearray while one is, so a shrink-and-restore probe tells (leaves ``buf``'s size as is)."""
    try:
        del buf[-1:]
    except BufferError:
        return False
    buf.append(0)
    return True


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
