"""MultiplyValue: a single message transformation that multiplies numeric record values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from connect.api import ConfigDef, ConnectRecord, DataException, Schema, Transformation, Type

R = TypeVar("R", bound=ConnectRecord)

CONFIG = ConfigDef().define("factor", "long", 2, "high", "What to multiply each value by.")

_NUMERIC = frozenset({Type.INT8, Type.INT16, Type.INT32, Type.INT64, Type.FLOAT32, Type.FLOAT64})


class MultiplyValue(Transformation[R]):
    """``value * factor`` for numeric values (with a numeric schema, or schemaless ints and floats).

    Null values (tombstones) pass unchanged; anything else is a DataException, which the runtime
    handles according to ``errors.tolerance``.
    """

    aliases = ("Multiply",)

    def __init__(self) -> None:
        self._factor = 2

    def config(self) -> ConfigDef:
        return CONFIG

    def configure(self, props: Mapping[str, Any]) -> None:
        self._factor = CONFIG.parse(props)["factor"]

    def apply(self, record: R) -> R:
        value = record.value
        if value is None:
            return record
        schema = record.value_schema
        if schema is not None and schema.type not in _NUMERIC:
            raise DataException(f"MultiplyValue needs a numeric value schema, got {schema.type.name}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataException(f"MultiplyValue needs a number, got {type(value).__name__}")
        result = value * self._factor
        if schema is not None:
            Schema.validate_value(schema, result)  # e.g. an INT32 that overflowed
        return record.new_record(value=result)
