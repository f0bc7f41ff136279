"""``SimpleHeaderConverter`` (Kafka's ``org.apache.kafka.connect.storage.SimpleHeaderConverter``).

Header values are written as text (Kafka's ``Values.convertToString``) and read back by inferring the
most specific type: ``true``/``false`` -> BOOLEAN, integers -> the smallest of INT8..INT64 (wider ->
Decimal), other numbers -> FLOAT32 (FLOAT64 if out of range), ISO-8601 ``yyyy-MM-dd`` /
``HH:mm:ss.SSSZ`` / ``yyyy-MM-ddTHH:mm:ss.SSSZ`` -> Date/Time/Timestamp, ``[...]`` / ``{...}`` ->
ARRAY/MAP (schema only when all elements share one), anything else -> STRING.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from connect.api.config import ConfigDef
from connect.api.converter import HeaderConverter
from connect.api.data import (
    Date,
    Decimal,
    Schema,
    SchemaAndValue,
    SchemaBuilder,
    Struct,
    Time,
    Timestamp,
    Type,
)
from connect.converters._javafmt import f32, java_double, java_float, json_string

__all__ = ["SimpleHeaderConverter", "convert_to_string", "parse_string"]

_INT_SCHEMAS: Final = (
    (Schema.INT8_SCHEMA, -(2**7), 2**7 - 1),
    (Schema.INT16_SCHEMA, -(2**15), 2**15 - 1),
    (Schema.INT32_SCHEMA, -(2**31), 2**31 - 1),
    (Schema.INT64_SCHEMA, -(2**63), 2**63 - 1),
)
_NUMBER: Final = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME: Final = re.compile(r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z")
_TIMESTAMP: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z")


def _time_text(t: _dt.time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond // 1000:03d}Z"


def convert_to_string(schema: Schema | None, value: Any, embedded: bool = False) -> str:
    """Kafka's ``Values.convertToString``: the text form of a Connect value."""
    if value is None:
        return "null"
    name = schema.name if schema is not None else None
    if isinstance(value, str):
        return json_string(value) if embedded else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if schema is not None and schema.type is Type.FLOAT32:
            return java_float(value)
        return java_double(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, _dt.datetime):
        utc = value.astimezone(_dt.UTC) if value.tzinfo is not None else value
        return f"{utc.date().isoformat()}T{_time_text(utc.time())}"
    if isinstance(value, _dt.date) and name != Timestamp.LOGICAL_NAME:
        return value.isoformat()
    if isinstance(value, _dt.time):
        return _time_text(value)
    if isinstance(value, list | tuple):
        elem = schema.value_schema if schema is not None else None
        return "[" + ",".join(convert_to_string(elem, v, True) for v in value) + "]"
    if isinstance(value, Mapping):
        ks = schema.key_schema if schema is not None else None
        vs = schema.value_schema if schema is not None else None
        return (
            "{"
            + ",".join(
                convert_to_string(ks, k, True) + ":" + convert_to_string(vs, v, True)
                for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, Struct):
        return repr(value)
    return str(value)


def _parse_number(text: str) -> SchemaAndValue:
    d = decimal.Decimal(text)
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent >= 0 and "." not in text and "e" not in text.lower():
        n = int(d)
        for schema, lo, hi in _INT_SCHEMAS:
            if lo <= n <= hi:
                return SchemaAndValue(schema, n)
        return SchemaAndValue(Decimal.schema(0), d)
    as_float = float(d)
    single = f32(as_float)
    if single not in (float("inf"), float("-inf")) and -exponent != 0:
        return SchemaAndValue(Schema.FLOAT32_SCHEMA, single)
    if as_float not in (float("inf"), float("-inf")) and -exponent != 0:
        return SchemaAndValue(Schema.FLOAT64_SCHEMA, as_float)
    return SchemaAndValue(Decimal.schema(-exponent), d)


def _common_schema(schemas: list[Schema | None]) -> Schema | None:
    if not schemas or any(s is None for s in schemas):
        return None
    first = schemas[0]
    return first if all(s == first for s in schemas) else None


def _from_json(value: Any) -> SchemaAndValue:
    if value is None:
        return SchemaAndValue(None, None)
    if isinstance(value, bool):
        return SchemaAndValue(Schema.BOOLEAN_SCHEMA, value)
    if isinstance(value, int | float):
        return _parse_number(repr(value) if isinstance(value, float) else str(value))
    if isinstance(value, str):
        return parse_string(value) if value else SchemaAndValue(Schema.STRING_SCHEMA, value)
    if isinstance(value, list):
        parts = [_from_json(v) for v in value]
        elem = _common_schema([p.schema for p in parts])
        schema = SchemaBuilder.array(elem).build() if elem is not None else None
        return SchemaAndValue(schema, [p.value for p in parts])
    if isinstance(value, dict):
        parts = [_from_json(v) for v in value.values()]
        val = _common_schema([p.schema for p in parts])
        schema = SchemaBuilder.map(Schema.STRING_SCHEMA, val).build() if val is not None else None
        return SchemaAndValue(schema, dict(zip(value.keys(), (p.value for p in parts), strict=True)))
    return SchemaAndValue(Schema.STRING_SCHEMA, str(value))  # pragma: no cover


def parse_string(text: str) -> SchemaAndValue:
    """Kafka's ``Values.parseString``: infer the schema and value of a header's text."""
    if text == "":
        return SchemaAndValue(Schema.STRING_SCHEMA, "")
    if text == "null":
        return SchemaAndValue(None, None)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return SchemaAndValue(Schema.BOOLEAN_SCHEMA, lowered == "true")
    if _NUMBER.fullmatch(text):
        return _parse_number(text)
    m = _TIMESTAMP.fullmatch(text)
    if m:
        y, mo, d, h, mi, s, ms = map(int, m.groups())
        try:
            return SchemaAndValue(
                Timestamp.SCHEMA, _dt.datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=_dt.UTC)
            )
        except ValueError:
            pass
    m = _DATE.fullmatch(text)
    if m:
        try:
            return SchemaAndValue(Date.SCHEMA, _dt.date(*map(int, m.groups())))
        except ValueError:
            pass
    m = _TIME.fullmatch(text)
    if m:
        h, mi, s, ms = map(int, m.groups())
        try:
            return SchemaAndValue(Time.SCHEMA, _dt.time(h, mi, s, ms * 1000))
        except ValueError:
            pass
    if (text[0] == "[" and text[-1] == "]") or (text[0] == "{" and text[-1] == "}"):
        try:
            return _from_json(orjson.loads(text))
        except orjson.JSONDecodeError:
            pass
    return SchemaAndValue(Schema.STRING_SCHEMA, text)


class SimpleHeaderConverter(HeaderConverter):
    """Headers as plain text, with the schema inferred when reading (Kafka's default header converter)."""

    def configure(self, configs: Mapping[str, Any]) -> None:
        pass

    def config(self) -> ConfigDef:
        return ConfigDef()

    def from_connect_header(
        self, topic: str, header_key: str, schema: Schema | None, value: Any
    ) -> bytes | None:
        if value is None:
            return None
        return convert_to_string(schema, value).encode("utf-8")

    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue:
        if value is None:
            return SchemaAndValue(None, None)
        try:
            return parse_string(bytes(value).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, decimal.InvalidOperation):
            return SchemaAndValue(Schema.BYTES_SCHEMA, bytes(value))
