"""Tasks: the units that move data (Kafka's ``Task``, ``SourceTask``, ``SinkTask`` and their contexts).

Threading model (as in Kafka Connect): every task instance runs on its own thread, created by the
runtime. All methods are called on that thread, except :meth:`Task.stop`, which the runtime may call
from another thread while ``poll()``/``put()`` is running; ``stop()`` must only signal (set a flag,
close a socket to wake a blocked read) and return promptly. A task instance is started at most once.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import Future
from typing import Any, overload

from connect.api.progress import check_progress
from connect.api.records import RecordMetadata, SinkRecord, SourceRecord, TopicPartition

__all__ = [
    "ErrantRecordReporter",
    "OffsetStorageReader",
    "SinkTask",
    "SinkTaskContext",
    "SourceTask",
    "SourceTaskContext",
    "Task",
    "TaskContext",
]


class Task(abc.ABC):
    """Base of source and sink tasks.

    Lifecycle, in order, all on the task's thread unless noted:

    1. ``__init__()`` without arguments (the runtime instantiates the class named by
       ``Connector.task_class()``);
    2. ``initialize(context)`` (see the subclasses);
    3. ``start(props)`` with one of the maps returned by ``Connector.task_configs()``;
    4. the data loop: ``poll()`` … or ``put()`` … repeatedly;
    5. ``stop()`` — may come from ANOTHER thread while (4) is in progress; signal and return. After the
       loop has ended the runtime makes no further data calls except what each subclass documents.
    """

    @abc.abstractmethod
    def version(self) -> str:
        """The version of this task (usually the connector's version)."""

    @abc.abstractmethod
    def start(self, props: dict[str, str]) -> None:
        """Start with this task's configuration. Open connections here, not in ``__init__``."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Signal the task to stop. May be called from another thread; must not block."""


class TaskContext(abc.ABC):
    """What the runtime offers every task (base of :class:`SourceTaskContext` and
    :class:`SinkTaskContext`); implemented by the runtime."""

    @abc.abstractmethod
    def configs(self) -> dict[str, str]:
        """The task's configuration (as passed to ``start``)."""

    def report_progress(self, progress: Mapping[str, Any] | None) -> None:
        """Tell the people watching this task how far it has got (e.g. an initial snapshot).

        The value appears as ``"progress"`` on this task in ``GET /connectors/{name}/status`` and
        ``GET /connectors/{name}/tasks/{id}/status`` (tasks that never reported have no such field), and
        each numeric top-level field ``f`` as the Prometheus gauge ``headrace_connect_task_progress_f`` in
        ``GET /metrics``.

        Contract:

        - ``progress`` is a small JSON object (see :func:`connect.api.progress.check_progress`): string
          keys, JSON values, finite numbers, at most 4 KiB. Prefer flat, self-describing keys with units,
          e.g. ``{"phase": "snapshot", "rows_done": 1200, "rows_per_second": 5300.0, "eta_seconds": 41}``.
          Anything else raises :class:`TypeError`/:class:`ValueError` here, in the caller.
        - The latest value wins: it replaces the previous one entirely (no merging); ``None`` clears it.
        - Any thread may call it, at any rate: it copies the value and returns without blocking on I/O,
          cheap enough to call once per batch. The runtime publishes at most one value per task per
          second (always the latest) plus the last one when the task stops, so readers may see a value
          up to about a second old.
        - It is informational only: never used for offsets or recovery. The runtime keeps the last value
          while the task is paused, failed or stopped, and clears it when the task (re)starts.

        This default implementation checks the value and discards it (for contexts written before this
        method existed); the runtime's contexts and the ``connect.testing`` fakes implement it.
        """
        check_progress(progress)


# --- source ----------------------------------------------------------------------------------------------


class OffsetStorageReader(abc.ABC):
    """Reads the offsets the runtime committed for a source task's partitions (e.g. after a restart).

    Partitions and offsets are the ``source_partition`` / ``source_offset`` dicts of
    :class:`~connect.api.records.SourceRecord`.
    """

    @abc.abstractmethod
    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        """The last committed offset of ``partition``, or None if there is none."""

    def offsets(
        self, partitions: Iterable[Mapping[str, Any]]
    ) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """``(partition, offset or None)`` for each partition, in order (dicts are not hashable)."""
        return [(dict(p), self.offset(p)) for p in partitions]


class SourceTaskContext(TaskContext):
    """What the runtime offers a source task; implemented by the runtime."""

    @abc.abstractmethod
    def offset_storage_reader(self) -> OffsetStorageReader:
        """Access to committed offsets; typically read in ``start()`` to resume."""

    def request_commit(self) -> None:
        """Ask the runtime to commit source offsets soon, instead of at the next
        ``offset.flush.interval.ms`` (60 s by default). Task thread (e.g. at the end of ``poll()``).

        Contract:

        - It is a hint. The runtime commits the offsets of the records the broker has acknowledged —
          each source partition up to its last record with every record before it acknowledged — as soon
          as it can: records still in flight are committed once acknowledged, without flushing the
          producer and without stalling ``poll()``. Then ``commit()`` is called as after any commit.
        - It is cheap (it sets a flag; requests before the commit runs merge into one), so calling it
          after every ``poll()`` that returned records is fine: the runtime spaces commits so that they
          take a small share of the task's time (the offset store may fsync or write to a topic), a few
          to a few tens of milliseconds apart. Offsets are never committed for records that were not
          acknowledged, so at-least-once delivery is unchanged.
        - Use it when a crash should replay little, e.g. change data capture, where ``commit()`` also
          confirms the position to the source (a replication slot) so it can release its log.

        This default implementation ignores the request (for contexts written before this method
        existed); the runtime's context and the ``connect.testing`` fake implement it.
        """


class SourceTask(Task):
    """Pulls records from a source system.

    Lifecycle, in order:

    1. ``initialize(context)`` — task thread; stores the context (``self.context``).
    2. ``start(props)`` — task thread; resume from ``context.offset_storage_reader()``.
    3. ``poll()`` repeatedly — task thread; may block briefly (≲ 1 s) waiting for data and returns a list
       of records, or None/empty when there is nothing yet. Raise
       :class:`~connect.api.errors.RetriableException` for transient failures.
    4. ``commit_record(record, metadata)`` — task thread, between polls, once per record after the broker
       acknowledged it (``metadata`` is None if a transformation dropped the record).
    5. ``commit()`` — task thread, after the runtime committed the offsets of acknowledged records
       (every ``offset.flush.interval.ms``, soon after ``context.request_commit()``, and when the task
       pauses or stops); acknowledge them in the source system here if needed.
    6. ``stop()`` — ANY thread; signal ``poll()`` to return and release resources afterwards.

    The runtime owns offsets: return them in each record's ``source_offset`` and never assume a record
    is durable until ``commit_record`` says so.
    """

    context: SourceTaskContext

    def initialize(self, context: SourceTaskContext) -> None:
        """Called once by the runtime before :meth:`start`."""
        self.context = context

    @abc.abstractmethod
    def poll(self) -> list[SourceRecord] | None:
        """Return new records (or None/[] if none are available yet); may block briefly."""

    def commit(self) -> None:
        """Offsets of all records acknowledged so far have been committed (default: nothing)."""

    def commit_record(self, record: SourceRecord, metadata: RecordMetadata | None) -> None:
        """``record`` was written to the broker at ``metadata`` (None if it was filtered out)."""


# --- sink ------------------------------------------------------------------------------------------------


class ErrantRecordReporter(abc.ABC):
    """Sends a record the sink task could not process to the dead-letter queue (KIP-610)."""

    @abc.abstractmethod
    def report(self, record: SinkRecord, error: BaseException) -> Future[None]:
        """Report ``record`` as failed with ``error``. The future completes once the report is durable;
        the runtime waits for outstanding reports before committing offsets past the record."""


class SinkTaskContext(TaskContext):
    """What the runtime offers a sink task; implemented by the runtime. Call only from the task thread
    (except :meth:`~TaskContext.report_progress`, which any thread may call)."""

    @overload
    def offset(self, tp: TopicPartition, offset: int, /) -> None: ...

    @overload
    def offset(self, offsets: Mapping[TopicPartition, int], /) -> None: ...

    def offset(self, tp_or_offsets: Any, offset: int | None = None, /) -> None:
        """Rewind (or skip) consumption: continue ``tp`` at ``offset``, or every partition of a mapping.

        Used when the sink stores its own offsets in the target system (e.g. from ``open()``).
        """
        if isinstance(tp_or_offsets, TopicPartition):
            if offset is None:
                raise TypeError("offset(tp, offset) needs an offset")
            self.reset_offsets({tp_or_offsets: offset})
        else:
            self.reset_offsets(dict(tp_or_offsets))

    @abc.abstractmethod
    def reset_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        """Continue each partition at the given offset (called by :meth:`offset`; runtime implements it)."""

    @abc.abstractmethod
    def timeout(self, timeout_ms: int) -> None:
        """After a :class:`~connect.api.errors.RetriableException` from ``put()``, wait this long before
        redelivering the same records."""

    @abc.abstractmethod
    def assignment(self) -> set[TopicPartition]:
        """The partitions currently assigned to this task."""

    @abc.abstractmethod
    def pause(self, *partitions: TopicPartition) -> None:
        """Stop fetching from these partitions (e.g. while the target is overloaded)."""

    @abc.abstractmethod
    def resume(self, *partitions: TopicPartition) -> None:
        """Resume fetching from paused partitions."""

    @abc.abstractmethod
    def request_commit(self) -> None:
        """Ask for an offset commit (``pre_commit``/``flush``) as soon as possible.

        Call it when data became durable in the target outside ``pre_commit`` (e.g. a sink that writes
        files as rounds end, from ``put()``): the runtime then calls ``pre_commit`` and commits what it
        returns right after the current ``put()``, instead of at the next ``offset.flush.interval.ms``
        (60 s by default), so consumer offsets follow the data at once. A hint: requests made before the
        commit runs are merged into one.
        """

    def errant_record_reporter(self) -> ErrantRecordReporter | None:
        """The dead-letter reporter, or None when the connector has no error reporting configured."""
        return None


class SinkTask(Task):
    """Pushes records into a target system.

    Lifecycle, in order (all on the task's thread except ``stop``):

    1. ``initialize(context)`` — stores the context (``self.context``).
    2. ``start(props)``.
    3. ``open(partitions)`` — partitions newly assigned (also after each rebalance); create writers,
       optionally rewind with ``context.offset(...)``.
    4. ``put(records)`` repeatedly — write (or buffer) the records. The list may be empty: when a fetch
       returns no records the runtime calls ``put([])`` (at most about twice a second), so a task can end
       time-based rounds (e.g. ``rotate.schedule.interval.ms``) while its partitions are quiet.
    5. ``pre_commit(current_offsets)`` periodically (``offset.flush.interval.ms``), and right after a
       ``put()`` that called ``context.request_commit()`` — make data durable and return the offsets safe
       to commit; the default calls ``flush(current_offsets)`` and returns them.
    6. ``close(partitions)`` — partitions revoked (rebalance, or shutdown before ``stop``): flush or
       discard their writers. No more ``put`` for those partitions until they are opened again.
    7. ``stop()`` — ANY thread: signal; the runtime then closes the remaining partitions on the task thread.

    Offsets are Kafka's "next offset to read": for a record at offset ``n`` the committed offset is
    ``n + 1``. The runtime commits consumer offsets only from what ``pre_commit`` returns.
    """

    context: SinkTaskContext

    def initialize(self, context: SinkTaskContext) -> None:
        """Called once by the runtime before :meth:`start`."""
        self.context = context

    def open(self, partitions: Collection[TopicPartition]) -> None:
        """``partitions`` are now assigned to this task."""

    @abc.abstractmethod
    def put(self, records: list[SinkRecord]) -> None:
        """Write records; raise RetriableException to get the same records again later."""

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        """Make everything written up to ``current_offsets`` durable in the target."""

    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The offsets that are safe to commit now (default: flush, then all of ``current_offsets``).

        Return fewer or smaller offsets when some data is still buffered; an empty dict commits nothing.
        """
        self.flush(current_offsets)
        return dict(current_offsets)

    def close(self, partitions: Collection[TopicPartition]) -> None:
        """``partitions`` were revoked; release their resources."""
