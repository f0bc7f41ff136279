"""A Kafka-aware TCP proxy that loses chosen responses, to force client retries.

``DroppingProxy`` listens on a loopback port and forwards each connection to the broker. It reads the
request frames (4-byte size, then api key, api version and correlation id) to remember which API each
correlation id belongs to; responses come back in request order per connection and start with the
correlation id, so each response is matched to its request. ``drop(api_key, n)`` decides, for the n-th
response of that API (counted over all connections, from 1), whether to swallow it: the broker did the
work but the client never hears about it and retries after ``request.timeout.ms``.

Start a headrace broker with ``advertised.listeners`` pointing at the proxy so clients come back through it
after the bootstrap Metadata. The proxy runs an asyncio loop on its own thread; ``stop()`` ends it.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

PRODUCE = 0


def every_nth_produce(n: int, limit: int | None = None) -> Callable[[int, int], bool]:
    """Drop the n-th, 2n-th, ... Produce response (at most ``limit`` of them)."""
    dropped = 0

    def drop(api_key: int, count: int) -> bool:
        nonlocal dropped
        if api_key != PRODUCE or count % n or (limit is not None and dropped >= limit):
            return False
        dropped += 1
        return True

    return drop


class DroppingProxy:
    def __init__(
        self, listen_port: int, upstream_host: str, upstream_port: int, drop: Callable[[int, int], bool]
    ) -> None:
        self.listen_port = listen_port
        self.upstream = (upstream_host, upstream_port)
        self.drop = drop
        self.requests: Counter[int] = Counter()  # api key -> requests forwarded
        self.responses: Counter[int] = Counter()  # api key -> responses seen from the broker
        self.dropped: Counter[int] = Counter()  # api key -> responses swallowed
        self.connections = 0
        # Latest frames: (seconds since start, connection no., "req"/"resp"/"DROP", api key, corr id).
        self.trace: deque[tuple[float, int, str, int, int]] = deque(maxlen=300)
        self._t0 = time.monotonic()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="dropping-proxy", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.listen_port}"

    def start(self) -> DroppingProxy:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        fut.result(timeout=10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.listen_port)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        conn = self.connections
        try:
            broker_r, broker_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            self._tasks.discard(task)
            return
        pending: dict[int, int] = {}  # correlation id -> api key, for this connection
        up = asyncio.ensure_future(self._requests(client_r, broker_w, pending, conn))
        down = asyncio.ensure_future(self._responses(broker_r, client_w, pending, conn))
        try:
            await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # stop(): end quietly
            pass
        finally:
            for t in (up, down):
                t.cancel()
            for w in (client_w, broker_w):
                w.close()
            self._tasks.discard(task)

    @staticmethod
    async def _frame(r: asyncio.StreamReader) -> bytes | None:
        try:
            head = await r.readexactly(4)
            (size,) = struct.unpack(">i", head)
            return head + await r.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    def _note(self, conn: int, what: str, api_key: int, correlation_id: int) -> None:
        self.trace.append((round(time.monotonic() - self._t0, 3), conn, what, api_key, correlation_id))

    async def _requests(
        self, r: asyncio.StreamReader, w: asyncio.StreamWriter, pending: dict[int, int], conn: int
    ) -> None:
        while (frame := await self._frame(r)) is not None:
            api_key, _version, correlation_id = struct.unpack_from(">hhi", frame, 4)
            pending[correlation_id] = api_key
            with self._lock:
                self.requests[api_key] += 1
                self._note(conn, "req", api_key, correlation_id)
            w.write(frame)
            await w.drain()

    async def _responses(
        self, r: asyncio.StreamReader, w: asyncio.StreamWriter, pending: dict[int, int], conn: int
    ) -> None:
        while (frame := await self._frame(r)) is not None:
            (correlation_id,) = struct.unpack_from(">i", frame, 4)
            api_key = pending.pop(correlation_id, -1)
            with self._lock:
                self.responses[api_key] += 1
                swallow = self.drop(api_key, self.responses[api_key])
                if swallow:
                    self.dropped[api_key] += 1
                self._note(conn, "DROP" if swallow else "resp", api_key, correlation_id)
            if swallow:
                continue
            w.write(frame)
            await w.drain()

    def describe(self, last: int = 40) -> str:
        """Counters and the latest frames, for assertion messages."""
        with self._lock:
            trace = list(self.trace)[-last:]
            return (
                f"proxy: {self.connections} connections, requests {dict(self.requests)}, responses "
                f"{dict(self.responses)}, dropped {dict(self.dropped)}; latest frames "
                f"(t, conn, kind, api, corr): {trace}"
            )

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.sleep(0)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()
