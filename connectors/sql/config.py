"""SqlSource and SqlSink configuration: Confluent's JDBC connector key names and defaults (so configs of
``io.confluent.connect.jdbc.JdbcSourceConnector`` / ``JdbcSinkConnector`` work unchanged), the Debezium
JDBC sink's names as aliases, and the parsed, typed views the tasks work with.

``connection.url`` is a SQLAlchemy URL (``postgresql+psycopg://user@host:5432/db``,
``mysql+pymysql://…``, ``sqlite:////path/db.sqlite``); a JDBC URL (``jdbc:postgresql://host/db``) is
translated for the common databases. Its password part is a secret: give it as ``connection.password``
(masked in REST and logs) rather than inside the URL; every message the connectors produce shows the URL
with the password replaced by ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from connect.api import CaseInsensitiveValidString, ConfigDef, ConfigException, Password, Range

__all__ = [
    "SINK_CONFIG",
    "SOURCE_CONFIG",
    "SinkSettings",
    "SourceSettings",
    "build_url",
    "mask",
]

_CONN = "Database"
_WRITES = "Writes"
_DATA = "Data Mapping"
_DDL = "DDL Support"
_RETRY = "Retries"
_MODE = "Mode"
_CONNECTOR = "Connector"

INSERT_MODES = ("insert", "upsert", "update")
PK_MODES = ("none", "kafka", "record_key", "record_value")
SOURCE_MODES = ("bulk", "incrementing", "timestamp", "timestamp+incrementing")

# JDBC URL prefixes -> SQLAlchemy driver names (users bring JDBC URLs from Confluent configs)
_JDBC = {
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "sqlite": "sqlite",
}


def _jdbc_to_sqlalchemy(text: str) -> str:
    m = re.match(r"jdbc:(\w+):(.*)$", text)
    if not m:
        return text
    kind, rest = m.group(1).lower(), m.group(2)
    if kind not in _JDBC:
        raise ValueError(f"no SQLAlchemy equivalent known for jdbc:{kind}: give a SQLAlchemy URL")
    if kind == "sqlite":
        return f"sqlite:///{rest}"
    return f"{_JDBC[kind]}:{rest}"


def build_url(url_text: str, user: str | None = None, password: str | None = None) -> URL:
    """The SQLAlchemy URL from ``connection.url`` (JDBC forms translated, bare ``postgresql://`` and
    ``mysql://`` given the installed drivers), with ``connection.user``/``connection.password`` applied."""
    url = make_url(_jdbc_to_sqlalchemy(url_text.strip()))
    if url.drivername == "postgresql" or url.drivername == "postgres":
        url = url.set(drivername="postgresql+psycopg")
    elif url.drivername in ("mysql", "mariadb", "mariadb+pymysql"):
        url = url.set(drivername="mysql+pymysql")
    if url.get_backend_name() == "sqlite":
        return url  # a file: no credentials
    if user:
        url = url.set(username=user)
    if password:
        url = url.set(password=password)
    return url


def mask(url: URL | str) -> str:
    """The URL as text with its password replaced by ``***``."""
    if isinstance(url, str):
        text = url
        try:
            url = build_url(text)
        except (ArgumentError, ValueError):
            return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)
    return url.render_as_string(hide_password=True)


def _check_url(name: str, value: Any) -> None:
    text = str(value or "").strip()
    if not text:
        raise ConfigException(
            name,
            value,
            "must be a SQLAlchemy URL, e.g. postgresql+psycopg://user@host:5432/db or sqlite:///x.db",
        )
    try:
        build_url(text)
    except (ArgumentError, ValueError) as exc:
        raise ConfigException(name, mask(text), f"is not a database URL ({exc})") from None


def _connection_keys(d: ConfigDef) -> ConfigDef:
    return (
        d.define(
            "connection.url",
            "string",
            importance="high",
            doc="The database to connect to, as a SQLAlchemy URL (postgresql+psycopg://user@host:5432/db, "
            "mysql+pymysql://user@host:3306/db, sqlite:////var/data/db.sqlite; JDBC URLs of PostgreSQL, "
            "MySQL/MariaDB and SQLite are translated). Give the password as connection.password: it is "
            "masked in REST output and logs.",
            validator=_check_url,
            group=_CONN,
        )
        .define(
            "connection.user",
            "string",
            None,
            "high",
            "The database user (overrides a user in connection.url).",
            group=_CONN,
        )
        .define(
            "connection.password",
            "password",
            None,
            "high",
            "The database password (overrides a password in connection.url).",
            group=_CONN,
        )
        .define(
            "connection.attempts",
            "int",
            3,
            "low",
            "Maximum number of attempts to retrieve a valid database connection.",
            validator=Range.at_least(1),
            group=_CONN,
        )
        .define(
            "connection.backoff.ms",
            "long",
            10000,
            "low",
            "Backoff time in milliseconds between connection attempts.",
            validator=Range.at_least(0),
            group=_CONN,
        )
        .define(
            "db.timezone",
            "string",
            "UTC",
            "medium",
            "Name of the timezone of timestamp columns without a zone. Only UTC is supported.",
            validator=CaseInsensitiveValidString.in_("UTC"),
            group=_CONN,
        )
    )


