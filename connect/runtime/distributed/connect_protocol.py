"""Kafka Connect's group sub-protocol, byte-compatible with Kafka's ``ConnectProtocol`` (v0, "default",
eager) and ``IncrementalCooperativeConnectProtocol`` (v1 "compatible", v2 "sessioned").

Workers join the group with protocol type ``connect`` and one metadata blob per protocol name they support
(most preferred first); the leader answers every member with an assignment blob in SyncGroup. Both blobs are
Kafka's old-style ``Struct`` encodings: big-endian ints, ``STRING`` = int16 length + UTF-8,
``NULLABLE_BYTES`` = int32 length (-1 = null), ``ARRAY`` = int32 count (-1 = null). Layouts::

    Metadata v0      Version:int16  Url:string  ConfigOffset:int64
    Metadata v1/v2   Version:int16  Url:string  ConfigOffset:int64  Allocation:nullable_bytes
                     (Allocation = this worker's current assignment, encoded as below, null if it has none)
    Assignment v0    Version:int16  Error:int16  Leader:string  LeaderUrl:string  ConfigOffset:int64
                     Assignment:[Connector:string Tasks:[int32]]
    Assignment v1/v2 ... as v0, then  Revoked:nullable [Connector:string Tasks:[int32]]  Delay:int32

A connector itself is listed as task id -1 (``CONNECTOR_TASK``) under its name. v1/v2 readers tolerate
missing trailing fields (defaults: no assignment, nothing revoked, delay 0) and ignore unknown trailing
bytes, as Kafka. "sessioned" differs from "compatible" only in the version number on the wire (request
signing is not used here).

Pure functions, no I/O; safe from any thread.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from connect.runtime.models import ConnectorTaskId

__all__ = [
    "COMPATIBLE",
    "CONFIG_MISMATCH",
    "CONNECTOR_TASK",
    "EAGER",
    "NO_ERROR",
    "PROTOCOL_TYPE",
    "PROTOCOL_VERSIONS",
    "SESSIONED",
    "ConnectAssignment",
    "ConnectProtocolError",
    "WorkerState",
    "decode_assignment",
    "decode_metadata",
    "encode_assignment",
    "encode_metadata",
    "join_protocols",
    "sorted_tasks",
]

PROTOCOL_TYPE = "connect"
EAGER = "default"
COMPATIBLE = "compatible"
SESSIONED = "sessioned"
# connect.protocol value -> the protocol version its name stands for
PROTOCOL_VERSIONS: dict[str, int] = {EAGER: 0, COMPATIBLE: 1, SESSIONED: 2}

NO_ERROR = 0
CONFIG_MISMATCH = (
    1  # the leader's config is older than a member's: everyone reads the config topic and rejoins
)
CONNECTOR_TASK = -1


class ConnectProtocolError(ValueError):
    """Metadata or an assignment that cannot be decoded."""


@dataclass(frozen=True)
class ConnectAssignment:
    """What the leader tells one worker in SyncGroup (Kafka's ``ExtendedAssignment``).

    In the cooperative protocols (v1/v2) ``connectors``/``tasks`` on the wire are the *newly* assigned ones
    and ``revoked_*`` what the worker must stop;
    :class:`~connect.runtime.distributed.membership.WorkerGroupMember` hands its listener the augmented
    form (everything the worker runs now). ``delay_ms`` > 0: rejoin after it.
    """

    error: int
    leader: str
    leader_url: str
    config_offset: int
    connectors: tuple[str, ...]
    tasks: tuple[ConnectorTaskId, ...]
    revoked_connectors: tuple[str, ...] = ()
    revoked_tasks: tuple[ConnectorTaskId, ...] = ()
    delay_ms: int = 0
    version: int = 1

    @property
    def failed(self) -> bool:
        return self.error != NO_ERROR


@dataclass(frozen=True)
class WorkerState:
    """JoinGroup member metadata: the worker's REST URL, the config-topic offset it has read up to, and (v1+)
    what it runs now (None: nothing assigned yet)."""

    url: str
    config_offset: int
    assignment: ConnectAssignment | None = None


# ------------------------------------------------------------------------------------------- writing


class _Writer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def int16(self, v: int) -> None:
        self.parts.append(struct.pack(">h", v))

    def int32(self, v: int) -> None:
        self.parts.append(struct.pack(">i", v))

    def int64(self, v: int) -> None:
        self.parts.append(struct.pack(">q", v))

    def string(self, v: str) -> None:
        raw = v.encode()
        if len(raw) > 0x7FFF:
            raise ConnectProtocolError(f"string too long for the Connect protocol ({len(raw)} bytes)")
        self.int16(len(raw))
        self.parts.append(raw)

    def nullable_bytes(self, v: bytes | None) -> None:
        if v is None:
            self.int32(-1)
        else:
            self.int32(len(v))
            self.parts.append(v)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


def _by_connector(connectors: Iterable[str], tasks: Iterable[ConnectorTaskId]) -> dict[str, list[int]]:
    """Kafka's ``asMap``: connectors first (as task -1, each once), then tasks under their connector."""
    out: dict[str, list[int]] = {}
    for c in dict.fromkeys(connectors):
        out.setdefault(c, []).append(CONNECTOR_TASK)
    for t in tasks:
        out.setdefault(t.connector, []).append(t.task)
    return out


def _write_connector_assignments(w: _Writer, m: dict[str, list[int]]) -> None:
    w.int32(len(m))
    for connector, ids in m.items():
        w.string(connector)
        w.int32(len(ids))
        for i in ids:
            w.int32(i)


def _assignment_bytes(a: ConnectAssignment, version: int) -> bytes:
    w = _Writer()
    w.int16(version)
    w.int16(a.error)
    w.string(a.leader)
    w.string(a.leader_url)
    w.int64(a.config_offset)
    _write_connector_assignments(w, _by_connector(a.connectors, a.tasks))
    if version >= 1:
        _write_connector_assignments(w, _by_connector(a.revoked_connectors, a.revoked_tasks))
        w.int32(a.delay_ms)
    return w.getvalue()


def encode_assignment(a: ConnectAssignment) -> bytes:
    """The SyncGroup assignment blob for ``a`` (header version ``a.version``; v0 has no revocations/delay)."""
    if a.version < 0:
        raise ConnectProtocolError(f"bad Connect protocol version {a.version}")
    return _assignment_bytes(a, a.version)


def encode_metadata(s: WorkerState, version: int) -> bytes:
    """The JoinGroup metadata blob of protocol ``version`` (0, 1 or 2) for ``s``."""
    if version not in (0, 1, 2):
        raise ConnectProtocolError(f"unknown Connect protocol version {version}")
    w = _Writer()
    w.int16(version)
    w.string(s.url)
    w.int64(s.config_offset)
    if version >= 1:
        w.nullable_bytes(None if s.assignment is None else _assignment_bytes(s.assignment, version))
    return w.getvalue()


def join_protocols(s: WorkerState, protocol: str) -> list[tuple[str, bytes]]:
    """JoinGroup (name, metadata) pairs for ``connect.protocol`` = ``protocol``, most preferred first (Kafka's
    ``metadataRequest``): sessioned -> sessioned, compatible, default; compatible -> compatible, default;
    default -> default."""
    if protocol not in PROTOCOL_VERSIONS:
        raise ConnectProtocolError(
            f"connect.protocol: {protocol!r} is not one of {', '.join(PROTOCOL_VERSIONS)}"
        )
    names = [n for n, v in PROTOCOL_VERSIONS.items() if v <= PROTOCOL_VERSIONS[protocol]]
    names.sort(key=lambda n: -PROTOCOL_VERSIONS[n])
    return [(n, encode_metadata(s, PROTOCOL_VERSIONS[n])) for n in names]


# ------------------------------------------------------------------------------------------- reading


class _Reader:
    def __init__(self, data: bytes | memoryview) -> None:
        self.buf = memoryview(data)
        self.pos = 0

    def remaining(self) -> int:
        return len(self.buf) - self.pos

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ConnectProtocolError(
                f"truncated Connect protocol data: need {n} bytes at {self.pos}, have {self.remaining()}"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def int16(self) -> int:
        return int(struct.unpack(">h", self._take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self._take(4))[0])

    def int64(self) -> int:
        return int(struct.unpack(">q", self._take(8))[0])

    def string(self) -> str:
        n = self.int16()
        if n < 0:
            raise ConnectProtocolError("null string where the Connect protocol requires one")
        try:
            return bytes(self._take(n)).decode()
        except UnicodeDecodeError as exc:
            raise ConnectProtocolError(f"invalid UTF-8 in Connect protocol string: {exc}") from None

    def nullable_bytes(self) -> bytes | None:
        n = self.int32()
        return None if n == -1 else bytes(self._take(n))


def _read_connector_assignments(
    r: _Reader, nullable: bool
) -> tuple[tuple[str, ...], tuple[ConnectorTaskId, ...]]:
    n = r.int32()
    if n == -1 and nullable:
        return (), ()
    if n < 0:
        raise ConnectProtocolError(f"bad array length {n}")
    connectors: list[str] = []
    tasks: list[ConnectorTaskId] = []
    for _ in range(n):
        connector = r.string()
        k = r.int32()
        if k < 0:
            raise ConnectProtocolError(f"bad task array length {k}")
        for _ in range(k):
            tid = r.int32()
            if tid == CONNECTOR_TASK:
                connectors.append(connector)
            else:
                tasks.append(ConnectorTaskId(connector, tid))
    return tuple(connectors), tuple(tasks)


def _check_version(version: int) -> None:
    if version < 0:
        raise ConnectProtocolError(f"unsupported Connect protocol version {version}")


def _read_assignment(r: _Reader) -> ConnectAssignment:
    version = r.int16()
    _check_version(version)
    error = r.int16()
    leader = r.string()
    leader_url = r.string()
    offset = r.int64()
    if version == 0:
        connectors, tasks = _read_connector_assignments(r, nullable=False)
        return ConnectAssignment(error, leader, leader_url, offset, connectors, tasks, version=0)
    # v1+: trailing fields may be missing (TOLERATE_MISSING_FIELDS_WITH_DEFAULTS)
    connectors, tasks = _read_connector_assignments(r, nullable=True) if r.remaining() else ((), ())
    revoked_c, revoked_t = _read_connector_assignments(r, nullable=True) if r.remaining() else ((), ())
    delay = r.int32() if r.remaining() else 0
    return ConnectAssignment(
        error, leader, leader_url, offset, connectors, tasks, revoked_c, revoked_t, delay, version
    )


def decode_assignment(b: bytes | memoryview) -> ConnectAssignment:
    """Parse a SyncGroup assignment blob of any version. Raises :class:`ConnectProtocolError`."""
    return _read_assignment(_Reader(b))


def decode_metadata(b: bytes | memoryview) -> WorkerState:
    """Parse a JoinGroup metadata blob of any version. Raises :class:`ConnectProtocolError`."""
    r = _Reader(b)
    version = r.int16()
    _check_version(version)
    url = r.string()
    offset = r.int64()
    assignment = None
    if version >= 1 and r.remaining():
        raw = r.nullable_bytes()
        if raw is not None:
            assignment = decode_assignment(raw)
    return WorkerState(url, offset, assignment)


def sorted_tasks(tasks: Iterable[ConnectorTaskId]) -> list[ConnectorTaskId]:
    """Tasks in Kafka's ``ConnectorTaskId`` order (connector name, then task number)."""
    return sorted(tasks, key=lambda t: (t.connector, t.task))
