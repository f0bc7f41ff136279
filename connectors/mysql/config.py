"""MySqlSource configuration: Debezium's key names, declared once as a ``ConfigDef``.

:data:`CONFIG` drives validation (per-field messages), secret masking (``database.password``) and the
docs; :func:`parse_settings` turns a validated map into the typed :class:`Settings` the connector and
its task use.
"""

from __future__ import annotations

import re
import zlib
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

SNAPSHOT_MODES = (
    "initial",
    "initial_only",
    "when_needed",
    "never",
    "no_data",
    "recovery",
    "schema_only",  # Debezium's older name of no_data
    "schema_only_recovery",  # Debezium's older name of recovery
)
LOCKING_MODES = ("minimal", "extended", "none")
DECIMAL_MODES = ("precise", "double", "string")
TIME_MODES = ("adaptive_time_microseconds", "adaptive", "connect")
BIGINT_MODES = ("long", "precise")
SSL_MODES = ("disabled", "preferred", "required", "verify_ca", "verify_identity")
KAFKA_HISTORY = "io.debezium.storage.kafka.history.KafkaSchemaHistory"
FILE_HISTORY = "io.debezium.storage.file.history.FileSchemaHistory"
MEMORY_HISTORY = "io.debezium.relational.history.MemorySchemaHistory"
HISTORY_CLASSES = (KAFKA_HISTORY, FILE_HISTORY, MEMORY_HISTORY)


def _regex_list(name: str, value: Any) -> None:
    for item in value or []:
        try:
            re.compile(item)
        except re.error as exc:
            raise ConfigException(name, item, f"not a valid regular expression: {exc}") from None


def _topic_prefix(name: str, value: Any) -> None:
    if value is not None and not re.fullmatch(r"[A-Za-z0-9._-]+", value):
        raise ConfigException(name, value, "topic names may contain only letters, digits, '.', '_' and '-'")


_KEY_COLUMNS = re.compile(r"\s*([^:;\s]+)\s*:\s*([^;]+?)\s*")


def _key_columns(name: str, value: Any) -> None:
    if value:
        for part in str(value).split(";"):
            if part.strip() and not _KEY_COLUMNS.fullmatch(part):
                raise ConfigException(
                    name, value, "expected <db>.<table>:<column>[,<column>...] entries separated by ';'"
                )


def _history_class(name: str, value: Any) -> None:
    if value is not None and value not in HISTORY_CLASSES:
        raise ConfigException(name, value, f"supported: {', '.join(HISTORY_CLASSES)}")


