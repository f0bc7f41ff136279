"""``JsonConverter``: byte-for-byte compatible with Kafka's ``org.apache.kafka.connect.json.JsonConverter``.

With ``schemas.enable=true`` (the default) every message is an envelope
``{"schema":{...},"payload":...}`` carrying Kafka's JSON form of the Connect schema (``"type"``, then
``"items"`` / ``"keys"``,``"values"`` / ``"fields"``, then ``"optional"``, ``"name"``, ``"version"``,
``"doc"``, ``"parameters"``, ``"default"``; struct fields end with ``"field"``). With
``schemas.enable=false`` the payload is plain JSON and reads are schemaless (objects -> dict, integers ->
int, other numbers -> float). Logical types are written as Kafka does: Decimal as base64 of the unscaled
two's-complement bytes (or a JSON number with ``decimal.format=NUMERIC``), Date as INT32 days, Time as
INT32 milliseconds, Timestamp as INT64 milliseconds. Output is compact JSON exactly as Jackson writes it
(Java number formatting, ``\\u00XX`` escapes in upper case).

How it is fast: the JSON form of each schema is built once per :class:`Schema` object and cached as
bytes; values go through a per-schema function generated on first use (checks required fields, converts
logical types, fills defaults) that hands structs' own field dicts to orjson, copying only what must
change. Values Jackson would print differently from orjson (doubles outside ``[1e-3, 1e7)``,
non-finite numbers, NUMERIC decimals that are not short floats) take an exact, slower path. Reading
recognises messages that start with an already-seen schema and parses only their payload;
``to_connect_batch`` does that for a whole consumed batch (the sink runtime's path), and plain
primitive readers return a valid value without a second call.

Modules (private; this package exports only the names below): ``_schema`` (schema <-> JSON, over
:mod:`connect.api.json_schema`), ``_writer`` (exact and fast writers), ``_reader`` (compiled readers),
``_converter`` (the converter and its configuration), ``_common`` (names both directions share).
"""

from connect.converters.json._converter import DecimalFormat, JsonConverter, JsonConverterConfig

__all__ = ["DecimalFormat", "JsonConverter", "JsonConverterConfig"]

for _public in (DecimalFormat, JsonConverter, JsonConverterConfig):
    _public.__module__ = __name__  # documented and pickled under the public module
del _public
