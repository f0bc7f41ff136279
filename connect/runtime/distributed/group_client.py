"""A blocking connection to one Kafka broker for the group APIs confluent-kafka does not expose.

Requests and responses are built and parsed with kio (through the broker's generic codec,
:func:`kafka_common.codec.build`, which turns plain dicts into kio entities of any version). One request
at a time: :meth:`BrokerConnection.request` holds a lock from send to receive, so two threads (the member
thread and a heartbeat keeper) can share a connection. :meth:`close` may be called from any thread and wakes
a blocked ``request`` (it raises ``OSError``). Used by :mod:`connect.runtime.distributed.membership` only.
"""

from __future__ import annotations

import io
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from kio.serial import entity_reader, entity_writer

from kafka_common.codec import build, request_class, response_class

__all__ = ["API_VERSIONS", "BrokerConnection", "GroupProtocolError", "parse_bootstrap"]

API_VERSIONS = 18
MAX_FRAME = 64 * 1024 * 1024


class GroupProtocolError(ConnectionError):
    """A response that cannot be parsed or does not match its request: the connection is unusable."""


@cache
def _writer(cls: Any) -> Callable[[Any, Any], None]:
    return entity_writer(cls)  # type: ignore[no-any-return]


@cache
def _reader(cls: Any) -> Callable[[Any, int], tuple[Any, int]]:
    return entity_reader(cls)  # type: ignore[no-any-return]


def parse_bootstrap(servers: str) -> list[tuple[str, int]]:
    """``host:port[,host:port...]`` -> addresses; raises ValueError on a malformed entry."""
    out = []
    for item in servers.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"bootstrap.servers: {item!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise ValueError("bootstrap.servers is empty")
    return out


class BrokerConnection:
    """One TCP connection. ``versions`` holds the broker's ApiVersions answer once :meth:`negotiate` ran."""

    def __init__(self, host: str, port: int, client_id: str, connect_timeout: float = 10.0) -> None:
        self.address = (host, port)
        self.client_id = client_id
        self._sock = socket.create_connection((host, port), timeout=connect_timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._lock = threading.Lock()
        self._next_cid = 1
        self._closed = False
        self.versions: dict[int, tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"BrokerConnection({self.address[0]}:{self.address[1]})"

    def close(self) -> None:
        """Close from any thread; a request blocked on this connection fails with OSError."""
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- framing -----------------------------------------------------------------------------------

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self._sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"{self!r}: connection closed by the broker")
            buf += chunk
        return bytes(buf)

    def _roundtrip(self, payload: bytes, timeout: float) -> bytes:
        if self._closed:
            raise ConnectionError(f"{self!r} is closed")
        self._sock.settimeout(timeout)
        self._sock.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", self._recv_exact(4))
        if size < 4 or size > MAX_FRAME:
            raise GroupProtocolError(f"{self!r}: bad response size {size}")
        return self._recv_exact(size)

    # -- requests ----------------------------------------------------------------------------------

    def negotiate(self, timeout: float = 10.0) -> dict[int, tuple[int, int]]:
        """ApiVersions v0 (every broker answers it): fills and returns ``versions``."""
        with self._lock:
            cid = self._take_cid()
            header = struct.pack(">hhih", API_VERSIONS, 0, cid, len(self.client_id.encode()))
            frame = self._roundtrip(header + self.client_id.encode(), timeout)
        got_cid, err, n = struct.unpack_from(">ihi", frame, 0)
        if got_cid != cid or err != 0 or n < 0:
            raise GroupProtocolError(f"{self!r}: ApiVersions failed (correlation {got_cid}, error {err})")
        pos = 10
        versions = {}
        for _ in range(n):
            key, lo, hi = struct.unpack_from(">hhh", frame, pos)
            versions[key] = (lo, hi)
            pos += 6
        self.versions = versions
        return versions

    def pick_version(self, api_key: int, lowest: int, highest: int) -> int:
        """The highest version of ``api_key`` in ``lowest..highest`` that the broker supports."""
        lo, hi = self.versions.get(api_key, (lowest, highest))
        v = min(hi, highest)
        if v < max(lo, lowest):
            raise GroupProtocolError(
                f"{self!r}: broker supports API {api_key} v{lo}-{hi}, this client v{lowest}-{highest}"
            )
        return v

    def _take_cid(self) -> int:
        cid = self._next_cid
        self._next_cid = (self._next_cid + 1) & 0x7FFFFFFF
        return cid

    def request(self, api_key: int, version: int, body: Mapping[str, Any], timeout: float) -> Any:
        """Send one request (fields of ``body`` the version lacks are ignored) and return the decoded
        response.

        Raises OSError/ConnectionError on I/O failure or timeout and :class:`GroupProtocolError` on a response
        that cannot be decoded; the caller should then drop this connection.
        """
        req_cls = request_class(api_key, version)
        if req_cls is None:
            raise GroupProtocolError(f"no kio schema for API {api_key} v{version}")
        resp_cls = response_class(api_key, version)
        with self._lock:
            cid = self._take_cid()
            header_cls = req_cls.__header_schema__
            buf = io.BytesIO()
            header_fields = {
                "request_api_key": api_key,
                "request_api_version": version,
                "correlation_id": cid,
                "client_id": self.client_id,
            }
            _writer(header_cls)(buf, build(header_cls, header_fields))
            _writer(req_cls)(buf, build(req_cls, body))
            frame = self._roundtrip(buf.getvalue(), timeout)
        view = memoryview(frame).toreadonly()
        try:
            header, used = _reader(resp_cls.__header_schema__)(view, 0)
            if header.correlation_id != cid:
                raise GroupProtocolError(f"{self!r}: correlation id {header.correlation_id} != {cid}")
            resp, _ = _reader(resp_cls)(view, used)
        except GroupProtocolError:
            raise
        except Exception as exc:  # kio raises several types on unexpected input
            raise GroupProtocolError(
                f"{self!r}: cannot decode API {api_key} v{version} response: {exc!r}"
            ) from None
        return resp