CONFIG = (
    ConfigDef()
    .define(
        "database.hostname",
        "string",
        importance="high",
        doc="Host name or address of the MySQL or MariaDB server.",
        validator=NonEmptyString(),
        group="Connection",
    )
    .define(
        "database.port",
        "int",
        3306,
        "high",
        "Port of the MySQL or MariaDB server.",
        validator=Range.between(1, 65535),
        group="Connection",
    )
    .define(
        "database.user",
        "string",
        importance="high",
        doc="User; needs SELECT, RELOAD (or the global lock privilege), SHOW DATABASES, REPLICATION "
        "SLAVE and REPLICATION CLIENT (BINLOG MONITOR on MariaDB).",
        validator=NonEmptyString(),
        group="Connection",
    )
    .define("database.password", "password", None, "high", "Password of database.user.", group="Connection")
    .define(
        "database.server.id",
        "long",
        None,
        "high",
        "The replica server id the connector uses to read the binlog; unique among the server's "
        "replicas (default: derived from topic.prefix, between 5400 and 6399).",
        validator=Range.between(1, 2**32 - 1),
        group="Connection",
    )
    .define(
        "database.ssl.mode",
        "string",
        "disabled",
        "medium",
        "disabled: plain TCP; preferred/required: TLS without certificate checks; verify_ca: TLS, the "
        "server certificate must be signed by database.ssl.ca; verify_identity: also check the host name.",
        validator=CaseInsensitiveValidString.in_(*SSL_MODES),
        group="Connection",
    )
    .define(
        "database.ssl.ca",
        "string",
        None,
        "low",
        "PEM file of the certificate authority for verify_ca / verify_identity (default: the system's).",
        group="Connection",
    )
    .define(
        "connect.timeout.ms",
        "int",
        10000,
        "low",
        "How long to wait for a connection to the database before giving up.",
        validator=Range.at_least(1),
        group="Connection",
    )
    .define(
        "topic.prefix",
        "string",
        importance="high",
        doc="Logical name of the server: prefix of every topic (<topic.prefix>.<db>.<table>), the topic "
        "of schema change events and the source.name field of each event.",
        validator=LambdaValidator.with_(_topic_prefix, "letters, digits, '.', '_' and '-'"),
        group="Connection",
    )
    .define(
        "database.include.list",
        "list",
        "",
        "medium",
        "Regular expressions matched against database names; only matching databases are captured.",
        validator=_regex_list,
        group="Filters",
    )
    .define(
        "database.exclude.list",
        "list",
        "",
        "medium",
        "Regular expressions matched against database names; matching databases are not captured.",
        validator=_regex_list,
        group="Filters",
    )
    .define(
        "table.include.list",
        "list",
        "",
        "medium",
        "Regular expressions matched against <db>.<table>; only matching tables are captured.",
        validator=_regex_list,
        group="Filters",
    )
    .define(
        "table.exclude.list",
        "list",
        "",
        "medium",
        "Regular expressions matched against <db>.<table>; matching tables are not captured.",
        validator=_regex_list,
        group="Filters",
    )
    .define(
        "column.include.list",
        "list",
        "",
        "medium",
        "Regular expressions matched against <db>.<table>.<column>; only matching columns are in the events.",
        validator=_regex_list,
        group="Filters",
    )
    .define(
        "column.exclude.list",
        "list",
        "",
        "medium",
        "Regular expressions matched against <db>.<table>.<column>; matching columns are left out.",
        validator=_regex_list,
        group="Filters",
    )
    .define(
        "message.key.columns",
        "string",
        None,
        "low",
        "Key columns instead of the primary key: <db>.<table>:<col>[,<col>]; entries separated by ';'.",
        validator=_key_columns,
        group="Events",
    )
    .define(
        "snapshot.mode",
        "string",
        "initial",
        "medium",
        "initial: snapshot when there is no offset, then stream; initial_only: snapshot, then stop; "
        "when_needed: also snapshot again when the offset's binlog is gone; never / no_data: only stream "
        "(schemas are read, no rows); recovery: rebuild a lost schema history from the current schemas.",
        validator=CaseInsensitiveValidString.in_(*SNAPSHOT_MODES),
        group="Snapshot",
    )
    .define(
        "snapshot.locking.mode",
        "string",
        "minimal",
        "medium",
        "minimal: hold FLUSH TABLES WITH READ LOCK only while the binlog position and the schemas are "
        "read; extended: until the snapshot ends; none: no lock (only safe when no DDL runs meanwhile).",
        validator=CaseInsensitiveValidString.in_(*LOCKING_MODES),
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
        group="Binlog",
    )
    .define(
        "max.queue.size",
        "int",
        8192,
        "low",
        "Binlog events read ahead of poll() (by the reader thread).",
        validator=Range.at_least(1),
        group="Binlog",
    )
    .define(
        "poll.interval.ms",
        "int",
        500,
        "low",
        "How long poll() waits for changes before returning nothing.",
        validator=Range.at_least(1),
        group="Binlog",
    )
    .define(
        "heartbeat.interval.ms",
        "int",
        0,
        "medium",
        "Emit a heartbeat record to __debezium-heartbeat.<topic.prefix> this often (0: never), so the "
        "offset moves on through binlog events of tables that are not captured.",
        validator=Range.at_least(0),
        group="Binlog",
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
        "precise: DECIMAL as Connect Decimal; double: FLOAT64; string: STRING.",
        validator=CaseInsensitiveValidString.in_(*DECIMAL_MODES),
        group="Events",
    )
    .define(
        "time.precision.mode",
        "string",
        "adaptive_time_microseconds",
        "medium",
        "adaptive_time_microseconds: io.debezium.time.* types with the column's precision, TIME as "
        "MicroTime; connect: Kafka Connect's Date/Time/Timestamp (milliseconds).",
        validator=CaseInsensitiveValidString.in_(*TIME_MODES),
        group="Events",
    )
    .define(
        "bigint.unsigned.handling.mode",
        "string",
        "long",
        "medium",
        "long: BIGINT UNSIGNED as INT64 (values above 2^63-1 wrap, as in Debezium); precise: as Connect "
        "Decimal with scale 0.",
        validator=CaseInsensitiveValidString.in_(*BIGINT_MODES),
        group="Events",
    )
    .define(
        "include.schema.changes",
        "boolean",
        True,
        "medium",
        "Emit schema change events (DDL) to the topic named <topic.prefix>.",
        group="Events",
    )
    .define(
        "schema.history.internal",
        "string",
        KAFKA_HISTORY,
        "medium",
        "Where the schema history is kept: Kafka (default), a file, or memory (lost at restart).",
        validator=_history_class,
        group="Schema history",
    )
    .define(
        "schema.history.internal.kafka.topic",
        "string",
        None,
        "high",
        "The topic (one partition, infinite retention) holding the schema history; required with the "
        "Kafka schema history.",
        group="Schema history",
    )
    .define(
        "schema.history.internal.kafka.bootstrap.servers",
        "string",
        None,
        "high",
        "Brokers of the schema history topic; required with the Kafka schema history.",
        group="Schema history",
    )
    .define(
        "schema.history.internal.file.filename",
        "string",
        None,
        "medium",
        "The file holding the schema history (FileSchemaHistory).",
        group="Schema history",
    )
)


