"""Small durable state files: atomic replace, directory fsync, and a partition's checkpoint file."""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("broker.log")

CHECKPOINT_FILE = "partition.checkpoint"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (tmp file ``.<random>.tmp`` + rename).

    With ``durable`` the tmp file is fsynced before the rename and the directory after it, so the new
    content survives a crash once this returns; without it a crash may leave the old content (never a
    partial file).
    """
    tmp = path.with_name(f".{secrets.token_hex(8)}.tmp")  # short: topic names may be 249 characters
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


@dataclass(slots=True)
class PartitionCheckpoint:
    """Persistent per-partition state.

    ``recovery_point``: every offset below it is fsynced (start-up CRC-scans only from the segment
    holding it). ``log_start_offset``: the low watermark (DeleteRecords, retention).
    ``clean_segment`` / ``clean_size``: written by a clean close — if the newest segment still has that
    base offset and exactly that size at start-up, nothing was appended since and no scan is needed.
    """

    recovery_point: int = 0
    log_start_offset: int = 0
    clean_segment: int | None = None
    clean_size: int | None = None

    def to_bytes(self) -> bytes:
        doc: dict[str, object] = {
            "version": 1,
            "recovery_point": self.recovery_point,
            "log_start_offset": self.log_start_offset,
        }
        if self.clean_segment is not None:
            doc["clean_shutdown"] = {"segment": self.clean_segment, "size": self.clean_size}
        return json.dumps(doc).encode() + b"\n"

    @classmethod
    def load(cls, directory: Path) -> PartitionCheckpoint | None:
        """Read the checkpoint; None if absent or unreadable (a warning is logged for the latter)."""
        path = directory / CHECKPOINT_FILE
        try:
            doc = json.loads(path.read_bytes())
            clean = doc.get("clean_shutdown")
            return cls(
                recovery_point=int(doc["recovery_point"]),
                log_start_offset=int(doc["log_start_offset"]),
                clean_segment=int(clean["segment"]) if clean else None,
                clean_size=int(clean["size"]) if clean else None,
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("Ignoring unreadable checkpoint %s (%s); recovering the whole log", path, exc)
            return None

    def store(self, directory: Path, *, durable: bool) -> None:
        atomic_write(directory / CHECKPOINT_FILE, self.to_bytes(), durable=durable)
