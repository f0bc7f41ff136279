"""ParquetSink configuration: the ``ConfigDef`` (one declaration drives validation, defaults, secret
masking and docs) and :class:`SinkSettings`, the parsed, typed view the task works with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from connect.api import ConfigDef, ConfigException, Password, Range, ValidString
from connectors.parquet.logical import DECIMAL_MODES, JSON_MODES, ArrowTypes

__all__ = ["CONFIG", "SinkSettings", "check_path_format", "check_store_url"]

CODECS = ("none", "snappy", "gzip", "lz4", "zstd", "brotli")
PARTITIONERS = {
    "default": "default",
    "field": "field",
    "time": "time",
    # Confluent storage-common class names, so configs from the S3/HDFS connectors work unchanged.
    "io.confluent.connect.storage.partitioner.DefaultPartitioner": "default",
    "io.confluent.connect.storage.partitioner.FieldPartitioner": "field",
    "io.confluent.connect.storage.partitioner.TimeBasedPartitioner": "time",
    "io.confluent.connect.hdfs.partitioner.DefaultPartitioner": "default",
    "io.confluent.connect.hdfs.partitioner.FieldPartitioner": "field",
    "io.confluent.connect.hdfs.partitioner.TimeBasedPartitioner": "time",
}
EXTRACTORS = ("Record", "RecordField", "Wallclock")
COMPATIBILITIES = ("NONE", "BACKWARD", "FORWARD", "FULL")
ENVELOPE_MODES = ("flatten", "envelope")
VALUE_FORMATS = ("connect", "json")


def check_store_url(name: str, value: Any) -> None:
    """``file:///dir`` (or a plain absolute path), ``s3://bucket[/prefix]`` or ``hdfs://host[:port]/dir``."""
    text = str(value or "").strip()
    if not text:
        raise ConfigException(name, value, "must name the store, e.g. file:///data/out or s3://bucket/prefix")
    url = urlparse(text)
    if url.scheme in ("", "file"):
        if not url.path.startswith("/"):
            raise ConfigException(name, value, "a local store must be an absolute path or file:///path")
    elif url.scheme in ("s3", "s3a"):
        if not url.netloc:
            raise ConfigException(name, value, "an S3 store needs a bucket: s3://bucket/prefix")
    elif url.scheme == "hdfs":
        if not url.netloc:
            raise ConfigException(name, value, "an HDFS store needs a namenode: hdfs://host:port/dir")
    else:
        raise ConfigException(name, value, "the scheme must be file://, s3:// or hdfs://")


def check_path_format(name: str, value: Any) -> None:
    """A Joda-style ``path.format`` (``'year'=YYYY/'month'=MM``): quotes must balance."""
    text = str(value or "")
    if text.count("'") % 2:
        raise ConfigException(name, value, "unbalanced quote in path.format")


def _check_partitioner(name: str, value: Any) -> None:
    if str(value) not in PARTITIONERS:
        raise ConfigException(
            name, value, "must be default, field or time (or a Confluent partitioner class)"
        )


def _check_endpoint(name: str, value: Any) -> None:
    text = str(value or "").strip()
    if text and urlparse(text).scheme not in ("http", "https"):
        raise ConfigException(name, value, "must be an http:// or https:// URL")


_STORE = "Store"
_FILES = "Files"
_PARTITION = "Partitioner"
_DATA = "Data"

