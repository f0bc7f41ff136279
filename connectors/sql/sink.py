"""SqlSink: topics into database tables through SQLAlchemy (Confluent's JDBC sink configuration).

Each ``put()`` is one transaction (on the task thread): records become rows (Debezium envelopes give
their ``after`` image; ``op: d`` and tombstones delete when ``delete.enabled``), rows of one table and
column set are written with one ``executemany`` per ``batch.size`` rows, the transaction commits, and
then the task calls ``context.request_commit()`` — consumer offsets never pass a row that is not
committed in the database. With a primary key and ``insert.mode`` upsert/update, the rows of a put are
collapsed per key first (the last change of a key wins; a key's delete and re-insert in one put become
the final upsert), so deletes and upserts of a put touch disjoint keys and their order does not matter.

Upserts use each dialect's native statement: PostgreSQL and SQLite ``INSERT … ON CONFLICT (pk) DO
UPDATE``, MySQL/MariaDB ``INSERT … ON DUPLICATE KEY UPDATE``, ``MERGE`` on SQL Server and Oracle.

Tables (``table.name.format``, ``${topic}`` with dots as underscores) are reflected on first use;
``auto.create`` creates a missing one from the record schema (primary key from ``pk.mode``),
``auto.evolve`` adds the columns a newer record schema has (nullable; never drops columns). Connection
failures are retried ``max.retries`` times (``RetriableException`` after ``retry.backoff.ms``); data
errors fail the task with the database's message (password masked).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    NoSuchTableError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.schema import CreateColumn

from connect.api import (
    Config,
    ConfigDef,
    ConfigException,
    ConnectException,
    DataException,
    RetriableException,
    Schema,
    SinkConnector,
    SinkRecord,
    SinkTask,
    Struct,
    Type,
)
from connectors.sql.config import SINK_CONFIG, SinkSettings, mask, with_aliases
from connectors.sql.dialect import check_connection, explain, make_engine, scrub, validate_connection
from connectors.sql.sink_types import column_type, json_text, value_converter

__all__ = ["VERSION", "SqlSink", "SqlSinkTask"]

VERSION = "0.1.0"
log = logging.getLogger("connectors.sql.sink")

_KAFKA_PK = ("__connect_topic", "__connect_partition", "__connect_offset")


@dataclass(frozen=True)
class _Column:
    name: str
    source: str  # "key" | "value" | "kafka"
    field: str
    schema: Schema
    convert: Any


@dataclass
class _Layout:
    """How records of one (table, key schema, value schema) become rows."""

    table: str
    columns: tuple[_Column, ...]
    pk: tuple[str, ...]
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.names = tuple(c.name for c in self.columns)


def _is_envelope(value: Any) -> bool:
    if isinstance(value, Struct):
        v = value.values
        return "op" in v and "after" in v and "source" in v
    return False


def _retriable(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError):
        low = str(exc.orig or exc).lower()
        permanent = ("no such table", "no such column", "unknown column", "syntax")
        return not any(p in low for p in permanent)
    return False


class SqlSinkTask(SinkTask):
    def __init__(self) -> None:
        self._s: SinkSettings | None = None
        self._engine: Engine | None = None
        self._backend = ""
        self._tables: dict[str, sa.Table] = {}
        self._layouts: dict[tuple[str, Schema | None, Schema | None], _Layout] = {}
        self._statements: dict[tuple[str, str, tuple[str, ...]], Any] = {}
        self._retries = 0
        self.rows_written = 0
        self.rows_deleted = 0
        self._started = time.monotonic()

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        self._s = s = SinkSettings.parse(props)
        self._engine = make_engine(s.url)
        self._backend = s.url.get_backend_name()
        self._started = time.monotonic()
        log.info(
            "SqlSink task started: %s, insert.mode %s, pk.mode %s, batch.size %d",
            mask(s.url),
            s.insert_mode,
            s.pk_mode,
            s.batch_size,
        )

    def stop(self) -> None:
        engine = self._engine
        if engine is not None:
            engine.dispose()  # closes the idle pooled connections (a put in progress keeps its own)

    # -- records -> rows ------------------------------------------------------------------------

    def table_name(self, topic: str) -> str:
        assert self._s is not None
        return self._s.table_format.replace("${topic}", topic).replace(".", "_")

    def _layout(self, table: str, key_schema: Schema | None, row_schema: Schema) -> _Layout:
        assert self._s is not None
        cache_key = (table, key_schema, row_schema)
        layout = self._layouts.get(cache_key)
        if layout is not None:
            return layout
        s, backend = self._s, self._backend
        if row_schema.type is not Type.STRUCT:
            raise DataException(
                f"SqlSink needs struct values with schemas (table {table}), got {row_schema.type.name}: "
                "use a converter with schemas (value.converter.schemas.enable=true)"
            )
        columns: list[_Column] = []
        pk: tuple[str, ...] = ()
        if s.pk_mode == "kafka":
            pk = s.pk_fields or _KAFKA_PK
            kinds = (Schema.STRING_SCHEMA, Schema.INT32_SCHEMA, Schema.INT64_SCHEMA)
            columns += [_Column(n, "kafka", n, k, None) for n, k in zip(pk, kinds, strict=True)]
        elif s.pk_mode == "record_key":
            if key_schema is None:
                raise DataException(f"pk.mode=record_key but a record for {table} has no key schema")
            if key_schema.type is Type.STRUCT:
                names = s.pk_fields or tuple(f.name for f in key_schema.fields)
                for n in names:
                    f = key_schema.field(n)
                    if f is None:
                        raise DataException(f"pk.fields names {n!r}, which the record key lacks")
                    columns.append(_Column(n, "key", n, f.schema, value_converter(f.schema, backend)))
                pk = names
            else:
                if len(s.pk_fields) != 1:
                    raise ConfigException(
                        "pk.fields", ",".join(s.pk_fields), "a primitive key needs exactly one pk.fields name"
                    )
                pk = s.pk_fields
                columns.append(_Column(pk[0], "key", "", key_schema, value_converter(key_schema, backend)))
        elif s.pk_mode == "record_value":
            pk = s.pk_fields or tuple(f.name for f in row_schema.fields)
            for n in pk:
                if row_schema.field(n) is None:
                    raise DataException(f"pk.fields names {n!r}, which the record value lacks")
        taken = {c.name for c in columns}
        allowed = set(s.fields_whitelist)
        for f in row_schema.fields:
            if f.name in taken or (allowed and f.name not in allowed and f.name not in pk):
                continue
            columns.append(_Column(f.name, "value", f.name, f.schema, value_converter(f.schema, backend)))
        layout = self._ensure_table(_Layout(table, tuple(columns), pk))
        self._layouts[cache_key] = layout
        return layout

    def _row(self, layout: _Layout, record: SinkRecord, row: Struct | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        values = row.values if row is not None else {}
        key = record.key
        for c in layout.columns:
            if c.source == "value":
                v = values.get(c.field)
            elif c.source == "key":
                v = key.values.get(c.field) if isinstance(key, Struct) else key
            else:
                v = (
                    (record.topic, record.kafka_partition, record.kafka_offset)[_KAFKA_PK.index(c.field)]
                    if (c.field in _KAFKA_PK)
                    else None
                )
            if v is not None and c.convert is not None:
                v = c.convert(v)
            out[c.name] = v
        return out

    def _key_of(self, layout: _Layout, record: SinkRecord, before: Struct | None) -> dict[str, Any] | None:
        """The primary-key values of a delete (from the record key, or a Debezium before image)."""
        out: dict[str, Any] = {}
        key = record.key
        for c in layout.columns:
            if c.name not in layout.pk:
                continue
            if c.source == "key":
                v = key.values.get(c.field) if isinstance(key, Struct) else key
            elif before is not None:
                v = before.values.get(c.field)
            else:
                return None
            if v is not None and c.convert is not None:
                v = c.convert(v)
            out[c.name] = v
        for n in layout.pk:  # record_value pk columns are value columns
            if n not in out:
                if before is None:
                    return None
                out[n] = before.values.get(n)
        return out

    # -- tables ---------------------------------------------------------------------------------

    def _reflect(self, conn: Connection, name: str) -> sa.Table | None:
        try:
            return sa.Table(name, sa.MetaData(), autoload_with=conn)
        except NoSuchTableError:
            return None

    def _ensure_table(self, layout: _Layout) -> _Layout:
        assert self._engine is not None and self._s is not None
        s, name = self._s, layout.table
        with self._engine.connect() as conn:
            table = self._reflect(conn, name)  # fresh: another task may have evolved it
            if table is None:
                if not s.auto_create:
                    raise ConnectException(
                        f"table {name} does not exist in {mask(s.url)}: create it, fix table.name.format, "
                        "or set auto.create=true"
                    )
                table = sa.Table(
                    name,
                    sa.MetaData(),
                    *[
                        sa.Column(
                            c.name,
                            column_type(c.schema, self._backend, key=c.name in layout.pk),
                            primary_key=c.name in layout.pk,
                            nullable=c.name not in layout.pk and c.schema.optional,
                            autoincrement=False,
                        )
                        for c in layout.columns
                    ],
                )
                try:
                    table.create(conn)
                    conn.commit()
                    log.info("Created table %s (%s)", name, ", ".join(layout.names))
                except (ProgrammingError, OperationalError) as exc:  # another task was first
                    if "exist" not in str(exc).lower():
                        raise
                    conn.rollback()
                    table = self._reflect(conn, name)
                    assert table is not None
            missing = [c for c in layout.columns if c.name not in table.c]
            if missing:
                if not s.auto_evolve:
                    raise ConnectException(
                        f"table {name} lacks column(s) {', '.join(c.name for c in missing)} of the record "
                        "schema: add them or set auto.evolve=true"
                    )
                prep = conn.dialect.identifier_preparer
                for c in missing:
                    col = sa.Column(c.name, column_type(c.schema, self._backend), nullable=True)
                    ddl = CreateColumn(col).compile(dialect=conn.dialect)
                    conn.execute(sa.text(f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {ddl}"))
                    log.info("Added column %s to table %s", c.name, name)
                conn.commit()
                table = self._reflect(conn, name)
                assert table is not None
            if layout.pk and s.insert_mode != "insert":
                have = {c.name for c in table.primary_key.columns}
                if not set(layout.pk) <= have and self._backend != "sqlite":
                    log.warning(
                        "table %s has primary key (%s) but pk.fields are (%s): upserts need a unique key",
                        name,
                        ", ".join(sorted(have)),
                        ", ".join(layout.pk),
                    )
            conn.rollback()
        self._tables[name] = table
        self._statements = {k: v for k, v in self._statements.items() if k[0] != name}
        return self._fit(layout, table)

    def _fit(self, layout: _Layout, table: sa.Table) -> _Layout:
        """JSON values bind as objects only into JSON columns (MariaDB reflects JSON as LONGTEXT, and a
        user's table may hold JSON as text): elsewhere they are written as JSON text."""
        fitted = []
        for c in layout.columns:
            if (
                c.convert is not None
                and getattr(c.convert, "json_object", False)
                and not isinstance(table.c[c.name].type, sa.JSON)
            ):
                c = _Column(c.name, c.source, c.field, c.schema, json_text(c.schema))
            fitted.append(c)
        return _Layout(layout.table, tuple(fitted), layout.pk)

    # -- statements -----------------------------------------------------------------------------

    def _statement(self, table: sa.Table, op: str, names: tuple[str, ...], pk: tuple[str, ...]) -> Any:
        cache_key = (table.name, op, names)
        stmt = self._statements.get(cache_key)
        if stmt is not None:
            return stmt
        backend = self._backend
        rest = [n for n in names if n not in pk]
        if op == "insert":
            stmt = sa.insert(table)
        elif op == "delete":
            stmt = sa.delete(table).where(*[table.c[n] == sa.bindparam(f"k_{n}") for n in pk])
        elif op == "update":
            stmt = (
                sa.update(table)
                .where(*[table.c[n] == sa.bindparam(f"k_{n}") for n in pk])
                .values({n: sa.bindparam(f"v_{n}") for n in rest})
            )
        elif backend in ("postgresql", "sqlite"):
            ins = (postgresql.insert if backend == "postgresql" else sqlite.insert)(table)
            if rest:
                stmt = ins.on_conflict_do_update(
                    index_elements=[table.c[n] for n in pk], set_={n: ins.excluded[n] for n in rest}
                )
            else:
                stmt = ins.on_conflict_do_nothing(index_elements=[table.c[n] for n in pk])
        elif backend in ("mysql", "mariadb"):
            mins = mysql.insert(table)
            stmt = mins.on_duplicate_key_update({n: mins.inserted[n] for n in (rest or pk[:1])})
        elif backend in ("mssql", "oracle"):
            stmt = self._merge(table, names, pk)
        else:
            stmt = None  # no native upsert: update, then insert what was missing
        self._statements[cache_key] = stmt
        return stmt

    def _merge(self, table: sa.Table, names: tuple[str, ...], pk: tuple[str, ...]) -> Any:
        assert self._engine is not None
        prep = self._engine.dialect.identifier_preparer
        q = prep.quote
        dual = " FROM dual" if self._backend == "oracle" else ""
        src = ", ".join(f":{n} AS {q(n)}" for n in names)
        on = " AND ".join(f"t.{q(n)} = s.{q(n)}" for n in pk)
        rest = [n for n in names if n not in pk]
        sets = ", ".join(f"t.{q(n)} = s.{q(n)}" for n in rest)
        upd = f" WHEN MATCHED THEN UPDATE SET {sets}" if rest else ""
        cols = ", ".join(q(n) for n in names)
        vals = ", ".join(f"s.{q(n)}" for n in names)
        end = ";" if self._backend == "mssql" else ""
        return sa.text(
            f"MERGE INTO {prep.format_table(table)} t USING (SELECT {src}{dual}) s ON ({on}){upd} "
            f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({vals}){end}"
        )

    # -- put ------------------------------------------------------------------------------------

    def put(self, records: list[SinkRecord]) -> None:
        if not records:
            return
        assert self._s is not None and self._engine is not None
        try:
            groups = self._plan(records)
            written, deleted = self._write(groups)
        except RetriableException:
            raise
        except SQLAlchemyError as exc:
            self._fail_or_retry(exc)
            raise  # unreachable: _fail_or_retry raises
        self._retries = 0
        self.rows_written += written
        self.rows_deleted += deleted
        self.context.request_commit()
        elapsed = max(time.monotonic() - self._started, 1e-3)
        self.context.report_progress(
            {
                "rows_written": self.rows_written,
                "rows_deleted": self.rows_deleted,
                "rows_per_second": round((self.rows_written + self.rows_deleted) / elapsed, 1),
                "tables": len(self._tables),
            }
        )

    def _fail_or_retry(self, exc: SQLAlchemyError) -> None:
        assert self._s is not None
        s = self._s
        if _retriable(exc) and self._retries < s.max_retries:
            self._retries += 1
            _key, reason = explain(exc, s.url)
            log.warning("Write failed (retry %d of %d): %s", self._retries, s.max_retries, reason)
            self.context.timeout(s.retry_backoff_ms)
            self._tables.clear()
            self._statements.clear()
            raise RetriableException(reason) from None
        orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        raise ConnectException(
            f"SqlSink cannot write to {mask(s.url)}: {scrub(' '.join(str(orig).split()), s.url)[:1000]}"
        ) from None

    def _plan(self, records: list[SinkRecord]) -> list[tuple[_Layout, str, list[dict[str, Any]]]]:
        """Records -> ordered groups (layout, op, rows); with keys, the last change of a key wins."""
        assert self._s is not None
        s = self._s
        collapse = s.pk_mode != "none" and s.insert_mode != "insert"
        latest: dict[tuple[str, tuple[Any, ...]], tuple[_Layout, str, dict[str, Any]]] = {}
        ordered: list[tuple[_Layout, str, dict[str, Any]]] = []
        reporter = self.context.errant_record_reporter()
        for record in records:
            try:
                item = self._item(record)
            except DataException as exc:
                if reporter is None:
                    raise
                reporter.report(record, exc)
                continue
            if item is None:
                continue
            layout, op, row = item
            if collapse:
                if op == "delete":
                    pk_values = tuple(row[n] for n in layout.pk)
                else:
                    pk_values = tuple(row.get(n) for n in layout.pk)
                latest.pop((layout.table, pk_values), None)  # keep the key's latest position
                latest[(layout.table, pk_values)] = item
            else:
                ordered.append(item)
        items = list(latest.values()) if collapse else ordered
        groups: list[tuple[_Layout, str, list[dict[str, Any]]]] = []
        if collapse:
            by: dict[tuple[int, str], tuple[_Layout, str, list[dict[str, Any]]]] = {}
            for layout, op, row in items:
                g = by.get((id(layout), op))
                if g is None:
                    g = by[(id(layout), op)] = (layout, op, [])
                    groups.append(g)
                g[2].append(row)
        else:
            for layout, op, row in items:
                if groups and groups[-1][0] is layout and groups[-1][1] == op:
                    groups[-1][2].append(row)
                else:
                    groups.append((layout, op, [row]))
        return groups

    def _item(self, record: SinkRecord) -> tuple[_Layout, str, dict[str, Any]] | None:
        assert self._s is not None
        s = self._s
        table = self.table_name(record.topic)
        value = record.value
        if value is None:  # tombstone
            if not s.delete_enabled or s.pk_mode != "record_key" or record.key is None:
                return None
            layout = self._layout_for_delete(table, record)
            if layout is None:
                return None
            k = self._key_of(layout, record, None)
            return (layout, "delete", k) if k is not None else None
        if _is_envelope(value):
            op = value.values.get("op")
            if op == "t" or op == "m":
                return None
            if op == "d":
                if not s.delete_enabled:
                    return None
                before = value.values.get("before")
                layout = self._layout_for_delete(table, record, before)
                if layout is None:
                    return None
                k = self._key_of(layout, record, before)
                return (layout, "delete", k) if k is not None else None
            after = value.values.get("after")
            if after is None:
                return None
            layout = self._layout(table, record.key_schema, after.schema)
            return layout, self._write_op(), self._row(layout, record, after)
        if not isinstance(value, Struct):
            raise DataException(
                f"SqlSink needs struct values with schemas, got {type(value).__name__} from {record.topic}: "
                "use a converter with schemas (value.converter.schemas.enable=true)"
            )
        layout = self._layout(table, record.key_schema, value.schema)
        return layout, self._write_op(), self._row(layout, record, value)

    def _layout_for_delete(
        self, table: str, record: SinkRecord, before: Struct | None = None
    ) -> _Layout | None:
        """A layout to delete with: a known one of the table, else one from the before image."""
        for (t, ks, _), layout in self._layouts.items():
            if t == table and ks == record.key_schema:
                return layout
        if before is not None:
            return self._layout(table, record.key_schema, before.schema)
        if self._s is not None and self._s.pk_mode == "record_key" and isinstance(record.key, Struct):
            if table not in self._tables and self._engine is not None:
                with self._engine.connect() as conn:
                    found = self._reflect(conn, table)
                if found is None:
                    return None  # nothing to delete from
                self._tables[table] = found
            key_schema = record.key_schema or record.key.schema
            return _Layout(
                table,
                tuple(
                    _Column(f.name, "key", f.name, f.schema, value_converter(f.schema, self._backend))
                    for f in key_schema.fields
                    if not self._s.pk_fields or f.name in self._s.pk_fields
                ),
                self._s.pk_fields or tuple(f.name for f in key_schema.fields),
            )
        return None

    def _write_op(self) -> str:
        assert self._s is not None
        return {"insert": "insert", "upsert": "upsert", "update": "update"}[self._s.insert_mode]

    def _write(self, groups: list[tuple[_Layout, str, list[dict[str, Any]]]]) -> tuple[int, int]:
        assert self._s is not None and self._engine is not None
        size = self._s.batch_size
        written = deleted = 0
        with self._engine.begin() as conn:
            for layout, op, rows in groups:
                table = self._tables[layout.table]
                pk = layout.pk
                if op == "delete":
                    stmt = self._statement(table, "delete", pk, pk)
                    params = [{f"k_{n}": r[n] for n in pk} for r in rows]
                    for i in range(0, len(params), size):
                        conn.execute(stmt, params[i : i + size])
                    deleted += len(rows)
                    continue
                names = layout.names
                if op == "update":
                    stmt = self._statement(table, "update", names, pk)
                    params = [{(f"k_{n}" if n in pk else f"v_{n}"): v for n, v in r.items()} for r in rows]
                    for i in range(0, len(params), size):
                        conn.execute(stmt, params[i : i + size])
                    written += len(rows)
                    continue
                stmt = self._statement(table, op, names, pk)
                if stmt is None:  # a dialect without native upsert
                    self._update_then_insert(conn, table, names, pk, rows)
                else:
                    for i in range(0, len(rows), size):
                        conn.execute(stmt, rows[i : i + size])
                written += len(rows)
        return written, deleted

    def _update_then_insert(
        self,
        conn: Connection,
        table: sa.Table,
        names: tuple[str, ...],
        pk: tuple[str, ...],
        rows: list[dict[str, Any]],
    ) -> None:
        upd = self._statement(table, "update", names, pk)
        ins = sa.insert(table)
        for r in rows:
            res = conn.execute(upd, {(f"k_{n}" if n in pk else f"v_{n}"): v for n, v in r.items()})
            if res.rowcount == 0:
                conn.execute(ins, r)


class SqlSink(SinkConnector):
    """Writes topics into database tables (Confluent's JDBC sink configuration, Debezium unwrapping)."""

    aliases = (
        "SqlSink",
        "JdbcSinkConnector",
        "io.confluent.connect.jdbc.JdbcSinkConnector",
        "io.debezium.connector.jdbc.JdbcSinkConnector",
    )

    def __init__(self) -> None:
        self._props: dict[str, str] = {}

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return SINK_CONFIG

    def validate(self, configs: Mapping[str, str]) -> Config:
        """Per-field checks, cross-field rules, then a connection attempt (errors on the key to fix)."""
        props = with_aliases(configs, sink=True)
        return validate_connection(super().validate(props), configs, lambda: SinkSettings.parse(props).url)

    def start(self, props: dict[str, str]) -> None:
        settings = SinkSettings.parse(props)
        problem = check_connection(settings.url)
        if problem is not None:
            raise ConnectException(f"{problem[1]} (fix {problem[0]})")
        self._props = dict(props)

    def task_class(self) -> type[SinkTask]:
        return SqlSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props) for _ in range(max(1, max_tasks))]

    def stop(self) -> None:
        pass
