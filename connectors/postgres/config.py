"""PostgresSource configuration: Debezium's key names, declared once as a ``ConfigDef``.

:data:`CONFIG` drives validation (per-field messages), secret masking (``database.password``) and the
docs; :func:`parse_settings` turns a validated map into the typed :class:`Settings` both the connector
and its task use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from connect.api.config import (
    CaseInsensitiveValidString,
    ConfigDef,
    LambdaValidator,
    NonEmptyString,
    Password,
    Range,
)
from connect.api.errors import ConfigException

SNAPSHOT_MODES = ("initial", "never", "initial_only", "when_needed", "no_data")
AUTOCREATE_MODES = ("all_tables", "disabled", "filtered")
DECIMAL_MODES = ("precise", "double", "string")
TIME_MODES = ("adaptive", "adaptive_time_microseconds", "connect")

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


def _regex_list(name: str, value: Any) -> None:
    for item in value or []:
        try:
            re.compile(item)
        except re.error as exc:
            raise ConfigException(name, item, f"not a valid regular expression: {exc}") from None


def _slot_name(name: str, value: Any) -> None:
    if value is not None and not _IDENTIFIER.fullmatch(value):
        raise ConfigException(
            name,
            value,
            "replication slot names may contain only lower-case letters, digits and underscores, "
            "and must not start with a digit",
        )


def _topic_prefix(name: str, value: Any) -> None:
    if value is not None and not re.fullmatch(r"[A-Za-z0-9._-]+", value):
        raise ConfigException(name, value, "topic names may contain only letters, digits, '.', '_' and '-'")


# The keys that decide where and how to connect (what ``validate()`` tries, see connector.py).
CONNECTION_KEYS = (
    "database.hostname",
    "database.port",
    "database.user",
    "database.password",
    "database.dbname",
    "database.connect.timeout.ms",
)

CONFIG = (
    ConfigDef()
    .define(
        "database.hostname",
        "string",
        importance="high",
        doc="Host name or address of the PostgreSQL server.",
        validator=NonEmptyString(),
        group="Connection",
    )
    .define(
        "database.port",
        "int",
        5432,
        "high",
        "Port of the PostgreSQL server.",
        validator=Range.between(1, 65535),
        group="Connection",
    )
    .define(
        "database.user",
        "string",
        importance="high",
        doc="PostgreSQL user; needs the REPLICATION attribute (or superuser) and SELECT on the captured "
        "tables.",
        validator=NonEmptyString(),
        group="Connection",
    )
    .define("database.password", "password", None, "high", "Password of database.user.", group="Connection")
    .define(
        "database.dbname",
        "string",
        importance="high",
        doc="The database to capture changes from.",
        validator=NonEmptyString(),
        group="Connection",
    )
    .define(
        "database.connect.timeout.ms",
        "int",
        10000,
        "low",
        "How long to wait for a connection to PostgreSQL before giving up.",
        validator=Range.at_least(1),
        group="Connection",
    )
    .define(
        "topic.prefix",
        "string",
        importance="high",
        doc="Logical name of the server: prefix of every topic (<topic.prefix>.<schema>.<table>) and the "
        "source.name field of each event.",
        validator=LambdaValidator.with_(_topic_prefix, "letters, digits, '.', '_' and '-'"),
        group="Connection",
    )
    .define(
        "table.include.list",
        "list",
        "",
        "medium",
        "Regular expressions matched against <schema>.<table>; only matching tables are captured "
        "(empty: every non-system table). Each plain name (no regex characters) must exist.",
        validator=_regex_list,
        group="Filters",
    )
    .define(
        "table.exclude.list",
        "list",
        "",
        "medium",
        "Regular expressions matched against <schema>.<table>; matching tables are not captured.",
        validator=_regex_list,
        group="Filters",
    )
    .define(
        "column.exclude.list",
        "list",
        "",
        "medium",
        "Regular expressions matched against <schema>.<table>.<column>; matching columns are left out "
        "of change events.",
        validator=_regex_list,
        group="Filters",
    )
    .define(
        "slot.name",
        "string",
        "debezium",
        "medium",
        "Name of the logical replication slot (pgoutput); created when missing.",
        validator=LambdaValidator.with_(_slot_name, "[a-z_][a-z0-9_]*"),
        group="Replication",
    )
    .define(
        "publication.name",
        "string",
        "dbz_publication",
        "medium",
        "Name of the publication pgoutput streams.",
        validator=NonEmptyString(),
        group="Replication",
    )
    .define(
        "publication.autocreate.mode",
        "string",
        "all_tables",
        "medium",
        "all_tables: create the publication FOR ALL TABLES when missing; filtered: create it for the "
        "captured tables (and keep its table list in sync at start); disabled: it must exist.",
        validator=CaseInsensitiveValidString.in_(*AUTOCREATE_MODES),
        group="Replication",
    )
    .define(
        "snapshot.mode",
        "string",
        "initial",
        "medium",
        "initial: snapshot the captured tables when there is no offset, then stream; initial_only: "
        "snapshot, then stop streaming; never / no_data: only stream changes; when_needed: snapshot "
        "when there is no offset or the slot was lost.",
        validator=CaseInsensitiveValidString.in_(*SNAPSHOT_MODES),
        group="Snapshot",
    )
    .define(
        "snapshot.fetch.size",
        "int",
        10240,
        "low",
        "Rows per poll() while snapshotting.",
        validator=Range.at_least(1),
        group="Snapshot",
    )
    .define(
        "max.batch.size",
        "int",
        2048,
        "low",
        "Maximum number of change events one poll() returns.",
        validator=Range.at_least(1),
        group="Replication",
    )
    .define(
        "poll.interval.ms",
        "int",
        500,
        "low",
        "How long poll() waits for changes before returning nothing.",
        validator=Range.at_least(1),
        group="Replication",
    )
    .define(
        "heartbeat.interval.ms",
        "int",
        0,
        "medium",
        "Emit a heartbeat record to __debezium-heartbeat.<topic.prefix> this often (0: never), so the "
        "confirmed position of the slot advances on quiet databases and WAL is released.",
        validator=Range.at_least(0),
        group="Replication",
    )
    .define(
        "status.update.interval.ms",
        "int",
        10000,
        "low",
        "How often the confirmed position is sent to PostgreSQL even when nothing changed.",
        validator=Range.at_least(100),
        group="Replication",
    )
    .define(
        "tombstones.on.delete",
        "boolean",
        True,
        "medium",
        "Emit a tombstone (null value) after each delete event, so compacted topics drop the key.",
        group="Events",
    )
    .define(
        "decimal.handling.mode",
        "string",
        "precise",
        "medium",
        "precise: NUMERIC as Connect Decimal (io.debezium.data.VariableScaleDecimal without a scale); "
        "double: FLOAT64; string: STRING.",
        validator=CaseInsensitiveValidString.in_(*DECIMAL_MODES),
        group="Events",
    )
    .define(
        "time.precision.mode",
        "string",
        "adaptive",
        "medium",
        "adaptive: Debezium's io.debezium.time.* types with the column's precision; "
        "adaptive_time_microseconds: as adaptive but TIME always in microseconds; connect: Kafka "
        "Connect's Date/Time/Timestamp logical types (millisecond precision).",
        validator=CaseInsensitiveValidString.in_(*TIME_MODES),
        group="Events",
    )
)


@dataclass(frozen=True)
class Settings:
    """Typed configuration of a connector or task."""

    hostname: str
    port: int
    user: str
    password: str | None
    dbname: str
    connect_timeout_s: float
    topic_prefix: str
    table_include: tuple[re.Pattern[str], ...]
    table_exclude: tuple[re.Pattern[str], ...]
    table_include_names: tuple[str, ...]
    column_exclude: tuple[re.Pattern[str], ...]
    slot_name: str
    publication_name: str
    publication_autocreate: str
    snapshot_mode: str
    snapshot_fetch_size: int
    max_batch_size: int
    poll_interval_s: float
    heartbeat_interval_s: float
    status_interval_s: float
    tombstones_on_delete: bool
    decimal_mode: str
    time_mode: str

    def conninfo(self, replication: bool = False) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect`` (the password is passed, never logged)."""
        info: dict[str, Any] = {
            "host": self.hostname,
            "port": self.port,
            "user": self.user,
            "dbname": self.dbname,
            "connect_timeout": max(1, round(self.connect_timeout_s)),
            "application_name": f"headrace-{self.topic_prefix}",
        }
        if self.password is not None:
            info["password"] = self.password
        if replication:
            info["replication"] = "database"
        return info

    def table_included(self, qualified: str) -> bool:
        """Whether ``schema.table`` is captured (include list, then exclude list)."""
        if self.table_include and not any(p.fullmatch(qualified) for p in self.table_include):
            return False
        return not any(p.fullmatch(qualified) for p in self.table_exclude)

    def column_included(self, qualified_table: str, column: str) -> bool:
        full = f"{qualified_table}.{column}"
        return not any(p.fullmatch(full) for p in self.column_exclude)


