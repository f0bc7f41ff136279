"""Java's text forms of numbers and JSON strings, as Kafka's Jackson-based converters write them.

``Double.toString`` / ``Float.toString`` (JDK 19+ shortest-decimal algorithm): plain notation for
``1e-3 <= |x| < 1e7`` (``100.0``, ``0.001``), computerized scientific notation otherwise (``1.0E7``,
``1.5E-5``), and the shortest digits that round-trip — except that when one digit suffices, the closer
of the one- and two-digit candidates is used (``4.9E-324``). Jackson quotes non-finite numbers
(``"NaN"``, ``"Infinity"``) because ``QUOTE_NON_NUMERIC_NUMBERS`` is on by default.
"""

from __future__ import annotations

import decimal
import math
import re
import struct
from fractions import Fraction
from typing import Final

__all__ = ["f32", "jacksonize", "java_double", "java_float", "json_double", "json_float", "json_string"]

_F32: Final = struct.Struct("<f")
_U32: Final = struct.Struct("<I")
_TWO_DIGITS: Final = decimal.Context(prec=2, rounding=decimal.ROUND_HALF_EVEN)


def f32(x: float) -> float:
    """``x`` rounded to the nearest IEEE binary32 value (±inf beyond its range), as a Python float."""
    try:
        return float(_F32.unpack(_F32.pack(x))[0])
    except OverflowError:
        return math.copysign(math.inf, x)


def _digits_of_repr(r: str) -> tuple[str, int]:
    """Digits (no leading/trailing zeros) and point position of a positive float's repr."""
    mantissa, _, exp = r.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", point


def _two_digit_rule(x: float, digits: str, point: int, rounds_back: object) -> tuple[str, int]:
    """JDK 19+: when one digit is enough, pick the closest of the 1- and 2-digit candidates."""
    if len(digits) != 1:
        return digits, point
    exact = decimal.Decimal(x)
    two = _TWO_DIGITS.plus(exact)
    assert callable(rounds_back)
    if rounds_back(two):
        _sign, tdigits, texp = two.as_tuple()
        assert isinstance(texp, int)
        text = "".join(map(str, tdigits))
        tpoint = len(text) + texp
        text = text.rstrip("0") or "0"
        return text, tpoint
    return digits, point


def _layout(negative: bool, digits: str, point: int, plain: bool) -> str:
    sign = "-" if negative else ""
    if plain:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}.0"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{point - 1}"


def java_double(x: float) -> str:
    """``Double.toString(x)``."""
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    ax = abs(x)
    digits, point = _digits_of_repr(repr(ax))
    digits, point = _two_digit_rule(ax, digits, point, lambda d: float(d) == ax)
    return _layout(x < 0, digits, point, -2 <= point <= 7)


def _f32_neighbours(v: float) -> tuple[Fraction, Fraction]:
    """The rounding interval bounds (midpoints to the neighbouring binary32 values) of positive ``v``."""
    bits = _U32.unpack(_F32.pack(v))[0]
    lower = float(_F32.unpack(_U32.pack(bits - 1))[0]) if bits > 0 else 0.0
    upper = float(_F32.unpack(_U32.pack(bits + 1))[0])
    fv = Fraction(v)
    upper_exact = Fraction(2**128) if math.isinf(upper) else Fraction(upper)
    return (fv + Fraction(lower)) / 2, (fv + upper_exact) / 2


def java_float(x: float) -> str:
    """``Float.toString((float) x)``."""
    v = f32(x)
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0.0:
        return "-0.0" if math.copysign(1.0, v) < 0 else "0.0"
    av = abs(v)
    lo, hi = _f32_neighbours(av)
    even = _U32.unpack(_F32.pack(av))[0] % 2 == 0

    def rounds_back(d: decimal.Decimal) -> bool:
        q = Fraction(d)
        return lo < q < hi or (even and q in (lo, hi))

    digits, point = "", 0
    for precision in range(1, 10):
        candidate = decimal.Context(prec=precision, rounding=decimal.ROUND_HALF_EVEN).plus(
            decimal.Decimal(av)
        )
        if rounds_back(candidate):
            _sign, tdigits, texp = candidate.as_tuple()
            assert isinstance(texp, int)
            text = "".join(map(str, tdigits))
            point = len(text) + texp
            digits = text.rstrip("0") or "0"
            break
    digits, point = _two_digit_rule(av, digits, point, rounds_back)
    return _layout(v < 0, digits, point, -2 <= point <= 7)


def json_double(x: float) -> str:
    """A double as Jackson writes it in JSON (non-finite values quoted)."""
    text = java_double(x)
    return f'"{text}"' if text[-1] in "yN" else text


def json_float(x: float) -> str:
    """A float32 as Jackson writes it in JSON (non-finite values quoted)."""
    text = java_float(x)
    return f'"{text}"' if text[-1] in "yN" else text


_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
for _c in range(0x20):
    _ESCAPES.setdefault(chr(_c), f"\\u{_c:04X}")
del _c
_NEEDS_ESCAPE: Final = re.compile(r'["\\\x00-\x1f\U00010000-\U0010ffff]')


def _surrogates(code: int) -> str:
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}"


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    escaped = _ESCAPES.get(c)
    return escaped if escaped is not None else _surrogates(ord(c))


def json_string(s: str) -> str:
    """A JSON string literal as Jackson writes it: control characters as upper-case ``\\u00XX`` and
    characters beyond the BMP as escaped surrogate pairs (``\\uD83D\\uDE00``)."""
    return '"' + _NEEDS_ESCAPE.sub(_escape, s) + '"'


_ORJSON_LOWER_ESCAPE: Final = re.compile(rb"\\(\\|u00[01][0-9a-f]|.)", re.DOTALL)
_FOUR_BYTE_UTF8: Final = re.compile(rb"[\xf0-\xf4][\x80-\xbf]{3}")


def _upper_escape(m: re.Match[bytes]) -> bytes:
    token = m.group(0)
    return token.upper().replace(b"\\U", b"\\u") if token.startswith(b"\\u") else token


def _escape_supplementary(m: re.Match[bytes]) -> bytes:
    return _surrogates(ord(m.group().decode("utf-8"))).encode("ascii")


def jacksonize(data: bytes) -> bytes:
    """Turn orjson's output into Jackson's: upper-case ``\\u00XX`` escapes (orjson writes lower case) and
    surrogate-pair escapes for characters beyond the BMP (orjson writes them as UTF-8)."""
    if b"\\u00" in data:
        data = _ORJSON_LOWER_ESCAPE.sub(_upper_escape, data)
    if not data.isascii():
        data = _FOUR_BYTE_UTF8.sub(_escape_supplementary, data)
    return data
