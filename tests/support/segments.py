"""Read Kafka record-batch headers straight from a segment file (``<base offset, 20 digits>.log``).

Used by the durability tests to find batch boundaries before damaging a file on purpose.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

BATCH_OVERHEAD = 12  # baseOffset int64 + batchLength int32 precede what batchLength counts
HEADER_SIZE = 61
SEGMENT_NAME = re.compile(r"^\d{20}\.log$")


@dataclass(frozen=True)
class BatchInfo:
    position: int  # byte position in the file
    size: int  # whole batch, including the 12-byte offset/length prefix
    base_offset: int
    last_offset_delta: int
    record_count: int

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def end(self) -> int:
        return self.position + self.size


def segment_files(partition_dir: Path) -> list[Path]:
    """The partition's ``.log`` segment files, oldest first."""
    files = [p for p in partition_dir.iterdir() if SEGMENT_NAME.match(p.name)]
    return sorted(files, key=lambda p: int(p.name[:20]))


def read_batches(path: Path) -> list[BatchInfo]:
    """All batch headers of a segment; fails unless the file is exactly a sequence of v2 batches."""
    data = path.read_bytes()
    out: list[BatchInfo] = []
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= HEADER_SIZE, f"{path}: {len(data) - pos} stray bytes at {pos}"
        base_offset, length = struct.unpack_from(">qi", data, pos)
        magic = data[pos + 16]
        assert magic == 2, f"{path}: batch at {pos} has magic {magic}"
        (last_delta,) = struct.unpack_from(">i", data, pos + 23)
        (count,) = struct.unpack_from(">i", data, pos + 57)
        size = BATCH_OVERHEAD + length
        assert pos + size <= len(data), f"{path}: batch at {pos} runs past the end"
        out.append(BatchInfo(pos, size, base_offset, last_delta, count))
        pos += size
    return out
