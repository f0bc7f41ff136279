"""MySqlSourceTask: snapshot, then stream binlog row events as Debezium change events.

Offsets (one source partition ``{"server": <topic.prefix>}``), JSON-compatible, Debezium's keys:

* streaming record: ``{"file": F, "pos": P, "event": e, "row": r, "gtids": G, "server_id": S,
  "ts_sec": T}`` — ``P`` is where the record's transaction starts in binlog file ``F`` (its GTID event);
  the record comes from the transaction's row event number ``e`` (0-based), after which the first ``r``
  rows of that event are delivered completely (Debezium's meaning of ``row``). A row that gives several
  records (a delete and its tombstone; a primary key change: delete, tombstone, create) gives its
  earlier records ``"row": <its index>, "record": k`` (its first ``k`` records delivered). ``G`` is the
  GTID set of the transactions completed before it, in the server's form (MariaDB
  ``domain-server-seq[,...]``, MySQL ``uuid:1-n[,...]``).
* after a transaction, a DDL or in a heartbeat: ``{"file", "pos": <next event>, "event": 0, "row": 0, ...}``;
* snapshot record: the streaming offset the snapshot leads to, plus ``"snapshot": true``,
  ``"tables_done"``, ``"table"`` and ``"last_key"``.

A restart (and every reconnect) opens the binlog at ``F:P`` and drops the first ``e`` row events of
that transaction, the first ``r`` rows of the next one and the first ``k`` records of the row after,
so no record is repeated or skipped, even inside a multi-row event. The connector owns the position:
pymysqlreplication's own memory is never used to resume (see :mod:`connectors.mysql.binlog`).

Threading: ``start``, ``poll`` and ``commit`` run on the task thread; ``stop()`` may come from any
thread: it sets a flag and closes the connections unless a ``poll()`` holds the lock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Final

import pymysql
from pymysqlreplication.event import GtidEvent, MariadbGtidEvent, QueryEvent, RotateEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from connect.api.data import Struct
from connect.api.errors import ConnectException
from connect.api.records import SourceRecord
from connect.api.task import SourceTask
from connectors.mysql import catalog
from connectors.mysql.binlog import BinlogReader, ReaderStopped
from connectors.mysql.catalog import ServerInfo
from connectors.mysql.config import Settings, parse_settings
from connectors.mysql.ddl import ColumnDef, TableChange, TableDef, apply_ddl
from connectors.mysql.events import SOURCE_SCHEMA, EventFactory, TableModel, unchecked_struct
from connectors.mysql.history import SchemaHistory, open_history
from connectors.mysql.snapshot import ConsistentPoint, SnapshotReader

log = logging.getLogger("connectors.mysql")

VERSION: Final = "0.1.0"
RECONNECT_BACKOFF_MAX_S: Final = 5.0
PROGRESS_INTERVAL_S: Final = 1.0
STATS_INTERVAL_S: Final = 30.0
_SNAPSHOT_KEYS: Final = ("snapshot", "tables_done", "table", "last_key")
_NOT_DDL: Final = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "XA ")


class GtidSet:
    """The GTID set of completed transactions, MariaDB (``domain-server-seq`` per domain: the last
    one) or MySQL (``uuid:1-5:7-9`` per source: every interval kept, adjacent ones merged)."""

    def __init__(self, text: str, mariadb: bool) -> None:
        self.mariadb = mariadb
        self.parts: dict[str, str] = {}  # MariaDB: domain -> "domain-server-seq"
        self.intervals: dict[str, list[list[int]]] = {}  # MySQL: uuid -> sorted [first, last]
        for item in (text or "").replace("\n", "").split(","):
            item = item.strip()
            if not item:
                continue
            if mariadb:
                self.parts[item.split("-", 1)[0]] = item
                continue
            uuid, *ranges = item.split(":")
            spans = self.intervals.setdefault(uuid.lower(), [])
            for r in ranges:
                first, _, last = r.partition("-")
                spans.append([int(first), int(last or first)])
            spans.sort()

    def add(self, gtid: str) -> None:
        if self.mariadb:
            self.parts[gtid.split("-", 1)[0]] = gtid
            return
        uuid, _, seq = gtid.rpartition(":")
        n = int(seq)
        spans = self.intervals.setdefault(uuid.lower(), [])
        for i, span in enumerate(spans):
            if span[0] <= n <= span[1]:
                return
            if n == span[1] + 1:
                span[1] = n
                if i + 1 < len(spans) and spans[i + 1][0] == n + 1:  # closes a hole: merge
                    span[1] = spans.pop(i + 1)[1]
                return
            if n + 1 == span[0]:
                span[0] = n
                return
            if n < span[0]:
                spans.insert(i, [n, n])
                return
        spans.append([n, n])

    def __str__(self) -> str:
        if self.mariadb:
            return ",".join(
                self.parts[k] for k in sorted(self.parts, key=lambda d: int(d) if d.isdigit() else 0)
            )
        return ",".join(
            uuid + "".join(f":{a}-{b}" if a != b else f":{a}" for a, b in spans)
            for uuid, spans in sorted(self.intervals.items())
            if spans
        )


def _fallback_table(db: str, name: str, event: Any) -> TableDef:
    """A table definition from a row event's own column metadata (binlog_row_metadata=FULL)."""
    by_code = {1: "tinyint", 2: "smallint", 3: "int", 8: "bigint", 9: "mediumint", 4: "float",
               5: "double", 246: "decimal", 10: "date", 12: "datetime", 18: "datetime", 7: "timestamp",
               17: "timestamp", 11: "time", 19: "time", 13: "year", 15: "varchar", 253: "varchar",
               254: "char", 252: "longtext", 16: "bit", 245: "json", 255: "geometry", 247: "enum",
               248: "set"}  # fmt: skip
    columns = []
    for col in event.columns:
        base = by_code.get(col.type, "varchar")
        if base in ("varchar", "char", "longtext") and getattr(col, "character_set_name", None) == "binary":
            base = "longblob"
        columns.append(
            ColumnDef(
                col.name,
                base,
                getattr(col, "precision", None) if base == "decimal" else getattr(col, "bits", None),
                getattr(col, "decimals", None) if base == "decimal" else getattr(col, "fsp", None),
                bool(getattr(col, "unsigned", False)),
                True,
                enum_values=tuple(
                    getattr(col, "enum_values", None) or getattr(col, "set_values", None) or ()
                ),
            )
        )
    pk = tuple(getattr(event, "primary_keys", None) or ())
    return TableDef(db, name, tuple(columns), pk)


