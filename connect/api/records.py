"""Records that flow between plugins and the runtime (Kafka's ``ConnectRecord`` family and headers).

A :class:`SourceTask` returns :class:`SourceRecord` objects from ``poll()``; a :class:`SinkTask` receives
:class:`SinkRecord` objects in ``put()``. Transformations (SMTs) derive changed copies with
``record.new_record(...)`` instead of mutating a record.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Self

from connect.api.data import Schema, SchemaAndValue
from connect.api.errors import DataException

__all__ = [
    "ConnectRecord",
    "Header",
    "Headers",
    "RecordMetadata",
    "SinkRecord",
    "SourceRecord",
    "TimestampType",
    "TopicPartition",
]


@dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    """A partition of a topic; hashable and ordered, ``str()`` gives Kafka's ``topic-partition``."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


@dataclass(frozen=True, slots=True)
class RecordMetadata:
    """Where the broker stored a source record (passed to ``SourceTask.commit_record``)."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None = None

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class TimestampType(enum.Enum):
    """How a sink record's timestamp was assigned (Kafka's ``TimestampType``)."""

    NO_TIMESTAMP_TYPE = "NoTimestampType"
    CREATE_TIME = "CreateTime"
    LOG_APPEND_TIME = "LogAppendTime"


# --- headers --------------------------------------------------------------------------------------------


class Header:
    """One record header: a ``key`` and a ``value`` with an optional ``schema`` (immutable)."""

    __slots__ = ("key", "schema", "value")

    key: str
    schema: Schema | None
    value: Any

    def __init__(self, key: str, value: Any, schema: Schema | None = None) -> None:
        if not isinstance(key, str):
            raise DataException(f"Header key must be a string, got {type(key).__name__}")
        if schema is not None:
            Schema.validate_value(schema, value)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "schema", schema)
        object.__setattr__(self, "value", value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Header is immutable")

    def rename(self, key: str) -> Header:
        """A copy with another key."""
        return Header(key, self.value, self.schema)

    def with_value(self, value: Any, schema: Schema | None = None) -> Header:
        """A copy with the same key and another value/schema (Kafka's ``Header.with``)."""
        return Header(self.key, value, schema)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Header):
            return NotImplemented
        return self.key == other.key and self.schema == other.schema and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.key, self.schema))

    def __repr__(self) -> str:
        return f"Header(key={self.key!r}, value={self.value!r}, schema={self.schema!r})"


class Headers:
    """The ordered headers of a record; several headers may share a key.

    ``add(key, value, schema=None)`` appends (the value is validated when a schema is given);
    ``last_with_name`` / ``all_with_name`` look headers up; ``remove`` drops every header with a key.
    Iteration yields :class:`Header` objects in order.
    """

    __slots__ = ("_headers",)

    def __init__(self, headers: Iterable[Header] | None = None) -> None:
        self._headers: list[Header] = list(headers) if headers is not None else []

    def add(self, key: str, value: Any = None, schema: Schema | None = None) -> Headers:
        """Append a header; returns ``self`` for chaining."""
        self._headers.append(Header(key, value, schema))
        return self

    def add_header(self, header: Header) -> Headers:
        self._headers.append(header)
        return self

    def add_all(self, headers: Iterable[Header]) -> Headers:
        self._headers.extend(headers)
        return self

    def add_schema_and_value(self, key: str, schema_and_value: SchemaAndValue) -> Headers:
        return self.add(key, schema_and_value.value, schema_and_value.schema)

    def add_string(self, key: str, value: str | None) -> Headers:
        return self.add(key, value, Schema.OPTIONAL_STRING_SCHEMA)

    def add_boolean(self, key: str, value: bool) -> Headers:
        return self.add(key, value, Schema.BOOLEAN_SCHEMA)

    def add_int(self, key: str, value: int) -> Headers:
        return self.add(key, value, Schema.INT32_SCHEMA)

    def add_long(self, key: str, value: int) -> Headers:
        return self.add(key, value, Schema.INT64_SCHEMA)

    def add_double(self, key: str, value: float) -> Headers:
        return self.add(key, value, Schema.FLOAT64_SCHEMA)

    def add_bytes(self, key: str, value: bytes | None) -> Headers:
        return self.add(key, value, Schema.OPTIONAL_BYTES_SCHEMA)

    def last_with_name(self, key: str) -> Header | None:
        """The last header with ``key``, or None."""
        for header in reversed(self._headers):
            if header.key == key:
                return header
        return None

    def all_with_name(self, key: str) -> list[Header]:
        """Every header with ``key``, in order."""
        return [h for h in self._headers if h.key == key]

    def remove(self, key: str) -> Headers:
        """Drop every header with ``key``."""
        self._headers = [h for h in self._headers if h.key != key]
        return self

    def retain_latest(self, key: str | None = None) -> Headers:
        """Keep only the last header of ``key`` (of every key when ``key`` is None)."""
        seen: set[str] = set()
        kept: list[Header] = []
        for header in reversed(self._headers):
            if (key is None or header.key == key) and header.key in seen:
                continue
            seen.add(header.key)
            kept.append(header)
        kept.reverse()
        self._headers = kept
        return self

    def apply(self, transform: Callable[[Header], Header | None], key: str | None = None) -> Headers:
        """Replace each header (with ``key``, or all) by ``transform(header)``; None removes it."""
        out: list[Header] = []
        for header in self._headers:
            if key is not None and header.key != key:
                out.append(header)
                continue
            new = transform(header)
            if new is not None:
                out.append(new)
        self._headers = out
        return self

    def clear(self) -> Headers:
        self._headers = []
        return self

    def duplicate(self) -> Headers:
        """An independent copy (headers themselves are immutable)."""
        return Headers(self._headers)

    def __iter__(self) -> Iterator[Header]:
        return iter(list(self._headers))

    def __len__(self) -> int:
        return len(self._headers)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._headers == other._headers

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._headers!r})"


