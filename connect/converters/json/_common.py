"""Names and ranges the JSON writer and reader share."""

from __future__ import annotations

import datetime as _dt
from typing import Final

from connect.api.data import (
    Date,
    Decimal,
    Time,
    Timestamp,
    Type,
)

_DECIMAL_NAME: Final = Decimal.LOGICAL_NAME
_DATE_NAME: Final = Date.LOGICAL_NAME
_TIME_NAME: Final = Time.LOGICAL_NAME
_TIMESTAMP_NAME: Final = Timestamp.LOGICAL_NAME
_LOGICAL: Final = frozenset({_DECIMAL_NAME, _DATE_NAME, _TIME_NAME, _TIMESTAMP_NAME})
_EPOCH_ORDINAL: Final = _dt.date(1970, 1, 1).toordinal()

_INT_RANGES: Final = {
    Type.INT8: (-(2**7), 2**7 - 1),
    Type.INT16: (-(2**15), 2**15 - 1),
    Type.INT32: (-(2**31), 2**31 - 1),
    Type.INT64: (-(2**63), 2**63 - 1),
}
