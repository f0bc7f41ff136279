"""The initial snapshot: the captured tables read in one consistent transaction, in key order, in
batches, at a binlog position streaming continues from.

Consistency: ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` and the binlog position read inside it
(MariaDB: ``binlog_snapshot_file``/``binlog_snapshot_position``, the position of exactly that snapshot;
MySQL: ``SHOW MASTER STATUS`` under ``FLUSH TABLES WITH READ LOCK``). With ``snapshot.locking.mode=
minimal`` the global read lock is held only while the position and the table definitions are read
(``extended``: until the snapshot ends; ``none``: never). Rows are read with keyset pagination
(``WHERE (pk) > (last) ORDER BY pk LIMIT n``) inside that transaction, so the snapshot is the database
exactly at the position, and streaming from it neither loses nor repeats a change.

Resumption: snapshot offsets name the tables done, the current table and its last key. A restarted task
continues after that key in a fresh transaction (then changes between the two snapshots may appear in
both the snapshot and the stream: at-least-once) and streams from the original position.

Threading: task thread only (``close`` under the task's lock).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import pymysql

from connect.api.cdc import SnapshotProgress
from connect.api.records import SourceRecord
from connectors.mysql import catalog
from connectors.mysql.catalog import ServerInfo, TableRef, quote
from connectors.mysql.config import Settings
from connectors.mysql.ddl import TableDef
from connectors.mysql.events import EventFactory, TableModel

log = logging.getLogger("connectors.mysql")

PROGRESS_INTERVAL_S = 5.0


class ConsistentPoint:
    """A transaction WITH CONSISTENT SNAPSHOT and the binlog position / GTID set it corresponds to."""

    def __init__(self, settings: Settings, info: ServerInfo) -> None:
        self.conn = catalog.connect(settings)
        cur = self.conn.cursor()
        cur.execute("SET SESSION time_zone = '+00:00'")
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        locked = settings.locking_mode != "none"
        if locked:
            cur.execute("FLUSH TABLES WITH READ LOCK")
        self.locked = locked
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        file = pos = None
        if info.mariadb:
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            status = {str(k).lower(): str(v) for k, v in cur.fetchall()}
            file = status.get("binlog_snapshot_file")
            pos = int(status["binlog_snapshot_position"]) if "binlog_snapshot_position" in status else None
        if not file or pos is None:
            file, pos = catalog.master_status(self.conn)
        self.file: str = file
        self.pos: int = pos
        self.gtids = catalog.gtid_executed(self.conn, info.mariadb)
        self.ts_sec = int(time.time())

    def unlock(self) -> None:
        if self.locked:
            with self.conn.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            self.locked = False

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass


class SnapshotReader:
    """Reads the tables batch by batch; :meth:`next_batch` returns records until it returns None."""

    def __init__(
        self,
        point: ConsistentPoint,
        tables: Sequence[tuple[TableRef, TableDef]],
        model_for: Callable[[TableDef], TableModel | None],
        events: EventFactory,
        stream_offset: dict[str, Any],
        batch_size: int,
        resume: dict[str, Any] | None,
        hold_lock: bool,
    ) -> None:
        self._point = point
        self._conn = point.conn
        self._model_for = model_for
        self._events = events
        self._stream_offset = stream_offset  # where streaming starts after the snapshot
        self._batch = batch_size
        done = set(resume.get("tables_done", [])) if resume else set()
        self._done = [ref.qualified for ref, _ in tables if ref.qualified in done]
        self._todo = [(ref, t) for ref, t in tables if ref.qualified not in done]
        self._resume_table: str | None = resume.get("table") if resume else None
        self._resume_key: list[Any] | None = resume.get("last_key") if resume else None
        self.progress = SnapshotProgress(
            len(tables), sum(ref.estimated_rows for ref, _ in self._todo), log, PROGRESS_INTERVAL_S
        )
        self.progress.tables_done = len(self._done)
        self._hold_lock = hold_lock
        self._table: TableDef | None = None
        self._ref: TableRef | None = None
        self._model: TableModel | None = None
        self._last_key: list[Any] | None = None
        self._held: tuple[TableModel, dict[str, Any], dict[str, Any]] | None = None
        self._columns: list[str] = []
        self._key_index: list[int] = []
        self._table_rows = 0
        self._ts_ms = int(time.time() * 1000)
        if not hold_lock:
            point.unlock()

    def _open_next_table(self) -> bool:
        while self._todo:
            ref, table = self._todo.pop(0)
            model = self._model_for(table)
            if model is None:
                self._done.append(ref.qualified)
                continue
            self._ref, self._table, self._model = ref, table, model
            self._columns = [c.name for c in table.columns]
            self._key_index = [self._columns.index(k) for k in table.primary_key]
            self._last_key = None
            if self._resume_table == ref.qualified and self._resume_key is not None and self._key_index:
                self._last_key = list(self._resume_key)
                log.info("Snapshot of %s resumes after key %s", ref.qualified, self._resume_key)
            self._table_rows = 0
            self.progress.table, self.progress.table_rows = ref.qualified, 0
            self.progress.table_estimated_rows = ref.estimated_rows
            return True
        return False

    def _fetch(self) -> list[tuple[Any, ...]]:
        table = self._table
        assert table is not None
        cols = ", ".join(quote(c) for c in self._columns)
        sql = f"SELECT {cols} FROM {quote(table.db)}.{quote(table.name)}"
        params: list[Any] = []
        if self._key_index:
            keys = ", ".join(quote(k) for k in table.primary_key)
            if self._last_key is not None:
                marks = ", ".join(["%s"] * len(self._last_key))
                sql += f" WHERE ({keys}) > ({marks})"
                params = self._last_key
            sql += f" ORDER BY {keys} LIMIT {self._batch}"
        elif self._table_rows:
            sql += f" LIMIT {self._batch} OFFSET {self._table_rows}"
        else:
            sql += f" LIMIT {self._batch}"
        with self._conn.cursor() as cur:
            cur.execute(sql, params or None)
            return list(cur.fetchall())

    def next_batch(self) -> list[SourceRecord] | None:
        """The next records (op ``r``), or None once every table has been read."""
        out: list[SourceRecord] = []
        while not out:
            if self._table is None and not self._open_next_table():
                return self._finish()
            model = self._model
            assert model is not None
            rows = self._fetch()
            self._table_rows += len(rows)
            self.progress.rows += len(rows)
            self.progress.table_rows = self._table_rows
            pending: list[tuple[TableModel, dict[str, Any], dict[str, Any]]] = []
            if self._held is not None:
                pending.append(self._held)
                self._held = None
            last_key = None
            for row in rows:
                last_key = [row[i] for i in self._key_index] if self._key_index else None
                pending.append((model, dict(zip(self._columns, row, strict=True)), self._offset(last_key)))
            if rows:
                self._last_key = last_key
            if len(rows) < self._batch:
                self._table_done()
            if pending:
                self._held = pending.pop()  # may be the snapshot's last row: emitted with the next batch
            for m, values, offset in pending:
                self._emit_row(m, values, offset, "true", out)
            self.progress.maybe_log(self._ref.qualified if self._ref else None)
        return out

    def _offset(self, key: list[Any] | None) -> dict[str, Any]:
        assert self._ref is not None
        return {
            **self._stream_offset,
            "snapshot": True,
            "tables_done": list(self._done),
            "table": self._ref.qualified,
            "last_key": _json_key(key),
        }

    def _emit_row(
        self,
        model: TableModel,
        row: dict[str, Any],
        offset: dict[str, Any],
        snapshot: str,
        out: list[SourceRecord],
    ) -> None:
        events = self._events
        values = model.values(row)
        source = events.source(
            model.db, model.name, self._ts_ms, snapshot, 0, None, self._point.file, self._point.pos, 0
        )
        after = model.row(values)
        events.change(model, "r", model.key(values), None, after, source, self._ts_ms, offset, None, out)

    def _table_done(self) -> None:
        assert self._ref is not None
        self._done.append(self._ref.qualified)
        self.progress.tables_done += 1
        self.progress.table, self.progress.table_rows, self.progress.table_estimated_rows = None, 0, 0
        log.info(
            "Snapshot of %s done: %d rows. %s",
            self._ref.qualified,
            self._table_rows,
            self.progress.line(None),
        )
        self._table = None

    def _finish(self) -> list[SourceRecord] | None:
        """Emit the held-back row as the snapshot's last record, with the streaming offset."""
        held, self._held = self._held, None
        self._end_transaction()
        if held is None:
            return None
        out: list[SourceRecord] = []
        self._emit_row(held[0], held[1], dict(self._stream_offset), "last", out)
        return out

    def _end_transaction(self) -> None:
        try:
            with self._conn.cursor() as cur:
                cur.execute("COMMIT")
            self._point.unlock()
        except pymysql.err.MySQLError:
            pass

    def close(self) -> None:
        self._point.close()


def _json_key(key: list[Any] | None) -> list[Any] | None:
    """The key as JSON values (ints and strings as they are; other types: None = no resume point)."""
    if key is None:
        return None
    if all(isinstance(k, (int, str)) and not isinstance(k, bool) for k in key):
        return list(key)
    return [str(k) if not isinstance(k, bytes) else k.hex() for k in key]
