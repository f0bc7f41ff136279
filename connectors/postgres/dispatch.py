"""Replication stream dispatch: pgoutput messages -> Debezium change records.

:class:`StreamDispatcher` turns each XLogData message of the replication stream into records: it
keeps the transaction boundaries (``B``/``C``: the commit LSN, xid and timestamp every record of a
transaction carries, and the per-transaction event counter of the offsets), the relation cache
(``R``: one :class:`TableModel` per published table, rebuilt when its columns change; ``None`` for
excluded tables), type invalidations (``Y``) and the row changes (``I``/``U``/``D``/``T``).

Replays are dropped here: a transaction committed before :attr:`StreamDispatcher.resume_lsn` was
delivered before and is skipped whole; of the one committed at it, the first
:attr:`StreamDispatcher.resume_event` records are skipped. The task sets the resume position at start,
after each batch and after a snapshot (the offsets contract is in :mod:`connectors.postgres.task`).

Owned by the task thread.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any, Final

import psycopg

from connect.api.data import Struct
from connect.api.errors import ConnectException
from connect.api.records import SourceRecord
from connectors.postgres import catalog
from connectors.postgres.catalog import ColumnInfo, TableRef, TypeCache
from connectors.postgres.config import Settings
from connectors.postgres.events import Column, EventFactory, TableModel
from connectors.postgres.pgoutput import (
    PG_EPOCH_US,
    Begin,
    Commit,
    Delete,
    Relation,
    Truncate,
    TypeMsg,
    Update,
    decode,
    read_tuple,
)
from connectors.postgres.replication import ReplicationStream

log = logging.getLogger("connectors.postgres")

_RELID: Final = struct.Struct(">I")
_LSN: Final = struct.Struct(">Q")


class _Tx:
    __slots__ = ("commit_ts_ms", "event", "lsn", "sequence_prefix", "skip_through", "ts_usec", "xid")

    def __init__(self, begin: Begin, skip_through: int) -> None:
        self.lsn = begin.final_lsn
        self.xid = begin.xid
        self.ts_usec = begin.commit_ts + PG_EPOCH_US
        self.commit_ts_ms = self.ts_usec // 1000
        self.event = 0
        self.skip_through = skip_through  # records 1..skip_through of this transaction were emitted before
        self.sequence_prefix = ""


class StreamDispatcher:
    """Turns the pgoutput messages of one task's replication stream into change records."""

    def __init__(
        self,
        settings: Settings,
        events: EventFactory,
        types: TypeCache,
        query_conn: Callable[[], psycopg.Connection[Any]],
    ) -> None:
        self._settings = settings
        self._events = events
        self._types = types
        self._query_conn = query_conn  # the task's catalog connection (column details of new relations)
        self._models: dict[int, TableModel | None] = {}
        self._relations: dict[int, Relation] = {}
        self.tx: _Tx | None = None  # the transaction being received (between its B and C messages)
        self.resume_lsn = 0  # drop transactions committed before this position...
        self.resume_event = 0  # ...and these first records of the one committed at it
        self.last_commit_end = 0  # end LSN of the last transaction received
        self._last_commit_lsn_str = "0"
        self.now_ms = 0  # the envelopes' ts_ms, set by the task once per batch

    def resume_from(self, lsn: int, event: int) -> None:
        """Records up to ``(lsn, event)`` were delivered: do not emit them again."""
        self.resume_lsn, self.resume_event = lsn, event

    def connection_lost(self) -> None:
        """The stream broke: a transaction in progress is re-sent whole by PostgreSQL."""
        self.tx = None

    def reconnecting(self) -> None:
        """A new stream re-sends every relation: rebuild each table's model from it."""
        self._relations.clear()

    def handle(self, message: bytes, out: list[SourceRecord], stream: ReplicationStream) -> None:
        """One XLogData message of ``stream`` -> its records appended to ``out`` (task thread)."""
        kind = message[25]
        tx = self.tx
        if kind == 73:  # I: the most frequent message, decoded in place (no slice, no message object)
            if tx is None:
                raise ConnectException("pgoutput sent a row change outside a transaction")
            model = self._models.get(_RELID.unpack_from(message, 26)[0])
            if model is None or tx.skip_through < 0:
                return
            values = model.values(read_tuple(message, 31)[0])
            start = len(out)
            self._emit(
                tx,
                model,
                "c",
                model.key_from_values(values),
                None,
                Struct(model.row_schema, values),
                _LSN.unpack_from(message, 1)[0],
                out,
            )
            if tx.skip_through:
                self._skip_replayed(tx, out, start)
        elif kind == 85 or kind == 68:  # U D
            if tx is None:
                raise ConnectException("pgoutput sent a row change outside a transaction")
            msg = decode(message[25:])
            model = self._models.get(msg.relid)  # type: ignore[union-attr]
            if model is None:
                return
            self._row_change(tx, model, msg, _LSN.unpack_from(message, 1)[0], out)  # type: ignore[arg-type]
        elif kind == 66:  # B
            begin = decode(message[25:])
            assert isinstance(begin, Begin)
            skip = 0
            if begin.final_lsn < self.resume_lsn:
                skip = -1  # delivered before: drop the whole transaction
            elif begin.final_lsn == self.resume_lsn:
                skip = self.resume_event
            self.tx = _Tx(begin, skip)
            self.tx.sequence_prefix = f'["{self._last_commit_lsn_str}","'
        elif kind == 67:  # C
            commit = decode(message[25:])
            assert isinstance(commit, Commit)
            self.last_commit_end = commit.end_lsn
            self._last_commit_lsn_str = str(commit.commit_lsn)
            if commit.end_lsn > stream.received:
                stream.received = commit.end_lsn
            self.tx = None
        elif kind == 82:  # R
            relation = decode(message[25:])
            assert isinstance(relation, Relation)
            self._on_relation(relation)
        elif kind == 84:  # T
            if tx is None:
                return
            truncate = decode(message[25:])
            assert isinstance(truncate, Truncate)
            lsn = int.from_bytes(message[1:9], "big")
            for relid in truncate.relids:
                model = self._models.get(relid)
                if model is not None and tx.skip_through >= 0:
                    start = len(out)
                    self._emit(tx, model, "t", None, None, None, lsn, out)
                    self._skip_replayed(tx, out, start)
        elif kind == 89:  # Y
            type_msg = decode(message[25:])
            assert isinstance(type_msg, TypeMsg)
            self._types.forget(type_msg.oid)

    def _row_change(
        self, tx: _Tx, model: TableModel, msg: Update | Delete, lsn: int, out: list[SourceRecord]
    ) -> None:
        """An update or delete -> its records (task thread; inserts, the most frequent, are decoded in
        place by :meth:`handle`)."""
        if tx.skip_through < 0:
            return
        start = len(out)
        if type(msg) is Update:
            values = model.values(msg.new)
            after = Struct(model.row_schema, values)
            key = model.key_from_values(values)
            before: Struct | None = None
            if msg.old is not None:
                old_values = model.values(msg.old, key_only=msg.old_is_key)
                before = Struct(model.row_schema, old_values)
                old_key = model.key_from_values(old_values)
                if old_key != key:
                    # the primary key changed: Debezium emits a delete of the old key and a create of the new
                    self._emit(tx, model, "d", old_key, before, None, lsn, out)
                    self._emit(tx, model, "c", key, None, after, lsn, out)
                    self._skip_replayed(tx, out, start)
                    return
            self._emit(tx, model, "u", key, before, after, lsn, out)
        else:
            assert isinstance(msg, Delete)
            values = model.values(msg.old, key_only=msg.old_is_key)
            self._emit(
                tx,
                model,
                "d",
                model.key_from_values(values),
                Struct(model.row_schema, values),
                None,
                lsn,
                out,
            )
        if tx.skip_through:
            self._skip_replayed(tx, out, start)

    def _skip_replayed(self, tx: _Tx, out: list[SourceRecord], start: int) -> None:
        """Drop the records of this transaction that were emitted before a restart or reconnect."""
        if tx.skip_through:
            kept = [r for r in out[start:] if r.source_offset["event"] > tx.skip_through]  # type: ignore[index]
            del out[start:]
            out.extend(kept)

    def _emit(
        self,
        tx: _Tx,
        model: TableModel,
        op: str,
        key: Struct | None,
        before: Struct | None,
        after: Struct | None,
        lsn: int,
        out: list[SourceRecord],
    ) -> None:
        events = self._events
        source = events.source(model, tx.commit_ts_ms, "false", tx.xid, lsn, f'{tx.sequence_prefix}{lsn}"]')
        tx.event += 1
        offset = {"lsn": tx.lsn, "txId": tx.xid, "event": tx.event, "ts_usec": tx.ts_usec}
        tombstone: dict[str, Any] | None = None
        if op == "d" and events.tombstones and key is not None:
            tx.event += 1
            tombstone = {"lsn": tx.lsn, "txId": tx.xid, "event": tx.event, "ts_usec": tx.ts_usec}
        events.change(model, op, key, before, after, source, self.now_ms, offset, tombstone, out)

    def _on_relation(self, relation: Relation) -> None:
        settings = self._settings
        if self._relations.get(relation.oid) == relation and relation.oid in self._models:
            return
        self._relations[relation.oid] = relation
        if not settings.table_included(relation.qualified):
            self._models[relation.oid] = None
            return
        info = {c.name: c for c in catalog.table_columns(self._query_conn(), relation.oid)}
        columns = []
        for col in relation.columns:
            known = info.get(col.name)
            columns.append(
                Column(
                    col.name,
                    col.type_oid,
                    col.typmod,
                    known.not_null if known else False,
                    known.pk_position if known else 0,
                )
            )
        previous = self._models.get(relation.oid)
        self._models[relation.oid] = self._model(relation.namespace, relation.name, columns)
        if previous is not None:
            log.info("Schema of %s changed: now %s", relation.qualified, [c.name for c in relation.columns])

    def _model(self, schema: str, table: str, columns: list[Column]) -> TableModel:
        settings = self._settings
        qualified = f"{schema}.{table}"
        return TableModel(
            settings.topic_prefix,
            schema,
            table,
            columns,
            self._types,
            settings.decimal_mode,
            settings.time_mode,
            lambda column: settings.column_included(qualified, column),
        )

    def model_for_table(self, table: TableRef, columns: list[ColumnInfo]) -> TableModel:
        return self._model(
            table.schema,
            table.name,
            [Column(c.name, c.type_oid, c.typmod, c.not_null, c.pk_position) for c in columns],
        )
