"""``JsonConverter`` and its configuration (see :mod:`connect.converters.json`)."""

from __future__ import annotations

import decimal
import enum
import json as _stdjson
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from connect.api.config import AbstractConfig, CaseInsensitiveValidString, ConfigDef, Range, ValidString
from connect.api.converter import BatchConverter, HeaderConverter
from connect.api.data import (
    Schema,
    SchemaAndValue,
    Type,
)
from connect.api.errors import DataException
from connect.api.records import Headers
from connect.converters._javafmt import (
    jacksonize,
)
from connect.converters.json._reader import Reader, _ReadCompiler, _Reparse
from connect.converters.json._schema import schema_from_json, schema_to_json
from connect.converters.json._writer import (
    _DUMPS_OPTS,
    Prep,
    _default,
    _Exact,
    _FastCompiler,
    _prep_schemaless,
    _schemaless_default,
    _Slow,
)

__all__ = ["DecimalFormat", "JsonConverter", "JsonConverterConfig"]


class DecimalFormat(enum.Enum):
    BASE64 = "BASE64"
    NUMERIC = "NUMERIC"


class JsonConverterConfig:
    """Configuration keys of :class:`JsonConverter` (Kafka's names and defaults)."""

    SCHEMAS_ENABLE_CONFIG: Final = "schemas.enable"
    SCHEMAS_CACHE_SIZE_CONFIG: Final = "schemas.cache.size"
    DECIMAL_FORMAT_CONFIG: Final = "decimal.format"
    REPLACE_NULL_WITH_DEFAULT_CONFIG: Final = "replace.null.with.default"
    TYPE_CONFIG: Final = "converter.type"

    CONFIG_DEF: Final = (
        ConfigDef()
        .define(
            "converter.type",
            "string",
            None,
            "low",
            "How this converter will be used (set by the runtime).",
            validator=ValidString.in_("key", "value", "header"),
        )
        .define(
            "schemas.enable",
            "boolean",
            True,
            "high",
            "Include schemas within each of the serialized values and keys.",
            group="Schemas",
            display_name="Enable Schemas",
        )
        .define(
            "schemas.cache.size",
            "int",
            1000,
            "high",
            "The maximum number of schemas that can be cached in this converter instance.",
            validator=Range.at_least(0),
            group="Schemas",
            display_name="Schema Cache Size",
        )
        .define(
            "decimal.format",
            "string",
            "BASE64",
            "low",
            "Controls which format this converter will serialize decimals in. This value is case insensitive "
            "and can be either 'BASE64' (default) or 'NUMERIC'",
            validator=CaseInsensitiveValidString.in_("BASE64", "NUMERIC"),
            group="Serialization",
            display_name="Decimal Format",
        )
        .define(
            "replace.null.with.default",
            "boolean",
            True,
            "low",
            "Whether to replace fields that have a default value and that are null to the default value. "
            "When set to true, the default value is used, otherwise null is used.",
            group="Serialization",
            display_name="Replace null with default",
        )
    )


_ENVELOPE_START: Final = b'{"schema":'
_PAYLOAD_KEY: Final = b',"payload":'


# --- the converter ----------------------------------------------------------------------------------------