# --- records --------------------------------------------------------------------------------------------


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unchanged>"


_UNSET: Final[Any] = _Unset()


def _as_headers(headers: Headers | Iterable[Header] | None) -> Headers | None:
    if headers is None or isinstance(headers, Headers):
        return headers
    return Headers(headers)


_SLOTS: dict[type, tuple[str, ...]] = {}


def _slots_of(cls: type) -> tuple[str, ...]:
    slots = _SLOTS.get(cls)
    if slots is None:
        names: list[str] = []
        for klass in cls.__mro__:
            for name in klass.__dict__.get("__slots__", ()):
                if name not in names:
                    names.append(name)
        slots = _SLOTS[cls] = tuple(names)
    return slots


class ConnectRecord:
    """Fields shared by source and sink records.

    ``topic``; ``kafka_partition`` (None: let the producer's partitioner decide from the key);
    ``key_schema``/``key`` and ``value_schema``/``value`` (Connect data, see :mod:`connect.api.data`);
    ``timestamp`` in milliseconds since the epoch or None; ``headers`` (:class:`Headers`, created on
    first access). Records are treated as immutable once handed over: derive copies with
    :meth:`new_record`.
    """

    __slots__ = (
        "_headers",
        "kafka_partition",
        "key",
        "key_schema",
        "timestamp",
        "topic",
        "value",
        "value_schema",
    )

    topic: str
    kafka_partition: int | None
    key_schema: Schema | None
    key: Any
    value_schema: Schema | None
    value: Any
    timestamp: int | None
    _headers: Headers | None

    def __init__(
        self,
        topic: str,
        kafka_partition: int | None = None,
        key_schema: Schema | None = None,
        key: Any = None,
        value_schema: Schema | None = None,
        value: Any = None,
        timestamp: int | None = None,
        headers: Headers | Iterable[Header] | None = None,
    ) -> None:
        self.topic = topic
        self.kafka_partition = kafka_partition
        self.key_schema = key_schema
        self.key = key
        self.value_schema = value_schema
        self.value = value
        self.timestamp = timestamp
        self._headers = _as_headers(headers)

    @property
    def headers(self) -> Headers:
        """The record's headers (mutable; empty unless some were given or added)."""
        h = self._headers
        if h is None:
            h = self._headers = Headers()
        return h

    @property
    def headers_or_none(self) -> Headers | None:
        """The record's headers, or None if none were ever given or accessed (no empty
        :class:`Headers` is created: for runtimes and converters on per-record paths)."""
        return self._headers

    def new_record(
        self,
        topic: str = _UNSET,
        kafka_partition: int | None = _UNSET,
        key_schema: Schema | None = _UNSET,
        key: Any = _UNSET,
        value_schema: Schema | None = _UNSET,
        value: Any = _UNSET,
        timestamp: int | None = _UNSET,
        headers: Headers | Iterable[Header] | None = _UNSET,
    ) -> Self:
        """A copy of this record, of the same class, with the given fields changed and the others kept.

        Headers are copied unless ``headers`` is given. Fields of subclasses (source partition and
        offset; Kafka offset, timestamp type and original topic/partition/offset) are kept.
        """
        cls = type(self)
        new = object.__new__(cls)
        for name in _slots_of(cls):
            object.__setattr__(new, name, getattr(self, name))
        if topic is not _UNSET:
            new.topic = topic
        if kafka_partition is not _UNSET:
            new.kafka_partition = kafka_partition
        if key_schema is not _UNSET:
            new.key_schema = key_schema
        if key is not _UNSET:
            new.key = key
        if value_schema is not _UNSET:
            new.value_schema = value_schema
        if value is not _UNSET:
            new.value = value
        if timestamp is not _UNSET:
            new.timestamp = timestamp
        if headers is _UNSET:
            new._headers = self._headers.duplicate() if self._headers else None
        else:
            new._headers = _as_headers(headers)
        return new

    def _base_equal(self, other: ConnectRecord) -> bool:
        return (
            self.topic == other.topic
            and self.kafka_partition == other.kafka_partition
            and self.key_schema == other.key_schema
            and self.key == other.key
            and self.value_schema == other.value_schema
            and self.value == other.value
            and self.timestamp == other.timestamp
            and (self._headers or Headers()) == (other._headers or Headers())
        )

    __hash__ = None  # type: ignore[assignment]

    def _base_repr(self) -> str:
        return (
            f"topic={self.topic!r}, kafka_partition={self.kafka_partition!r}, key={self.key!r}, "
            f"key_schema={self.key_schema!r}, value={self.value!r}, value_schema={self.value_schema!r}, "
            f"timestamp={self.timestamp!r}, headers={self._headers or Headers()!r}"
        )


