"""Group commit: fsyncs run on one background thread, never on the event loop.

Contract: the event-loop thread calls :meth:`GroupCommitFlusher.flush` with the partitions that
must be durable; it gets a future resolved (on the loop) once a flush that *started after the
call* has completed for all of them. Requests arriving while a flush runs are batched into the
next one, so N concurrent produce requests cost one fsync per partition, not N.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Protocol

log = logging.getLogger("broker.flusher")


class Flushable(Protocol):
    def flush(self) -> int: ...


class GroupCommitFlusher:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._cond = threading.Condition()
        self._pending: dict[int, Flushable] = {}
        self._futures: list[asyncio.Future[None]] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="headrace-flusher", daemon=True)
        self._thread.start()

    def flush(self, logs: list[Flushable]) -> asyncio.Future[None]:
        """Schedule an fsync of ``logs``; called on the loop thread. The future may be ignored."""
        fut: asyncio.Future[None] = self._loop.create_future()
        with self._cond:
            for lg in logs:
                self._pending[id(lg)] = lg
            self._futures.append(fut)
            self._cond.notify()
        return fut

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping and not self._pending:
                    return
                batch, self._pending = list(self._pending.values()), {}
                futures, self._futures = self._futures, []
            error: BaseException | None = None
            for lg in batch:
                try:
                    lg.flush()
                except BaseException as exc:  # a failed fsync must fail the waiting requests
                    log.error("flush failed: %s", exc)
                    error = exc
            self._loop.call_soon_threadsafe(self._resolve, futures, error)

    @staticmethod
    def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
        for fut in futures:
            if fut.done():
                continue
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)

    def close(self) -> None:
        """Finish pending flushes and stop the thread (blocking; call from a non-loop thread or at exit)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout=30)
