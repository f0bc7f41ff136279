"""Java ``.properties`` text, parsed as ``java.util.Properties.load`` does.

Used for the broker's ``server.properties`` and, through ``connect.config_providers``, for worker and
connector ``.properties`` files, so one parser serves both. Stdlib only.

Rules: ``#`` and ``!`` start comment lines; the key ends at the first unescaped ``=``, ``:`` or
whitespace; a line ending in an odd number of backslashes continues on the next line (its leading
whitespace dropped); ``\\t \\n \\r \\f \\uXXXX`` are escapes and any other escaped character stands
for itself (``\\\\`` is one backslash, ``\\=`` an equals sign in a key).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = ["PropertiesError", "parse_properties"]

_ESCAPES: Final = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


class PropertiesError(ValueError):
    """Malformed properties text (a bad ``\\uXXXX`` escape)."""


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _logical_lines(text: str) -> Iterable[str]:
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip(" \t\f")
        i += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip(" \t\f")
            i += 1
        if _continues(line):
            line = line[:-1]
        yield line


def _unescape(s: str) -> str:
    if "\\" not in s:
        return s
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\" or i + 1 >= len(s):
            out.append(c)
            i += 1
            continue
        nxt = s[i + 1]
        if nxt == "u":
            digits = s[i + 2 : i + 6]
            if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise PropertiesError("Malformed \\uxxxx encoding in properties text")
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def parse_properties(text: str) -> dict[str, str]:
    """Parse ``.properties`` text into a dict (later keys win). PropertiesError on a bad escape."""
    props: dict[str, str] = {}
    for line in _logical_lines(text):
        i = 0
        key_end = len(line)
        while i < len(line):
            c = line[i]
            if c == "\\":
                i += 2
                continue
            if c in "=: \t\f":
                key_end = i
                break
            i += 1
        key = line[:key_end]
        rest = line[key_end:].lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(" \t\f")
        props[_unescape(key)] = _unescape(rest)
    return props
