"""Building blocks for change-data-capture source plugins, in Debezium's formats.

What every CDC connector repeats, offered once to built-in and third-party plugins alike (the built-in
PostgresSource and MySqlSource use it):

- :func:`debezium_source_schema` — a ``SchemaBuilder`` for a Debezium ``source`` block holding the
  fields every Debezium connector starts with (``version``, ``connector``, ``name``, ``ts_ms``,
  ``snapshot``, ``db``, ``sequence``), in Debezium's order; the connector appends its own fields.
- :data:`SNAPSHOT_ENUM_SCHEMA` — the ``snapshot`` field (``io.debezium.data.Enum``: true, last, false,
  incremental; default false).
- :data:`HEARTBEAT_KEY_SCHEMA` / :data:`HEARTBEAT_VALUE_SCHEMA` — Debezium's heartbeat records
  (``io.debezium.connector.common.ServerNameKey`` / ``Heartbeat``) for ``__debezium-heartbeat.<prefix>``.
- :class:`SnapshotProgress` — counts of an initial snapshot (tables, rows, estimate, rate, ETA) for the
  task's ``context.report_progress`` and its log lines.

Pure data and arithmetic: no I/O, no threads; a :class:`SnapshotProgress` belongs to the one thread
reading the snapshot.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from connect.api.data import Schema, SchemaBuilder

__all__ = [
    "HEARTBEAT_KEY_SCHEMA",
    "HEARTBEAT_VALUE_SCHEMA",
    "SNAPSHOT_ENUM_SCHEMA",
    "SnapshotProgress",
    "debezium_source_schema",
]

SNAPSHOT_ENUM_SCHEMA: Final = (
    SchemaBuilder.string()
    .optional()
    .name("io.debezium.data.Enum")
    .version(1)
    .parameter("allowed", "true,last,false,incremental")
    .default_value("false")
    .build()
)

HEARTBEAT_KEY_SCHEMA: Final = (
    SchemaBuilder.struct()
    .name("io.debezium.connector.common.ServerNameKey")
    .field("serverName", Schema.STRING_SCHEMA)
    .build()
)
HEARTBEAT_VALUE_SCHEMA: Final = (
    SchemaBuilder.struct()
    .name("io.debezium.connector.common.Heartbeat")
    .field("ts_ms", Schema.INT64_SCHEMA)
    .build()
)


def debezium_source_schema(name: str) -> SchemaBuilder:
    """A struct builder named ``name`` (e.g. ``io.debezium.connector.mysql.Source``) with the fields every
    Debezium source block starts with; append the connector's own fields, then ``build()``."""
    return (
        SchemaBuilder.struct()
        .name(name)
        .field("version", Schema.STRING_SCHEMA)
        .field("connector", Schema.STRING_SCHEMA)
        .field("name", Schema.STRING_SCHEMA)
        .field("ts_ms", Schema.INT64_SCHEMA)
        .field("snapshot", SNAPSHOT_ENUM_SCHEMA)
        .field("db", Schema.STRING_SCHEMA)
        .field("sequence", Schema.OPTIONAL_STRING_SCHEMA)
    )


class SnapshotProgress:
    """Counts of an initial snapshot for the task status and logs: tables and rows done, the estimate
    (e.g. from catalog statistics; 0 when unknown), rate and ETA.

    The snapshot reader sets ``table`` / ``table_rows`` / ``table_estimated_rows`` when it starts a
    table, adds to ``rows`` and ``table_rows`` per batch and to ``tables_done`` per table; ``rows``
    counts what this reader read (a resumed snapshot counts from where it resumed).
    :meth:`as_status` is what the task passes to ``context.report_progress`` (``phase: snapshot``);
    :meth:`maybe_log` logs :meth:`line` to ``logger`` at most every ``log_interval_s``.
    """

    def __init__(
        self, tables: int, estimated_rows: int, logger: logging.Logger, log_interval_s: float = 5.0
    ) -> None:
        self.tables_total = tables
        self.tables_done = 0
        self.estimated_rows = estimated_rows
        self.rows = 0
        self.table: str | None = None  # being read now
        self.table_rows = 0
        self.table_estimated_rows = 0
        self.started = time.monotonic()
        self._log = logger
        self._log_interval_s = log_interval_s
        self._next_log = self.started + log_interval_s

    def _rate_eta(self) -> tuple[float, float, float | None]:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.rows / elapsed
        remaining = max(self.estimated_rows - self.rows, 0)
        return elapsed, rate, (remaining / rate if rate > 0 else None)

    def as_status(self) -> dict[str, Any]:
        """The progress object a task reports (phase ``snapshot``)."""
        elapsed, rate, eta = self._rate_eta()
        return {
            "phase": "snapshot",
            "tables_total": self.tables_total,
            "tables_done": self.tables_done,
            "current_table": self.table,
            "current_table_rows_done": self.table_rows,
            "current_table_rows_estimated": self.table_estimated_rows,
            "rows_done": self.rows,
            "rows_estimated": self.estimated_rows,
            "rows_per_second": round(rate, 1),
            "eta_seconds": None if eta is None else round(eta, 1),
            "elapsed_seconds": round(elapsed, 1),
        }

    def line(self, table: str | None) -> str:
        """One log line: tables and rows done, estimate, time, rate, ETA and the table being read."""
        elapsed, rate, eta_s = self._rate_eta()
        remaining = max(self.estimated_rows - self.rows, 0)
        eta = f"{eta_s:.0f} s" if eta_s is not None and remaining else "-"
        current = f", reading {table}" if table else ""
        return (
            f"Snapshot: {self.tables_done}/{self.tables_total} tables done, {self.rows} rows "
            f"(~{self.estimated_rows} estimated) in {elapsed:.1f} s at {rate:.0f} rows/s, ETA {eta}{current}"
        )

    def maybe_log(self, table: str | None) -> None:
        now = time.monotonic()
        if now >= self._next_log:
            self._next_log = now + self._log_interval_s
            self._log.info(self.line(table))