SINK_CONFIG = (
    _connection_keys(ConfigDef())
    .define(
        "insert.mode",
        "string",
        "insert",
        "high",
        "The insertion mode to use. 'insert': standard INSERT statements. 'upsert': the database's "
        "native upsert (PostgreSQL/SQLite INSERT ... ON CONFLICT DO UPDATE, MySQL/MariaDB INSERT ... ON "
        "DUPLICATE KEY UPDATE, MERGE where the dialect has it), idempotent under replays. 'update': "
        "UPDATE statements (rows that do not exist are not created).",
        validator=CaseInsensitiveValidString.in_(*INSERT_MODES),
        group=_WRITES,
    )
    .define(
        "batch.size",
        "int",
        3000,
        "medium",
        "Specifies how many records to attempt to batch together for insertion into the destination "
        "table, when possible (one executemany per batch, one transaction per put).",
        validator=Range.at_least(1),
        group=_WRITES,
    )
    .define(
        "delete.enabled",
        "boolean",
        False,
        "medium",
        "Whether to treat null record values (tombstones) and Debezium delete events (op 'd') as "
        "deletes. Requires pk.mode record_key (or record_value for Debezium events, which carry the "
        "before image).",
        group=_WRITES,
    )
    .define(
        "table.name.format",
        "string",
        "${topic}",
        "medium",
        "A format string for the destination table name, which may contain '${topic}' as a placeholder "
        "for the originating topic name (dots become underscores unless the table exists with the dotted "
        "schema-qualified name).",
        group=_DATA,
    )
    .define(
        "pk.mode",
        "string",
        "none",
        "high",
        "The primary key mode: 'none' (no keys), 'kafka' (__connect_topic, __connect_partition, "
        "__connect_offset), 'record_key' (fields of the record key, or one field named by pk.fields for "
        "a primitive key), 'record_value' (fields of the record value).",
        validator=CaseInsensitiveValidString.in_(*PK_MODES),
        group=_DATA,
    )
    .define(
        "pk.fields",
        "list",
        "",
        "medium",
        "List of comma-separated primary key field names; empty means all fields of the key (record_key) "
        "or value (record_value); for pk.mode=kafka three names for topic, partition and offset.",
        group=_DATA,
    )
    .define(
        "fields.whitelist",
        "list",
        "",
        "medium",
        "List of comma-separated record value field names; empty means all fields.",
        group=_DATA,
    )
    .define(
        "auto.create",
        "boolean",
        False,
        "medium",
        "Whether to automatically create the destination table (CREATE TABLE) based on the record "
        "schema if it is found to be missing.",
        group=_DDL,
    )
    .define(
        "auto.evolve",
        "boolean",
        False,
        "medium",
        "Whether to automatically add columns (ALTER TABLE ... ADD COLUMN) to the table when the record "
        "schema has fields the table lacks. Added columns are nullable; columns are never dropped.",
        group=_DDL,
    )
    .define(
        "quote.sql.identifiers",
        "string",
        "always",
        "medium",
        "When to quote table names and column names in SQL statements: 'always' or 'never' (identifiers "
        "are quoted by the dialect's rules when needed either way).",
        validator=CaseInsensitiveValidString.in_("always", "never"),
        group=_DATA,
    )
    .define(
        "max.retries",
        "int",
        10,
        "medium",
        "The maximum number of times to retry on errors before failing the task.",
        validator=Range.at_least(0),
        group=_RETRY,
    )
    .define(
        "retry.backoff.ms",
        "int",
        3000,
        "medium",
        "The time in milliseconds to wait following an error before a retry attempt is made.",
        validator=Range.at_least(0),
        group=_RETRY,
    )
)

