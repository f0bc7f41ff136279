"""A tiny raw Kafka-protocol client for tests: frames, request headers, kio-encoded bodies.

Used where a real client library would hide what we want to observe (exact errors, timing of a single
Fetch, malformed frames). Not a general client: one request at a time, blocking sockets.
"""

from __future__ import annotations

import io
import socket
import struct
import time
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer


def encode_request(
    api_key: int, api_version: int, correlation_id: int, body: Any, client_id: str = "headrace-tests"
) -> bytes:
    """Request header (the version's header schema) + body, without the size prefix."""
    req_cls = load_request_schema(api_key, api_version)
    header_cls = req_cls.__header_schema__
    buf = io.BytesIO()
    entity_writer(header_cls)(
        buf,
        header_cls(
            request_api_key=api_key,
            request_api_version=api_version,
            correlation_id=correlation_id,
            client_id=client_id,
        ),
    )
    entity_writer(req_cls)(buf, body)
    return buf.getvalue()


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


class WireConnection:
    """One blocking TCP connection to a Kafka broker."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._next_cid = 1

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WireConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_exact(self, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            chunk = self.sock.recv(n - len(chunks))
            if not chunk:
                raise ConnectionError(f"connection closed after {len(chunks)} of {n} bytes")
            chunks += chunk
        return bytes(chunks)

    def recv_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self.recv_exact(4))
        if size < 0 or size > 64 * 1024 * 1024:
            raise ValueError(f"bad response size {size}")
        return self.recv_exact(size)

    def request(self, api_key: int, api_version: int, body: Any) -> Any:
        """Send one request and decode the response (checking its correlation id)."""
        cid = self._next_cid
        self._next_cid += 1
        self.send_raw(frame(encode_request(api_key, api_version, cid, body)))
        payload = memoryview(self.recv_frame()).toreadonly()
        resp_cls = load_response_schema(api_key, api_version)
        header, used = entity_reader(resp_cls.__header_schema__)(payload, 0)
        if header.correlation_id != cid:
            raise AssertionError(f"correlation id {header.correlation_id} != {cid}")
        body_out, _ = entity_reader(resp_cls)(payload, used)
        return body_out

    def wait_closed(self, timeout: float) -> tuple[bool, bytes]:
        """Read until the peer closes or ``timeout`` passes. Returns (closed, bytes received meanwhile)."""
        deadline = time.monotonic() + timeout
        got = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False, bytes(got)
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return False, bytes(got)
            except (ConnectionResetError, BrokenPipeError):
                return True, bytes(got)
            if not chunk:
                return True, bytes(got)
            got += chunk


def parse_api_versions_v0(payload: bytes) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """Decode an ApiVersions response in v0 format (header v0 + body v0) by hand.

    Returns (correlation_id, error_code, {api_key: (min, max)}). Kafka answers an ApiVersions request
    of a version it does not support in this format, whatever version was asked for.
    """
    cid, err, n = struct.unpack_from(">ihi", payload, 0)
    pos = 10
    versions: dict[int, tuple[int, int]] = {}
    for _ in range(n):
        key, lo, hi = struct.unpack_from(">hhh", payload, pos)
        versions[key] = (lo, hi)
        pos += 6
    return cid, err, versions
