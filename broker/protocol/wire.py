"""Primitive readers and writers for Kafka's wire types, used by the hand-written hot paths.

A :class:`Reader` walks a read-only ``memoryview`` and raises :class:`ProtocolError` on any
out-of-bounds or invalid value, so a malformed frame never escapes as an IndexError.
"""

from __future__ import annotations

import struct

from kafka_common.codec import ProtocolError

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")

pack_i16 = _I16.pack
pack_i32 = _I32.pack
pack_i64 = _I64.pack


def pack_uvarint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def pack_string(value: str | None) -> bytes:
    if value is None:
        return b"\xff\xff"
    b = value.encode()
    return _I16.pack(len(b)) + b


def pack_compact_string(value: str | None) -> bytes:
    if value is None:
        return b"\x00"
    b = value.encode()
    return pack_uvarint(len(b) + 1) + b


class Reader:
    """Sequential reader over a frame. ``flexible`` selects compact strings/arrays + tagged fields."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: memoryview, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf)

    def _need(self, n: int) -> int:
        p = self.pos
        if n < 0 or p + n > self.end:
            raise ProtocolError(f"truncated frame: need {n} bytes at {p}, have {self.end - p}")
        self.pos = p + n
        return p

    def int8(self) -> int:
        return int(_I8.unpack_from(self.buf, self._need(1))[0])

    def int16(self) -> int:
        return int(_I16.unpack_from(self.buf, self._need(2))[0])

    def int32(self) -> int:
        return int(_I32.unpack_from(self.buf, self._need(4))[0])

    def int64(self) -> int:
        return int(_I64.unpack_from(self.buf, self._need(8))[0])

    def uvarint(self) -> int:
        result = 0
        shift = 0
        while True:
            b = self.buf[self._need(1)]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 35:
                raise ProtocolError("varint too long")

    def string(self, flexible: bool = False) -> str | None:
        n = self.uvarint() - 1 if flexible else self.int16()
        if n < 0:
            return None
        p = self._need(n)
        try:
            return bytes(self.buf[p : p + n]).decode()
        except UnicodeDecodeError:
            raise ProtocolError("string is not valid UTF-8") from None

    def bytes_view(self, flexible: bool = False) -> memoryview | None:
        """Nullable bytes as a zero-copy view into the frame."""
        n = self.uvarint() - 1 if flexible else self.int32()
        if n < 0:
            return None
        p = self._need(n)
        return self.buf[p : p + n]

    def array_len(self, flexible: bool = False) -> int:
        n = self.uvarint() - 1 if flexible else self.int32()
        if n > self.end - self.pos:  # every element takes at least one byte
            raise ProtocolError(f"array length {n} exceeds frame")
        return n

    def skip_tagged_fields(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self._need(self.uvarint())