class JsonConverter(BatchConverter, HeaderConverter):
    """Kafka's JSON converter (also usable as a header converter). See the module docstring."""

    def __init__(self) -> None:
        self._configure_from(AbstractConfig(JsonConverterConfig.CONFIG_DEF, {}))

    def config(self) -> ConfigDef:
        return JsonConverterConfig.CONFIG_DEF

    def configure(self, configs: Mapping[str, Any], is_key: bool = False) -> None:
        """``configure(configs, is_key)`` as a Converter; ``configure(configs)`` as a HeaderConverter."""
        props = dict(configs)
        props.setdefault("converter.type", "key" if is_key else "value")
        self._configure_from(AbstractConfig(JsonConverterConfig.CONFIG_DEF, props))

    def _configure_from(self, config: AbstractConfig) -> None:
        self.schemas_enabled: bool = bool(config.get("schemas.enable"))
        self.cache_size: int = int(config.get("schemas.cache.size"))
        fmt = str(config.get("decimal.format")).upper()
        self.decimal_format = DecimalFormat(fmt)
        self.replace_null_with_default: bool = bool(config.get("replace.null.with.default"))
        numeric = self.decimal_format is DecimalFormat.NUMERIC
        self._exact = _Exact(numeric, self.replace_null_with_default)
        self._fast = _FastCompiler(numeric, self.replace_null_with_default)
        self._read = _ReadCompiler(self.replace_null_with_default)
        # schema -> (bytes before the payload, prep function)
        self._from_cache: dict[Schema, tuple[bytes, Prep]] = {}
        # JSON text of a schema -> (schema, reader)
        self._to_cache: dict[bytes, tuple[Schema, Reader]] = {}
        # recently seen message prefixes '{"schema":<schema>,"payload":' -> (schema, reader)
        self._prefixes: list[tuple[bytes, int, Schema, Reader]] = []

    # --- Connect -> bytes ---------------------------------------------------------------------------------

    def as_json_schema(self, schema: Schema) -> bytes:
        """Kafka's JSON form of ``schema`` (compact UTF-8)."""
        return schema_to_json(schema, self._exact).encode()

    def _compile_from(self, schema: Schema) -> tuple[bytes, Prep]:
        if self.schemas_enabled:
            head = _ENVELOPE_START + self.as_json_schema(schema) + _PAYLOAD_KEY
        else:
            head = b""
        prep = self._fast.prep(schema)
        if schema.type is not Type.STRUCT:
            # struct fields were validated when put; a bare value is checked here, as Kafka's casts do
            check = schema.value_checker()
            inner = prep

            def prep(value: Any) -> Any:
                check(value, "")
                return inner(value)

        entry = (head, prep)
        cache = self._from_cache
        if len(cache) >= self.cache_size > 0:
            del cache[next(iter(cache))]
            if len(self._fast.cache) > 4 * self.cache_size:
                self._fast.clear()
        if self.cache_size > 0:
            cache[schema] = entry
        return entry

    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if schema is None:
            if value is None:
                return None
            body = self._schemaless_body(value)
            return b'{"schema":null,"payload":' + body + b"}" if self.schemas_enabled else body
        entry = self._from_cache.get(schema)
        if entry is None:
            entry = self._compile_from(schema)
        head, prep = entry
        try:
            body = orjson.dumps(prep(value), default=_default, option=_DUMPS_OPTS)
        except _Slow:
            body = self._exact_body(schema, value)
        except orjson.JSONEncodeError as e:
            raise DataException(
                f"Converting Kafka Connect data to byte[] failed due to serialization error: {e}"
            ) from e
        if b"\\u00" in body or not body.isascii():
            body = jacksonize(body)
        if self.schemas_enabled:
            return b"".join((head, body, b"}"))
        return body

    def _exact_body(self, schema: Schema | None, value: Any) -> bytes:
        try:
            return self._exact.write(schema, value).encode()
        except UnicodeEncodeError as e:
            raise DataException(
                f"Converting Kafka Connect data to byte[] failed due to serialization error: {e}"
            ) from e

    def _schemaless_body(self, value: Any) -> bytes:
        try:
            body = orjson.dumps(_prep_schemaless(value), default=_schemaless_default, option=_DUMPS_OPTS)
        except (_Slow, orjson.JSONEncodeError):
            return self._exact_body(None, value)
        if b"\\u00" in body or not body.isascii():
            body = jacksonize(body)
        return body

    # --- bytes -> Connect ---------------------------------------------------------------------------------

    def to_connect_data(
        self, topic: str, value: bytes | None, headers: Headers | None = None
    ) -> SchemaAndValue:
        if value is None:
            return SchemaAndValue.NULL
        if value.__class__ is not bytes:
            value = bytes(value)
        if not self.schemas_enabled:
            try:
                return SchemaAndValue(None, orjson.loads(value))
            except orjson.JSONDecodeError:
                return self._to_connect_slow(value)
        if value.startswith(_ENVELOPE_START) and value.endswith(b"}"):
            prefixes = self._prefixes
            for i, (prefix, n, schema, reader) in enumerate(prefixes):
                if value.startswith(prefix):
                    try:
                        payload = orjson.loads(memoryview(value)[n:-1])
                    except orjson.JSONDecodeError:
                        break
                    if i:
                        prefixes.insert(0, prefixes.pop(i))
                    try:
                        return SchemaAndValue(schema, reader(payload))
                    except _Reparse:
                        return SchemaAndValue(schema, self._reparse(reader, value))
        return self._to_connect_slow(value)

    def to_connect_batch(
        self, topics: Sequence[str], values: Sequence[bytes | None]
    ) -> tuple[list[Schema | None], list[Any]]:
        """``to_connect_data(topics[i], values[i])`` for every i, as two lists (schemas, values).

        The same results, exceptions included (the first failing value's exception propagates and the
        rest are not read), and no side effect other than on this converter's caches, so a caller may
        convert the same values again one by one after an exception (the
        :class:`~connect.api.converter.BatchConverter` contract). Values that start with the most
        recently used schema prefix are read inline; any other value goes through ``to_connect_data``.
        """
        schemas: list[Schema | None] = []
        out: list[Any] = []
        add_schema = schemas.append
        add = out.append
        if not self.schemas_enabled:
            return self.to_connect_each(topics, values)
        one = self.to_connect_data
        prefixes = self._prefixes
        loads = orjson.loads
        prefix, n, schema, reader = prefixes[0] if prefixes else _NO_PREFIX
        for topic, value in zip(topics, values, strict=True):
            # The inline read is to_connect_data's prefix path: exactly one cached prefix can match
            # (a complete JSON object cannot be a proper prefix of another), and anything it cannot
            # read (JSON errors, _Reparse, invalid data) is redone by to_connect_data itself.
            if value.__class__ is bytes and value.startswith(prefix) and value[-1] == 125:  # type: ignore[union-attr,index]
                try:
                    read = reader(loads(value[n:-1]))  # type: ignore[index]
                except Exception:
                    pass
                else:
                    add_schema(schema)
                    add(read)
                    continue
            sv = one(topic, value)
            add_schema(sv.schema)
            add(sv.value)
            prefix, n, schema, reader = prefixes[0] if prefixes else _NO_PREFIX
        return schemas, out

    def _to_connect_slow(self, value: bytes) -> SchemaAndValue:
        try:
            doc = orjson.loads(value) if value.strip() else _MISSING
        except orjson.JSONDecodeError as e:
            doc = self._stdlib_loads(value, e)
        if not self.schemas_enabled:
            return SchemaAndValue(None, None if doc is _MISSING else doc)
        if doc.__class__ is not dict or len(doc) != 2 or "schema" not in doc or "payload" not in doc:
            raise DataException(
                'JsonConverter with schemas.enable requires "schema" and "payload" fields and may not '
                "contain additional fields. If you are trying to deserialize plain JSON data, set "
                "schemas.enable=false in your converter configuration."
            )
        schema_node = doc["schema"]
        payload = doc["payload"]
        if schema_node is None:
            return SchemaAndValue(None, payload)
        key = orjson.dumps(schema_node)
        entry = self._to_cache.get(key)
        if entry is None:
            schema = schema_from_json(schema_node, self._read)
            entry = (schema, self._read.reader(schema))
            if len(self._to_cache) >= self.cache_size > 0:
                del self._to_cache[next(iter(self._to_cache))]
                if len(self._read.cache) > 4 * self.cache_size:
                    self._read.cache.clear()
                    self._read.nn_cache.clear()
            if self.cache_size > 0:
                self._to_cache[key] = entry
        schema, reader = entry
        prefix = _ENVELOPE_START + key + _PAYLOAD_KEY
        if value.startswith(prefix) and self.cache_size > 0:
            self._prefixes.insert(0, (prefix, len(prefix), schema, reader))
            del self._prefixes[8:]
        return SchemaAndValue(schema, self._read_payload(reader, payload, value))

    def _read_payload(self, reader: Reader, payload: Any, raw: bytes) -> Any:
        try:
            return reader(payload)
        except _Reparse:
            return self._reparse(reader, raw)

    def _reparse(self, reader: Reader, raw: bytes) -> Any:
        """Read again with exact decimals (a NUMERIC Decimal field held a non-integral JSON number)."""
        exact = _stdjson.loads(raw, parse_float=decimal.Decimal, parse_constant=_reject_constant)
        return reader(exact["payload"] if self.schemas_enabled else exact)

    @staticmethod
    def _stdlib_loads(value: bytes, error: Exception) -> Any:
        # orjson rejects numbers outside the double range (Jackson reads them as BigDecimal/BigInteger).
        try:
            return _stdjson.loads(value, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError):
            raise DataException(
                f"Converting byte[] to Kafka Connect data failed due to serialization error: {error}"
            ) from error

    # --- HeaderConverter ----------------------------------------------------------------------------------

    def from_connect_header(
        self, topic: str, header_key: str, schema: Schema | None, value: Any
    ) -> bytes | None:
        return self.from_connect_data(topic, schema, value)

    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue:
        return self.to_connect_data(topic, value)

    def close(self) -> None:
        self._from_cache.clear()
        self._to_cache.clear()
        self._prefixes.clear()


_MISSING: Final[Any] = object()


def _no_schema_reader(value: Any) -> Any:
    raise DataException("no cached schema")


# No cached prefix yet: a prefix no envelope starts with (they start with '{'); a value that does start
# with it fails in the reader and goes through to_connect_data like any other unread value.
_NO_PREFIX: Final[tuple[bytes, int, Schema | None, Reader]] = (b"\x00", 1, None, _no_schema_reader)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}'")
