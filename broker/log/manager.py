"""All topics of one broker data directory: topic metadata, partition logs, flush and retention.

Layout: ``<data_dir>/.lock`` (flock held while open), ``<data_dir>/__topics/<topic>.json`` (name, topic_id,
partitions, config overrides; replaced atomically and durably) and ``<data_dir>/<topic>-<p>/`` per partition.

Threading contract: every method runs on the event-loop thread except ``flush_all()``, ``stop_cleaner()``
and ``cleaner_stats()`` (any thread). The admin methods (create/delete/alter) do a few fsyncs; the hot path
uses ``partition()`` and the logs. ``start_cleaner(config, loop)`` starts log compaction
(``broker.log.cleaner``): its threads hand their segment swaps to ``loop``, the thread calling the rest.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import uuid
from asyncio import AbstractEventLoop
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from broker.log.checkpoint import CHECKPOINT_FILE, atomic_write, fsync_dir
from broker.log.cleaner import CleanerConfig, CleanerStats, LogCleaner
from broker.log.config import PASSTHROUGH_TOPIC_CONFIGS, TOPIC_CONFIG_KEYS, LogConfig
from broker.log.errors import (
    InvalidConfigError,
    InvalidPartitionsError,
    InvalidTopicError,
    KafkaStorageError,
    LogDirLockedError,
    TopicExistsError,
    UnknownTopicError,
)
from broker.log.partition_log import PartitionLog

log = logging.getLogger("broker.log")

TOPICS_DIR = "__topics"
LOCK_FILE = ".lock"
MAX_TOPIC_NAME_LENGTH = 249
MAX_PARTITIONS = 100_000
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")
_PARTITION_DIR = re.compile(r"(.+)-(\d+)")


@dataclass
class TopicInfo:
    """One topic: its partitions' logs, its config overrides and the effective config."""

    name: str
    topic_id: uuid.UUID
    partitions: list[PartitionLog]
    overrides: dict[str, str] = field(default_factory=dict)
    config: LogConfig = field(default_factory=LogConfig)

    def to_json(self, partitions: int | None = None) -> bytes:
        """The metadata file's content; ``partitions`` overrides the partition count written."""
        doc = {
            "name": self.name,
            "topic_id": str(self.topic_id),
            "partitions": len(self.partitions) if partitions is None else partitions,
            "configs": self.overrides,
        }
        return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"


def validate_topic_name(name: str) -> None:
    """Raise InvalidTopicError unless ``name`` is a legal Kafka topic name."""
    if not name:
        raise InvalidTopicError("Topic name is empty")
    if name in (".", ".."):
        raise InvalidTopicError(f"Topic name cannot be {name!r}")
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        raise InvalidTopicError(f"Topic name is longer than {MAX_TOPIC_NAME_LENGTH} characters")
    if not _LEGAL_TOPIC.fullmatch(name):
        raise InvalidTopicError(
            f"Topic name {name!r} is illegal: it may only contain ASCII alphanumerics, '.', '_' and '-'"
        )