SOURCE_CONFIG = (
    _connection_keys(ConfigDef())
    .define(
        "table.include.list",
        "list",
        "",
        "medium",
        "Tables to copy (comma-separated names or regular expressions matching 'table' or "
        "'schema.table'); empty means every table. Alias: table.whitelist.",
        group=_CONN,
    )
    .define(
        "table.exclude.list",
        "list",
        "",
        "medium",
        "Tables not to copy (names or regular expressions). Alias: table.blacklist.",
        group=_CONN,
    )
    .define(
        "table.types",
        "list",
        "TABLE",
        "low",
        "The types of tables to include: TABLE and/or VIEW.",
        group=_CONN,
    )
    .define(
        "schema.pattern",
        "string",
        None,
        "medium",
        "The schema to list tables from (default: the connection's default schema).",
        group=_CONN,
    )
    .define(
        "table.poll.interval.ms",
        "long",
        60000,
        "low",
        "Frequency in ms to poll for new or removed tables, which may result in updated task "
        "configurations to start polling for data in added tables.",
        validator=Range.at_least(100),
        group=_CONNECTOR,
    )
    .define(
        "query",
        "string",
        "",
        "medium",
        "If specified, the query to perform to select new or updated rows (instead of whole tables); "
        "the mode's WHERE and ORDER BY are applied around it. Output goes to topic.prefix.",
        group=_MODE,
    )
    .define(
        "mode",
        "string",
        "bulk",
        "high",
        "The mode for updating a table each time it is polled: 'bulk' (the whole table every poll), "
        "'incrementing' (a strictly increasing column detects new rows), 'timestamp' (a timestamp column "
        "detects new and modified rows), 'timestamp+incrementing' (both: new and modified rows, exactly "
        "once per change that moves the timestamp).",
        validator=CaseInsensitiveValidString.in_(*SOURCE_MODES),
        group=_MODE,
    )
    .define(
        "incrementing.column.name",
        "string",
        "",
        "medium",
        "The name of the strictly incrementing column to use to detect new rows.",
        group=_MODE,
    )
    .define(
        "timestamp.column.name",
        "list",
        "",
        "medium",
        "Comma-separated list of one or more timestamp columns to detect new or modified rows using the "
        "COALESCE SQL function. Rows whose first non-null timestamp value is greater than the largest "
        "previous timestamp value seen will be discovered with each poll.",
        group=_MODE,
    )
    .define(
        "timestamp.initial",
        "long",
        None,
        "low",
        "The epoch timestamp (ms) used for initial queries in timestamp modes; -1 means the current "
        "time. Unset: all rows.",
        group=_MODE,
    )
    .define(
        "validate.non.null",
        "boolean",
        True,
        "low",
        "Whether to check at start-up that the incrementing and timestamp columns are NOT NULL.",
        group=_MODE,
    )
    .define(
        "timestamp.delay.interval.ms",
        "long",
        0,
        "high",
        "How long to wait after a row with a certain timestamp appears before we include it in the "
        "result. You may choose to add some delay to allow transactions with an earlier timestamp to "
        "complete.",
        validator=Range.at_least(0),
        group=_MODE,
    )
    .define(
        "poll.interval.ms",
        "int",
        5000,
        "high",
        "Frequency in ms to poll for new data in each table.",
        validator=Range.at_least(1),
        group=_CONNECTOR,
    )
    .define(
        "batch.max.rows",
        "int",
        100,
        "low",
        "Maximum number of rows to include in a single batch when polling for new data.",
        validator=Range.at_least(1),
        group=_CONNECTOR,
    )
    .define(
        "topic.prefix",
        "string",
        importance="high",
        doc="Prefix to prepend to table names to generate the name of the Kafka topic to publish data "
        "to, or in the case of a custom query, the full name of the topic to publish to.",
        group=_CONNECTOR,
    )
)

# Debezium JDBC sink names and Confluent's old source names, accepted as aliases
_SINK_ALIASES = {
    "connection.username": "connection.user",
    "primary.key.mode": "pk.mode",
    "primary.key.fields": "pk.fields",
}
_SOURCE_ALIASES = {
    "table.whitelist": "table.include.list",
    "table.blacklist": "table.exclude.list",
    "connection.username": "connection.user",
}


def with_aliases(props: Mapping[str, str], sink: bool) -> dict[str, str]:
    """``props`` with alias keys (Debezium's JDBC sink, Confluent's older names) mapped to ours."""
    out = dict(props)
    for alias, key in (_SINK_ALIASES if sink else _SOURCE_ALIASES).items():
        if alias in out and key not in out:
            out[key] = out[alias]
    if sink and out.get("schema.evolution", "").lower() == "basic":
        out.setdefault("auto.create", "true")
        out.setdefault("auto.evolve", "true")
    return out


