"""Record schemas -> table columns (for auto.create and auto.evolve) and record values -> the values
the database driver binds, per dialect.

=============================================  ============================================================
Connect / Debezium schema                      column (PostgreSQL / MySQL, MariaDB / SQLite)
=============================================  ============================================================
INT8, INT16 / INT32 / INT64                    SMALLINT / INTEGER / BIGINT
FLOAT32 / FLOAT64                              REAL / DOUBLE PRECISION (DOUBLE)
BOOLEAN                                        BOOLEAN
STRING                                         TEXT (VARCHAR(255) for MySQL key columns)
BYTES                                          BYTEA / LONGBLOB (VARBINARY(255) for keys) / BLOB
Decimal (scale s, connect.decimal.precision p)  NUMERIC(p or 38, s); SQLite: TEXT (exact digits)
io.debezium.data.VariableScaleDecimal          NUMERIC / DECIMAL(65,30); SQLite: TEXT
Date, io.debezium.time.Date                    DATE
Time, io.debezium.time.Time/MicroTime/NanoTime TIME (MySQL TIME(6))
Timestamp, io.debezium.time.Timestamp/         TIMESTAMP without zone (MySQL DATETIME(6)), UTC values
  MicroTimestamp/NanoTimestamp
io.debezium.time.ZonedTimestamp                TIMESTAMP WITH TIME ZONE (MySQL DATETIME(6) in UTC)
io.debezium.data.Json                          JSONB / JSON / JSON (text)
io.debezium.data.Uuid                          UUID / CHAR(36) / CHAR(36)
ARRAY, MAP, STRUCT                             JSON
=============================================  ============================================================
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from connect.api import DataException, Schema, Struct, Type

__all__ = ["column_type", "json_text", "value_converter"]

_EPOCH: Final = dt.datetime(1970, 1, 1)
_EPOCH_DATE: Final = dt.date(1970, 1, 1)
Convert = Callable[[Any], Any]


def _name(schema: Schema) -> str:
    return schema.name or ""


def column_type(schema: Schema, backend: str, key: bool = False) -> sa.types.TypeEngine[Any]:
    """The column type for a field of ``schema`` in a database of ``backend`` (SQLAlchemy's name)."""
    name, t = _name(schema), schema.type
    my = backend in ("mysql", "mariadb")
    if name == "org.apache.kafka.connect.data.Decimal":
        if backend == "sqlite":
            return sa.Text()
        params = schema.parameters or {}
        scale = int(params.get("scale", "0"))
        precision = int(params.get("connect.decimal.precision", "0")) or max(38, scale + 1)
        return sa.Numeric(min(precision, 65) if my else precision, scale)
    if name == "io.debezium.data.VariableScaleDecimal":
        if backend == "sqlite":
            return sa.Text()
        return sa.Numeric(65, 30) if my else sa.Numeric()
    if name in ("org.apache.kafka.connect.data.Date", "io.debezium.time.Date"):
        return sa.Date()
    if name in (
        "org.apache.kafka.connect.data.Time",
        "io.debezium.time.Time",
        "io.debezium.time.MicroTime",
        "io.debezium.time.NanoTime",
    ):
        return mysql.TIME(fsp=6) if my else sa.Time()
    if name in (
        "org.apache.kafka.connect.data.Timestamp",
        "io.debezium.time.Timestamp",
        "io.debezium.time.MicroTimestamp",
        "io.debezium.time.NanoTimestamp",
    ):
        return mysql.DATETIME(fsp=6) if my else sa.DateTime()
    if name == "io.debezium.time.ZonedTimestamp":
        return mysql.DATETIME(fsp=6) if my else sa.DateTime(timezone=True)
    if name == "io.debezium.data.Json":
        return postgresql.JSONB() if backend == "postgresql" else sa.JSON()
    if name == "io.debezium.data.Uuid":
        return postgresql.UUID(as_uuid=False) if backend == "postgresql" else sa.CHAR(36)
    if t in (Type.INT8, Type.INT16):
        return sa.SmallInteger()
    if t is Type.INT32:
        return sa.Integer()
    if t is Type.INT64:
        return sa.BigInteger()
    if t is Type.FLOAT32:
        return sa.REAL()
    if t is Type.FLOAT64:
        return mysql.DOUBLE() if my else sa.Double()
    if t is Type.BOOLEAN:
        return sa.Boolean()
    if t is Type.STRING:
        return sa.String(255) if key and my else sa.Text()
    if t is Type.BYTES:
        if my:
            return mysql.VARBINARY(255) if key else mysql.LONGBLOB()
        return sa.LargeBinary()
    if t in (Type.ARRAY, Type.MAP, Type.STRUCT):
        return postgresql.JSONB() if backend == "postgresql" else sa.JSON()
    raise DataException(f"no column type for schema {schema!r}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Struct):
        return {k: _jsonable(v) for k, v in value.values.items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def _zoned(value: Any) -> dt.datetime:
    text = str(value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return dt.datetime.fromisoformat(text)


def _vsd(value: Any) -> decimal.Decimal:
    scale = value.values.get("scale") or 0
    raw = value.values.get("value") or b"\x00"
    return decimal.Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale)


def _json_object(v: Any) -> Any:
    return json.loads(v)


def _json_value(v: Any) -> Any:
    return _jsonable(v)


_json_object.json_object = True  # type: ignore[attr-defined]
_json_value.json_object = True  # type: ignore[attr-defined]


def json_text(schema: Schema) -> Convert | None:
    """The converter for a JSON-ish field written into a text column."""
    if schema.name == "io.debezium.data.Json":
        return None
    return lambda v: json.dumps(_jsonable(v))


def value_converter(schema: Schema, backend: str) -> Convert | None:
    """A function turning a field's Connect value into what the driver binds, or None when the value
    binds as it is (the common case, kept free of per-value calls)."""
    name, t = _name(schema), schema.type
    sqlite = backend == "sqlite"
    my = backend in ("mysql", "mariadb")
    if name == "org.apache.kafka.connect.data.Decimal":
        return str if sqlite else None
    if name == "io.debezium.data.VariableScaleDecimal":
        return (lambda v: str(_vsd(v))) if sqlite else _vsd
    if name == "io.debezium.time.Date":
        return lambda v: _EPOCH_DATE + dt.timedelta(days=v)
    if name == "io.debezium.time.Time":
        return lambda v: (_EPOCH + dt.timedelta(milliseconds=v)).time()
    if name == "io.debezium.time.MicroTime":
        return lambda v: (_EPOCH + dt.timedelta(microseconds=v)).time()
    if name == "io.debezium.time.NanoTime":
        return lambda v: (_EPOCH + dt.timedelta(microseconds=v // 1000)).time()
    if name == "io.debezium.time.Timestamp":
        return lambda v: _EPOCH + dt.timedelta(milliseconds=v)
    if name == "io.debezium.time.MicroTimestamp":
        return lambda v: _EPOCH + dt.timedelta(microseconds=v)
    if name == "io.debezium.time.NanoTimestamp":
        return lambda v: _EPOCH + dt.timedelta(microseconds=v // 1000)
    if name == "org.apache.kafka.connect.data.Timestamp":
        # Connect timestamps are instants; columns without a zone hold UTC (db.timezone=UTC)
        return lambda v: v.astimezone(dt.UTC).replace(tzinfo=None) if v.tzinfo else v
    if name == "io.debezium.time.ZonedTimestamp":
        if my:
            return lambda v: _zoned(v).astimezone(dt.UTC).replace(tzinfo=None)
        return _zoned
    if name == "io.debezium.data.Json":
        return _json_object  # the JSON column type serializes it again (no double encoding)
    if t in (Type.ARRAY, Type.MAP, Type.STRUCT):
        return _json_value
    if t is Type.BYTES:
        return lambda v: bytes(v) if not isinstance(v, bytes) else v
    return None
