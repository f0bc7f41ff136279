"""Start-up of a partition directory: find the segments, trust what is known to be flushed, CRC-scan the
rest and truncate a torn or corrupt tail.

After a clean close (checkpoint marker matching the newest segment's base offset and size) nothing is
scanned. Otherwise every segment from the one holding the recovery point is CRC-scanned; at the first bad
batch that segment is truncated, later segments are deleted and a WARNING on logger ``broker.log`` names
the file, the position, the bytes dropped and the resulting log end offset. Runs on the thread that
constructs the PartitionLog, before the log is shared.

Log compaction leaves two kinds of state here (see ``broker.log.cleaner``). A cleaning pass commits by
writing the swap manifest ``cleaner-swap.json`` (durably, after its ``.swap`` files are complete and
fsynced); if one is found at start-up the interrupted swap is completed first: every ``.swap`` file is
renamed into place, replacing the original, and the replaced segments that have no successor of the same
name are deleted (as Kafka's LogLoader does with swap files, but from an explicit list: the offset range of
a cleaned segment does not tell which originals it replaces when the tail of a group was compacted away).
Without a manifest, ``.swap`` files are uncommitted and deleted like ``.cleaned`` and ``.deleted`` files.
``cleaner-offset-checkpoint`` holds the first dirty offset: everything below it was compacted.
"""

from __future__ import annotations

import json
import logging
import os
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from broker.log.batch import BatchScanner
from broker.log.checkpoint import PartitionCheckpoint, atomic_write, fsync_dir
from broker.log.errors import KafkaStorageError
from broker.log.segment import CLEANED_SUFFIX, DELETED_SUFFIX, SWAP_SUFFIX, Segment, segment_paths

log = logging.getLogger("broker.log")

_STRAY_SUFFIXES = (".tmp", DELETED_SUFFIX, CLEANED_SUFFIX, SWAP_SUFFIX)
SWAP_MANIFEST_FILE = "cleaner-swap.json"
CLEANER_CHECKPOINT_FILE = "cleaner-offset-checkpoint"


@dataclass(slots=True)
class SwapManifest:
    """Commit record of a cleaning pass: the segments (base offsets) it replaces and those replacing them.

    Its presence means every ``<base>.{log,index,timeindex}.swap`` of ``segments`` was complete and durable;
    completing the swap is idempotent (see :func:`complete_swap`).
    """

    replaced: list[int]
    segments: list[int]

    def store(self, directory: Path) -> None:
        """Write the manifest atomically and durably (the pass's commit point)."""
        doc = {"version": 1, "replaced": self.replaced, "segments": self.segments}
        atomic_write(directory / SWAP_MANIFEST_FILE, json.dumps(doc).encode() + b"\n", durable=True)

    @classmethod
    def load(cls, directory: Path) -> SwapManifest | None:
        """The manifest, None if absent. Raises KafkaStorageError if it cannot be read: guessing whether the
        swap was committed could lose data, so start-up stops instead."""
        path = directory / SWAP_MANIFEST_FILE
        try:
            doc = json.loads(path.read_bytes())
            return cls([int(b) for b in doc["replaced"]], [int(b) for b in doc["segments"]])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise KafkaStorageError(f"Cannot read the log cleaner's swap manifest {path}: {exc}") from exc

    @staticmethod
    def remove(directory: Path) -> bool:
        """Delete the manifest (not durably); True if there was one."""
        try:
            (directory / SWAP_MANIFEST_FILE).unlink()
        except FileNotFoundError:
            return False
        return True


def complete_swap(directory: Path, manifest: SwapManifest) -> None:
    """Finish a committed swap on disk, whatever step it was interrupted at (no fsync).

    A ``.swap`` file replaces its final name; a replaced segment whose base offset is not one of the new
    segments' is deleted. A new segment without ``.swap`` file was already renamed into place.
    """
    new = set(manifest.segments)
    for base in manifest.replaced:
        if base in new:
            continue
        for path in segment_paths(directory, base):
            path.unlink(missing_ok=True)
    for base in manifest.segments:
        for path, swap in zip(
            segment_paths(directory, base), segment_paths(directory, base, SWAP_SUFFIX), strict=True
        ):
            if swap.exists():
                os.replace(swap, path)


