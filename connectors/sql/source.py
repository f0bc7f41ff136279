"""SqlSource: tables (or a query) into topics by polling (Confluent's JDBC source configuration).

Modes (Confluent's semantics; ``timestamp`` is the COALESCE of ``timestamp.column.name``):

* ``bulk`` — the whole table every ``poll.interval.ms`` (no offsets).
* ``incrementing`` — ``WHERE inc > :last ORDER BY inc``: new rows only.
* ``timestamp`` — ``WHERE ts > :last AND ts < :end ORDER BY ts``: new and modified rows.
* ``timestamp+incrementing`` — ``WHERE ts < :end AND ((ts = :last_ts AND inc > :last_inc) OR ts > :last_ts)
  ORDER BY ts, inc``: every change that moves the timestamp, exactly once, even with many rows per
  timestamp.

``:end`` is now minus ``timestamp.delay.interval.ms`` (rows must be that old to be read, so transactions
that commit late with an earlier timestamp are not skipped). Each query reads at most ``batch.max.rows``
rows (LIMIT; ``ORDER BY`` is total in the incrementing modes, and in ``timestamp`` mode a full batch
ending inside one timestamp is completed with all rows of that timestamp, so LIMIT never splits one).

Offsets per table (source partition ``{"protocol": "1", "table": name}``, or ``{"query": "query"}``):
``{"incrementing": n}``, ``{"timestamp": ms, "timestamp_nanos": ns}`` or both — Confluent's keys. Every
poll that returned rows calls ``context.request_commit()``, so a killed worker re-reads at most about one
batch. Record values are structs named after the table, fields from reflection (see
:mod:`connectors.sql.source_types`); topics are ``topic.prefix`` + table name (the prefix alone for a
query). Tables are spread over ``tasks.max`` tasks round-robin.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

from connect.api import (
    Config,
    ConfigDef,
    ConnectException,
    RetriableException,
    Schema,
    SchemaBuilder,
    SourceConnector,
    SourceRecord,
    SourceTask,
    Struct,
)
from connectors.sql.config import SOURCE_CONFIG, SourceSettings, mask, with_aliases
from connectors.sql.dialect import check_connection, explain, make_engine, validate_connection
from connectors.sql.source_types import FieldType, field_type, infer_field_type

__all__ = ["SqlSource", "SqlSourceTask", "list_tables"]

VERSION = "0.1.0"
log = logging.getLogger("connectors.sql.source")
_EPOCH = dt.datetime(1970, 1, 1)


def _matches(patterns: tuple[str, ...], name: str) -> bool:
    short = name.rsplit(".", 1)[-1]
    for p in patterns:
        if p in (name, short):
            return True
        try:
            if re.fullmatch(p, name) or re.fullmatch(p, short):
                return True
        except re.error:
            continue
    return False


def list_tables(engine: Engine, s: SourceSettings) -> list[str]:
    """The tables (``schema.table`` when a schema is given) selected by the include/exclude lists."""
    insp = sa.inspect(engine)
    names = list(insp.get_table_names(schema=s.schema))
    if "VIEW" in s.table_types:
        names += insp.get_view_names(schema=s.schema)
    if "TABLE" not in s.table_types:
        names = [n for n in names if n not in insp.get_table_names(schema=s.schema)]
    full = [f"{s.schema}.{n}" if s.schema else n for n in names]
    if s.include:
        full = [n for n in full if _matches(s.include, n)]
    if s.exclude:
        full = [n for n in full if not _matches(s.exclude, n)]
    return sorted(full)


def _ms_nanos(value: dt.datetime) -> tuple[int, int]:
    naive = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    delta = naive - _EPOCH
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros // 1000, (micros % 1_000_000) * 1000


def _from_ms_nanos(ms: int, nanos: int | None) -> dt.datetime:
    seconds = ms // 1000
    micros = (nanos // 1000) if nanos is not None else (ms % 1000) * 1000
    return _EPOCH + dt.timedelta(seconds=seconds, microseconds=micros)


@dataclass
class _Querier:
    """One table (or the query): its reflected columns, schema, offset and next run time."""

    name: str
    partition: dict[str, Any]
    topic: str
    selectable: Any
    columns: list[tuple[str, FieldType]]
    schema: Schema
    ts_cols: list[Any]
    inc_col: Any
    tz_aware: bool
    offset: dict[str, Any]
    next_run: float = 0.0
    infer: bool = False  # a query's types come from its first rows


class SqlSourceTask(SourceTask):
    def __init__(self) -> None:
        self._s: SourceSettings | None = None
        self._engine: Engine | None = None
        self._queriers: list[_Querier] = []
        self._stop = threading.Event()
        self._rows = 0
        self._started = time.monotonic()
        self._failures = 0

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        self._s = s = SourceSettings.parse(props)
        self._engine = make_engine(s.url)
        self._stop.clear()
        tables = json.loads(props.get("tables", "[]")) if not s.query else []
        try:
            if s.query:
                self._queriers = [self._query_querier()]
            else:
                self._queriers = [self._table_querier(t) for t in tables]
        except SQLAlchemyError as exc:
            self._engine.dispose()
            key, reason = explain(exc, s.url)
            raise ConnectException(f"{reason} (fix {key})") from None
        except BaseException:
            self._engine.dispose()
            raise
        log.info(
            "SqlSource task started: %s, mode %s, %d table(s): %s",
            mask(s.url),
            s.mode,
            len(self._queriers),
            ", ".join(q.name for q in self._queriers),
        )

    def _initial_offset(self, partition: dict[str, Any]) -> dict[str, Any]:
        assert self._s is not None
        stored = self.context.offset_storage_reader().offset(partition)
        if stored:
            return dict(stored)
        init = self._s.timestamp_initial
        if init is not None and "timestamp" in self._s.mode:
            ms = int(time.time() * 1000) if init == -1 else int(init)
            return {"timestamp": ms, "timestamp_nanos": (ms % 1000) * 1_000_000}
        return {}

    def _table_querier(self, name: str) -> _Querier:
        assert self._s is not None and self._engine is not None
        s = self._s
        schema_name, _, short = name.rpartition(".")
        try:
            table = sa.Table(short, sa.MetaData(), schema=schema_name or None, autoload_with=self._engine)
        except NoSuchTableError:
            raise ConnectException(
                f"table {name} does not exist in {mask(s.url)}: create it or fix table.include.list"
            ) from None
        backend = self._engine.dialect.name
        columns = [(str(c.name), field_type(c.type, bool(c.nullable), backend)) for c in table.columns]
        cols = [
            (c if not ft.select_as_text else sa.type_coerce(c, sa.String()).label(c.name))
            for c, (_, ft) in zip(table.columns, columns, strict=True)
        ]
        selectable = sa.select(*cols)
        partition = {"protocol": "1", "table": name}
        return self._querier(name, partition, s.topic_prefix + short, selectable, table, columns)

    def _query_querier(self) -> _Querier:
        assert self._s is not None and self._engine is not None
        s = self._s
        with self._engine.connect() as conn:
            result = conn.execute(sa.text(f"SELECT * FROM ({s.query}) q WHERE 1 = 0"))
            names = [str(k) for k in result.keys()]  # noqa: SIM118 - a Result, not a dict
        table = sa.text(s.query).columns(*[sa.column(n) for n in names]).subquery("q")
        columns = [(n, field_type(sa.types.NullType(), True, self._engine.dialect.name)) for n in names]
        q = self._querier("query", {"query": "query"}, s.topic_prefix, sa.select(table), table, columns)
        q.infer = True
        return q

    def _querier(
        self,
        name: str,
        partition: dict[str, Any],
        topic: str,
        selectable: Any,
        table: Any,
        columns: list[tuple[str, FieldType]],
    ) -> _Querier:
        assert self._s is not None
        s = self._s
        c = table.c if hasattr(table, "c") else table.columns
        for col in [*s.timestamp_columns, *([s.incrementing_column] if s.incrementing_column else [])]:
            if col not in c:
                raise ConnectException(
                    f"{name} has no column {col!r} (named by timestamp.column.name or "
                    f"incrementing.column.name): columns are {', '.join(n for n, _ in columns)}"
                )
        ts_cols = [c[n] for n in s.timestamp_columns] if "timestamp" in s.mode else []
        inc_col = c[s.incrementing_column] if "incrementing" in s.mode else None
        if s.validate_non_null and name != "query":
            check = ([inc_col] if inc_col is not None else []) + (ts_cols if len(ts_cols) == 1 else [])
            nullable = [col.name for col in check if col.nullable and not col.primary_key]
            if nullable:
                raise ConnectException(
                    f"column(s) {', '.join(nullable)} of {name} can be NULL, and rows with NULL there are "
                    "never read: make them NOT NULL or set validate.non.null=false"
                )
        tz_aware = any(getattr(col.type, "timezone", False) for col in ts_cols)
        b = SchemaBuilder.struct().name(name.rsplit(".", 1)[-1])
        for n, ft in columns:
            b = b.field(n, ft.schema)
        return _Querier(
            name=name,
            partition=partition,
            topic=topic,
            selectable=selectable,
            columns=columns,
            schema=b.build(),
            ts_cols=ts_cols,
            inc_col=inc_col,
            tz_aware=tz_aware,
            offset=self._initial_offset(partition),
        )

    # -- polling --------------------------------------------------------------------------------

    def poll(self) -> list[SourceRecord] | None:
        assert self._s is not None
        if not self._queriers:
            self._stop.wait(0.5)
            return None
        q = min(self._queriers, key=lambda x: x.next_run)
        wait = q.next_run - time.monotonic()
        if wait > 0:
            self._stop.wait(min(wait, 0.5))
            return None
        if self._stop.is_set():
            return None
        try:
            records = self._run(q)
            self._failures = 0
        except SQLAlchemyError as exc:
            self._failures += 1
            key, reason = explain(exc, self._s.url)
            q.next_run = time.monotonic() + self._s.backoff_ms / 1000
            if self._failures >= self._s.attempts * 10:
                raise ConnectException(f"{reason} (fix {key})") from None
            raise RetriableException(reason) from None
        if len(records) < self._s.batch_max_rows:
            q.next_run = time.monotonic() + self._s.poll_ms / 1000
        if records:
            self._rows += len(records)
            self.context.request_commit()
            elapsed = max(time.monotonic() - self._started, 1e-3)
            self.context.report_progress(
                {
                    "rows_read": self._rows,
                    "rows_per_second": round(self._rows / elapsed, 1),
                    "tables": len(self._queriers),
                    "last_table": q.name,
                }
            )
        return records

    def _where(self, q: _Querier, stmt: Any) -> Any:
        assert self._s is not None
        s = self._s
        mode = s.mode
        if mode == "bulk":
            return stmt
        ts = (sa.func.coalesce(*q.ts_cols) if len(q.ts_cols) > 1 else q.ts_cols[0]) if q.ts_cols else None
        inc = q.inc_col
        last_inc = int(q.offset.get("incrementing", -1))
        if mode == "incrementing":
            return stmt.where(inc > last_inc).order_by(inc)
        assert ts is not None
        end = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=s.delay_ms)
        if "timestamp" in q.offset:
            last = _from_ms_nanos(int(q.offset["timestamp"]), q.offset.get("timestamp_nanos"))
        else:
            last = _EPOCH
        if q.tz_aware:
            last = last.replace(tzinfo=dt.UTC)
        else:
            end = end.replace(tzinfo=None)
        if mode == "timestamp":
            return stmt.where(ts > last, ts < end).order_by(ts)
        return stmt.where(ts < end, sa.or_(sa.and_(ts == last, inc > last_inc), ts > last)).order_by(ts, inc)

    def _run(self, q: _Querier) -> list[SourceRecord]:
        assert self._s is not None and self._engine is not None
        s = self._s
        if s.mode == "bulk":
            return self._bulk(q)
        stmt = self._where(q, q.selectable).limit(s.batch_max_rows)
        with self._engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(stmt)]
            if s.mode == "timestamp" and len(rows) == s.batch_max_rows:
                rows = self._complete_last_timestamp(conn, q, rows)
        if q.infer and rows:
            self._infer(q, rows)
        return [self._record(q, row) for row in rows]

    def _infer(self, q: _Querier, rows: list[tuple[Any, ...]]) -> None:
        """A query's field types from the first batch's values (the first non-null per column)."""
        assert self._engine is not None
        backend = self._engine.dialect.name
        columns = []
        for i, (n, _) in enumerate(q.columns):
            sample = next((r[i] for r in rows if r[i] is not None), None)
            columns.append((n, infer_field_type(sample, backend)))
        b = SchemaBuilder.struct().name("query")
        for n, ft in columns:
            b = b.field(n, ft.schema)
        q.columns, q.schema, q.infer = columns, b.build(), False

    def _complete_last_timestamp(self, conn: Any, q: _Querier, rows: list[tuple[Any, ...]]) -> list[Any]:
        """A full batch must not end inside one timestamp (the next query starts after it)."""
        idx = [n for n, _ in q.columns].index(q.ts_cols[0].name)
        last = rows[-1][idx]
        keep = [r for r in rows if r[idx] != last]
        ts = sa.func.coalesce(*q.ts_cols) if len(q.ts_cols) > 1 else q.ts_cols[0]
        same = [tuple(r) for r in conn.execute(q.selectable.where(ts == last))]
        return keep + same

    def _bulk(self, q: _Querier) -> list[SourceRecord]:
        assert self._engine is not None
        with self._engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(q.selectable)]
        if q.infer and rows:
            self._infer(q, rows)
        return [self._record(q, row) for row in rows]

    def _record(self, q: _Querier, row: tuple[Any, ...]) -> SourceRecord:
        values = {}
        for (n, ft), v in zip(q.columns, row, strict=True):
            values[n] = ft.convert(v) if v is not None and ft.convert is not None else v
        offset: dict[str, Any] = {}
        if q.inc_col is not None:
            offset["incrementing"] = int(values[q.inc_col.name])
        if q.ts_cols:
            raw = None
            for c in q.ts_cols:
                raw = row[[n for n, _ in q.columns].index(c.name)]
                if raw is not None:
                    break
            if isinstance(raw, str):
                raw = dt.datetime.fromisoformat(raw)
            if isinstance(raw, dt.datetime):
                ms, nanos = _ms_nanos(raw)
                offset["timestamp"], offset["timestamp_nanos"] = ms, nanos
        q.offset = offset or q.offset
        return SourceRecord(
            q.partition, dict(q.offset), q.topic, None, None, None, q.schema, Struct(q.schema, values)
        )

    def commit(self) -> None:
        pass

    def stop(self) -> None:
        self._stop.set()
        if self._engine is not None:
            self._engine.dispose()


class SqlSource(SourceConnector):
    """Copies tables (or a query) into topics by polling (Confluent's JDBC source configuration)."""

    aliases = ("SqlSource", "JdbcSourceConnector", "io.confluent.connect.jdbc.JdbcSourceConnector")

    def __init__(self) -> None:
        self._props: dict[str, str] = {}
        self._tables: list[str] = []
        self._watch: threading.Thread | None = None
        self._stopping = threading.Event()

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return SOURCE_CONFIG

    def validate(self, configs: Mapping[str, str]) -> Config:
        props = with_aliases(configs, sink=False)
        return validate_connection(super().validate(props), configs, lambda: SourceSettings.parse(props).url)

    def start(self, props: dict[str, str]) -> None:
        s = SourceSettings.parse(props)
        problem = check_connection(s.url)
        if problem is not None:
            raise ConnectException(f"{problem[1]} (fix {problem[0]})")
        self._props = dict(props)
        self._stopping.clear()
        if not s.query:
            engine = make_engine(s.url)
            try:
                self._tables = list_tables(engine, s)
            finally:
                engine.dispose()
            missing = [
                p for p in s.include if not any(_matches((p,), t) for t in self._tables) and re.escape(p) == p
            ]
            if missing:
                raise ConnectException(
                    f"table.include.list names table(s) that do not exist in {mask(s.url)}: "
                    f"{', '.join(missing)}. Create them or fix table.include.list"
                )
            self._watch = threading.Thread(
                target=self._watch_tables, args=(s,), daemon=True, name="sql-tables"
            )
            self._watch.start()

    def _watch_tables(self, s: SourceSettings) -> None:
        """Every table.poll.interval.ms: new or dropped tables -> task reconfiguration."""
        while not self._stopping.wait(s.table_poll_ms / 1000):
            try:
                engine = make_engine(s.url)
                try:
                    tables = list_tables(engine, s)
                finally:
                    engine.dispose()
            except SQLAlchemyError as exc:
                log.warning("Cannot list tables: %s", explain(exc, s.url)[1])
                continue
            if tables != self._tables:
                log.info("Tables changed (%d -> %d): reconfiguring tasks", len(self._tables), len(tables))
                self._tables = tables
                self.context.request_task_reconfiguration()

    def task_class(self) -> type[SourceTask]:
        return SqlSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        if self._props.get("query", "").strip():
            return [dict(self._props)]
        n = max(1, min(max_tasks, len(self._tables)))
        groups: list[list[str]] = [[] for _ in range(n)]
        for i, t in enumerate(self._tables):
            groups[i % n].append(t)
        return [{**self._props, "tables": json.dumps(g)} for g in groups]

    def stop(self) -> None:
        self._stopping.set()
