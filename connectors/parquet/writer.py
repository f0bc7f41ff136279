"""PartitionWriter: the records of one Kafka partition between two commits (a *round*), and the rules
that end a round (flush.size, rotate.interval.ms, rotate.schedule.interval.ms, schema changes): the
ones that depend on records as records arrive (:meth:`PartitionWriter.put`), the clock's when the task
asks (:meth:`PartitionWriter.due`, from every ``put()`` incl. the runtime's empty ones).

A round buffers records grouped by encoded partition (directory) into runs of one shape; committing it
converts each directory's runs to one Arrow table, encodes it as Parquet in memory and hands all files
to :meth:`Store.commit`, which makes them visible together. Only then does :attr:`committed` (the offset
after the round) advance — that is what ``pre_commit`` may return.

Records of the uniform Struct path (one value schema per batch, default partitioner) are converted to
Arrow already in :meth:`PartitionWriter.put`, a batch at a time (:class:`_Converted`), so the round holds
no SinkRecords: records kept for a whole round survive into the oldest garbage-collector generation and
cost more in collections and deallocation than the conversion itself. Raw JSON values and the general path
keep their records until the commit (the raw fast path parses a whole file at once).

Used by :class:`~connectors.parquet.task.ParquetSinkTask` on the task thread only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connect.api import DataException, Schema, SinkRecord, TopicPartition
from connectors.parquet.config import SinkSettings
from connectors.parquet.partitioner import Partitioner, TimestampExtractor
from connectors.parquet.rawjson import EnvelopeReader, decode_payloads
from connectors.parquet.rows import Shape, compatibility_action, rows_to_table, shape_of
from connectors.parquet.store import Store, file_name

__all__ = ["PartitionWriter", "WriterStats"]

log = logging.getLogger("connectors.parquet")

ErrorHandler = Callable[[SinkRecord, Exception], None]


@dataclass
class WriterStats:
    """Counters shared by the writers of one task (for progress logs)."""

    files: int = 0
    rows: int = 0
    rounds: int = 0


@dataclass(frozen=True, eq=False)
class _Converted:
    """Records already converted to rows of the round's target schema by :meth:`PartitionWriter.put`
    (offsets ``first``..``last``)."""

    table: pa.Table
    first: int
    last: int


Run = tuple[Shape, list[SinkRecord] | _Converted]


@dataclass
class _Round:
    runs: dict[str, list[Run]] = field(default_factory=dict)
    count: int = 0
    first_ts: int | None = None
    deadline_ms: int | None = None
    target: Schema | None = None


class PartitionWriter:
    """Buffers and commits the rows of one Kafka partition (see the module docstring)."""

    def __init__(
        self,
        tp: TopicPartition,
        settings: SinkSettings,
        store: Store,
        partitioner: Partitioner,
        extractor: TimestampExtractor,
        shapes: dict[Any, Shape],
        stats: WriterStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tp = tp
        self.settings = settings
        self.store = store
        self.partitioner = partitioner
        self.extractor = extractor
        self._shapes = shapes
        self._stats = stats
        self._clock = clock
        #: Offset after the last record in committed files (None: nothing committed by this writer yet).
        self.committed: int | None = None
        #: Offset after the last record accepted; records below it are redeliveries and skipped.
        self.next_offset: int | None = None
        self._round = _Round()
        self._round_end = -1
        self._current: Schema | None = None  # row schema of the data being written
        self._current_kind: str | None = None
        self._actions: dict[Schema, str] = {}
        self._needs_ts = partitioner.needs_timestamp or settings.rotate_interval_ms > 0
        self._raw = settings.value_format == "json"
        self._reader = EnvelopeReader()
        self._raw_shapes: dict[tuple[Schema | None, int], Shape] = {}
        self._decode_for_lookup = partitioner.reads_values or (self._needs_ts and extractor.reads_values)

    def resume_at(self, offset: int) -> None:
        """Files in the store end right before ``offset``: continue from there."""
        self.committed = offset
        self.next_offset = offset

    @property
    def buffered(self) -> int:
        return self._round.count

    # -- put -----------------------------------------------------------------------------------------

    def put(self, records: list[SinkRecord], on_error: ErrorHandler) -> None:
        """Add ``records`` (of this partition, in offset order); commits rounds as they fill up."""
        if self._round.count >= self.settings.flush_size:  # a commit that failed in an earlier put()
            self.commit()
        if not records:
            return
        first = records[0].original_kafka_offset
        if self.next_offset is not None and first < self.next_offset:
            records = [r for r in records if r.original_kafka_offset >= self.next_offset]
            if not records:
                return
        shape = self._uniform_shape(records)
        if shape is not None and (shape.row is not self._current or shape.kind != self._current_kind):
            try:
                self._switch_schema(shape)
            except DataException:
                shape = None  # an incompatible schema: the general path reports each record
        if shape is not None:
            self._put_uniform(records, shape)
        else:
            self._put_each(records, on_error)

    def _shape(self, value: Any, schema: Schema | None) -> tuple[Shape, Any]:
        """The shape of one value, and the value to look fields up in (decoded for raw JSON)."""
        if self._raw and (value.__class__ is bytes or value.__class__ is str):
            data: bytes = value.encode() if isinstance(value, str) else value
            key = self._reader.read(data)
            shape = self._raw_shapes.get(key)
            if shape is None:
                shape = self._raw_shapes[key] = shape_of(key[0], None, self.settings.envelope_mode).as_raw(
                    key[1]
                )
            if self._decode_for_lookup:
                return shape, decode_payloads([data], shape.raw_start)[0]
            return shape, value
        shape = self._shapes.get(schema)
        if shape is None:
            shape = self._shapes[schema] = shape_of(schema, value, self.settings.envelope_mode)
        return shape, value

    def _uniform_shape(self, records: list[SinkRecord]) -> Shape | None:
        """The shape of every record of the batch when one check proves it is the same for all and no
        per-record work (paths, timestamps, tombstones) is needed; else None."""
        if self._needs_ts or not self.partitioner.constant_per_partition:
            return None
        v0 = records[0].value
        if v0 is None:
            return None
        if self._raw and v0.__class__ is bytes:
            shape, _ = self._shape(v0, None)
            if shape.raw_start <= 0:
                return None
            prefix = v0[: shape.raw_start]
            if all(r.value.__class__ is bytes and r.value.startswith(prefix) for r in records):
                return shape
            return None
        schema = records[0].value_schema
        if schema is None or (self._raw and v0.__class__ is str):
            return None
        if all(r.value_schema is schema and r.value is not None for r in records):
            return self._shape(v0, schema)[0]
        return None

    def _put_uniform(self, records: list[SinkRecord], shape: Shape) -> None:
        """Records of one shape (already current) into the single directory of the default
        partitioner, in slices."""
        flush_size = self.settings.flush_size
        i, n = 0, len(records)
        while i < n:
            rnd = self._round
            if not rnd.count:
                self._start_round(rnd, None)
            take = records[i : i + flush_size - rnd.count]
            run: Run = (shape, self._converted(take, shape, rnd.target))
            runs = rnd.runs.get("")
            last = runs[-1][1] if runs else None
            if runs is None:
                rnd.runs[""] = [run]
            elif runs[-1][0] is shape and isinstance(last, list) and isinstance(run[1], list):
                last.extend(take)
            else:
                runs.append(run)
            rnd.count += len(take)
            self._round_end = take[-1].original_kafka_offset
            self.next_offset = self._round_end + 1  # accepted: a failing commit below keeps them
            i += len(take)
            if rnd.count >= flush_size:
                self.commit()

    def _converted(
        self, records: list[SinkRecord], shape: Shape, target: Schema | None
    ) -> list[SinkRecord] | _Converted:
        """``records`` converted now (see the module docstring), or as they are when they stay until the
        commit (raw JSON, schemaless, or a conversion error, which the commit then reports as before)."""
        if shape.raw_start >= 0 or target is None:
            return records
        try:
            table = rows_to_table(
                [(shape, records)], target, self.settings.envelope_mode, self.settings.types
            )
        except (DataException, pa.ArrowException):
            return records
        return _Converted(table, records[0].original_kafka_offset, records[-1].original_kafka_offset)

    def _start_round(self, rnd: _Round, ts: int | None) -> None:
        rnd.first_ts = ts
        rnd.target = self._current
        step = self.settings.rotate_schedule_interval_ms
        if step > 0:
            now = int(self._clock() * 1000)
            rnd.deadline_ms = now - now % step + step

    def _put_each(self, records: list[SinkRecord], on_error: ErrorHandler) -> None:
        """The general path: per record tombstones, timestamps, paths, rotations and schema changes."""
        s = self.settings
        rnd = self._round
        flush_size = s.flush_size
        interval = s.rotate_interval_ms
        needs_ts = self._needs_ts
        extract = self.extractor.extract
        encode = self.partitioner.encode
        constant_path = self.partitioner.constant_per_partition
        for record in records:
            offset = record.original_kafka_offset
            value = record.value
            if value is None:  # tombstone: nothing to write, but the offset is consumed
                self.next_offset = offset + 1
                if rnd.count:
                    self._round_end = offset
                else:
                    self.committed = offset + 1
                continue
            try:
                shape, lookup = self._shape(value, record.value_schema)
                ts = extract(record, lookup) if needs_ts else None
                if (
                    interval > 0
                    and rnd.first_ts is not None
                    and ts is not None
                    and ts - rnd.first_ts >= interval
                ):
                    self.commit()
                    rnd = self._round
                if shape.row is not self._current or shape.kind != self._current_kind:
                    self._switch_schema(shape)
                    rnd = self._round
                path = "" if constant_path else encode(record, ts, lookup)
            except DataException as exc:
                on_error(record, exc)
                self.next_offset = offset + 1
                continue
            # Accepted only now: if a rotation's commit above failed, the redelivered record comes back.
            self.next_offset = offset + 1
            if not rnd.count:
                self._start_round(rnd, ts)
            runs = rnd.runs.get(path)
            if runs is None:
                runs = rnd.runs[path] = [(shape, [record])]
            else:
                last_shape, last = runs[-1]
                if last_shape is shape and isinstance(last, list):
                    last.append(record)
                else:
                    runs.append((shape, [record]))
            rnd.count += 1
            self._round_end = offset
            if rnd.count >= flush_size:
                self.commit()
                rnd = self._round

    def _switch_schema(self, shape: Shape) -> None:
        """A record of another row schema: decide (per schema.compatibility) to project it into the
        current files or to commit them and continue with the new schema."""
        incoming = shape.row
        if self._current_kind is None:
            self._current, self._current_kind = incoming, shape.kind
            return
        if (incoming is None) != (self._current is None):
            action = "rotate"  # schemaless <-> schema: never mixed in one file
        elif incoming is None or self._current is None:
            action = "same"
        else:
            cached = self._actions.get(incoming)
            action = cached or compatibility_action(
                self._current, incoming, self.settings.compatibility, self.settings.types
            )
            self._actions[incoming] = action
        if action == "rotate":
            if self._round.count:
                self.commit()
            self._current, self._current_kind = incoming, shape.kind
            self._actions.clear()
            log.info(
                "%s: new schema, new files (%d columns)", self.tp, len(incoming.fields) if incoming else 0
            )
        elif action == "same":
            self._current, self._current_kind = incoming, shape.kind

    # -- commit ----------------------------------------------------------------------------------------

    def due(self, now_ms: int) -> bool:
        """Whether the clock says the open round must be committed now: its rotate.schedule.interval.ms
        deadline passed, or (``Wallclock`` extractor) rotate.interval.ms passed since its first record."""
        rnd = self._round
        if not rnd.count:
            return False
        if rnd.deadline_ms is not None and now_ms >= rnd.deadline_ms:
            return True
        interval = self.settings.rotate_interval_ms
        return (
            interval > 0
            and self.extractor.kind == "Wallclock"
            and rnd.first_ts is not None
            and now_ms - rnd.first_ts >= interval
        )

    def commit(self) -> None:
        """Write the round's files and make them visible together; then advance :attr:`committed`."""
        rnd = self._round
        if not rnd.count:
            return
        tp = self.tp
        files: list[tuple[str, pa.Buffer]] = []
        rows = 0
        for path, runs in rnd.runs.items():
            table = self._table(runs, rnd.target)
            start, end = _first_offset(runs[0][1]), _last_offset(runs[-1][1])
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, compression=self.settings.codec)
            directory = self.store.data_dir(tp.topic, path or self._default_dir())
            final = f"{directory}/{file_name(tp.topic, tp.partition, start, end)}"
            files.append((final, sink.getvalue()))
            rows += table.num_rows
        self.store.commit(tp, files)
        self.committed = self._round_end + 1
        self._stats.files += len(files)
        self._stats.rows += rows
        self._stats.rounds += 1
        log.debug("%s: committed %d rows in %d files up to offset %d", tp, rows, len(files), self._round_end)
        self._round = _Round()

    def _table(self, runs: list[Run], target: Schema | None) -> pa.Table:
        """One table of a directory's runs: records converted now, converted ones as they are."""
        if not any(isinstance(recs, _Converted) for _, recs in runs):
            pending = [(shape, recs) for shape, recs in runs if isinstance(recs, list)]
            return rows_to_table(pending, target, self.settings.envelope_mode, self.settings.types)
        parts: list[pa.Table] = []
        todo: list[tuple[Shape, list[SinkRecord]]] = []
        for shape, recs in runs:
            if isinstance(recs, list):
                todo.append((shape, recs))
                continue
            if todo:
                parts.append(rows_to_table(todo, target, self.settings.envelope_mode, self.settings.types))
                todo = []
            parts.append(recs.table)
        if todo:
            parts.append(rows_to_table(todo, target, self.settings.envelope_mode, self.settings.types))
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts).combine_chunks()

    def _default_dir(self) -> str:
        return f"partition={self.tp.partition}"

    def discard(self) -> None:
        """Drop the open round (partition revoked: the next owner replays it from the store's position)."""
        self._round = _Round()


def _first_offset(recs: list[SinkRecord] | _Converted) -> int:
    return recs.first if isinstance(recs, _Converted) else recs[0].original_kafka_offset


def _last_offset(recs: list[SinkRecord] | _Converted) -> int:
    return recs.last if isinstance(recs, _Converted) else recs[-1].original_kafka_offset
