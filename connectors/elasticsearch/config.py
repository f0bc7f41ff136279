"""ElasticsearchSink configuration: Confluent's key names, defaults and meanings (so configs of
``io.confluent.connect.elasticsearch.ElasticsearchSinkConnector`` work unchanged) plus the Headrace
additions ``connection.api.key``, ``external.version.source`` and the ``elastic.https.*`` PEM settings;
:class:`EsSettings` is the parsed, typed view the task works with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from connect.api import CaseInsensitiveValidString, ConfigDef, ConfigException, Password, Range

__all__ = ["CONFIG", "EsSettings", "index_name"]

_CONN = "Connector"
_DATA = "Data Conversion"
_SEC = "Security"

WRITE_METHODS = ("insert", "upsert")
NULL_BEHAVIORS = ("ignore", "delete", "fail")
MALFORMED_BEHAVIORS = ("ignore", "warn", "fail")
DATA_STREAM_TYPES = ("none", "logs", "metrics")
VERSION_SOURCES = ("auto", "source.position", "offset", "header", "none")
_BAD_STREAM_CHARS = set('/\\*"<>|,#:- ') | {"?"}


def _check_urls(name: str, value: Any) -> None:
    urls = [
        u.strip() for u in (value if isinstance(value, list) else str(value or "").split(",")) if u.strip()
    ]
    if not urls:
        raise ConfigException(name, value, "needs at least one URL, e.g. http://localhost:9200")
    for u in urls:
        parsed = urlparse(u if "://" in u else f"http://{u}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigException(name, value, f"{u!r} is not an http:// or https:// URL")
        try:
            parsed.port  # noqa: B018 - raises for a bad port
        except ValueError:
            raise ConfigException(name, value, f"{u!r} has an invalid port") from None


def _check_stream_part(name: str, value: Any) -> None:
    text = str(value or "")
    if len(text) > 100 or text != text.lower() or set(text) & _BAD_STREAM_CHARS:
        raise ConfigException(
            name, value, 'at most 100 lowercase characters, without spaces or any of /\\*"<>|,#:-'
        )


CONFIG = (
    ConfigDef()
    .define(
        "connection.url",
        "list",
        importance="high",
        doc="The comma-separated list of one or more Elasticsearch URLs, such as "
        "http://eshost1:9200,http://eshost2:9200 or https://eshost3:9200. HTTPS is used for all "
        "connections if any of the URLs starts with https:. A URL without a protocol is treated as http.",
        validator=_check_urls,
        group=_CONN,
    )
    .define(
        "connection.username",
        "string",
        None,
        "medium",
        "The username used to authenticate with Elasticsearch. Authentication is only performed if both "
        "the username and password are set.",
        group=_CONN,
    )
    .define(
        "connection.password",
        "password",
        None,
        "medium",
        "The password used to authenticate with Elasticsearch.",
        group=_CONN,
    )
    .define(
        "connection.api.key",
        "password",
        None,
        "medium",
        "An Elasticsearch API key (the base64 'id:api_key' credential) sent as 'Authorization: ApiKey'; "
        "used instead of connection.username/connection.password.",
        group=_CONN,
    )
    .define(
        "batch.size",
        "int",
        2000,
        "medium",
        "The number of records to process as a batch when writing to Elasticsearch.",
        validator=Range.between(1, 1000000),
        group=_CONN,
    )
    .define(
        "bulk.size.bytes",
        "long",
        5 * 1024 * 1024,
        "low",
        "The maximum size (in bytes) to be processed as a batch when writing records to Elasticsearch. "
        "-1 disables it. If the condition set by 'batch.size' is met first, it is used instead.",
        validator=Range.between(-1, 2**31 - 1),
        group=_CONN,
    )
    .define(
        "max.in.flight.requests",
        "int",
        5,
        "medium",
        "The maximum number of indexing requests that can be in flight to Elasticsearch before blocking "
        "further requests; the next batch is built while they run.",
        validator=Range.between(1, 1000),
        group=_CONN,
    )
    .define(
        "max.buffered.records",
        "int",
        20000,
        "low",
        "The maximum number of records each task will buffer (built or in flight) before blocking "
        "acceptance of more records. This limits the memory usage of each task.",
        validator=Range.between(1, 2**31 - 1),
        group=_CONN,
    )
    .define(
        "linger.ms",
        "long",
        1,
        "low",
        "Linger time in milliseconds for batching: when a pending batch is not full, wait up to this "
        "long for more records before sending it.",
        validator=Range.between(0, 7 * 86400000),
        group=_CONN,
    )
    .define(
        "flush.timeout.ms",
        "long",
        180000,
        "low",
        "The timeout in milliseconds when waiting for buffer space to be made available by completed "
        "requests as records are added, and for in-flight requests when partitions are closed. If this "
        "timeout is exceeded the task will fail.",
        validator=Range.between(1000, 7 * 86400000),
        group=_CONN,
    )
    .define(
        "max.retries",
        "int",
        5,
        "low",
        "The maximum number of retries that are allowed for failed indexing requests (connection "
        "errors, 429 and 5xx, per document). If the retry attempts are exhausted the task will fail.",
        validator=Range.between(0, 2**31 - 1),
        group=_CONN,
    )
    .define(
        "retry.backoff.ms",
        "long",
        100,
        "low",
        "How long to wait in milliseconds before attempting the first retry of a failed indexing "
        "request. Each further retry may wait up to twice as long as the previous one (with jitter).",
        validator=Range.between(0, 86400000),
        group=_CONN,
    )
    .define(
        "connection.timeout.ms",
        "int",
        1000,
        "low",
        "How long to wait in milliseconds when establishing a connection to the Elasticsearch server.",
        validator=Range.between(0, 12 * 3600000),
        group=_CONN,
    )
    .define(
        "read.timeout.ms",
        "int",
        3000,
        "low",
        "How long to wait in milliseconds for the Elasticsearch server to send a response (a timed-out "
        "bulk request is retried like a connection error).",
        validator=Range.between(0, 7 * 86400000),
        group=_CONN,
    )
    .define(
        "connection.compression",
        "boolean",
        False,
        "low",
        "Whether to use GZip compression on the HTTP connection to Elasticsearch.",
        group=_CONN,
    )
    .define(
        "data.stream.type",
        "string",
        "NONE",
        "low",
        "Generic type describing the data to be written to a data stream: LOGS, METRICS or NONE (regular "
        "indices). If set, used with data.stream.dataset and data.stream.namespace to build the data stream "
        "name {type}-{dataset}-{namespace}.",
        validator=CaseInsensitiveValidString.in_(*DATA_STREAM_TYPES),
        group=_CONN,
    )
    .define(
        "data.stream.dataset",
        "string",
        "",
        "low",
        "Generic name describing the data ingested and its structure, written to a data stream: at most "
        '100 lowercase characters without spaces or /\\*"<>|,#:-. Empty: regular indices.',
        validator=_check_stream_part,
        group=_CONN,
    )
    .define(
        "data.stream.namespace",
        "string",
        "${topic}",
        "low",
        "User-configurable grouping of a data stream; ${topic} (the default) is the topic name.",
        group=_CONN,
    )
    .define(
        "data.stream.timestamp.field",
        "list",
        "",
        "low",
        "Record fields to use as @timestamp in data stream documents (the first present wins); empty: "
        "the Kafka record timestamp.",
        group=_CONN,
    )
    .define(
        "key.ignore",
        "boolean",
        False,
        "high",
        "Whether to ignore the record key for the purpose of forming the Elasticsearch document ID. When "
        "true, document IDs are the record's topic+partition+offset.",
        group=_DATA,
    )
    .define(
        "topic.key.ignore",
        "list",
        "",
        "low",
        "List of topics for which key.ignore should be true.",
        group=_DATA,
    )
    .define(
        "schema.ignore",
        "boolean",
        False,
        "low",
        "Whether to ignore schemas during indexing. When false, the index mapping is created from the "
        "record schema before the first write to a new index; when true, Elasticsearch infers the mapping "
        "from the data (dynamic mapping).",
        group=_DATA,
    )
    .define(
        "topic.schema.ignore",
        "list",
        "",
        "low",
        "List of topics for which schema.ignore should be true.",
        group=_DATA,
    )
    .define(
        "compact.map.entries",
        "boolean",
        True,
        "low",
        'How map entries with string keys are written: true as "entryKey": "entryValue", false as '
        'nested documents {"key": "entryKey", "value": "entryValue"}. Entries with non-string keys '
        "are always nested documents.",
        group=_DATA,
    )
    .define(
        "drop.invalid.message",
        "boolean",
        False,
        "low",
        "Whether to drop a record that cannot be converted to a document (instead of failing it; "
        "errors.tolerance applies when false).",
        group=_DATA,
    )
    .define(
        "behavior.on.null.values",
        "string",
        "FAIL",
        "low",
        "How to handle records with a non-null key and a null value (Kafka tombstones): IGNORE, DELETE "
        "(delete the document with that id) or FAIL.",
        validator=CaseInsensitiveValidString.in_(*NULL_BEHAVIORS),
        group=_DATA,
    )
    .define(
        "behavior.on.malformed.documents",
        "string",
        "FAIL",
        "low",
        "How to handle records that Elasticsearch rejects due to some malformation of the document "
        "itself, such as an index mapping conflict or a field name containing illegal characters: IGNORE, "
        "WARN or FAIL. With an error reporter (errors.tolerance=all and a dead-letter queue) such records "
        "go to the dead-letter queue with the server's reason in the headers.",
        validator=CaseInsensitiveValidString.in_(*MALFORMED_BEHAVIORS),
        group=_DATA,
    )
    .define(
        "write.method",
        "string",
        "INSERT",
        "low",
        "INSERT: the document built from the record value replaces any existing document with the same "
        "id. UPSERT: creates the document if missing, else updates only the fields present in the value "
        "(needs more of Elasticsearch: consider raising read.timeout.ms and lowering batch.size).",
        validator=CaseInsensitiveValidString.in_(*WRITE_METHODS),
        group=_DATA,
    )
    .define(
        "external.version.header",
        "string",
        "",
        "low",
        "Header whose numeric value is the external version of the document (instead of the default "
        "from external.version.source).",
        group=_DATA,
    )
    .define(
        "external.version.source",
        "string",
        "auto",
        "low",
        "The external version of each write (version_type=external_gte, so a replay or a reordering never "
        "overwrites newer data with older): source.position (Debezium change events: the PostgreSQL LSN, "
        "the MySQL binlog file+position+row), offset (the Kafka offset, as Confluent's connector), header "
        "(external.version.header), none; auto: the source position for Debezium events, the header when "
        "external.version.header is set, else the Kafka offset when ids come from keys with "
        "write.method=INSERT, else none.",
        validator=CaseInsensitiveValidString.in_(*VERSION_SOURCES),
        group=_DATA,
    )
    .define(
        "elastic.security.protocol",
        "string",
        "PLAINTEXT",
        "medium",
        "PLAINTEXT or SSL. SSL uses the elastic.https.* settings (and https:// URLs).",
        validator=CaseInsensitiveValidString.in_("PLAINTEXT", "SSL"),
        group=_SEC,
    )
    .define(
        "elastic.https.ssl.truststore.location",
        "string",
        None,
        "medium",
        "A PEM file of the CA certificates to trust (Headrace reads PEM, not Java keystores).",
        group=_SEC,
    )
    .define(
        "elastic.https.ssl.keystore.location",
        "string",
        None,
        "medium",
        "A PEM file of the client certificate (mutual TLS).",
        group=_SEC,
    )
    .define(
        "elastic.https.ssl.key.location",
        "string",
        None,
        "medium",
        "A PEM file of the client certificate's private key (mutual TLS).",
        group=_SEC,
    )
    .define(
        "elastic.https.ssl.endpoint.identification.algorithm",
        "string",
        "https",
        "low",
        "https verifies the server's host name; empty disables host name verification.",
        group=_SEC,
    )
)


def index_name(topic: str) -> str:
    """Confluent's topic -> index rule: lowercase, at most 255 characters, no leading - or _, and
    "." / ".." become "dot" / "dotdot"."""
    name = topic.lower()[:255]
    if name.startswith(("-", "_")):
        name = name[1:]
    if name in (".", ".."):
        name = name.replace(".", "dot")
    return name


@dataclass(frozen=True)
class EsSettings:
    """The parsed configuration of one ElasticsearchSink task."""

    urls: tuple[str, ...]
    username: str | None
    password: str | None
    api_key: str | None
    batch_size: int
    bulk_size_bytes: int
    max_in_flight: int
    max_buffered: int
    linger_ms: int
    flush_timeout_ms: int
    max_retries: int
    retry_backoff_ms: int
    connect_timeout_ms: int
    read_timeout_ms: int
    compression: bool
    data_stream_type: str
    data_stream_dataset: str
    data_stream_namespace: str
    data_stream_timestamp_fields: tuple[str, ...]
    key_ignore: bool
    key_ignore_topics: frozenset[str]
    schema_ignore: bool
    schema_ignore_topics: frozenset[str]
    compact_map_entries: bool
    drop_invalid: bool
    on_null: str
    on_malformed: str
    write_method: str
    version_header: str
    version_source: str
    ssl: bool
    ca_certs: str | None
    client_cert: str | None
    client_key: str | None
    verify_hostname: bool

    @property
    def data_stream(self) -> bool:
        return self.data_stream_type != "none" and bool(self.data_stream_dataset)

    def ignore_key(self, topic: str) -> bool:
        return self.key_ignore or topic in self.key_ignore_topics

    def ignore_schema(self, topic: str) -> bool:
        return self.schema_ignore or topic in self.schema_ignore_topics

    def index_for(self, topic: str) -> str:
        if self.data_stream:
            ns = self.data_stream_namespace.replace("${topic}", topic)
            return f"{self.data_stream_type}-{self.data_stream_dataset}-{ns}".lower()
        return index_name(topic)

    @classmethod
    def parse(cls, props: Mapping[str, str]) -> EsSettings:
        """Parse and check ``props``; raises :class:`ConfigException` naming the offending key."""
        c = CONFIG.parse(props)

        def secret(key: str) -> str | None:
            value = c[key]
            text = value.value if isinstance(value, Password) else value
            return str(text) if text else None

        raw = c["connection.url"]
        urls = tuple(u.strip() for u in (raw if isinstance(raw, list) else str(raw).split(",")) if u.strip())
        urls = tuple(u if "://" in u else f"http://{u}" for u in urls)
        if any(u.startswith("https://") for u in urls):
            urls = tuple("https://" + u.split("://", 1)[1] for u in urls)
        username = c["connection.username"] or None
        password = secret("connection.password")
        if bool(username) != bool(password):
            raise ConfigException(
                "connection.password" if username else "connection.username",
                None,
                "connection.username and connection.password must be set together",
            )
        api_key = secret("connection.api.key")
        if api_key and username:
            raise ConfigException("connection.api.key", "[hidden]", "use either an API key or a username")
        stream_type = str(c["data.stream.type"]).lower()
        dataset = str(c["data.stream.dataset"] or "")
        write_method = str(c["write.method"]).lower()
        if stream_type != "none" and dataset:
            if write_method == "upsert":
                raise ConfigException("write.method", "UPSERT", "data streams are append-only: use INSERT")
        elif stream_type != "none" or dataset:
            raise ConfigException(
                "data.stream.dataset" if stream_type != "none" else "data.stream.type",
                None,
                "data.stream.type and data.stream.dataset must be set together",
            )
        version_source = str(c["external.version.source"]).lower()
        header = str(c["external.version.header"] or "").strip()
        if version_source == "header" and not header:
            raise ConfigException("external.version.header", "", "external.version.source=header needs it")
        return cls(
            urls=urls,
            username=username,
            password=password,
            api_key=api_key,
            batch_size=int(c["batch.size"]),
            bulk_size_bytes=int(c["bulk.size.bytes"]),
            max_in_flight=int(c["max.in.flight.requests"]),
            max_buffered=int(c["max.buffered.records"]),
            linger_ms=int(c["linger.ms"]),
            flush_timeout_ms=int(c["flush.timeout.ms"]),
            max_retries=int(c["max.retries"]),
            retry_backoff_ms=int(c["retry.backoff.ms"]),
            connect_timeout_ms=int(c["connection.timeout.ms"]),
            read_timeout_ms=int(c["read.timeout.ms"]),
            compression=bool(c["connection.compression"]),
            data_stream_type=stream_type,
            data_stream_dataset=dataset,
            data_stream_namespace=str(c["data.stream.namespace"] or "${topic}"),
            data_stream_timestamp_fields=tuple(
                str(f).strip() for f in c["data.stream.timestamp.field"] or []
            ),
            key_ignore=bool(c["key.ignore"]),
            key_ignore_topics=frozenset(str(t).strip() for t in c["topic.key.ignore"] or []),
            schema_ignore=bool(c["schema.ignore"]),
            schema_ignore_topics=frozenset(str(t).strip() for t in c["topic.schema.ignore"] or []),
            compact_map_entries=bool(c["compact.map.entries"]),
            drop_invalid=bool(c["drop.invalid.message"]),
            on_null=str(c["behavior.on.null.values"]).lower(),
            on_malformed=str(c["behavior.on.malformed.documents"]).lower(),
            write_method=write_method,
            version_header=header,
            version_source=version_source,
            ssl=str(c["elastic.security.protocol"]).upper() == "SSL" or urls[0].startswith("https://"),
            ca_certs=c["elastic.https.ssl.truststore.location"] or None,
            client_cert=c["elastic.https.ssl.keystore.location"] or None,
            client_key=c["elastic.https.ssl.key.location"] or None,
            verify_hostname=bool(c["elastic.https.ssl.endpoint.identification.algorithm"]),
        )
