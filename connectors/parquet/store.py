"""Where ParquetSink's files live: a pyarrow filesystem (local, S3, HDFS) plus the commit protocol that
makes a set of files appear atomically, and the recovery that finds what was committed.

Layout under the store root::

    <topic>/<encoded partition>/<topic>+<kafkaPartition>+<startOffset>+<endOffset>.parquet   committed data
    _headrace/tmp/<topic>+<kafkaPartition>/<uuid>.parquet                                    staging
    _headrace/wal/<topic>+<kafkaPartition>.json                                              commit log

(``pyarrow.dataset`` ignores ``_``-prefixed paths, so a dataset over the root or a topic never sees
staging files.) ``startOffset``/``endOffset`` are the Kafka offsets of the first and last record in the
file. A commit of ONE file is a single atomic step: local/HDFS write the staging file, then rename it;
S3 uploads straight to the final key (an object becomes visible only when its upload completes). A
commit of SEVERAL files (one per encoded partition of a round) stages every file, then writes the commit
log listing ``staging -> final``, then moves each file, then deletes the log: after a crash
:meth:`Store.recover` either finishes the moves (log present) or deletes the staged files (no log), so a
round is visible entirely or not at all. Every round covers a contiguous offset range of one Kafka
partition and rounds are committed in order, so the largest ``endOffset`` among the committed files of a
partition is the last record stored; the task resumes right after it.

All methods are called on the task thread; a Store is not shared between tasks. Writers of one Kafka
partition must be unique (the runtime's group membership guarantees it).
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from connect.api import ConnectException, TopicPartition
from connectors.parquet.config import SinkSettings

__all__ = ["CommittedFile", "Store", "file_name", "parse_file_name"]

log = logging.getLogger("connectors.parquet")

_NAME = re.compile(r"^(?P<topic>[^+/]+)\+(?P<partition>\d+)\+(?P<start>\d+)\+(?P<end>\d+)\.parquet$")
META_DIR = "_headrace"


def file_name(topic: str, partition: int, start: int, end: int) -> str:
    """``<topic>+<partition>+<startOffset>+<endOffset>.parquet`` (Confluent's HDFS naming)."""
    return f"{topic}+{partition}+{start}+{end}.parquet"


@dataclass(frozen=True, order=True)
class CommittedFile:
    topic: str
    partition: int
    start: int
    end: int
    path: str


def parse_file_name(path: str) -> CommittedFile | None:
    """The coordinates in a committed file's name, or None for any other file."""
    m = _NAME.match(path.rsplit("/", 1)[-1])
    if m is None:
        return None
    return CommittedFile(m["topic"], int(m["partition"]), int(m["start"]), int(m["end"]), path)


class Store:
    """A pyarrow filesystem rooted at ``store.url``; see the module docstring for the protocol."""

    def __init__(self, fs: pafs.FileSystem, root: str, *, renames: bool, local: bool) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.renames = renames  # True: commit by rename (local, HDFS); False: by upload (S3)
        self.local = local
        self._made_dirs: set[str] = set()

    @classmethod
    def open(cls, settings: SinkSettings) -> Store:
        """Connect to the store named by ``settings.store_url`` (raises ConnectException if unreachable)."""
        url = urlparse(settings.store_url)
        try:
            if url.scheme in ("", "file"):
                root = unquote(url.path)
                os.makedirs(root, exist_ok=True)
                return cls(pafs.LocalFileSystem(), root, renames=True, local=True)
            if url.scheme in ("s3", "s3a"):
                kwargs: dict[str, Any] = {"region": settings.s3_region}
                if settings.s3_endpoint:
                    ep = urlparse(settings.s3_endpoint)
                    kwargs["endpoint_override"] = ep.netloc + ep.path.rstrip("/")
                    kwargs["scheme"] = ep.scheme
                if settings.s3_access_key:
                    kwargs["access_key"] = settings.s3_access_key
                    kwargs["secret_key"] = settings.s3_secret_key or ""
                fs = pafs.S3FileSystem(**kwargs)
                root = url.netloc + url.path.rstrip("/")
                store = cls(fs, root, renames=False, local=False)
                # Fail now, with a clear message, if the bucket is unreachable or missing.
                if fs.get_file_info(url.netloc).type == pafs.FileType.NotFound:
                    raise ConnectException(f"the S3 bucket {url.netloc!r} does not exist")
                return store
            if url.scheme == "hdfs":
                hdfs, path = pafs.FileSystem.from_uri(settings.store_url)
                return cls(hdfs, path, renames=True, local=False)
        except (OSError, pa.ArrowException) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # libhdfs lists every path
            raise ConnectException(
                f"cannot open the store {url.scheme}://{url.netloc}{url.path}: {first}"
            ) from exc
        raise ConnectException(f"unsupported store URL scheme {url.scheme!r}")

    # -- paths ---------------------------------------------------------------------------------------

    def data_dir(self, topic: str, encoded: str) -> str:
        return f"{self.root}/{topic}/{encoded}" if encoded else f"{self.root}/{topic}"

    def _staging_dir(self, tp: TopicPartition) -> str:
        return f"{self.root}/{META_DIR}/tmp/{tp.topic}+{tp.partition}"

    def _wal_path(self, tp: TopicPartition) -> str:
        return f"{self.root}/{META_DIR}/wal/{tp.topic}+{tp.partition}.json"

    # -- primitive operations --------------------------------------------------------------------------

    def _mkdir(self, path: str) -> None:
        if path in self._made_dirs:
            return
        if self.local:
            os.makedirs(path, exist_ok=True)
        elif self.renames:
            self.fs.create_dir(path, recursive=True)
        self._made_dirs.add(path)  # S3 has no directories

    def _write(self, path: str, data: pa.Buffer | bytes) -> None:
        """Write a whole file. Local files are fsynced (their rename is the commit)."""
        self._mkdir(path.rsplit("/", 1)[0])
        if self.local:
            with open(path, "wb") as f:
                f.write(memoryview(data))
                f.flush()
                os.fsync(f.fileno())
            return
        with self.fs.open_output_stream(path) as out:
            out.write(data)

    def _move(self, src: str, dst: str) -> None:
        self._mkdir(dst.rsplit("/", 1)[0])
        if self.renames:
            self.fs.move(src, dst)
            if self.local:
                _fsync_dir(dst.rsplit("/", 1)[0])
        else:
            self.fs.copy_file(src, dst)  # server-side copy; the object appears whole
            self.fs.delete_file(src)

    def _exists(self, path: str) -> bool:
        return bool(self.fs.get_file_info(path).type != pafs.FileType.NotFound)

    def _delete(self, path: str) -> None:
        try:
            self.fs.delete_file(path)
        except FileNotFoundError:
            pass

    # -- the commit protocol -----------------------------------------------------------------------------

    def commit(self, tp: TopicPartition, files: list[tuple[str, pa.Buffer]]) -> None:
        """Make ``files`` (final path, Parquet bytes) visible together; see the module docstring.

        Raises OSError/ArrowException when the store fails; calling it again with the same files is safe.
        """
        try:
            self._commit(tp, files)
        except (OSError, pa.ArrowException):
            self._made_dirs.clear()  # a directory may have been removed under us: create it again
            raise

    def _commit(self, tp: TopicPartition, files: list[tuple[str, pa.Buffer]]) -> None:
        if not files:
            return
        if len(files) == 1:
            final, data = files[0]
            if self.renames:
                staging = f"{self._staging_dir(tp)}/{uuid.uuid4().hex}.parquet"
                self._write(staging, data)
                self._move(staging, final)
            else:
                self._write(final, data)
            return
        staged: list[tuple[str, str]] = []
        for final, data in files:
            staging = f"{self._staging_dir(tp)}/{uuid.uuid4().hex}.parquet"
            self._write(staging, data)
            staged.append((staging, final))
        wal = self._wal_path(tp)
        body = json.dumps({"files": staged}).encode()
        if self.renames:
            tmp = f"{wal}.{uuid.uuid4().hex}.tmp"
            self._write(tmp, body)
            self._move(tmp, wal)
        else:
            self._write(wal, body)
        self._apply_wal(staged)
        self._delete(wal)

    def _apply_wal(self, staged: list[tuple[str, str]]) -> None:
        for staging, final in staged:
            if self._exists(staging):
                self._move(staging, final)

    def recover(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Finish or discard interrupted commits of ``partitions``, then return the largest committed
        end offset of each partition that has committed files."""
        for tp in partitions:
            wal = self._wal_path(tp)
            if self._exists(wal):
                with self.fs.open_input_stream(wal) as f:
                    staged = [(str(a), str(b)) for a, b in json.loads(f.read())["files"]]
                log.info("%s: completing an interrupted commit of %d files", tp, len(staged))
                self._apply_wal(staged)
                self._delete(wal)
            staging = self._staging_dir(tp)
            leftovers = self.fs.get_file_info(pafs.FileSelector(staging, allow_not_found=True))
            for info in leftovers:
                if info.type == pafs.FileType.File:
                    self._delete(info.path)
            if leftovers:
                log.info("%s: removed %d uncommitted staging files", tp, len(leftovers))
        ends: dict[TopicPartition, int] = {}
        wanted = set(partitions)
        for topic in sorted({tp.topic for tp in partitions}):
            for committed in self.list_files(topic):
                tp = TopicPartition(committed.topic, committed.partition)
                if tp in wanted and committed.end > ends.get(tp, -1):
                    ends[tp] = committed.end
        return ends

    def list_files(self, topic: str) -> list[CommittedFile]:
        """Every committed file of ``topic`` (any encoded partition), sorted by partition and offsets."""
        infos = self.fs.get_file_info(
            pafs.FileSelector(f"{self.root}/{topic}", recursive=True, allow_not_found=True)
        )
        found = []
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            parsed = parse_file_name(info.path)
            if parsed is not None and parsed.topic == topic:
                found.append(parsed)
        return sorted(found, key=lambda f: (f.partition, f.start, f.end, f.path))


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