CONFIG = (
    ConfigDef()
    .define(
        "store.url",
        "string",
        importance="high",
        doc="Where files go: file:///dir (or an absolute path), s3://bucket/prefix, or hdfs://host:port/dir "
        "(needs a Hadoop client, libhdfs). Files land in <store.url>/<topic>/<encoded partition>/.",
        validator=check_store_url,
        group=_STORE,
    )
    .define(
        "s3.endpoint",
        "string",
        "",
        "medium",
        "S3 endpoint URL for S3-compatible stores (http://host:port); empty: AWS.",
        validator=_check_endpoint,
        group=_STORE,
    )
    .define("s3.region", "string", "us-east-1", "low", "S3 region.", group=_STORE)
    .define(
        "s3.access.key.id",
        "password",
        None,
        "high",
        "S3 access key id; empty: the AWS default credential chain.",
        group=_STORE,
    )
    .define("s3.secret.access.key", "password", None, "high", "S3 secret access key.", group=_STORE)
    .define(
        "flush.size",
        "int",
        10000,
        "high",
        "Records per Kafka partition after which the open files are committed.",
        validator=Range.at_least(1),
        group=_FILES,
    )
    .define(
        "rotate.interval.ms",
        "long",
        -1,
        "high",
        "Commit the open files when a record's timestamp (per timestamp.extractor) is this far past the "
        "first record's of the files; deterministic, so a replay after a crash cuts the same files. -1: off.",
        validator=Range.at_least(-1),
        group=_FILES,
    )
    .define(
        "rotate.schedule.interval.ms",
        "long",
        -1,
        "medium",
        "Commit the open files on wall-clock boundaries of this interval even without new records. -1: off. "
        "Not deterministic: the files cut after a replay may differ (still exactly once).",
        validator=Range.at_least(-1),
        group=_FILES,
    )
    .define(
        "parquet.codec",
        "string",
        "snappy",
        "medium",
        "Parquet compression codec.",
        validator=ValidString.in_(*CODECS),
        group=_FILES,
    )
    .define(
        "partitioner.class",
        "string",
        "default",
        "high",
        "default (Kafka partition: partition=<n>), field (partition.field.name values), time "
        "(path.format over partition.duration.ms buckets); Confluent class names are accepted.",
        validator=_check_partitioner,
        group=_PARTITION,
    )
    .define(
        "partition.field.name",
        "list",
        "",
        "medium",
        "Value fields whose values name the directory (field partitioner): <field>=<value>/...",
        group=_PARTITION,
    )
    .define(
        "path.format",
        "string",
        "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH",
        "medium",
        "Joda-style directory format of the time partitioner (YYYY yyyy MM dd HH mm ss, 'literal'), "
        "applied in UTC to the start of the record's partition.duration.ms bucket.",
        validator=check_path_format,
        group=_PARTITION,
    )
    .define(
        "partition.duration.ms",
        "long",
        3600000,
        "medium",
        "Width of a time partition; the directory is formatted from the start of the bucket.",
        validator=Range.at_least(1),
        group=_PARTITION,
    )
    .define(
        "timestamp.extractor",
        "string",
        "Record",
        "medium",
        "Record (the Kafka record timestamp), RecordField (timestamp.field of the value) or Wallclock.",
        validator=ValidString.in_(*EXTRACTORS),
        group=_PARTITION,
    )
    .define(
        "timestamp.field",
        "string",
        "timestamp",
        "low",
        "Value field holding epoch milliseconds (or a Timestamp) for timestamp.extractor=RecordField; "
        "dotted paths reach into structs (after.ts for Debezium envelopes).",
        group=_PARTITION,
    )
    .define(
        "envelope.mode",
        "string",
        "flatten",
        "medium",
        "Debezium change events: flatten (the after image, or before for deletes, plus __op, __ts_ms, "
        "__source_ts_ms and source position columns such as __lsn or __file/__pos) or envelope "
        "(the whole event as nested columns). Other records are written as they are.",
        validator=ValidString.in_(*ENVELOPE_MODES),
        group=_DATA,
    )
    .define(
        "value.format",
        "string",
        "connect",
        "medium",
        "connect: values as the converter made them (Struct, dict, primitives). json: values are JSON "
        "text (use value.converter=ByteArrayConverter or StringConverter), decoded by the sink a file at a "
        "time -- JsonConverter envelopes ({schema, payload}) keep their schema; the fastest path.",
        validator=ValidString.in_(*VALUE_FORMATS),
        group=_DATA,
    )
    .define(
        "schema.compatibility",
        "string",
        "NONE",
        "high",
        "NONE: any schema change starts new files. BACKWARD/FULL: records of a newer schema (added "
        "optional columns) start new files with it, older records are projected to the current one. "
        "FORWARD: records are projected to the current (older) schema. Incompatible changes fail the "
        "record (errors.tolerance applies).",
        validator=ValidString.in_(*COMPATIBILITIES),
        group=_DATA,
    )
    .define(
        "json.handling.mode",
        "string",
        "json",
        "medium",
        "io.debezium.data.Json columns (PostgreSQL json/jsonb): json (Parquet's JSON logical type: "
        "engines such as DuckDB query them with ->> and json functions) or string (plain UTF-8 text).",
        validator=ValidString.in_(*JSON_MODES),
        group=_DATA,
    )
    .define(
        "decimal.handling.mode",
        "string",
        "precise",
        "medium",
        "Decimal and io.debezium.data.VariableScaleDecimal (unconstrained numeric) columns: precise "
        "(Parquet decimal: a Decimal's own scale; VariableScaleDecimal with decimal.precision and "
        "decimal.scale), double (float64, may round) or string (the exact number as text).",
        validator=ValidString.in_(*DECIMAL_MODES),
        group=_DATA,
    )
    .define(
        "decimal.precision",
        "int",
        38,
        "low",
        "Precision of the Parquet decimal VariableScaleDecimal values are written as "
        "(decimal.handling.mode=precise); a value with more integer digits than decimal.precision - "
        "decimal.scale fails its record.",
        validator=Range.between(1, 38),
        group=_DATA,
    )
    .define(
        "decimal.scale",
        "int",
        10,
        "low",
        "Scale of the Parquet decimal VariableScaleDecimal values are written as "
        "(decimal.handling.mode=precise); more fractional digits are rounded half-even. At most "
        "decimal.precision.",
        validator=Range.between(0, 38),
        group=_DATA,
    )
)