class MySqlSourceTask(SourceTask):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._settings: Settings | None = None
        self._events: EventFactory | None = None
        self._history: SchemaHistory | None = None
        self._info: ServerInfo | None = None
        self._tables: dict[tuple[str, str], TableDef] = {}
        self._models: dict[tuple[str, str], TableModel | None] = {}
        self._snapshot: SnapshotReader | None = None
        self._reader: BinlogReader | None = None
        self._pending: list[SourceRecord] = []
        self._idle = False
        # position
        self._position: dict[str, Any] = {}  # where a (re)connect resumes: file, pos, event, row
        self._file = ""
        self._gtids = GtidSet("", True)
        self._tx_pos: int | None = None
        self._tx_gtid: str | None = None
        self._tx_gtids_before = ""
        self._tx_ts = 0
        self._event_index = 0
        # (file, pos, row events, rows of the next, records of the row after) to drop
        self._skip: tuple[str, int, int, int, int] | None = None
        self._server_id = 0
        self._reconnect_at = 0.0
        self._backoff = 0.5
        self._next_heartbeat = 0.0
        self._next_progress = 0.0
        self._progress_mark = (0, 0.0)
        self._stats_events = 0
        self._stats_logged = (0, 0.0)
        self._next_stats = 0.0
        self._committed: dict[str, Any] | None = None
        self._snapshot_summary: dict[str, Any] = {}
        self._warned_fallback: set[tuple[str, str]] = set()

    def version(self) -> str:
        return VERSION

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, props: dict[str, str]) -> None:
        try:
            self._start(props)
        except BaseException:
            self._close()
            raise

    def _start(self, props: dict[str, str]) -> None:
        settings = self._settings = parse_settings(props)
        conn = catalog.connect(settings)
        try:
            info = self._info = catalog.server_info(conn)
            problems = catalog.binlog_problems(conn, settings)
            if problems:
                raise ConnectException("; ".join(problems))
            catalog.check_privileges(conn, settings)
            logs = catalog.binary_logs(conn)
        finally:
            conn.close()
        self._events = EventFactory(settings.topic_prefix, info.server_id, settings.tombstones_on_delete)
        self._gtids = GtidSet("", info.mariadb)
        history = self._history = open_history(settings)
        history.load()
        stored = self.context.offset_storage_reader().offset(self._events.partition)
        self._committed = stored
        mode = settings.snapshot_mode
        in_snapshot = stored is not None and bool(stored.get("snapshot"))
        if stored is not None and not in_snapshot:
            if stored.get("file") not in logs:
                if mode == "when_needed":
                    log.warning(
                        "The binlog file %s of the committed offset was purged from %s: taking a new "
                        "snapshot (snapshot.mode=when_needed)",
                        stored.get("file"),
                        catalog.where(settings),
                    )
                    self._begin_snapshot(None, with_data=True)
                    return
                raise ConnectException(
                    f"The binlog position {stored.get('file')}:{stored.get('pos')} of the committed offset "
                    f"is no longer on {catalog.where(settings)} (purged; the oldest binlog is "
                    f"{logs[0] if logs else 'none'}): changes made since then are lost. Set "
                    "snapshot.mode=when_needed to take a new snapshot, or reset the connector's offsets, "
                    "and keep binlogs longer (binlog_expire_logs_seconds / expire_logs_days)"
                )
            if mode == "initial_only":
                log.info("snapshot.mode=initial_only and the snapshot is complete: nothing to do")
                self._idle = True
                self.context.report_progress({"phase": "done"})
                return
            if not history.exists() or mode == "recovery":
                if mode != "recovery":
                    raise ConnectException(
                        f"The schema history ({self._history_name()}) is missing or empty although "
                        "offsets were committed: binlog events cannot be decoded without it. Set "
                        "snapshot.mode=recovery to rebuild it from the current table schemas (correct only "
                        "if no schema changed since the offset), or reset the connector's offsets"
                    )
                self._recover_history(stored)
            self._tables = history.tables_at(stored)
            self._start_streaming(dict(stored))
            return
        if in_snapshot:
            assert stored is not None
            if mode in ("initial", "initial_only", "when_needed"):
                self._begin_snapshot(stored, with_data=True)
                return
        self._begin_snapshot(None, with_data=mode in ("initial", "initial_only", "when_needed"))

    def _history_name(self) -> str:
        s = self._settings
        assert s is not None
        return s.history_topic or s.history_file or "memory"

    def _recover_history(self, stored: dict[str, Any]) -> None:
        settings, history = self._settings, self._history
        assert settings is not None and history is not None
        conn = catalog.connect(settings)
        try:
            position: dict[str, Any] = {k: stored[k] for k in ("file", "pos", "gtids") if k in stored}
            for ref in catalog.captured_tables(conn, settings):
                ddl = catalog.show_create(conn, ref)
                tables: dict[tuple[str, str], TableDef] = {}
                result = apply_ddl(tables, ddl, ref.db)
                history.record(settings.topic_prefix, position, ref.db, ddl, result.changes)
            log.warning("Rebuilt the schema history from the current table schemas (snapshot.mode=recovery)")
        finally:
            conn.close()

    def _begin_snapshot(self, resume: dict[str, Any] | None, with_data: bool) -> None:
        settings, info, events, history = self._settings, self._info, self._events, self._history
        assert settings is not None and info is not None and events is not None and history is not None
        point = ConsistentPoint(settings, info)
        try:
            refs = catalog.captured_tables(point.conn, settings)
            if resume is not None:
                stream_offset = {k: v for k, v in resume.items() if k not in _SNAPSHOT_KEYS}
            else:
                stream_offset = {
                    "file": point.file,
                    "pos": point.pos,
                    "event": 0,
                    "row": 0,
                    "gtids": point.gtids,
                    "server_id": info.server_id,
                    "ts_sec": point.ts_sec,
                }
            position = {
                "file": stream_offset["file"],
                "pos": stream_offset["pos"],
                "gtids": stream_offset["gtids"],
                "snapshot": True,
            }
            pairs = []
            ts_ms = int(time.time() * 1000)
            for ref in refs:
                ddl = catalog.show_create(point.conn, ref)
                result = apply_ddl(self._tables, ddl, ref.db)
                table = self._tables.get((ref.db, ref.name))
                if table is None:
                    continue
                pairs.append((ref, table))
                history.record(settings.topic_prefix, position, ref.db, ddl, result.changes)
                if settings.include_schema_changes and resume is None:
                    source = events.source(ref.db, ref.name, ts_ms, "true", 0, None, point.file, point.pos, 0)
                    offset = dict(stream_offset)
                    if with_data:  # a restart before the first row resumes the snapshot
                        offset.update(snapshot=True, tables_done=[], table=None, last_key=None)
                    self._pending.append(
                        events.schema_change(ref.db, ddl, result.changes, source, ts_ms, offset)
                    )
            log.info(
                "Snapshot of %d table(s) at binlog position %s:%d (GTIDs %s)%s%s",
                len(pairs),
                point.file,
                point.pos,
                point.gtids or "-",
                "" if with_data else " without data (snapshot.mode)",
                f", resuming a snapshot that streams from {stream_offset['file']}:{stream_offset['pos']}"
                if resume
                else "",
            )
            if not with_data:
                point.unlock()
                point.close()
                self._start_streaming(stream_offset)
                return
            self._stream_after_snapshot = stream_offset
            self._snapshot = SnapshotReader(
                point,
                pairs,
                self._model_for,
                events,
                stream_offset,
                settings.snapshot_fetch_size,
                resume,
                hold_lock=settings.locking_mode == "extended",
            )
            self.context.report_progress(self._snapshot.progress.as_status())
        except BaseException:
            point.close()
            raise

    def _start_streaming(self, position: dict[str, Any]) -> None:
        settings = self._settings
        assert settings is not None and self._info is not None
        self._position = {k: v for k, v in position.items() if k not in _SNAPSHOT_KEYS}
        self._position.setdefault("event", 0)
        self._position.setdefault("row", 0)
        self._gtids = GtidSet(str(self._position.get("gtids", "")), self._info.mariadb)
        self._open_reader()
        log.info(
            "Streaming changes from binlog %s:%d; already delivered: the first %d row event(s) of the "
            "transaction there, %d row(s) of the next and %d record(s) of the row after",
            self._position["file"],
            self._position["pos"],
            self._position["event"],
            self._position["row"],
            self._position.get("record", 0),
        )
        now = time.monotonic()
        self._next_heartbeat = now + settings.heartbeat_interval_s
        self._report_streaming(now)

    def _open_reader(self) -> None:
        settings = self._settings
        assert settings is not None
        p = self._position
        self._file = str(p["file"])
        self._tx_pos = None
        self._skip = (self._file, int(p["pos"]), int(p["event"]), int(p["row"]), int(p.get("record", 0)))
        self._reader = BinlogReader(settings, self._file, int(p["pos"]), settings.max_queue_size)

    def stop(self) -> None:
        self._stopping.set()
        reader = self._reader
        if reader is not None:
            reader.close()
        if self._lock.acquire(blocking=False):
            try:
                self._close()
            finally:
                self._lock.release()

    def _close(self) -> None:
        if self._snapshot is not None:
            self._snapshot.close()
            self._snapshot = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._history is not None:
            self._history.close()

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
                # commit soon after the broker acked, not at offset.flush.interval.ms: a crash then
                # replays little (a hint; the runtime spaces the commits)
                self.context.request_commit()
            return records

    def _poll(self) -> list[SourceRecord] | None:
        settings = self._settings
        assert settings is not None
        if self._pending:
            out, self._pending = self._pending, []
            return out
        if self._idle:
            self._stopping.wait(settings.poll_interval_s)
            return None
        if self._snapshot is not None:
            return self._poll_snapshot()
        if self._reader is None:
            if time.monotonic() < self._reconnect_at:
                self._stopping.wait(min(0.1, self._reconnect_at - time.monotonic()))
                return None
            try:
                self._open_reader()
                log.info(
                    "Reconnected to %s at binlog %s:%s",
                    catalog.where(settings),
                    self._file,
                    self._position["pos"],
                )
            except Exception as exc:
                self._reconnect_failed(exc)
                return None
        try:
            return self._poll_stream()
        except ReaderStopped as exc:
            if self._stopping.is_set():
                return None
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            self._check_fatal(exc.cause)
            log.warning(
                "Lost the binlog connection to %s (%s); reconnecting at %s:%s",
                catalog.where(settings),
                exc,
                self._position.get("file"),
                self._position.get("pos"),
            )
            self._reconnect_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, RECONNECT_BACKOFF_MAX_S)
            return None

    def _check_fatal(self, cause: BaseException | None) -> None:
        """Errors a reconnect cannot fix: fail the task with what to fix."""
        if isinstance(cause, pymysql.err.OperationalError) and cause.args:
            code = cause.args[0]
            text = str(cause.args[1]) if len(cause.args) > 1 else ""
            settings = self._settings
            assert settings is not None
            if code == 1236:  # ER_MASTER_FATAL_ERROR_READING_BINLOG: purged or invalid position
                raise ConnectException(
                    f"{catalog.where(settings)} cannot send the binlog from {self._position.get('file')}:"
                    f"{self._position.get('pos')} ({text}): it was probably purged. Set "
                    "snapshot.mode=when_needed to take a new snapshot, or reset the connector's offsets"
                )
            if code in (1045, 1227, 1044):
                raise ConnectException(
                    f"{catalog.where(settings)} refused the binlog connection of user '{settings.user}' "
                    f"({text}): GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{settings.user}'"
                )

    def _reconnect_failed(self, exc: BaseException) -> None:
        self._reader = None
        self._backoff = min(self._backoff * 2, RECONNECT_BACKOFF_MAX_S)
        self._reconnect_at = time.monotonic() + self._backoff
        log.warning("Reconnecting to the binlog failed (%s); retrying in %.1f s", exc, self._backoff)

    def _poll_snapshot(self) -> list[SourceRecord] | None:
        snapshot = self._snapshot
        assert snapshot is not None
        records = snapshot.next_batch()
        self.context.report_progress(snapshot.progress.as_status())
        if records is None:
            log.info("Snapshot completed. %s", snapshot.progress.line(None))
            self._snapshot_summary = {
                "snapshot_rows": snapshot.progress.rows,
                "snapshot_tables": snapshot.progress.tables_total,
                "snapshot_seconds": round(time.monotonic() - snapshot.progress.started, 1),
            }
            snapshot.close()
            self._snapshot = None
            settings = self._settings
            assert settings is not None
            if settings.snapshot_mode == "initial_only":
                self._idle = True
                self.context.report_progress({"phase": "done", **self._snapshot_summary})
                return None
            self._start_streaming(self._stream_after_snapshot)
            return None
        return records

    def _poll_stream(self) -> list[SourceRecord] | None:
        settings, reader = self._settings, self._reader
        assert settings is not None and reader is not None
        out: list[SourceRecord] = []
        max_batch = settings.max_batch_size
        deadline = time.monotonic() + settings.poll_interval_s
        self._now_ms = int(time.time() * 1000)
        take = reader.take
        while len(out) < max_batch:
            event = take(0)
            if event is None:
                now = time.monotonic()
                if settings.heartbeat_interval_s > 0 and now >= self._next_heartbeat and self._tx_pos is None:
                    self._next_heartbeat = now + settings.heartbeat_interval_s
                    if self._events is not None and "file" in self._position:
                        out.append(self._events.heartbeat(dict(self._position), int(time.time() * 1000)))
                if out or now >= deadline or self._stopping.is_set():
                    break
                event = take(min(deadline - now, 0.05))
                if event is None:
                    continue
            self._handle(event, out)
        if out:
            self._stats_events += len(out)
        now = time.monotonic()
        if now >= self._next_progress:
            self._report_streaming(now)
        if now >= self._next_stats:
            self._log_stats(now)
        return out or None

    def _handle(self, event: Any, out: list[SourceRecord]) -> None:
        kind = type(event)
        packet = event.packet
        if kind is WriteRowsEvent or kind is UpdateRowsEvent or kind is DeleteRowsEvent:
            self._rows(event, out)
        elif kind is MariadbGtidEvent or kind is GtidEvent:
            self._tx_pos = packet.log_pos - packet.event_size
            self._tx_gtid = event.gtid
            self._tx_gtids_before = str(self._gtids)
            self._tx_ts = event.timestamp
            self._event_index = 0
        elif kind is XidEvent:
            self._end_tx(packet.log_pos)
        elif kind is QueryEvent:
            query = (
                event.query if isinstance(event.query, str) else bytes(event.query).decode("utf-8", "replace")
            )
            head = query.lstrip()[:10].upper()
            if head.startswith("BEGIN"):
                if self._tx_pos is None:
                    self._tx_pos = packet.log_pos - packet.event_size
                    self._tx_gtid = None
                    self._tx_gtids_before = str(self._gtids)
                    self._tx_ts = event.timestamp
                    self._event_index = 0
            elif head.startswith("COMMIT"):
                self._end_tx(packet.log_pos)
            elif not head.startswith(_NOT_DDL):
                self._ddl(event, query, out)
                self._end_tx(packet.log_pos)
        elif kind is RotateEvent:
            moved = event.next_binlog != self._file
            self._file = event.next_binlog
            # a real rotation, or an artificial one to the next file (its predecessor ended without a
            # Rotate: the server crashed): the next file starts at 4
            if event.timestamp != 0 or (moved and self._tx_pos is None):
                self._position = {
                    **self._position,
                    "file": event.next_binlog,
                    "pos": event.position,
                    "event": 0,
                    "row": 0,
                }

    def _end_tx(self, end_pos: int) -> None:
        if self._tx_gtid:
            self._gtids.add(self._tx_gtid)
        self._tx_pos = None
        self._tx_gtid = None
        self._position = {
            "file": self._file,
            "pos": end_pos,
            "event": 0,
            "row": 0,
            "gtids": str(self._gtids),
            "server_id": self._server_id_of(),
            "ts_sec": self._tx_ts,
        }

    def _server_id_of(self) -> int:
        return self._info.server_id if self._info else 0

    def _model_for(self, table: TableDef) -> TableModel | None:
        settings = self._settings
        assert settings is not None
        if not settings.table_included(table.db, table.name):
            return None
        return TableModel(
            settings.topic_prefix,
            table,
            settings.decimal_mode,
            settings.time_mode,
            settings.bigint_mode,
            lambda column: settings.column_included(table.db, table.name, column),
            settings.key_columns.get(table.qualified),
        )

    def _model(self, event: Any) -> TableModel | None:
        key = (event.schema, event.table)
        model = self._models.get(key, False)
        names = [c.name for c in event.columns]
        if model is False or (model is not None and not model.matches(names)):  # type: ignore[union-attr]
            settings = self._settings
            assert settings is not None
            if not settings.table_included(*key):
                self._models[key] = None
                return None
            table = self._tables.get(key)
            if table is None or [c.name for c in table.columns] != names:
                if key not in self._warned_fallback:
                    self._warned_fallback.add(key)
                    log.warning(
                        "No schema history entry of %s.%s matches its binlog rows (columns %s); using the "
                        "binlog's own column metadata",
                        key[0],
                        key[1],
                        names,
                    )
                table = _fallback_table(key[0], key[1], event)
            model = self._model_for(table)
            self._models[key] = model
        return model  # type: ignore[return-value]

    def _rows(self, event: Any, out: list[SourceRecord]) -> None:
        """The records of one row event. Offsets follow Debezium: ``row`` = rows of the event already
        delivered completely; a row giving several records (a delete and its tombstone; a primary key
        change: delete, tombstone, create) gives its earlier records ``row`` = its index and
        ``record`` = how many of its records are delivered."""
        index = self._event_index
        self._event_index += 1
        if self._tx_pos is None:
            return
        skip_rows = skip_records = 0
        skip = self._skip
        if skip is not None:
            if skip[0] == self._file and skip[1] == self._tx_pos:
                if index < skip[2]:
                    return
                if index == skip[2]:
                    skip_rows, skip_records = skip[3], skip[4]
            else:
                self._skip = None
        model = self._model(event)
        if model is None:
            return
        events = self._events
        assert events is not None
        server_id = self._server_id_of()
        file = self._file
        offset_base = {
            "file": file,
            "pos": self._tx_pos,
            "event": index,
            "row": 0,
            "gtids": self._tx_gtids_before,
            "server_id": server_id,
            "ts_sec": self._tx_ts,
        }
        packet = event.packet
        source_base = events.source_values(
            model.db,
            model.name,
            self._tx_ts * 1000,
            "false",
            server_id,
            self._tx_gtid,
            file,
            packet.log_pos - packet.event_size,
            0,
        )
        now_ms = self._now_ms
        partition = events.partition
        topic = model.topic
        envelope_schema = model.envelope_schema
        key_schema = model.key_schema
        row_schema = model.row_schema
        values_of = model.binlog_values
        key_of = model.key
        append = out.append
        start = len(out)
        kind = type(event)
        if kind is WriteRowsEvent:  # one record per row: the common case, without the general bookkeeping
            for i, row in enumerate(event.rows):
                if i < skip_rows or (i == skip_rows and skip_records):
                    continue
                values = values_of(row["values"])
                source_v = source_base.copy()
                source_v["row"] = i
                offset = offset_base.copy()
                offset["row"] = i + 1
                key = key_of(values)
                envelope = {
                    "before": None,
                    "after": unchecked_struct(row_schema, values),
                    "source": unchecked_struct(SOURCE_SCHEMA, source_v),
                    "op": "c",
                    "ts_ms": now_ms,
                }
                append(
                    SourceRecord(
                        partition,
                        offset,
                        topic,
                        None,
                        key_schema if key is not None else None,
                        key,
                        envelope_schema,
                        unchecked_struct(envelope_schema, envelope),
                    )
                )
        else:
            tombstones = events.tombstones
            update = kind is UpdateRowsEvent
            for i, row in enumerate(event.rows):
                if i < skip_rows:
                    continue
                source_values = source_base.copy()
                source_values["row"] = i
                source = unchecked_struct(SOURCE_SCHEMA, source_values)
                # (op, key, before, after); op None: a tombstone
                records: list[tuple[str | None, Struct | None, Struct | None, Struct | None]]
                if update:
                    before_v = values_of(row["before_values"])
                    after_v = values_of(row["after_values"])
                    key, old_key = key_of(after_v), key_of(before_v)
                    before, after = model.row(before_v), model.row(after_v)
                    if old_key != key:  # primary key changed: delete (+ tombstone) of the old, create
                        records = [("d", old_key, before, None)]
                        if tombstones:
                            records.append((None, old_key, None, None))
                        records.append(("c", key, None, after))
                    else:
                        records = [("u", key, before, after)]
                else:
                    values = values_of(row["values"])
                    key = key_of(values)
                    records = [("d", key, model.row(values), None)]
                    if tombstones and key is not None:
                        records.append((None, key, None, None))
                last = len(records) - 1
                for j, (op, rkey, rbefore, rafter) in enumerate(records):
                    if i == skip_rows and j < skip_records:
                        continue
                    offset = offset_base.copy()
                    if j == last:
                        offset["row"] = i + 1
                    else:
                        offset["row"] = i
                        offset["record"] = j + 1
                    if op is None:
                        append(SourceRecord(partition, offset, topic, None, key_schema, rkey, None, None))
                        continue
                    envelope = {
                        "before": rbefore,
                        "after": rafter,
                        "source": source,
                        "op": op,
                        "ts_ms": now_ms,
                    }
                    append(
                        SourceRecord(
                            partition,
                            offset,
                            topic,
                            None,
                            key_schema if rkey is not None else None,
                            rkey,
                            envelope_schema,
                            unchecked_struct(envelope_schema, envelope),
                        )
                    )
        if len(out) > start:
            self._position = out[-1].source_offset  # type: ignore[assignment]

    def _ddl(self, event: Any, query: str, out: list[SourceRecord]) -> None:
        settings, events, history = self._settings, self._events, self._history
        assert settings is not None and events is not None and history is not None
        schema = (
            event.schema if isinstance(event.schema, str) else bytes(event.schema).decode("utf-8", "replace")
        )
        default_db = schema or None
        try:
            result = apply_ddl(self._tables, query, default_db)
        except Exception as exc:  # a statement the parser does not know: the binlog's metadata decides
            log.warning(
                "Could not parse DDL %r (%s); later rows are decoded with the binlog's metadata",
                query[:200],
                exc,
            )
            return
        captured = [
            c
            for c in result.changes
            if settings.table_included(c.table.db, c.table.name) or (c.previous_id is not None)
        ]
        for change in result.changes:
            self._models.pop((change.table.db, change.table.name), None)
            if change.previous_id is not None:
                old = TableDef.from_debezium(change.previous_id, {"columns": []})
                self._models.pop((old.db, old.name), None)
        databases = [d for d in result.databases if d and settings.database_included(d)]
        if not captured and not (
            databases and not result.changes and result.applied and _is_database_ddl(query)
        ):
            return
        gtids = GtidSet(self._tx_gtids_before, self._gtids.mariadb)
        if self._tx_gtid:
            gtids.add(self._tx_gtid)
        packet = event.packet
        position = {
            "file": self._file,
            "pos": packet.log_pos,
            "event": 0,
            "row": 0,
            "gtids": str(gtids),
            "server_id": self._server_id_of(),
            "ts_sec": event.timestamp,
        }
        if captured:
            history.record(
                settings.topic_prefix,
                {k: position[k] for k in ("file", "pos", "gtids")},
                default_db,
                query,
                captured,
            )
            log.info("Schema change at %s:%d: %s", self._file, packet.log_pos, query[:200])
        if settings.include_schema_changes and (captured or databases):
            db = captured[0].table.db if captured else databases[0]
            source = events.source(
                db,
                captured[0].table.name if captured else None,
                event.timestamp * 1000,
                "false",
                self._server_id_of(),
                self._tx_gtid,
                self._file,
                packet.log_pos - packet.event_size,
                0,
                getattr(event, "slave_proxy_id", None),
            )
            out.append(events.schema_change(db, query, captured, source, self._now_ms, position))
        self._position = position

    # -- progress and offsets ---------------------------------------------------------------------

    def _report_streaming(self, now: float) -> None:
        count, since = self._progress_mark
        rate = (self._stats_events - count) / (now - since) if since and now > since else 0.0
        self._progress_mark = (self._stats_events, now)
        self._next_progress = now + PROGRESS_INTERVAL_S
        committed = self._committed or {}
        self.context.report_progress(
            {
                "phase": "streaming",
                "events_streamed": self._stats_events,
                "events_per_second": round(rate, 1),
                "binlog_file": self._position.get("file"),
                "binlog_pos": self._position.get("pos"),
                "gtids": str(self._gtids)[:512],
                "confirmed_file": committed.get("file"),
                "confirmed_pos": committed.get("pos"),
                **self._snapshot_summary,
            }
        )

    def _log_stats(self, now: float) -> None:
        count, since = self._stats_logged
        if since:
            log.info(
                "Streamed %d change records (%.0f/s over the last %.0f s); at binlog %s:%s",
                self._stats_events,
                (self._stats_events - count) / max(now - since, 1e-6),
                now - since,
                self._position.get("file"),
                self._position.get("pos"),
            )
        self._stats_logged = (self._stats_events, now)
        self._next_stats = now + STATS_INTERVAL_S

    def commit(self) -> None:
        """The runtime committed offsets (after the broker acknowledged): note the confirmed position."""
        if self._events is None:
            return
        self._committed = self.context.offset_storage_reader().offset(self._events.partition)


def _is_database_ddl(query: str) -> bool:
    words = query.split(None, 3)
    return (
        len(words) >= 2
        and words[0].upper() in ("CREATE", "DROP", "ALTER")
        and words[1].upper() in ("DATABASE", "SCHEMA")
    )


__all__ = ["VERSION", "MySqlSourceTask", "TableChange"]
