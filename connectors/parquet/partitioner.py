"""Partitioners (which directory a record's row goes to) and timestamp extractors (Confluent's names).

* ``default``: ``partition=<kafka partition>``;
* ``field``: ``<field>=<value>/...`` from ``partition.field.name`` (dotted paths reach into structs; for
  flattened Debezium envelopes the fields of the row image);
* ``time``: ``path.format`` (Joda-style: ``YYYY``/``yyyy`` ``MM`` ``dd`` ``HH`` ``mm`` ``ss``, text in single
  quotes is literal) applied to the start of the record's ``partition.duration.ms`` bucket, in UTC.

Timestamps (for ``time`` and for ``rotate.interval.ms``) come from ``timestamp.extractor``: ``Record``
(the Kafka record timestamp), ``RecordField`` (``timestamp.field`` of the value: epoch ms, a datetime, or
an ISO-8601 string) or ``Wallclock`` (time of ``put()``, not deterministic).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from connect.api import DataException, SinkRecord, Struct
from connectors.parquet.config import SinkSettings

__all__ = ["Partitioner", "TimestampExtractor", "joda_to_strftime"]

_JODA = (("YYYY", "%Y"), ("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"))


def joda_to_strftime(pattern: str) -> str:
    """Translate the Joda subset used by ``path.format`` into a ``strftime`` format."""
    out: list[str] = []
    parts = pattern.split("'")
    for i, part in enumerate(parts):
        if i % 2:  # quoted literal
            out.append(part.replace("%", "%%"))
            continue
        j = 0
        while j < len(part):
            for joda, fmt in _JODA:
                if part.startswith(joda, j):
                    out.append(fmt)
                    j += len(joda)
                    break
            else:
                out.append("%%" if part[j] == "%" else part[j])
                j += 1
    return "".join(out)


def _lookup(value: Any, path: str) -> Any:
    for name in path.split("."):
        if value is None:
            return None
        if isinstance(value, Struct):
            if value.schema.field(name) is None:
                return None
            value = value.get(name)
        elif isinstance(value, dict):
            value = value.get(name)
        else:
            return None
    return value


def _image(value: Any) -> Any:
    """The row image of a Debezium envelope (after, or before for deletes), else the value itself."""
    if isinstance(value, Struct):
        s = value.schema
        if s.field("op") is not None and s.field("after") is not None and s.field("source") is not None:
            after = value.get("after")
            return after if after is not None else value.get("before")
    elif isinstance(value, dict) and {"op", "after", "source"} <= value.keys():
        return value["after"] if value["after"] is not None else value.get("before")
    return value


class TimestampExtractor:
    """``extract(record)`` -> epoch milliseconds, per ``timestamp.extractor``."""

    def __init__(self, settings: SinkSettings, clock: Callable[[], float] = time.time) -> None:
        self.kind = settings.timestamp_extractor
        self.field = settings.timestamp_field
        self._clock = clock

    @property
    def reads_values(self) -> bool:
        return self.kind == "RecordField"

    def extract(self, record: SinkRecord, value: Any = None) -> int:
        """``value``: the record's value when it differs from ``record.value`` (decoded raw JSON)."""
        if self.kind == "Record":
            if record.timestamp is None:
                raise DataException(f"record at offset {record.kafka_offset} has no timestamp")
            return int(record.timestamp)
        if self.kind == "Wallclock":
            return int(self._clock() * 1000)
        if value is None:
            value = record.value
        found = _lookup(value, self.field)
        if found is None:
            found = _lookup(_image(value), self.field)
        value = found
        return _to_millis(value, self.field, record)


def _to_millis(value: Any, field: str, record: SinkRecord) -> int:
    if isinstance(value, bool) or value is None:
        raise DataException(f"record at offset {record.kafka_offset}: no timestamp in field {field!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise DataException(
                f"record at offset {record.kafka_offset}: {field!r} is not a timestamp"
            ) from None
        return _to_millis(parsed, field, record)
    raise DataException(f"record at offset {record.kafka_offset}: {field!r} is not a timestamp")


class Partitioner:
    """``encode(record, timestamp_ms)`` -> the directory of the record below ``<topic>/``."""

    def __init__(self, settings: SinkSettings) -> None:
        self.kind = settings.partitioner
        self.fields = settings.partition_fields
        self.duration = settings.partition_duration_ms
        self.format = joda_to_strftime(settings.path_format)
        self._bucket_paths: dict[int, str] = {}

    @property
    def constant_per_partition(self) -> bool:
        return self.kind == "default"

    @property
    def needs_timestamp(self) -> bool:
        return self.kind == "time"

    @property
    def reads_values(self) -> bool:
        return self.kind == "field"

    def encode(self, record: SinkRecord, timestamp_ms: int | None, value: Any = None) -> str:
        """``value``: the record's value when it differs from ``record.value`` (decoded raw JSON)."""
        if self.kind == "default":
            return f"partition={record.kafka_partition or 0}"
        if self.kind == "field":
            if value is None:
                value = record.value
            image = _image(value)
            parts = []
            for name in self.fields:
                v = _lookup(image, name)
                if v is None:
                    v = _lookup(value, name)
                text = "null" if v is None else str(v)
                parts.append(f"{name}={text.replace('/', '_')}")
            return "/".join(parts)
        assert timestamp_ms is not None
        bucket = timestamp_ms - timestamp_ms % self.duration
        path = self._bucket_paths.get(bucket)
        if path is None:
            moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=bucket)
            path = moment.strftime(self.format)
            if len(self._bucket_paths) > 10_000:
                self._bucket_paths.clear()
            self._bucket_paths[bucket] = path
        return path