@dataclass(frozen=True)
class SinkSettings:
    """The parsed configuration of one ParquetSink task."""

    store_url: str
    s3_endpoint: str
    s3_region: str
    s3_access_key: str | None
    s3_secret_key: str | None
    flush_size: int
    rotate_interval_ms: int
    rotate_schedule_interval_ms: int
    codec: str
    partitioner: str
    partition_fields: tuple[str, ...]
    path_format: str
    partition_duration_ms: int
    timestamp_extractor: str
    timestamp_field: str
    envelope_mode: str
    compatibility: str
    value_format: str
    types: ArrowTypes = field(default_factory=ArrowTypes)

    @classmethod
    def parse(cls, props: Mapping[str, str]) -> SinkSettings:
        """Parse and check ``props``; raises :class:`ConfigException` naming the offending key."""
        c = CONFIG.parse(props)
        fields = tuple(str(f).strip() for f in c["partition.field.name"] or [] if str(f).strip())
        partitioner = PARTITIONERS[str(c["partitioner.class"])]
        if partitioner == "field" and not fields:
            raise ConfigException(
                "partition.field.name", "", "the field partitioner needs at least one field"
            )
        precision, scale = int(c["decimal.precision"]), int(c["decimal.scale"])
        if scale > precision:
            raise ConfigException("decimal.scale", scale, f"must be at most decimal.precision ({precision})")

        def secret(key: str) -> str | None:
            value = c[key]
            text = value.value if isinstance(value, Password) else value
            return str(text) if text else None

        return cls(
            store_url=str(c["store.url"]).strip(),
            s3_endpoint=str(c["s3.endpoint"] or "").strip(),
            s3_region=str(c["s3.region"]),
            s3_access_key=secret("s3.access.key.id"),
            s3_secret_key=secret("s3.secret.access.key"),
            flush_size=int(c["flush.size"]),
            rotate_interval_ms=int(c["rotate.interval.ms"]),
            rotate_schedule_interval_ms=int(c["rotate.schedule.interval.ms"]),
            codec=str(c["parquet.codec"]),
            partitioner=partitioner,
            partition_fields=fields,
            path_format=str(c["path.format"]),
            partition_duration_ms=int(c["partition.duration.ms"]),
            timestamp_extractor=str(c["timestamp.extractor"]),
            timestamp_field=str(c["timestamp.field"]),
            envelope_mode=str(c["envelope.mode"]),
            compatibility=str(c["schema.compatibility"]),
            value_format=str(c["value.format"]),
            types=ArrowTypes(
                json_mode=str(c["json.handling.mode"]),
                decimal_mode=str(c["decimal.handling.mode"]),
                decimal_precision=precision,
                decimal_scale=scale,
            ),
        )
