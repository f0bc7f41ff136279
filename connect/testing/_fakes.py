"""In-memory stand-ins for what the runtime hands a plugin: task and connector contexts, the offset reader
and the errant record reporter. Each records how the plugin used it, for assertions (task contexts also
record every progress report: ``progress`` is the latest, ``progress_reports`` all of them in order)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from connect.api.connector import SinkConnectorContext, SourceConnectorContext
from connect.api.progress import check_progress
from connect.api.records import SinkRecord, SourceRecord, TopicPartition
from connect.api.task import ErrantRecordReporter, OffsetStorageReader, SinkTaskContext, SourceTaskContext

__all__ = [
    "FakeErrantRecordReporter",
    "FakeSinkConnectorContext",
    "FakeSinkTaskContext",
    "FakeSourceConnectorContext",
    "FakeSourceTaskContext",
    "InMemoryOffsetStorageReader",
    "SinkContextCall",
]


def _key(partition: Mapping[str, Any]) -> str:
    """A canonical form of a source partition (dicts are not hashable; key order must not matter)."""
    try:
        return json.dumps(partition, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"source partition {partition!r} is not JSON-serializable: {exc}") from None


class InMemoryOffsetStorageReader(OffsetStorageReader):
    """Committed source offsets kept in a dict; share one between task instances to test a restart.

    Offsets are stored as JSON and read back as fresh dicts, exactly like the runtime's stores, so a
    task cannot rely on identity or on non-JSON values surviving a restart. ``reads`` lists every
    partition a task asked for, in order.
    """

    def __init__(self, offsets: Iterable[tuple[Mapping[str, Any], Mapping[str, Any] | None]] = ()) -> None:
        self._offsets: dict[str, str] = {}
        self._lock = threading.Lock()
        self.reads: list[dict[str, Any]] = []
        for partition, offset in offsets:
            self.set(partition, offset)

    def set(self, partition: Mapping[str, Any], offset: Mapping[str, Any] | None) -> None:
        """Store (or, with None, remove) the committed offset of ``partition``."""
        key = _key(partition)
        with self._lock:
            if offset is None:
                self._offsets.pop(key, None)
            else:
                self._offsets[key] = json.dumps(dict(offset), sort_keys=True)

    def commit(self, records: Iterable[SourceRecord]) -> int:
        """Store the offset of each record (the last one per partition wins), as the runtime does once
        the broker acknowledged them. Returns how many records had a partition."""
        n = 0
        for record in records:
            if record.source_partition is not None:
                self.set(record.source_partition, record.source_offset)
                n += 1
        return n

    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            self.reads.append(dict(partition))
            raw = self._offsets.get(_key(partition))
        return None if raw is None else dict(json.loads(raw))

    def all(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every stored ``(partition, offset)``."""
        with self._lock:
            return [(json.loads(k), json.loads(v)) for k, v in self._offsets.items()]

    def __len__(self) -> int:
        return len(self._offsets)


class _ProgressRecorder:
    """``report_progress`` as the runtime validates it (same errors for values it would reject), without
    the runtime's rate limit: every report is kept. Thread-safe, like the runtime's."""

    def __init__(self) -> None:
        self._progress_lock = threading.Lock()
        self._progress_reports: list[dict[str, Any] | None] = []

    def report_progress(self, progress: Mapping[str, Any] | None) -> None:
        value = check_progress(progress)
        with self._progress_lock:
            self._progress_reports.append(value)

    @property
    def progress(self) -> dict[str, Any] | None:
        """The latest reported progress (what GET .../status would show), None if none or cleared."""
        with self._progress_lock:
            return self._progress_reports[-1] if self._progress_reports else None

    @property
    def progress_reports(self) -> list[dict[str, Any] | None]:
        """Every value reported so far, in order (None for a clear)."""
        with self._progress_lock:
            return list(self._progress_reports)


class FakeSourceTaskContext(_ProgressRecorder, SourceTaskContext):
    """A :class:`SourceTaskContext` over an :class:`InMemoryOffsetStorageReader`; records progress reports
    (``progress``, ``progress_reports``) and counts ``request_commit()`` calls (``commit_requests``)."""

    def __init__(
        self,
        configs: Mapping[str, str] | None = None,
        offsets: InMemoryOffsetStorageReader | None = None,
    ) -> None:
        super().__init__()
        self._configs = dict(configs or {})
        self.offsets = offsets if offsets is not None else InMemoryOffsetStorageReader()
        self._commit_requests = 0

    def configs(self) -> dict[str, str]:
        return dict(self._configs)

    def offset_storage_reader(self) -> OffsetStorageReader:
        return self.offsets

    def request_commit(self) -> None:
        with self._progress_lock:
            self._commit_requests += 1

    @property
    def commit_requests(self) -> int:
        """How many times the task called ``request_commit()``."""
        with self._progress_lock:
            return self._commit_requests


@dataclass(frozen=True)
class SinkContextCall:
    """One call a sink task made on its context: ``name`` and its arguments."""

    name: str
    args: tuple[Any, ...] = ()


