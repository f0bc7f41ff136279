"""Decoder of PostgreSQL's ``pgoutput`` logical replication messages (protocol version 1).

Pure functions over ``bytes``: :func:`decode` turns one message (the payload of an XLogData ``w`` copy
message, after its 25-byte header) into a small tuple-like object. Column values stay raw: ``None``
for NULL, :data:`UNCHANGED` for an unchanged TOASTed value, else the value's text representation as
``bytes`` (type conversion is the caller's job, see :mod:`connectors.postgres.types`).

Message layout: https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, NamedTuple

__all__ = [
    "UNCHANGED",
    "Begin",
    "Commit",
    "Delete",
    "Insert",
    "RelColumn",
    "Relation",
    "Truncate",
    "TypeMsg",
    "Update",
    "decode",
    "read_tuple",
]


class _Unchanged:
    """Marks a TOASTed column whose value did not change and was not sent."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()

RawValue = bytes | None | _Unchanged

_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")
_U32: Final = struct.Struct(">I")
_BEGIN: Final = struct.Struct(">qqI")  # final_lsn, commit_ts, xid
_COMMIT: Final = struct.Struct(">bqqq")  # flags, commit_lsn, end_lsn, commit_ts


class Begin(NamedTuple):
    final_lsn: int
    commit_ts: int  # microseconds since 2000-01-01 UTC
    xid: int


class Commit(NamedTuple):
    commit_lsn: int
    end_lsn: int
    commit_ts: int


@dataclass(frozen=True, slots=True)
class RelColumn:
    key: bool  # part of the replica identity
    name: str
    type_oid: int
    typmod: int


@dataclass(frozen=True, slots=True)
class Relation:
    oid: int
    namespace: str
    name: str
    replica_identity: str  # d(efault), n(othing), f(ull), i(ndex)
    columns: tuple[RelColumn, ...]

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}"


class TypeMsg(NamedTuple):
    oid: int
    namespace: str
    name: str


class Insert(NamedTuple):
    relid: int
    new: list[RawValue]


class Update(NamedTuple):
    relid: int
    old: list[RawValue] | None  # full old row (REPLICA IDENTITY FULL) or old key ('K'), if sent
    old_is_key: bool
    new: list[RawValue]


class Delete(NamedTuple):
    relid: int
    old: list[RawValue]
    old_is_key: bool


class Truncate(NamedTuple):
    relids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


Message = Begin | Commit | Relation | TypeMsg | Insert | Update | Delete | Truncate | None


def _cstring(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(b"\x00", pos)
    return buf[pos:end].decode("utf-8"), end + 1


def read_tuple(buf: bytes, pos: int) -> tuple[list[RawValue], int]:
    """TupleData at ``pos``: the raw column values and the position after them."""
    (count,) = _I16.unpack_from(buf, pos)
    pos += 2
    values: list[RawValue] = []
    append = values.append
    unpack = _I32.unpack_from
    for _ in range(count):
        kind = buf[pos]
        if kind == 116 or kind == 98:  # 't' text, 'b' binary (not requested)
            (length,) = unpack(buf, pos + 1)
            start = pos + 5
            pos = start + length
            append(buf[start:pos])
        elif kind == 110:  # 'n' null
            append(None)
            pos += 1
        elif kind == 117:  # 'u' unchanged toast
            append(UNCHANGED)
            pos += 1
        else:
            raise ValueError(f"unknown pgoutput tuple value kind {kind!r}")
    return values, pos


def decode(buf: bytes) -> Message:
    """Decode one pgoutput message; None for kinds this connector ignores (origin, message, stream)."""
    kind = buf[0]
    if kind == 73:  # 'I'
        (relid,) = _U32.unpack_from(buf, 1)
        new, _ = read_tuple(buf, 6)  # 'N'
        return Insert(relid, new)
    if kind == 85:  # 'U'
        (relid,) = _U32.unpack_from(buf, 1)
        marker = buf[5]
        if marker == 78:  # 'N'
            new, _ = read_tuple(buf, 6)
            return Update(relid, None, False, new)
        old, pos = read_tuple(buf, 6)
        new, _ = read_tuple(buf, pos + 1)
        return Update(relid, old, marker == 75, new)
    if kind == 68:  # 'D'
        (relid,) = _U32.unpack_from(buf, 1)
        old, _ = read_tuple(buf, 6)
        return Delete(relid, old, buf[5] == 75)
    if kind == 66:  # 'B'
        final_lsn, ts, xid = _BEGIN.unpack_from(buf, 1)
        return Begin(final_lsn, ts, xid)
    if kind == 67:  # 'C'
        _flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(buf, 1)
        return Commit(commit_lsn, end_lsn, ts)
    if kind == 82:  # 'R'
        (oid,) = _U32.unpack_from(buf, 1)
        namespace, pos = _cstring(buf, 5)
        name, pos = _cstring(buf, pos)
        ident = chr(buf[pos])
        (ncols,) = _I16.unpack_from(buf, pos + 1)
        pos += 3
        cols: list[RelColumn] = []
        for _ in range(ncols):
            flags = buf[pos]
            colname, pos = _cstring(buf, pos + 1)
            type_oid, typmod = struct.unpack_from(">Ii", buf, pos)
            pos += 8
            cols.append(RelColumn(bool(flags & 1), colname, type_oid, typmod))
        return Relation(oid, namespace or "pg_catalog", name, ident, tuple(cols))
    if kind == 89:  # 'Y'
        (oid,) = _U32.unpack_from(buf, 1)
        namespace, pos = _cstring(buf, 5)
        name, _ = _cstring(buf, pos)
        return TypeMsg(oid, namespace, name)
    if kind == 84:  # 'T'
        (count,) = _I32.unpack_from(buf, 1)
        options = buf[5]
        relids = struct.unpack_from(f">{count}I", buf, 6)
        return Truncate(tuple(relids), bool(options & 1), bool(options & 2))
    return None  # 'O' origin, 'M' message, stream messages (not requested)


def lsn_to_str(lsn: int) -> str:
    """``0/16B3748`` form."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def str_to_lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


PG_EPOCH_US: Final = 946_684_800_000_000  # 2000-01-01 in microseconds since the Unix epoch