def _plain_name(pattern: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9_]+\.[A-Za-z0-9_]+", pattern) is not None


def parse_settings(props: dict[str, str]) -> Settings:
    """Parse and validate; raises :class:`ConfigException` naming the first bad key."""
    v = CONFIG.parse(props)
    password = v["database.password"]
    includes = tuple(v["table.include.list"] or ())
    return Settings(
        hostname=v["database.hostname"],
        port=v["database.port"],
        user=v["database.user"],
        password=password.value if isinstance(password, Password) else password,
        dbname=v["database.dbname"],
        connect_timeout_s=v["database.connect.timeout.ms"] / 1000,
        topic_prefix=v["topic.prefix"],
        table_include=tuple(re.compile(p) for p in includes),
        table_exclude=tuple(re.compile(p) for p in v["table.exclude.list"] or ()),
        table_include_names=tuple(p for p in includes if _plain_name(p)),
        column_exclude=tuple(re.compile(p) for p in v["column.exclude.list"] or ()),
        slot_name=v["slot.name"],
        publication_name=v["publication.name"],
        publication_autocreate=v["publication.autocreate.mode"].lower(),
        snapshot_mode=v["snapshot.mode"].lower(),
        snapshot_fetch_size=v["snapshot.fetch.size"],
        max_batch_size=v["max.batch.size"],
        poll_interval_s=v["poll.interval.ms"] / 1000,
        heartbeat_interval_s=v["heartbeat.interval.ms"] / 1000,
        status_interval_s=v["status.update.interval.ms"] / 1000,
        tombstones_on_delete=v["tombstones.on.delete"],
        decimal_mode=v["decimal.handling.mode"].lower(),
        time_mode=v["time.precision.mode"].lower(),
    )
