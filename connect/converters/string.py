"""``StringConverter`` and ``ByteArrayConverter``.

Kafka's ``org.apache.kafka.connect.storage.StringConverter`` and
``org.apache.kafka.connect.converters.ByteArrayConverter``.
"""

from __future__ import annotations

import codecs
import decimal
from collections.abc import Mapping, Sequence
from typing import Any

from connect.api.config import AbstractConfig, ConfigDef, ValidString
from connect.api.converter import BatchConverter, Converter, HeaderConverter
from connect.api.data import Schema, SchemaAndValue, Type
from connect.api.errors import ConfigException, DataException
from connect.api.records import Headers
from connect.converters._javafmt import java_double

__all__ = ["ByteArrayConverter", "StringConverter"]

_TYPE_KEY = "converter.type"


def _string_config() -> ConfigDef:
    return (
        ConfigDef()
        .define(
            _TYPE_KEY,
            "string",
            None,
            "low",
            "How this converter will be used (set by the runtime).",
            validator=ValidString.in_("key", "value", "header"),
        )
        .define(
            "converter.encoding",
            "string",
            "UTF8",
            "high",
            "The name of the character encoding used to turn strings into bytes and back.",
            group="Converter",
            display_name="Encoding",
        )
    )


_STRING_CONFIG = _string_config()


def _text(value: Any) -> str:
    """Java's ``toString()`` for the values a Connect record may carry."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)


class StringConverter(Converter, HeaderConverter):
    """Writes ``str(value)`` encoded with ``converter.encoding`` (default UTF-8), ignoring the schema;
    reads an optional STRING. ``bytes`` values are written unchanged. Also a header converter."""

    def __init__(self) -> None:
        self.encoding = "utf-8"

    def config(self) -> ConfigDef:
        return _STRING_CONFIG

    def configure(self, configs: Mapping[str, Any], is_key: bool = False) -> None:
        props = dict(configs)
        props.setdefault(_TYPE_KEY, "key" if is_key else "value")
        config = AbstractConfig(_STRING_CONFIG, props)
        name = str(config.get("converter.encoding"))
        try:
            self.encoding = codecs.lookup(name).name
        except LookupError:
            raise ConfigException("converter.encoding", name, "Unknown character encoding") from None

    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        try:
            return _text(value).encode(self.encoding)
        except UnicodeEncodeError as e:
            raise DataException(f"Failed to serialize to a string: {e}") from e

    def to_connect_data(
        self, topic: str, value: bytes | None, headers: Headers | None = None
    ) -> SchemaAndValue:
        if value is None:
            return SchemaAndValue(Schema.OPTIONAL_STRING_SCHEMA, None)
        try:
            return SchemaAndValue(Schema.OPTIONAL_STRING_SCHEMA, bytes(value).decode(self.encoding))
        except UnicodeDecodeError as e:
            raise DataException(f"Failed to deserialize string: {e}") from e

    def from_connect_header(
        self, topic: str, header_key: str, schema: Schema | None, value: Any
    ) -> bytes | None:
        return self.from_connect_data(topic, schema, value)

    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue:
        return self.to_connect_data(topic, value)


class ByteArrayConverter(BatchConverter, HeaderConverter):
    """Passes bytes through unchanged: the schema must be BYTES (or None), the value bytes-like or None;
    reads an optional BYTES. Also a header converter."""

    def configure(self, configs: Mapping[str, Any], is_key: bool = False) -> None:
        pass

    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if schema is not None and schema.type is not Type.BYTES:
            raise DataException(f"Invalid schema type for ByteArrayConverter: {schema.type.name}")
        if value is None:
            return None
        if not isinstance(value, bytes | bytearray | memoryview):
            raise DataException(
                f"ByteArrayConverter is not compatible with objects of type {type(value).__name__}"
            )
        return bytes(value)

    def to_connect_data(
        self, topic: str, value: bytes | None, headers: Headers | None = None
    ) -> SchemaAndValue:
        return SchemaAndValue(Schema.OPTIONAL_BYTES_SCHEMA, None if value is None else bytes(value))

    def to_connect_batch(
        self, topics: Sequence[str], values: Sequence[bytes | None]
    ) -> tuple[list[Schema | None], list[Any]]:
        """``to_connect_data`` for every value at once (:class:`~connect.api.converter.BatchConverter`):
        no per-record call and no SchemaAndValue for a converter that only passes bytes through."""
        schemas: list[Schema | None] = [Schema.OPTIONAL_BYTES_SCHEMA] * len(values)
        return schemas, [v if v is None or v.__class__ is bytes else bytes(v) for v in values]

    def from_connect_header(
        self, topic: str, header_key: str, schema: Schema | None, value: Any
    ) -> bytes | None:
        return self.from_connect_data(topic, schema, value)

    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue:
        return self.to_connect_data(topic, value)