def _secret(value: Any) -> str | None:
    text = value.value if isinstance(value, Password) else value
    return str(text) if text else None


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(v).strip() for v in (value or []) if str(v).strip())


@dataclass(frozen=True)
class SinkSettings:
    url: URL
    insert_mode: str
    batch_size: int
    delete_enabled: bool
    table_format: str
    pk_mode: str
    pk_fields: tuple[str, ...]
    fields_whitelist: tuple[str, ...]
    auto_create: bool
    auto_evolve: bool
    quote: bool
    max_retries: int
    retry_backoff_ms: int
    attempts: int
    backoff_ms: int

    @classmethod
    def parse(cls, props: Mapping[str, str]) -> SinkSettings:
        c = SINK_CONFIG.parse(with_aliases(props, sink=True))
        url = build_url(str(c["connection.url"]), c["connection.user"], _secret(c["connection.password"]))
        s = cls(
            url=url,
            insert_mode=str(c["insert.mode"]).lower(),
            batch_size=int(c["batch.size"]),
            delete_enabled=bool(c["delete.enabled"]),
            table_format=str(c["table.name.format"]),
            pk_mode=str(c["pk.mode"]).lower(),
            pk_fields=_names(c["pk.fields"]),
            fields_whitelist=_names(c["fields.whitelist"]),
            auto_create=bool(c["auto.create"]),
            auto_evolve=bool(c["auto.evolve"]),
            quote=str(c["quote.sql.identifiers"]).lower() == "always",
            max_retries=int(c["max.retries"]),
            retry_backoff_ms=int(c["retry.backoff.ms"]),
            attempts=int(c["connection.attempts"]),
            backoff_ms=int(c["connection.backoff.ms"]),
        )
        if s.insert_mode in ("upsert", "update") and s.pk_mode == "none":
            raise ConfigException("pk.mode", "none", f"insert.mode={s.insert_mode} needs a key: set pk.mode")
        if s.delete_enabled and s.pk_mode not in ("record_key", "record_value"):
            raise ConfigException(
                "pk.mode", s.pk_mode, "delete.enabled=true needs pk.mode=record_key (or record_value)"
            )
        if s.pk_mode == "kafka" and s.pk_fields and len(s.pk_fields) != 3:
            raise ConfigException("pk.fields", ",".join(s.pk_fields), "pk.mode=kafka takes 3 names")
        return s


@dataclass(frozen=True)
class SourceSettings:
    url: URL
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    table_types: tuple[str, ...]
    schema: str | None
    table_poll_ms: int
    query: str
    mode: str
    incrementing_column: str
    timestamp_columns: tuple[str, ...]
    timestamp_initial: int | None
    validate_non_null: bool
    delay_ms: int
    poll_ms: int
    batch_max_rows: int
    topic_prefix: str
    attempts: int
    backoff_ms: int

    @classmethod
    def parse(cls, props: Mapping[str, str]) -> SourceSettings:
        c = SOURCE_CONFIG.parse(with_aliases(props, sink=False))
        url = build_url(str(c["connection.url"]), c["connection.user"], _secret(c["connection.password"]))
        s = cls(
            url=url,
            include=_names(c["table.include.list"]),
            exclude=_names(c["table.exclude.list"]),
            table_types=tuple(t.upper() for t in _names(c["table.types"])),
            schema=c["schema.pattern"] or None,
            table_poll_ms=int(c["table.poll.interval.ms"]),
            query=str(c["query"] or "").strip(),
            mode=str(c["mode"]).lower(),
            incrementing_column=str(c["incrementing.column.name"] or "").strip(),
            timestamp_columns=_names(c["timestamp.column.name"]),
            timestamp_initial=c["timestamp.initial"],
            validate_non_null=bool(c["validate.non.null"]),
            delay_ms=int(c["timestamp.delay.interval.ms"]),
            poll_ms=int(c["poll.interval.ms"]),
            batch_max_rows=int(c["batch.max.rows"]),
            topic_prefix=str(c["topic.prefix"]),
            attempts=int(c["connection.attempts"]),
            backoff_ms=int(c["connection.backoff.ms"]),
        )
        if s.mode in ("incrementing", "timestamp+incrementing") and not s.incrementing_column:
            raise ConfigException(
                "incrementing.column.name", "", f"mode={s.mode} needs the incrementing column's name"
            )
        if s.mode in ("timestamp", "timestamp+incrementing") and not s.timestamp_columns:
            raise ConfigException("timestamp.column.name", "", f"mode={s.mode} needs the timestamp column(s)")
        if s.query and (s.include or s.exclude):
            raise ConfigException("query", s.query, "use either query or table.include.list/exclude.list")
        return s