class SourceRecord(ConnectRecord):
    """A record produced by a :class:`~connect.api.task.SourceTask`.

    ``source_partition`` identifies the stream the record came from (e.g. ``{"server": "db1"}``) and
    ``source_offset`` the position within it (e.g. ``{"lsn": 123}``); both are small JSON-compatible
    dicts. The runtime stores the offset only after the broker acknowledged the record, and hands it
    back through ``OffsetStorageReader`` after a restart.
    """

    __slots__ = ("source_offset", "source_partition")

    source_partition: Mapping[str, Any] | None
    source_offset: Mapping[str, Any] | None

    def __init__(
        self,
        source_partition: Mapping[str, Any] | None,
        source_offset: Mapping[str, Any] | None,
        topic: str,
        kafka_partition: int | None = None,
        key_schema: Schema | None = None,
        key: Any = None,
        value_schema: Schema | None = None,
        value: Any = None,
        timestamp: int | None = None,
        headers: Headers | Iterable[Header] | None = None,
    ) -> None:
        self.source_partition = source_partition
        self.source_offset = source_offset
        self.topic = topic
        self.kafka_partition = kafka_partition
        self.key_schema = key_schema
        self.key = key
        self.value_schema = value_schema
        self.value = value
        self.timestamp = timestamp
        self._headers = _as_headers(headers)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SourceRecord):
            return NotImplemented
        return (
            self.source_partition == other.source_partition
            and self.source_offset == other.source_offset
            and self._base_equal(other)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"SourceRecord(source_partition={self.source_partition!r}, source_offset={self.source_offset!r}, "
            f"{self._base_repr()})"
        )


class SinkRecord(ConnectRecord):
    """A record delivered to a :class:`~connect.api.task.SinkTask`, with its position in Kafka.

    ``kafka_offset`` and ``timestamp_type`` come from the consumed record. ``original_topic``,
    ``original_kafka_partition`` and ``original_kafka_offset`` keep the consumed coordinates even when a
    transformation changed the topic or partition (KIP-793); use them for ``pre_commit`` offsets.
    """

    __slots__ = (
        "kafka_offset",
        "original_kafka_offset",
        "original_kafka_partition",
        "original_topic",
        "timestamp_type",
    )

    kafka_offset: int
    timestamp_type: TimestampType
    original_topic: str
    original_kafka_partition: int | None
    original_kafka_offset: int

    def __init__(
        self,
        topic: str,
        kafka_partition: int | None,
        key_schema: Schema | None,
        key: Any,
        value_schema: Schema | None,
        value: Any,
        kafka_offset: int,
        timestamp: int | None = None,
        timestamp_type: TimestampType = TimestampType.NO_TIMESTAMP_TYPE,
        headers: Headers | Iterable[Header] | None = None,
        original_topic: str | None = None,
        original_kafka_partition: int | None = None,
        original_kafka_offset: int | None = None,
    ) -> None:
        self.topic = topic
        self.kafka_partition = kafka_partition
        self.key_schema = key_schema
        self.key = key
        self.value_schema = value_schema
        self.value = value
        self.timestamp = timestamp
        # _as_headers inlined for the common cases: the sink runtime builds one record per message
        self._headers = headers if headers is None or headers.__class__ is Headers else _as_headers(headers)  # type: ignore[assignment]
        self.kafka_offset = kafka_offset
        self.timestamp_type = timestamp_type
        self.original_topic = topic if original_topic is None else original_topic
        self.original_kafka_partition = (
            kafka_partition if original_kafka_partition is None else original_kafka_partition
        )
        self.original_kafka_offset = kafka_offset if original_kafka_offset is None else original_kafka_offset

    @property
    def original_topic_partition(self) -> TopicPartition:
        """The partition this record was consumed from (unchanged by transformations)."""
        return TopicPartition(self.original_topic, self.original_kafka_partition or 0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SinkRecord):
            return NotImplemented
        return (
            self.kafka_offset == other.kafka_offset
            and self.timestamp_type == other.timestamp_type
            and self.original_topic == other.original_topic
            and self.original_kafka_partition == other.original_kafka_partition
            and self.original_kafka_offset == other.original_kafka_offset
            and self._base_equal(other)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"SinkRecord(kafka_offset={self.kafka_offset!r}, timestamp_type={self.timestamp_type.value}, "
            f"{self._base_repr()})"
        )