class FakeErrantRecordReporter(ErrantRecordReporter):
    """Collects reported records; each report's future is already complete."""

    def __init__(self) -> None:
        self.reported: list[tuple[SinkRecord, BaseException]] = []

    def report(self, record: SinkRecord, error: BaseException) -> Future[None]:
        self.reported.append((record, error))
        done: Future[None] = Future()
        done.set_result(None)
        return done


@dataclass
class _SinkState:
    assignment: set[TopicPartition] = field(default_factory=set)
    paused: set[TopicPartition] = field(default_factory=set)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    timeout_ms: int | None = None
    commit_requests: int = 0
    calls: list[SinkContextCall] = field(default_factory=list)


class FakeSinkTaskContext(_ProgressRecorder, SinkTaskContext):
    """A :class:`SinkTaskContext` that records pause/resume/offset/timeout/commit requests.

    Attributes after use: ``paused`` (currently paused partitions), ``offsets`` (rewinds requested
    with ``offset()``), ``timeout_ms`` (last ``timeout()``), ``commit_requests``, ``calls`` (every
    call, in order; progress reports are not among them) and ``progress`` / ``progress_reports``.
    ``assignment`` is what the test assigned; pass ``reporter`` (or ``errant_records=True``) to offer
    an :class:`ErrantRecordReporter`.
    """

    def __init__(
        self,
        configs: Mapping[str, str] | None = None,
        assignment: Iterable[TopicPartition] = (),
        reporter: ErrantRecordReporter | None = None,
        errant_records: bool = False,
    ) -> None:
        super().__init__()
        self._configs = dict(configs or {})
        self._state = _SinkState(assignment=set(assignment))
        self.reporter = (
            reporter if reporter is not None else FakeErrantRecordReporter() if errant_records else None
        )

    # -- state the test inspects ------------------------------------------------------------------------

    @property
    def paused(self) -> set[TopicPartition]:
        return set(self._state.paused)

    @property
    def offsets(self) -> dict[TopicPartition, int]:
        return dict(self._state.offsets)

    @property
    def timeout_ms(self) -> int | None:
        return self._state.timeout_ms

    @property
    def commit_requests(self) -> int:
        return self._state.commit_requests

    @property
    def calls(self) -> list[SinkContextCall]:
        return list(self._state.calls)

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Set the assignment (what the runtime would do before ``open``)."""
        self._state.assignment = set(partitions)
        self._state.paused &= self._state.assignment

    # -- SinkTaskContext ------------------------------------------------------------------------------

    def configs(self) -> dict[str, str]:
        return dict(self._configs)

    def reset_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        self._state.calls.append(SinkContextCall("offset", (dict(offsets),)))
        for tp, offset in offsets.items():
            if not isinstance(tp, TopicPartition) or not isinstance(offset, int) or offset < 0:
                raise ValueError(f"invalid offset request {tp!r} -> {offset!r}")
            self._state.offsets[tp] = offset

    def timeout(self, timeout_ms: int) -> None:
        self._state.calls.append(SinkContextCall("timeout", (timeout_ms,)))
        self._state.timeout_ms = timeout_ms

    def assignment(self) -> set[TopicPartition]:
        return set(self._state.assignment)

    def pause(self, *partitions: TopicPartition) -> None:
        self._state.calls.append(SinkContextCall("pause", partitions))
        self._check_assigned("pause", partitions)
        self._state.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._state.calls.append(SinkContextCall("resume", partitions))
        self._check_assigned("resume", partitions)
        self._state.paused.difference_update(partitions)

    def request_commit(self) -> None:
        self._state.calls.append(SinkContextCall("request_commit"))
        self._state.commit_requests += 1

    def errant_record_reporter(self) -> ErrantRecordReporter | None:
        return self.reporter

    def _check_assigned(self, what: str, partitions: tuple[TopicPartition, ...]) -> None:
        unknown = [tp for tp in partitions if tp not in self._state.assignment]
        if unknown:
            # Kafka's consumer raises IllegalStateException for partitions it does not own.
            raise ValueError(f"cannot {what} partitions that are not assigned: {unknown}")


class FakeSourceConnectorContext(SourceConnectorContext):
    """Records reconfiguration requests and raised errors; reads offsets from an in-memory reader."""

    def __init__(self, offsets: InMemoryOffsetStorageReader | None = None) -> None:
        self.offsets = offsets if offsets is not None else InMemoryOffsetStorageReader()
        self._commit_requests = 0
        self.reconfiguration_requests = 0
        self.errors: list[BaseException] = []

    def request_task_reconfiguration(self) -> None:
        self.reconfiguration_requests += 1

    def raise_error(self, exc: BaseException) -> None:
        self.errors.append(exc)

    def offset_storage_reader(self) -> OffsetStorageReader:
        return self.offsets


class FakeSinkConnectorContext(SinkConnectorContext):
    """Records reconfiguration requests and raised errors."""

    def __init__(self) -> None:
        self.reconfiguration_requests = 0
        self.errors: list[BaseException] = []

    def request_task_reconfiguration(self) -> None:
        self.reconfiguration_requests += 1

    def raise_error(self, exc: BaseException) -> None:
        self.errors.append(exc)