@dataclass(frozen=True)
class Settings:
    """Typed configuration of a connector or task."""

    hostname: str
    port: int
    user: str
    password: str | None
    server_id: int
    ssl_mode: str
    ssl_ca: str | None
    connect_timeout_s: float
    topic_prefix: str
    database_include: tuple[re.Pattern[str], ...]
    database_exclude: tuple[re.Pattern[str], ...]
    table_include: tuple[re.Pattern[str], ...]
    table_exclude: tuple[re.Pattern[str], ...]
    column_include: tuple[re.Pattern[str], ...]
    column_exclude: tuple[re.Pattern[str], ...]
    key_columns: dict[str, tuple[str, ...]]
    snapshot_mode: str
    locking_mode: str
    snapshot_fetch_size: int
    max_batch_size: int
    max_queue_size: int
    poll_interval_s: float
    heartbeat_interval_s: float
    tombstones_on_delete: bool
    decimal_mode: str
    time_mode: str
    bigint_mode: str
    include_schema_changes: bool
    history_class: str
    history_topic: str | None
    history_bootstrap: str | None
    history_file: str | None

    def connect_args(self) -> dict[str, Any]:
        """Keyword arguments for ``pymysql.connect`` (the password is passed, never logged)."""
        args: dict[str, Any] = {
            "host": self.hostname,
            "port": self.port,
            "user": self.user,
            "password": self.password or "",
            "connect_timeout": max(1, round(self.connect_timeout_s)),
            "charset": "utf8mb4",
        }
        if self.ssl_mode != "disabled":
            ssl: dict[str, Any] = {}
            if self.ssl_mode in ("verify_ca", "verify_identity"):
                if self.ssl_ca:
                    ssl["ca"] = self.ssl_ca
                ssl["check_hostname"] = self.ssl_mode == "verify_identity"
            else:
                ssl["check_hostname"] = False
                ssl["verify_mode"] = 0  # ssl.CERT_NONE: encrypted, not authenticated
            args["ssl"] = ssl
        return args

    def database_included(self, db: str) -> bool:
        if db in ("mysql", "information_schema", "performance_schema", "sys"):
            return False
        if self.database_include and not any(p.fullmatch(db) for p in self.database_include):
            return False
        return not any(p.fullmatch(db) for p in self.database_exclude)

    def table_included(self, db: str, table: str) -> bool:
        """Whether ``db.table`` is captured (database lists, then table lists)."""
        if not self.database_included(db):
            return False
        qualified = f"{db}.{table}"
        if self.table_include and not any(p.fullmatch(qualified) for p in self.table_include):
            return False
        return not any(p.fullmatch(qualified) for p in self.table_exclude)

    def column_included(self, db: str, table: str, column: str) -> bool:
        full = f"{db}.{table}.{column}"
        if self.column_include and not any(p.fullmatch(full) for p in self.column_include):
            return False
        return not any(p.fullmatch(full) for p in self.column_exclude)