def load_cleaner_offset(directory: Path) -> int:
    """The first dirty offset recorded by the log cleaner (0 if none or unreadable)."""
    try:
        return int(json.loads((directory / CLEANER_CHECKPOINT_FILE).read_bytes())["first_dirty_offset"])
    except FileNotFoundError:
        return 0
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("Ignoring unreadable %s in %s (%s)", CLEANER_CHECKPOINT_FILE, directory, exc)
        return 0


def store_cleaner_offset(directory: Path, first_dirty_offset: int) -> None:
    """Record the first dirty offset (not durably: a lost update only costs a redundant cleaning pass)."""
    doc = {"version": 1, "first_dirty_offset": first_dirty_offset}
    atomic_write(directory / CLEANER_CHECKPOINT_FILE, json.dumps(doc).encode() + b"\n", durable=False)


@dataclass(slots=True)
class LoadedLog:
    """What start-up found: segments (oldest first, at least one), offsets and what still needs fsync."""

    segments: list[Segment]
    log_start_offset: int
    log_end_offset: int
    recovery_point: int
    indexes_dirty: bool  # index files were rewritten and are not fsynced yet
    dir_dirty: bool  # files were created or deleted in the directory


def init_empty_indexes(segment: Segment) -> None:
    segment.rel_offsets, segment.positions = array("i"), array("i")
    segment.time_ts, segment.time_rel = array("q"), array("i")


def load_partition(directory: Path, name: str, index_interval: int) -> LoadedLog:
    """Open (creating if needed) and recover the partition directory ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    swapped = _finish_cleaner_swap(directory, name)
    bases = _segment_bases(directory)
    ckpt = PartitionCheckpoint.load(directory)
    log_start = ckpt.log_start_offset if ckpt else 0
    if not bases:
        segment = Segment(directory, log_start)
        init_empty_indexes(segment)
        return LoadedLog([segment], log_start, log_start, log_start, False, True)
    loader = _Loader(name, [Segment(directory, b) for b in bases], index_interval)
    loader.dir_dirty |= swapped
    last = loader.segments[-1]
    clean = ckpt is not None and ckpt.clean_segment == last.base_offset and ckpt.clean_size == last.size
    if clean and loader.load_clean():
        recovery_point = loader.log_end_offset
    else:
        recovery_point = loader.recover(ckpt.recovery_point if ckpt else 0)
    return LoadedLog(
        loader.segments,
        max(log_start, loader.segments[0].base_offset),
        loader.log_end_offset,
        recovery_point,
        loader.indexes_dirty,
        loader.dir_dirty,
    )


def _finish_cleaner_swap(directory: Path, name: str) -> bool:
    """Complete a cleaning pass's committed swap (durably) and remove its manifest; True if there was one."""
    manifest = SwapManifest.load(directory)
    if manifest is None:
        return False
    complete_swap(directory, manifest)
    fsync_dir(directory)
    SwapManifest.remove(directory)
    log.warning(
        "Completed an interrupted log-cleaner swap in %s: segments %s replaced by %s",
        name,
        manifest.replaced,
        manifest.segments,
    )
    return True


def _segment_bases(directory: Path) -> list[int]:
    """Base offsets of the ``.log`` files; removes leftover temporary files and orphan index files."""
    bases: list[int] = []
    for path in directory.iterdir():
        if path.name.endswith(_STRAY_SUFFIXES):
            path.unlink()
        elif path.suffix == ".log" and len(path.stem) == 20 and path.stem.isdigit():
            bases.append(int(path.stem))
    known = set(bases)
    for path in directory.iterdir():
        if path.suffix in (".index", ".timeindex") and path.stem.isdigit() and int(path.stem) not in known:
            path.unlink()
    return sorted(bases)


