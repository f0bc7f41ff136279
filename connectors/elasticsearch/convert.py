"""Records -> bulk actions: the document id, the index, the document (Connect values and the Debezium
semantic types turned into JSON Elasticsearch maps well), the operation (index, update-as-upsert,
create for data streams, delete) and the external version.

Debezium change events (a value with ``before``/``after``/``source``/``op``) index their ``after``
image; ``op: d`` deletes; ``op: t`` (truncate) is skipped. Their external version is the position of
the change in the source's log, so a replay or a reordering never lets older data win:

* PostgreSQL: ``source.lsn`` (every change has its own LSN; a row's changes are in LSN order);
* MySQL/MariaDB: binlog file number, position and row: ``file_seq << 43 | pos << 11 | row`` (20 + 32 +
  11 bits; a row number past 2047 saturates, which ``external_gte`` tolerates for in-order writes).
  GTIDs are not used: snapshot records carry no GTID, and mixing the two orders would break ordering.

Versions are written with ``version_type=external_gte``: an equal version (a replay of the same
event, or two changes of one row in the same MySQL row event) is applied again, a lower one is
rejected by Elasticsearch with 409 and counted as "stale, skipped".
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any, Final

import orjson

from connect.api import DataException, Schema, SinkRecord, Struct, Type
from connectors.elasticsearch.config import EsSettings

__all__ = ["Action", "Converter", "debezium_version", "is_envelope", "to_json"]

_EPOCH: Final = dt.date(1970, 1, 1)
_EPOCH_DT: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_VERSION: Final = 2**63 - 1
# Debezium semantic types whose wire values are numbers but mean dates/times
_DAYS: Final = {"io.debezium.time.Date"}
_MILLIS: Final = {"io.debezium.time.Timestamp"}
_MICROS: Final = {"io.debezium.time.MicroTimestamp"}
_NANOS: Final = {"io.debezium.time.NanoTimestamp"}
_VSD: Final = "io.debezium.data.VariableScaleDecimal"


class Action:
    """One bulk action: the NDJSON lines to send and where the record came from."""

    __slots__ = ("body", "doc_key", "index", "offset", "op", "record", "tp")

    def __init__(self, record: SinkRecord, op: str, index: str, doc_key: str | None, body: bytes) -> None:
        self.record = record
        self.op = op
        self.index = index
        self.doc_key = doc_key  # index + id (None for auto ids): orders writes of one document
        self.body = body
        self.tp = (record.original_topic, record.original_kafka_partition or 0)
        self.offset = record.original_kafka_offset


def is_envelope(value: Any) -> bool:
    if isinstance(value, Struct):
        f = value.values
        return "op" in f and "after" in f and "source" in f
    return isinstance(value, dict) and "op" in value and "after" in value and "source" in value


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Struct):
        return obj.values.get(name)
    if isinstance(obj, Mapping):
        return obj.get(name)
    return None


def debezium_version(source: Any) -> int | None:
    """The external version of a Debezium event from its ``source`` block (None if it has no position)."""
    lsn = _field(source, "lsn")
    if isinstance(lsn, int) and lsn >= 0:
        return min(lsn, _MAX_VERSION)
    file, pos = _field(source, "file"), _field(source, "pos")
    if isinstance(file, str) and isinstance(pos, int):
        suffix = file.rsplit(".", 1)[-1]
        seq = int(suffix) if suffix.isdigit() else 0
        row = _field(source, "row")
        row = min(row if isinstance(row, int) and row > 0 else 0, 2047)
        return (min(seq, 2**20 - 1) << 43) | (min(pos, 2**32 - 1) << 11) | row
    return None


def _decimal(v: decimal.Decimal) -> Any:
    return float(v) if v.is_finite() else str(v)


def to_json(value: Any, schema: Schema | None, compact_maps: bool) -> Any:
    """A Connect value (with or without schema) as a JSON-compatible value for a document."""
    if value is None:
        return None
    name = schema.name if schema is not None else None
    if name is not None:
        if name in _DAYS and isinstance(value, int):
            return (_EPOCH + dt.timedelta(days=value)).isoformat()
        if name in _MILLIS and isinstance(value, int):
            return value  # epoch_millis: Elasticsearch's default date format takes it
        if name in _MICROS and isinstance(value, int):
            return (_EPOCH_DT + dt.timedelta(microseconds=value)).isoformat().replace("+00:00", "Z")
        if name in _NANOS and isinstance(value, int):
            return (_EPOCH_DT + dt.timedelta(microseconds=value // 1000)).isoformat().replace("+00:00", "Z")
        if name == _VSD and isinstance(value, Struct):
            scale = value.values.get("scale") or 0
            raw = value.values.get("value") or b""
            return float(decimal.Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale))
    if isinstance(value, Struct):
        return {
            f.name: to_json(value.values.get(f.name), f.schema, compact_maps) for f in value.schema.fields
        }
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return _decimal(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Mapping):
        ks = schema.key_schema if schema is not None and schema.type is Type.MAP else None
        vs = schema.value_schema if schema is not None and schema.type is Type.MAP else None
        if compact_maps and all(isinstance(k, str) for k in value):
            return {k: to_json(v, vs, compact_maps) for k, v in value.items()}
        return [
            {"key": to_json(k, ks, compact_maps), "value": to_json(v, vs, compact_maps)}
            for k, v in value.items()
        ]
    if isinstance(value, list | tuple):
        es = schema.value_schema if schema is not None and schema.type is Type.ARRAY else None
        return [to_json(v, es, compact_maps) for v in value]
    raise DataException(f"cannot write a {type(value).__name__} into a document")


def _key_id(key: Any, schema: Schema | None) -> str:
    if key is None:
        raise DataException("Key is used as document id and can not be null.")
    if isinstance(key, Struct | Mapping):
        doc = to_json(key, schema, True)
        if isinstance(doc, dict) and len(doc) == 1:
            (only,) = doc.values()
            if only is not None and not isinstance(only, dict | list):
                return str(only).lower() if isinstance(only, bool) else str(only)
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(key, bool):
        return str(key).lower()
    if isinstance(key, int | str):
        return str(key)
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    raise DataException(f"Key type {type(key).__name__} is not supported as a document id.")


class Converter:
    """Builds the bulk action for each record (or None when the record is skipped)."""

    def __init__(self, settings: EsSettings) -> None:
        self.s = settings
        self._indices: dict[str, str] = {}

    def index(self, topic: str) -> str:
        name = self._indices.get(topic)
        if name is None:
            name = self._indices[topic] = self.s.index_for(topic)
        return name

    def _version(self, record: SinkRecord, envelope_source: Any) -> int | None:
        s = self.s
        how = s.version_source
        if s.version_header and how in ("auto", "header"):
            header = record.headers.last_with_name(s.version_header) if record.headers else None
            if header is not None and header.value is not None:
                try:
                    raw = header.value.decode() if isinstance(header.value, bytes) else header.value
                    return int(raw)
                except (TypeError, ValueError):
                    raise DataException(
                        f"header {s.version_header}={header.value!r} is not a number (external version)"
                    ) from None
            if how == "header":
                raise DataException(f"record has no {s.version_header} header (external version)")
        if how in ("auto", "source.position") and envelope_source is not None:
            version = debezium_version(envelope_source)
            if version is not None or how == "source.position":
                return version
        if how == "offset" or (
            how == "auto" and not s.ignore_key(record.topic) and s.write_method == "insert"
        ):
            return record.kafka_offset
        return None

    def convert(self, record: SinkRecord) -> Action | None:
        s = self.s
        topic = record.topic
        index = self.index(topic)
        value, vschema = record.value, record.value_schema
        source = None
        delete = False
        if value is not None and is_envelope(value):
            op = _field(value, "op")
            source = _field(value, "source")
            if op == "d":
                delete = True
            elif op in ("c", "u", "r"):
                after = vschema.field("after") if vschema is not None else None
                vschema = after.schema if after is not None else None
                value = _field(value, "after")
            else:
                return None  # truncate / message events: nothing to index
        if s.ignore_key(topic):
            doc_id: str | None = f"{topic}+{record.kafka_partition or 0}+{record.kafka_offset}"
        else:
            doc_id = _key_id(record.key, record.key_schema)
        if value is None and not delete:
            if s.on_null == "ignore":
                return None
            if s.on_null == "fail":
                raise DataException(
                    "Sink record with key of "
                    f"{record.key!r} and null value encountered for topic/partition/offset "
                    f"{topic}/{record.kafka_partition}/{record.kafka_offset} (to ignore future records like "
                    "this change the configuration property 'behavior.on.null.values' from 'fail' to "
                    "'ignore')"
                )
            delete = True
        if delete and s.ignore_key(topic):
            return None  # no id to delete
        version = self._version(record, source)
        meta: dict[str, Any] = {"_index": index}
        if doc_id is not None:
            meta["_id"] = doc_id
        if version is not None and not s.data_stream:
            meta["version"] = version
            meta["version_type"] = "external_gte"
        if delete:
            if s.data_stream:
                return None
            return Action(
                record, "delete", index, f"{index}\x00{doc_id}", orjson.dumps({"delete": meta}) + b"\n"
            )
        doc = to_json(value, vschema, s.compact_map_entries)
        if not isinstance(doc, dict):
            raise DataException(
                f"the value of a document must be a struct or a map, not {type(value).__name__}"
            )
        if s.data_stream:
            doc = self._with_timestamp(doc, record)
            meta.pop("_id", None)
            return Action(record, "create", index, None, _lines({"create": meta}, doc))
        if s.write_method == "upsert" and version is None:
            meta["retry_on_conflict"] = 3
            return Action(
                record,
                "update",
                index,
                f"{index}\x00{doc_id}",
                _lines({"update": meta}, {"doc": doc, "doc_as_upsert": True}),
            )
        # with a version, an upsert is an index (the update API takes no external versions)
        return Action(record, "index", index, f"{index}\x00{doc_id}", _lines({"index": meta}, doc))

    def _with_timestamp(self, doc: dict[str, Any], record: SinkRecord) -> dict[str, Any]:
        for f in self.s.data_stream_timestamp_fields:
            if f in doc and doc[f] is not None:
                if f != "@timestamp":
                    doc["@timestamp"] = doc[f]
                return doc
        if "@timestamp" not in doc:
            doc["@timestamp"] = record.timestamp if record.timestamp is not None else 0
        return doc


def _lines(meta: dict[str, Any], doc: Any) -> bytes:
    return orjson.dumps(meta) + b"\n" + orjson.dumps(doc) + b"\n"
