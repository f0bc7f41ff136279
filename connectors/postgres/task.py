"""PostgresSourceTask: snapshot, then stream pgoutput changes as Debezium change events.

Offsets (one source partition ``{"server": <topic.prefix>}``), JSON-compatible:

* streaming record: ``{"lsn": L, "txId": X, "event": k, "ts_usec": T}`` — the k-th record (1-based)
  built from the transaction whose commit record is at LSN ``L``;
* heartbeat: ``{"lsn": P, "event": 0}`` — every transaction committed before WAL position ``P``;
* snapshot record: ``{"lsn": <slot consistent point>, "snapshot": true, "tables_done": [...],
  "table": "<schema>.<table>", "last_key": [<primary key values as text>] or null}``.

So a committed offset ``(L, k)`` means: every transaction whose commit is before ``L`` is delivered,
and so are the first ``k`` records of the one at ``L``. PostgreSQL re-sends transactions whose commit
is at or after the slot's confirmed position; the task drops what the offset (or, after a reconnect,
what it already emitted) covers, so restarts do not duplicate committed records.

The confirmed position of the slot (``confirmed_flush_lsn``) moves only in :meth:`commit`, to the ``lsn``
of the offset the runtime has committed (read back through the offset storage reader), i.e. after the
broker acknowledged those records: WAL is retained until delivered, and a crash loses nothing. Every
``poll()`` that returns records asks for a commit (``context.request_commit()``), so offsets and the slot
follow the broker's acknowledgements within milliseconds instead of ``offset.flush.interval.ms``, and a
crash re-delivers about one poll batch (``max.batch.size``) at most.

This module is the ``SourceTask`` lifecycle: start-up (slot, publication, snapshot or stream), polling
with reconnects, heartbeats, progress and offset commits. What the replication stream's messages
become (records, transaction boundaries, the relation cache, dropping replays) is
:mod:`connectors.postgres.dispatch`.

Threading: ``start``, ``poll``, ``commit`` and ``commit_record`` run on the task thread; ``stop()`` may
come from another thread: it sets a flag and closes the connections only if no ``poll()`` holds the
lock (else ``poll()`` closes them on its way out).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

import psycopg

from connect.api.cdc import HEARTBEAT_KEY_SCHEMA, HEARTBEAT_VALUE_SCHEMA
from connect.api.data import Struct
from connect.api.errors import ConnectException
from connect.api.records import SourceRecord
from connect.api.task import SourceTask
from connectors.postgres import catalog
from connectors.postgres.catalog import TableRef, TypeCache
from connectors.postgres.config import Settings, parse_settings
from connectors.postgres.dispatch import StreamDispatcher
from connectors.postgres.events import EventFactory
from connectors.postgres.pgoutput import lsn_to_str, str_to_lsn
from connectors.postgres.replication import ReplicationStream
from connectors.postgres.snapshot import SnapshotReader

log = logging.getLogger("connectors.postgres")

VERSION: Final = "0.1.0"
RECONNECT_BACKOFF_MAX_S: Final = 5.0
STATS_INTERVAL_S: Final = 30.0
PROGRESS_INTERVAL_S: Final = 1.0  # streaming progress reports (the snapshot reports every batch)


class PostgresSourceTask(SourceTask):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._settings: Settings | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._stream: ReplicationStream | None = None
        self._snapshot: SnapshotReader | None = None
        self._events: EventFactory | None = None
        self._changes: StreamDispatcher | None = None  # pgoutput messages -> records
        self._start_lsn = 0
        self._committed_lsn = 0
        self._server_wal_end = 0
        self._stream_only_after_snapshot = True
        self._idle = False
        self._next_status = 0.0
        self._next_heartbeat = 0.0
        self._reconnect_at = 0.0
        self._backoff = 0.5
        self._snapshot_offset: Mapping[str, Any] | None = None  # of the last snapshot record emitted
        self._snapshot_pending = False  # a snapshot interrupted by a lost connection, to be resumed
        self._stats_events = 0
        self._stats_logged = (0, 0.0)
        self._next_stats = 0.0
        self._started = False
        self._next_progress = 0.0
        self._progress_mark = (0, 0.0)  # (events streamed, monotonic time) at the last streaming report
        self._snapshot_summary: dict[str, Any] = {}  # of the snapshot this run took, for streaming reports

    def version(self) -> str:
        return VERSION

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, props: dict[str, str]) -> None:
        try:
            self._start(props)
        except BaseException:
            self._close()
            raise
        self._started = True

    def _start(self, props: dict[str, str]) -> None:
        settings = self._settings = parse_settings(props)
        self._events = EventFactory(settings.topic_prefix, settings.dbname, settings.tombstones_on_delete)
        changes = self._changes = StreamDispatcher(
            settings, self._events, TypeCache(self._query_conn), self._query_conn
        )
        stored = self.context.offset_storage_reader().offset(self._events.partition)
        conn = self._query_conn()
        catalog.check_wal_level(conn, settings)
        tables = catalog.captured_tables(conn, settings)
        mode = settings.snapshot_mode
        if mode == "initial_only":
            if stored is not None and not stored.get("snapshot"):
                log.info("snapshot.mode=initial_only and the snapshot is complete: nothing to do")
                self._idle = True
                self.context.report_progress({"phase": "done"})
                return
            self._snapshot = self._new_snapshot(
                tables, 0, None, stored if stored and stored.get("snapshot") else None
            )
            self._stream_only_after_snapshot = False
            return
        catalog.ensure_publication(conn, settings, tables)
        slot = catalog.slot_info(conn, settings.slot_name)
        in_progress = stored is not None and bool(stored.get("snapshot"))
        needs_snapshot = mode in ("initial", "when_needed") and (stored is None or in_progress)
        if mode == "when_needed" and stored is not None and slot is None:
            log.warning(
                "Replication slot %s is missing: taking a new snapshot (snapshot.mode=when_needed)",
                settings.slot_name,
            )
            needs_snapshot, stored, in_progress = True, None, False
        if stored is not None and not in_progress:
            changes.resume_from(int(stored.get("lsn", 0)), int(stored.get("event", 0)))
            self._committed_lsn = changes.resume_lsn
        stream = self._stream = ReplicationStream(settings)
        exported: str | None = None
        if slot is None:
            if stored is not None and not in_progress:
                log.warning(
                    "Replication slot %s does not exist although offsets were committed up to %s: changes "
                    "made since then are not in the WAL any more and are lost; creating the slot",
                    settings.slot_name,
                    lsn_to_str(changes.resume_lsn),
                )
            if in_progress:
                log.warning(
                    "Replication slot %s is missing: the interrupted snapshot starts over", settings.slot_name
                )
                stored, in_progress = None, False
            consistent, exported = stream.create_slot(settings.slot_name, export_snapshot=needs_snapshot)
            log.info("Created replication slot %s at %s", settings.slot_name, lsn_to_str(consistent))
            self._start_lsn = consistent
            if needs_snapshot:
                changes.resume_from(consistent, 0)
        else:
            confirmed = str_to_lsn(slot.confirmed_flush) if slot.confirmed_flush else 0
            if needs_snapshot:
                changes.resume_from(
                    int(stored["lsn"]) if stored is not None and in_progress else confirmed, 0
                )
            self._start_lsn = max(changes.resume_lsn, confirmed)
        if needs_snapshot:
            self._snapshot = self._new_snapshot(
                tables, changes.resume_lsn, exported, stored if in_progress else None
            )
        else:
            self._start_streaming()

    def _new_snapshot(
        self, tables: list[TableRef], lsn: int, exported: str | None, resume: dict[str, Any] | None
    ) -> SnapshotReader:
        assert self._settings is not None and self._events is not None and self._changes is not None
        conn = catalog.connect(self._settings)
        try:
            return SnapshotReader(
                conn,
                tables,
                self._changes.model_for_table,
                self._events,
                lsn,
                self._settings.snapshot_fetch_size,
                exported,
                resume,
            )
        except BaseException:
            conn.close()
            raise

    def _start_streaming(self) -> None:
        settings, changes = self._settings, self._changes
        assert settings is not None and changes is not None
        if self._stream is None:
            self._stream = ReplicationStream(settings)
        self._stream.start(settings.slot_name, settings.publication_name, self._start_lsn)
        if self._committed_lsn:
            self._stream.send_status(self._committed_lsn)
        now = time.monotonic()
        self._next_status = now + settings.status_interval_s
        self._next_heartbeat = now + settings.heartbeat_interval_s
        self._backoff = 0.5
        self._report_streaming(now)
        log.info(
            "Streaming changes from slot %s (publication %s) at %s; already delivered: transactions "
            "committed before %s and the first %d record(s) of the one at it",
            settings.slot_name,
            settings.publication_name,
            lsn_to_str(self._start_lsn),
            lsn_to_str(changes.resume_lsn),
            changes.resume_event,
        )

    def stop(self) -> None:
        """Signal; closes the connections now unless a poll() is running (it closes them when it returns)."""
        self._stopping.set()
        if self._lock.acquire(blocking=False):
            try:
                self._close()
            finally:
                self._lock.release()

    def _close(self) -> None:
        if self._snapshot is not None:
            self._snapshot.close()
            self._snapshot = None
        self._close_connections()

    def _close_connections(self) -> None:
        """Close the replication stream and the catalog connection (either may already be gone)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None

    # -- connections -------------------------------------------------------------------------------

    def _query_conn(self) -> psycopg.Connection[Any]:
        """The catalog connection, (re)opened on demand. Once started, a failure to connect is raised
        as :class:`psycopg.OperationalError`, which ``poll()`` handles by reconnecting."""
        if self._conn is None or self._conn.closed:
            assert self._settings is not None
            try:
                self._conn = catalog.connect(self._settings)
            except ConnectException as exc:
                if not self._started:
                    raise
                raise psycopg.OperationalError(str(exc)) from exc
        return self._conn

    # -- poll --------------------------------------------------------------------------------------

    def poll(self) -> list[SourceRecord] | None:
        with self._lock:
            if self._stopping.is_set():
                self._close()
                return None
            try:
                records = self._poll()
            finally:
                if self._stopping.is_set():
                    self._close()
        if records:
            # commit these offsets (and so confirm the slot) as soon as the broker acknowledged them, not
            # at the worker's offset.flush.interval.ms: a crash then replays about one batch, not minutes
            self.context.request_commit()
        return records

    def _poll(self) -> list[SourceRecord] | None:
        settings = self._settings
        assert settings is not None
        if self._idle:
            self._stopping.wait(settings.poll_interval_s)
            return None
        if self._snapshot is not None or self._snapshot_pending:
            return self._poll_snapshot()
        if (self._stream is None or not self._stream.streaming) and not self._reconnect():
            return None
        try:
            return self._poll_stream()
        except psycopg.Error as exc:
            if self._stopping.is_set():
                return None
            log.warning("Lost the replication connection to PostgreSQL (%s); reconnecting", str(exc).strip())
            self._drop_connections()
            self._reconnect_at = time.monotonic() + self._backoff
            return None

    def _poll_snapshot(self) -> list[SourceRecord] | None:
        snapshot = self._snapshot
        if snapshot is None:  # the connection was lost mid-snapshot
            snapshot = self._resume_snapshot()
            if snapshot is None:
                return None
        try:
            records = snapshot.next_batch()
        except psycopg.Error as exc:
            if self._stopping.is_set():
                return None
            log.warning(
                "Lost the connection to PostgreSQL while snapshotting (%s); the snapshot resumes after the "
                "last row read, in a new transaction",
                str(exc).strip(),
            )
            snapshot.close()
            self._snapshot = None
            self._snapshot_pending = True
            self._drop_connections()  # the replication connection that exported the snapshot is gone too
            self._reconnect_at = time.monotonic() + self._backoff
            return None
        if records:
            self._snapshot_offset = records[-1].source_offset
        if records is None:
            log.info("Snapshot completed. %s", snapshot.progress.line(None))
            done = snapshot.progress.as_status()
            self._snapshot_summary = {
                "snapshot_tables": done["tables_done"],
                "snapshot_rows": done["rows_done"],
                "snapshot_seconds": done["elapsed_seconds"],
            }
            snapshot.close()
            self._snapshot = None
            self._snapshot_pending = False
            if self._stream_only_after_snapshot:
                assert self._changes is not None
                self._changes.resume_event = 0
                self._start_streaming()
            else:
                log.info("snapshot.mode=initial_only: not streaming changes")
                self._idle = True
                self.context.report_progress({"phase": "done", **self._snapshot_summary})
        else:
            self.context.report_progress(snapshot.progress.as_status())
        return records

    def _resume_snapshot(self) -> SnapshotReader | None:
        """A new reader continuing after the last snapshot record emitted (fresh snapshot: at-least-once)."""
        settings, changes = self._settings, self._changes
        assert settings is not None and changes is not None
        if not self._reconnect_due():
            return None
        last = self._snapshot_offset
        try:
            tables = catalog.captured_tables(self._query_conn(), settings)
            resume = dict(last) if last is not None and last.get("snapshot") else None
            self._snapshot = self._new_snapshot(tables, changes.resume_lsn, None, resume)
        except (ConnectException, psycopg.Error) as exc:
            self._reconnect_failed(exc)
            return None
        self._backoff = 0.5
        log.info("Reconnected to PostgreSQL; snapshot resumed")
        return self._snapshot

    def _drop_connections(self) -> None:
        self._close_connections()
        if self._changes is not None:
            self._changes.connection_lost()

    def _reconnect_due(self) -> bool:
        """False while the reconnect backoff runs (after waiting for it, at most one poll interval)."""
        assert self._settings is not None
        now = time.monotonic()
        if now < self._reconnect_at:
            self._stopping.wait(min(self._reconnect_at - now, self._settings.poll_interval_s))
            return False
        return True

    def _reconnect_failed(self, exc: Exception) -> None:
        """Drop the connections and double the backoff (at most ``RECONNECT_BACKOFF_MAX_S``)."""
        self._drop_connections()
        self._backoff = min(self._backoff * 2, RECONNECT_BACKOFF_MAX_S)
        self._reconnect_at = time.monotonic() + self._backoff
        log.warning(
            "Reconnecting to PostgreSQL failed (%s); retrying in %.1f s", str(exc).strip(), self._backoff
        )

    def _reconnect(self) -> bool:
        if not self._reconnect_due():
            return False
        try:
            self._stream = None
            assert self._changes is not None
            self._changes.reconnecting()
            self._start_lsn = max(self._start_lsn, self._committed_lsn)
            self._start_streaming()
            log.info("Reconnected to PostgreSQL")
            return True
        except (ConnectException, psycopg.Error) as exc:
            self._reconnect_failed(exc)
            return False

    def _poll_stream(self) -> list[SourceRecord] | None:
        settings, stream, changes = self._settings, self._stream, self._changes
        assert settings is not None and stream is not None and changes is not None
        out: list[SourceRecord] = []
        max_batch = settings.max_batch_size
        changes.now_ms = int(time.time() * 1000)  # the envelopes' ts_ms: one clock read per batch
        deadline = time.monotonic() + settings.poll_interval_s
        read = stream.read
        handle = changes.handle
        while len(out) < max_batch:
            message = read()
            if message is None:
                now = time.monotonic()
                if now >= self._next_status:
                    stream.send_status()
                    self._next_status = now + settings.status_interval_s
                if settings.heartbeat_interval_s > 0 and now >= self._next_heartbeat and changes.tx is None:
                    self._heartbeat(out)
                if out or now >= deadline or self._stopping.is_set():
                    break
                stream.wait(min(deadline - now, 0.1))
                continue
            kind = message[0]
            if kind == 119:  # 'w' XLogData: 25-byte header, then a pgoutput message
                handle(message, out, stream)
            elif kind == 107:  # 'k' keepalive
                wal_end, reply = stream.keepalive(message)
                if wal_end > stream.received:
                    stream.received = wal_end
                if changes.tx is None:
                    self._server_wal_end = wal_end
                if reply:
                    stream.send_status()
        if out:
            self._stats_events += len(out)
            last = out[-1].source_offset
            assert last is not None
            # what a reconnect must not emit again: transactions before last["lsn"], and the first
            # last["event"] records of the one at it
            changes.resume_from(int(last["lsn"]), int(last["event"]))
        now = time.monotonic()
        if now >= self._next_stats:
            self._log_stats(now)
        if now >= self._next_progress:
            self._report_streaming(now)
        return out or None

    def _report_streaming(self, now: float) -> None:
        """Progress while streaming (task thread): events so far, their recent rate and positions."""
        settings, changes = self._settings, self._changes
        assert settings is not None and changes is not None
        count, since = self._progress_mark
        rate = (self._stats_events - count) / (now - since) if since and now > since else 0.0
        self._progress_mark = (self._stats_events, now)
        self._next_progress = now + PROGRESS_INTERVAL_S
        self.context.report_progress(
            {
                "phase": "streaming",
                "slot": settings.slot_name,
                "events_streamed": self._stats_events,
                "events_per_second": round(rate, 1),
                "last_lsn": lsn_to_str(max(changes.resume_lsn, self._start_lsn)),
                "confirmed_lsn": lsn_to_str(self._committed_lsn),
                **self._snapshot_summary,
            }
        )

    def _log_stats(self, now: float) -> None:
        count, since = self._stats_logged
        if since:
            rate = (self._stats_events - count) / max(now - since, 1e-6)
            log.info(
                "Streamed %d change records (%.0f/s over the last %.0f s); confirmed LSN %s",
                self._stats_events,
                rate,
                now - since,
                lsn_to_str(self._committed_lsn),
            )
        self._stats_logged = (self._stats_events, now)
        self._next_stats = now + STATS_INTERVAL_S

    def _heartbeat(self, out: list[SourceRecord]) -> None:
        settings, events = self._settings, self._events
        changes = self._changes
        assert settings is not None and events is not None and changes is not None
        self._next_heartbeat = time.monotonic() + settings.heartbeat_interval_s
        position = max(changes.last_commit_end, self._server_wal_end, changes.resume_lsn)
        if position == 0:
            return
        out.append(
            SourceRecord(
                events.partition,
                {"lsn": position, "event": 0},
                f"__debezium-heartbeat.{settings.topic_prefix}",
                None,
                HEARTBEAT_KEY_SCHEMA,
                Struct(HEARTBEAT_KEY_SCHEMA, {"serverName": settings.topic_prefix}),
                HEARTBEAT_VALUE_SCHEMA,
                Struct(HEARTBEAT_VALUE_SCHEMA, {"ts_ms": int(time.time() * 1000)}),
            )
        )

    # -- offsets -----------------------------------------------------------------------------------

    def commit(self) -> None:
        """The runtime committed offsets: confirm their position to PostgreSQL (task thread)."""
        if self._events is None:
            return
        with self._lock:
            self._commit()

    def _commit(self) -> None:
        assert self._events is not None
        offset = self.context.offset_storage_reader().offset(self._events.partition)
        if not offset or offset.get("snapshot"):
            return
        lsn = int(offset.get("lsn", 0))
        if lsn <= self._committed_lsn:
            return
        self._committed_lsn = lsn
        stream = self._stream
        if stream is not None and stream.streaming and not self._stopping.is_set():
            try:
                stream.send_status(lsn)
                log.debug("Confirmed LSN %s to PostgreSQL", lsn_to_str(lsn))
            except psycopg.Error as exc:
                log.warning("Could not confirm LSN %s (%s); will retry", lsn_to_str(lsn), exc)