def default_server_id(prefix: str) -> int:
    return 5400 + zlib.crc32(prefix.encode()) % 1000


def _parse_key_columns(value: str | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for part in (value or "").split(";"):
        m = _KEY_COLUMNS.fullmatch(part)
        if m:
            out[m.group(1)] = tuple(c.strip() for c in m.group(2).split(",") if c.strip())
    return out


def history_problems(v: dict[str, Any]) -> dict[str, str]:
    """Cross-field checks of the schema history keys: key -> message."""
    problems: dict[str, str] = {}
    cls = v["schema.history.internal"]
    if cls == KAFKA_HISTORY:
        for key in ("schema.history.internal.kafka.topic", "schema.history.internal.kafka.bootstrap.servers"):
            if not v.get(key):
                problems[key] = (
                    f'Missing required configuration "{key}" (the schema history is kept in Kafka; or set '
                    f"schema.history.internal={FILE_HISTORY} with schema.history.internal.file.filename)"
                )
    elif cls == FILE_HISTORY and not v.get("schema.history.internal.file.filename"):
        problems["schema.history.internal.file.filename"] = (
            'Missing required configuration "schema.history.internal.file.filename" (FileSchemaHistory)'
        )
    return problems


def parse_settings(props: dict[str, str]) -> Settings:
    """Parse and validate; raises :class:`ConfigException` naming the first bad key."""
    v = CONFIG.parse(props)
    for key, message in history_problems(v).items():
        raise ConfigException(key, v.get(key), message)
    password = v["database.password"]
    prefix = v["topic.prefix"]
    mode = v["snapshot.mode"].lower()
    mode = {"schema_only": "no_data", "schema_only_recovery": "recovery"}.get(mode, mode)
    time_mode = v["time.precision.mode"].lower()
    return Settings(
        hostname=v["database.hostname"],
        port=v["database.port"],
        user=v["database.user"],
        password=password.value if isinstance(password, Password) else password,
        server_id=v["database.server.id"] or default_server_id(prefix),
        ssl_mode=v["database.ssl.mode"].lower(),
        ssl_ca=v["database.ssl.ca"],
        connect_timeout_s=v["connect.timeout.ms"] / 1000,
        topic_prefix=prefix,
        database_include=tuple(re.compile(p) for p in v["database.include.list"] or ()),
        database_exclude=tuple(re.compile(p) for p in v["database.exclude.list"] or ()),
        table_include=tuple(re.compile(p) for p in v["table.include.list"] or ()),
        table_exclude=tuple(re.compile(p) for p in v["table.exclude.list"] or ()),
        column_include=tuple(re.compile(p) for p in v["column.include.list"] or ()),
        column_exclude=tuple(re.compile(p) for p in v["column.exclude.list"] or ()),
        key_columns=_parse_key_columns(v["message.key.columns"]),
        snapshot_mode=mode,
        locking_mode=v["snapshot.locking.mode"].lower(),
        snapshot_fetch_size=v["snapshot.fetch.size"],
        max_batch_size=v["max.batch.size"],
        max_queue_size=v["max.queue.size"],
        poll_interval_s=v["poll.interval.ms"] / 1000,
        heartbeat_interval_s=v["heartbeat.interval.ms"] / 1000,
        tombstones_on_delete=v["tombstones.on.delete"],
        decimal_mode=v["decimal.handling.mode"].lower(),
        time_mode="adaptive_time_microseconds" if time_mode == "adaptive" else time_mode,
        bigint_mode=v["bigint.unsigned.handling.mode"].lower(),
        include_schema_changes=v["include.schema.changes"],
        history_class=v["schema.history.internal"],
        history_topic=v["schema.history.internal.kafka.topic"],
        history_bootstrap=v["schema.history.internal.kafka.bootstrap.servers"],
        history_file=v["schema.history.internal.file.filename"],
    )