class LogManager:
    """Owns a data directory. Raises LogDirLockedError if another process has it open."""

    def __init__(
        self,
        data_dir: Path,
        defaults: LogConfig,
        default_partitions: int = 1,
        auto_create: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.defaults = defaults
        self.default_partitions = default_partitions
        self.auto_create = auto_create
        self._topics: dict[str, TopicInfo] = {}
        self._cleaner: LogCleaner | None = None
        self._closed = False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._topics_dir = self.data_dir / TOPICS_DIR
        self._topics_dir.mkdir(exist_ok=True)
        self._lock_fd = self._acquire_lock()
        try:
            self._load()
        except BaseException:
            for plog in self._all_partitions():
                plog.close()
            self._release_lock()
            raise

    # ------------------------------------------------------------------------------------ start-up

    def _acquire_lock(self) -> int:
        path = self.data_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LogDirLockedError(
                f"Data directory {self.data_dir} is in use by another broker process "
                f"(lock file {path} is held)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def _release_lock(self) -> None:
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _load(self) -> None:
        for path in sorted(self._topics_dir.iterdir()):
            if path.name.endswith(".tmp"):
                path.unlink()
                continue
            if path.suffix != ".json":
                continue
            try:
                doc = json.loads(path.read_bytes())
                name = str(doc["name"])
                overrides = {str(k): str(v) for k, v in doc.get("configs", {}).items()}
                topic_id = uuid.UUID(doc["topic_id"])
                count = int(doc["partitions"])
                config = LogConfig.from_overrides(self.defaults, overrides)
            except (ValueError, KeyError, TypeError, AttributeError, InvalidConfigError) as exc:
                raise KafkaStorageError(f"Cannot load topic metadata {path}: {exc}") from exc
            info = TopicInfo(name, topic_id, [], overrides, config)
            info.partitions = [self._open_partition(name, p, config) for p in range(count)]
            self._topics[name] = info
        for path in self.data_dir.iterdir():
            if not path.is_dir() or path.name == TOPICS_DIR:
                continue
            m = _PARTITION_DIR.fullmatch(path.name)
            if m is None:
                continue
            owner = self._topics.get(m.group(1))
            if owner is not None and int(m.group(2)) < len(owner.partitions):
                continue
            if (path / CHECKPOINT_FILE).exists() or any(path.glob("*.log")):
                # Left behind by a topic deletion interrupted after its metadata file was removed.
                log.warning("Removing %s: it belongs to no existing topic partition", path)
                shutil.rmtree(path, ignore_errors=True)

    def _open_partition(self, topic: str, partition: int, config: LogConfig) -> PartitionLog:
        return PartitionLog(self.data_dir / f"{topic}-{partition}", topic, partition, config)

    def _store(self, info: TopicInfo, partitions: int | None = None) -> None:
        atomic_write(self._topics_dir / f"{info.name}.json", info.to_json(partitions), durable=True)

    # ------------------------------------------------------------------------------------ queries

    def topics(self) -> dict[str, TopicInfo]:
        return dict(self._topics)

    def get(self, name: str) -> TopicInfo | None:
        return self._topics.get(name)

    def partition(self, name: str, partition: int) -> PartitionLog | None:
        info = self._topics.get(name)
        if info is None or not 0 <= partition < len(info.partitions):
            return None
        return info.partitions[partition]

    def get_or_create(self, name: str) -> TopicInfo | None:
        """The topic, auto-created with the defaults if ``auto_create`` (Kafka's auto.create.topics.enable);
        None if it does not exist and may not be created. Raises InvalidTopicError for an illegal name."""
        info = self._topics.get(name)
        if info is None and self.auto_create:
            info = self.create_topic(name, self.default_partitions, {})
        return info

    # ------------------------------------------------------------------------------------ admin

    def create_topic(
        self, name: str, num_partitions: int, configs: Mapping[str, str], *, validate_only: bool = False
    ) -> TopicInfo:
        """Create a topic (``num_partitions`` -1 = the default). Raises TopicExistsError,
        InvalidTopicError, InvalidPartitionsError or InvalidConfigError; with ``validate_only`` nothing is
        created and the returned TopicInfo has no partition logs."""
        validate_topic_name(name)
        if name in self._topics:
            raise TopicExistsError(f"Topic {name!r} already exists")
        collision = name.replace(".", "_")
        for other in self._topics:
            if other.replace(".", "_") == collision:
                raise InvalidTopicError(
                    f"Topic {name!r} collides with existing topic {other!r} "
                    "('.' and '_' collide in metric names)"
                )
        if num_partitions == -1:
            num_partitions = self.default_partitions
        self._check_partition_count(num_partitions)
        overrides = {str(k): str(v) for k, v in configs.items()}
        config = LogConfig.from_overrides(self.defaults, overrides)
        info = TopicInfo(name, uuid.uuid4(), [], overrides, config)
        if validate_only:
            return info
        self._store(info, num_partitions)
        info.partitions = [self._open_partition(name, p, config) for p in range(num_partitions)]
        fsync_dir(self.data_dir)
        self._topics[name] = info
        log.info("Created topic %s (%d partitions, overrides %s)", name, num_partitions, overrides)
        return info

    def delete_topic(self, name: str) -> None:
        """Delete a topic and its data. Raises UnknownTopicError."""
        info = self._topics.pop(name, None)
        if info is None:
            raise UnknownTopicError(f"Topic {name!r} does not exist")
        (self._topics_dir / f"{name}.json").unlink(missing_ok=True)
        fsync_dir(self._topics_dir)
        for plog in info.partitions:
            plog.delete()
        log.info("Deleted topic %s", name)

    def create_partitions(self, name: str, new_total: int, *, validate_only: bool = False) -> TopicInfo:
        """Grow a topic to ``new_total`` partitions. Raises UnknownTopicError or InvalidPartitionsError."""
        info = self._topics.get(name)
        if info is None:
            raise UnknownTopicError(f"Topic {name!r} does not exist")
        current = len(info.partitions)
        if new_total == current:
            raise InvalidPartitionsError(f"Topic {name!r} already has {current} partitions")
        if new_total < current:
            raise InvalidPartitionsError(
                f"Topic {name!r} currently has {current} partitions, which is higher than the requested "
                f"{new_total}"
            )
        self._check_partition_count(new_total)
        if validate_only:
            return info
        self._store(info, new_total)
        for p in range(current, new_total):
            info.partitions.append(self._open_partition(name, p, info.config))
        fsync_dir(self.data_dir)
        return info

    def alter_configs(
        self,
        name: str,
        set: Mapping[str, str],
        delete: list[str],
        *,
        validate_only: bool = False,
    ) -> TopicInfo:
        """Incrementally change a topic's overrides (set, then delete keys -> back to broker defaults).
        Raises UnknownTopicError or InvalidConfigError; nothing changes on error."""
        info = self._topics.get(name)
        if info is None:
            raise UnknownTopicError(f"Topic {name!r} does not exist")
        overrides = dict(info.overrides)
        overrides.update({str(k): str(v) for k, v in set.items()})
        for key in delete:
            if key not in TOPIC_CONFIG_KEYS and key not in PASSTHROUGH_TOPIC_CONFIGS:
                raise InvalidConfigError(key, "unknown topic config")
            overrides.pop(key, None)
        config = LogConfig.from_overrides(self.defaults, overrides)
        if validate_only:
            return info
        new_info = TopicInfo(info.name, info.topic_id, info.partitions, overrides, config)
        self._store(new_info)
        info.overrides, info.config = overrides, config
        for plog in info.partitions:
            plog.update_config(config)
        return info

    def _check_partition_count(self, count: int) -> None:
        if count < 1:
            raise InvalidPartitionsError(f"Number of partitions must be at least 1, not {count}")
        if count > MAX_PARTITIONS:
            raise InvalidPartitionsError(f"Number of partitions {count} exceeds the limit {MAX_PARTITIONS}")

    # ------------------------------------------------------------------------------------ background

    def _all_partitions(self) -> list[PartitionLog]:
        return [plog for info in list(self._topics.values()) for plog in list(info.partitions)]

    def flush_due(self, now_ms: int) -> list[PartitionLog]:
        """Partitions to flush in the background now: their flush policy says so, or a segment was rolled
        (or index files rewritten) since the last flush."""
        return [p for p in self._all_partitions() if p.needs_flush(now_ms) or p.roll_flush_pending]

    def flush_all(self) -> None:
        """fsync every partition (any thread; e.g. at shutdown)."""
        for plog in self._all_partitions():
            plog.flush()

    def maintain(self, now_ms: int) -> None:
        """Apply retention to every partition (event-loop thread, every few seconds)."""
        for plog in self._all_partitions():
            plog.maintain(now_ms)

    # ------------------------------------------------------------------------------------ compaction

    @property
    def cleaner(self) -> LogCleaner | None:
        """The running log cleaner, if any."""
        return self._cleaner

    def start_cleaner(self, config: CleanerConfig | None, loop: AbstractEventLoop) -> LogCleaner | None:
        """Start compacting ``cleanup.policy=compact`` topics (None if ``log.cleaner.enable`` is false or
        ``log.cleaner.threads`` is 0). ``loop`` runs the segment swaps: it is the thread calling the
        other methods. Call on that loop's thread."""
        cfg = config if config is not None else CleanerConfig()
        if self._cleaner is not None or not cfg.enable or cfg.threads < 1:
            return self._cleaner
        self._cleaner = LogCleaner(self._all_partitions, cfg)
        self._cleaner.start(loop)
        return self._cleaner

    def stop_cleaner(self) -> None:
        """Stop the log cleaner threads (blocking; any thread). Idempotent."""
        cleaner, self._cleaner = self._cleaner, None
        if cleaner is not None:
            cleaner.stop()

    def cleaner_stats(self) -> CleanerStats:
        """Cumulative log-cleaner counters (passes, bytes reclaimed, ...); zeros without a cleaner."""
        return self._cleaner.stats() if self._cleaner is not None else CleanerStats()

    def close(self) -> None:
        """Stop the log cleaner, flush and close every partition (clean-shutdown checkpoints) and release
        the lock file."""
        if self._closed:
            return
        self._closed = True
        self.stop_cleaner()
        try:
            for plog in self._all_partitions():
                plog.close()
        finally:
            self._release_lock()
