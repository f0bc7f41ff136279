"""Wake-ups for Fetch long polls when data is appended to a partition.

Single-threaded: every method is called on the event-loop thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable


class AppendWatch:
    """Fetch handlers wait on a set of partition keys; Produce handlers call :meth:`notify`."""

    def __init__(self) -> None:
        self._waiters: dict[Hashable, set[asyncio.Future[None]]] = {}

    def notify(self, key: Hashable) -> None:
        waiters = self._waiters.pop(key, None)
        if waiters:
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    async def wait(self, keys: Iterable[Hashable], timeout: float) -> bool:
        """Wait until any of ``keys`` is notified or ``timeout`` seconds pass. True if notified."""
        if timeout <= 0:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        keys = list(keys)
        for k in keys:
            self._waiters.setdefault(k, set()).add(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            for k in keys:
                s = self._waiters.get(k)
                if s is not None:
                    s.discard(fut)
                    if not s:
                        del self._waiters[k]
