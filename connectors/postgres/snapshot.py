"""The initial snapshot: every captured table read in one REPEATABLE READ transaction, in batches.

Consistency with the stream: for a new slot the task creates it with ``EXPORT_SNAPSHOT`` and this
reader imports that snapshot (``SET TRANSACTION SNAPSHOT``), so the rows it reads are exactly the
database as of the slot's consistent point, and streaming from the slot afterwards neither loses nor
repeats a change. Without an exported snapshot (a resumed snapshot, or a slot that already existed) it
uses a fresh snapshot: changes made between the slot's position and that snapshot may then appear
both in the snapshot and in the stream that follows (at-least-once; the final state per key is right).

Resumption: each snapshot record's offset names the tables already done, the current table and, for
tables with a primary key, the last key read (as text). A restarted task continues after that key
instead of starting over; a table without a primary key is read again from its start. The task does
the same, in-process, when the connection breaks mid-snapshot (e.g. PostgreSQL restarted).

Threading: used only from the task thread (``poll``), except :meth:`close`, which the task calls
under its lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.adapt import Loader

from connect.api.cdc import SnapshotProgress
from connect.api.records import SourceRecord
from connectors.postgres.catalog import ColumnInfo, TableRef, table_columns
from connectors.postgres.events import EventFactory, TableModel

log = logging.getLogger("connectors.postgres")

PROGRESS_INTERVAL_S = 5.0


class _RawText(Loader):
    """Loads a column's text representation as the raw bytes the column converters parse."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