class _Loader:
    def __init__(self, name: str, segments: list[Segment], index_interval: int) -> None:
        self.name = name
        self.segments = segments
        self.interval = index_interval
        self.log_end_offset = segments[-1].base_offset
        self.indexes_dirty = False
        self.dir_dirty = False

    def load_trusted(self, segment: Segment) -> None:
        """A segment below the recovery point: read sizes and its max timestamp only (indexes lazily)."""
        segment.flushed_size = segment.size
        if not segment.read_index_tail():
            log.warning("Index files of %s are torn or missing; rebuilding them", segment.log_path)
            segment.rebuild(self.interval, verify_crc=False, min_offset=segment.base_offset, final=True)
            self.indexes_dirty = True

    def load_clean(self) -> bool:
        """After a clean close: trust every file, scan only the active segment's tail (headers only).
        False if that tail does not end exactly at the end of the file (then recover instead)."""
        for segment in self.segments[:-1]:
            self.load_trusted(segment)
        active = self.segments[-1]
        active.flushed_size = active.size
        if not active.load_indexes():
            log.warning("Index files of %s are torn or inconsistent; rebuilding them", active.log_path)
            result = active.rebuild(
                self.interval, verify_crc=False, min_offset=active.base_offset, final=False
            )
            self.indexes_dirty = True
            if result.valid_end != active.size:
                return False
            self.log_end_offset = result.next_offset if result.next_offset is not None else active.base_offset
            return True
        active.index_flushed, active.timeindex_flushed = active.index_bytes, active.timeindex_bytes
        assert active.positions is not None
        start = active.positions[-1] if active.positions else 0
        scanner = BatchScanner(active.fd, start, active.size, verify_crc=False, chunk=64 * 1024)
        next_offset = active.base_offset
        for h in scanner:
            next_offset = h.base_offset + h.last_offset_delta + 1
            if h.max_timestamp > active.max_timestamp:
                active.max_timestamp = h.max_timestamp
                active.offset_of_max_timestamp = next_offset - 1
        if scanner.end_position != active.size:
            return False
        self.log_end_offset = next_offset
        return True

    def recover(self, recovery_point: int) -> int:
        """CRC-scan every segment from the one holding ``recovery_point``, truncating at the first bad
        batch; return the recovery point to use (never above the new log end offset)."""
        segments = self.segments
        first = max(0, bisect_right([s.base_offset for s in segments], recovery_point) - 1)
        for segment in segments[:first]:
            self.load_trusted(segment)
        expected = segments[first].base_offset
        for i in range(first, len(segments)):
            segment = segments[i]
            is_last = i == len(segments) - 1
            result = segment.rebuild(self.interval, verify_crc=True, min_offset=expected, final=not is_last)
            self.indexes_dirty = True
            expected = (
                result.next_offset if result.next_offset is not None else max(expected, segment.base_offset)
            )
            if result.valid_end < segment.size:
                dropped = segment.size - result.valid_end
                segment.truncate_log(result.valid_end)
                later = segments[i + 1 :]
                for other in later:
                    dropped += other.size
                    other.delete_files()
                del segments[i + 1 :]
                self.dir_dirty = True
                if not is_last:  # it is the active segment now: drop its closing time-index entry
                    segment.rebuild(
                        self.interval, verify_crc=False, min_offset=segment.base_offset, final=False
                    )
                log.warning(
                    "Recovered %s: truncated %s at position %d (%s), dropping %d bytes%s; "
                    "log end offset is now %d",
                    self.name,
                    segment.log_path,
                    result.valid_end,
                    result.stop_reason,
                    dropped,
                    f" including {len(later)} later segment(s)" if later else "",
                    expected,
                )
                break
        self.log_end_offset = expected
        return min(recovery_point, expected)
