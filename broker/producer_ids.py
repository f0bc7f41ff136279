"""Producer id allocation for idempotent producers.

Ids are handed out from blocks whose upper bound is persisted (``producer-id-block`` in the data
dir) before any id of the block is used, so ids are never reused across restarts.
"""

from __future__ import annotations

import os
from pathlib import Path

BLOCK = 1000


class ProducerIdAllocator:
    """Allocates producer ids; called on the loop thread (one small fsynced write per 1000 ids)."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / "producer-id-block"
        try:
            self._next = int(self._path.read_text().strip())
        except (OSError, ValueError):
            self._next = 0
        self._limit = self._next

    def allocate(self) -> int:
        if self._next >= self._limit:
            self._limit = self._next + BLOCK
            tmp = self._path.with_suffix(".tmp")
            with open(tmp, "w") as f:
                f.write(str(self._limit))
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(self._path)
        pid = self._next
        self._next += 1
        return pid