class SnapshotReader:
    """Reads the tables batch by batch; :meth:`next_batch` returns records until it returns None."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        tables: Sequence[TableRef],
        model_for: Callable[[TableRef, list[ColumnInfo]], TableModel],
        events: EventFactory,
        lsn: int,
        batch_size: int,
        exported_snapshot: str | None,
        resume: dict[str, Any] | None = None,
    ) -> None:
        self._conn = conn
        self._model_for = model_for
        self._events = events
        self._lsn = lsn
        self._batch = batch_size
        done = set(resume.get("tables_done", [])) if resume else set()
        self._done: list[str] = [t.qualified for t in tables if t.qualified in done]
        self._todo = [t for t in tables if t.qualified not in done]
        self._resume_table: str | None = resume.get("table") if resume else None
        self._resume_key: list[str] | None = resume.get("last_key") if resume else None
        conn.autocommit = False
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        if exported_snapshot is not None:
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(exported_snapshot)))
        estimates: dict[int, int] = {
            oid: int(max(n, 0))
            for oid, n in conn.execute(
                "SELECT oid, reltuples FROM pg_class WHERE oid = ANY(%s)", ([t.oid for t in self._todo],)
            ).fetchall()
        }
        self._estimates = estimates
        self.progress = SnapshotProgress(len(tables), sum(estimates.values()), log, PROGRESS_INTERVAL_S)
        self.progress.tables_done = len(self._done)
        self._cursor: psycopg.Cursor[Any] | None = None
        self._table: TableRef | None = None
        self._model: TableModel | None = None
        self._key_index: list[int] = []
        self._held: tuple[list[Any], Any] | None = None  # the last row read, emitted with the next batch
        self._last_key: list[str] | None = None
        self._table_rows = 0
        self.finished = False
        log.info(
            "Snapshot of %d table(s) at LSN %X/%X (%s snapshot)%s",
            len(tables),
            lsn >> 32,
            lsn & 0xFFFFFFFF,
            "the slot's exported" if exported_snapshot else "a fresh",
            f", resuming after {len(self._done)} done table(s)" if self._done else "",
        )

    def _open_next_table(self) -> bool:
        if not self._todo:
            return False
        table = self._todo.pop(0)
        columns = table_columns(self._conn, table.oid)
        model = self._model_for(table, columns)
        pk = sorted((c for c in columns if c.pk_position), key=lambda c: c.pk_position)
        selected = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
        query = sql.SQL("SELECT {} FROM {}").format(selected, table.ident())
        params: list[Any] = []
        if pk:
            key_cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in pk)
            if self._resume_table == table.qualified and self._resume_key is not None:
                casts = sql.SQL(", ").join(sql.SQL("%s::" + c.type_sql) for c in pk)
                query += sql.SQL(" WHERE ({}) > ({})").format(key_cols, casts)
                params = list(self._resume_key)
                log.info("Snapshot of %s resumes after key %s", table.qualified, self._resume_key)
            query += sql.SQL(" ORDER BY {}").format(key_cols)
        elif self._resume_table == table.qualified:
            log.info(
                "Snapshot of %s restarts from its beginning (no primary key to resume from)", table.qualified
            )
        names = [c.name for c in columns]
        self._key_index = [names.index(c.name) for c in pk]
        cursor = self._conn.cursor(name=f"headrace_snapshot_{table.oid}")
        for oid in {c.type_oid for c in columns}:  # values as the type's text output, like pgoutput's
            cursor.adapters.register_loader(oid, _RawText)
        cursor.execute(query, params or None)
        self._cursor, self._table, self._model = cursor, table, model
        self._table_rows = 0
        self.progress.table, self.progress.table_rows = table.qualified, 0
        self.progress.table_estimated_rows = self._estimates.get(table.oid, 0)
        self._last_key = None
        return True

    def _offset(self, last_key: list[str] | None) -> dict[str, Any]:
        assert self._table is not None
        return {
            "lsn": self._lsn,
            "snapshot": True,
            "tables_done": list(self._done),
            "table": self._table.qualified,
            "last_key": last_key,
        }

    def next_batch(self) -> list[SourceRecord] | None:
        """The next records (op ``r``), or None once every table has been read (then call close)."""
        out: list[SourceRecord] = []
        while not out:
            if self._cursor is None and not self._open_next_table():
                self.finished = True
                return self._finish()
            assert self._cursor is not None and self._model is not None and self._table is not None
            rows = self._cursor.fetchmany(self._batch)
            self._table_rows += len(rows)
            self.progress.rows += len(rows)
            self.progress.table_rows = self._table_rows
            pending = ([self._held] if self._held is not None else []) + [(r, None) for r in rows]
            self._held = None
            if rows:
                self._held = pending.pop()  # keep one row back: it may be the snapshot's last
            else:
                self._table_done()
                if not self._todo and pending:
                    self._held = pending.pop()  # the snapshot's last row: emitted by _finish
            self._emit(pending, out, last=False)
            self.progress.maybe_log(self._table.qualified if self._table else None)
        return out

    def _emit(self, rows: Sequence[tuple[Any, Any]], out: list[SourceRecord], last: bool) -> None:
        model, events = self._model, self._events
        assert model is not None
        ts_ms = int(time.time() * 1000)
        key_index = self._key_index
        for i, (raw, offset) in enumerate(rows):
            row = model.row(raw)
            is_last = last and i == len(rows) - 1
            source = events.source(model, ts_ms, "last" if is_last else "true", None, self._lsn, None)
            if offset is None:
                key = [raw[k].decode("utf-8") for k in key_index] if key_index else None
                offset = self._offset(key)
            events.change(model, "r", model.key(row), None, row, source, ts_ms, offset, None, out)

    def _table_done(self) -> None:
        assert self._table is not None and self._cursor is not None
        self._cursor.close()
        self._cursor = None
        if not self._todo:
            self._conn.commit()  # end the snapshot transaction now: it holds locks (e.g. against TRUNCATE)
        self._done.append(self._table.qualified)
        self.progress.tables_done += 1
        self.progress.table, self.progress.table_rows, self.progress.table_estimated_rows = None, 0, 0
        log.info(
            "Snapshot of %s done: %d rows. %s",
            self._table.qualified,
            self._table_rows,
            self.progress.line(None),
        )

    def _finish(self) -> list[SourceRecord] | None:
        """Emit the held-back row as the snapshot's last record, with a streaming offset."""
        held, self._held = self._held, None
        if held is None:
            return None
        out: list[SourceRecord] = []
        self._emit([(held[0], {"lsn": self._lsn, "txId": None, "event": 0})], out, last=True)
        return out

    def close(self) -> None:
        try:
            if self._cursor is not None:
                cursor, self._cursor = self._cursor, None
                cursor.close()
        except psycopg.Error:
            pass
        try:
            self._conn.close()
        except psycopg.Error:
            pass
