"""Malformed protocol input on one connection must cost only that connection.

Each test opens a raw socket to a private headrace broker and sends something broken. The broker must either
answer with the proper error or close that connection (promptly: no waiting for 100 MiB that never come),
and in every case stay alive and keep serving real clients. (Property-based fuzzing of the decoder itself
lives in test_protocol_fuzz.py.)
"""

from __future__ import annotations

import io
import random
import socket
import struct

import pytest
from kio.index import load_request_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_writer

from tests.support.brokers import HeadraceBrokers, unique_topic
from tests.support.clients import (
    assert_roundtrip,
    consume_confluent,
    create_topic,
    make_records,
    produce_confluent,
)
from tests.support.kafkawire import (
    WireConnection,
    encode_request,
    frame,
    parse_api_versions_v0,
)
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.headrace_only

CLOSE_TIMEOUT = 5.0
MiB = 1024 * 1024


def raw_header(api_key: int, api_version: int, correlation_id: int, client_id: bytes = b"bad-input") -> bytes:
    """Request header v1 (int16 key, int16 version, int32 correlation id, nullable string client id)."""
    return struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id


def api_versions_body_v3() -> bytes:
    req_cls = load_request_schema(18, 3)
    buf = io.BytesIO()
    entity_writer(req_cls)(buf, req_cls(client_software_name="bad-input", client_software_version="1.0"))
    return buf.getvalue()


def api_versions_v3_with_version(version: int, correlation_id: int) -> bytes:
    """An ApiVersions request as a newer client would send it: header v2 (flexible) + a v3 body,
    but claiming ``version``."""
    return raw_header(18, version, correlation_id) + b"\x00" + api_versions_body_v3()


def assert_still_serving(server: ServerProcess) -> None:
    """The process is alive, a fresh raw connection gets ApiVersions, and confluent-kafka can create a topic,
    produce and consume."""
    assert server.proc.poll() is None, (
        f"broker exited with {server.proc.returncode}:\n{server.log_text()[-3000:]}"
    )
    with WireConnection(server.host, server.port) as conn:
        resp = conn.request(
            18, 3, load_request_schema(18, 3)(client_software_name="t", client_software_version="1")
        )
        assert resp.error_code == 0
    topic = unique_topic("still-serving")
    create_topic(server.bootstrap, topic, 1)
    records = make_records(20)
    delivered = produce_confluent(server.bootstrap, topic, records)
    got = consume_confluent(server.bootstrap, topic, [0], len(records), drain=0.2)
    assert_roundtrip(records, delivered, got, 1)
    assert server.proc.poll() is None


def assert_closed_or_answered(conn: WireConnection, correlation_id: int | None) -> str:
    """The broker closes the connection within CLOSE_TIMEOUT, possibly after one error response carrying our
    correlation id, or answers with such a response and keeps the connection. Returns "closed"/"answered"."""
    closed, data = conn.wait_closed(CLOSE_TIMEOUT)
    if data:
        assert correlation_id is not None, f"unexpected bytes from the broker: {data[:64]!r}"
        assert len(data) >= 8, f"partial response {data!r}"
        (size, cid) = struct.unpack_from(">ii", data)
        assert cid == correlation_id, f"response to correlation id {cid}, expected {correlation_id}"
        assert len(data) == 4 + size, f"response frame of {size} bytes but {len(data) - 4} arrived"
        return "closed" if closed else "answered"
    assert closed, f"the broker neither answered nor closed the connection within {CLOSE_TIMEOUT}s"
    return "closed"


@pytest.fixture
def server(headrace_brokers: HeadraceBrokers) -> ServerProcess:
    return headrace_brokers.start()


# --------------------------------------------------------------------------------------------- garbage frames

GARBAGE = {
    "random bytes": random.Random(1).randbytes(64),
    "Metadata v12 header, garbage body": raw_header(3, 12, 101) + b"\x00" + random.Random(2).randbytes(40),
    "Produce v9 header, garbage body": raw_header(0, 9, 102) + b"\x00" + random.Random(3).randbytes(200),
    "Produce v3 header, body cut short": raw_header(0, 3, 103)
    + struct.pack(">hhi", -1, -1, 1000)
    + b"\x00\x01",
    "client id longer than the frame": struct.pack(">hhih", 18, 0, 104, 5000) + b"abc",
    "header cut short": struct.pack(">hh", 18, 0),
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_after_a_valid_size(server: ServerProcess, name: str) -> None:
    payload = GARBAGE[name]
    with WireConnection(server.host, server.port) as conn:
        conn.send_raw(frame(payload))
        # An error answer must echo the correlation id the frame carries (if it has one).
        cid = struct.unpack_from(">i", payload, 4)[0] if len(payload) >= 8 else None
        assert_closed_or_answered(conn, cid)
    assert_still_serving(server)


def test_valid_request_after_garbage_frame_is_not_served_on_a_closed_connection(
    server: ServerProcess,
) -> None:
    """Garbage followed by a valid request in the same write: if the broker answers anything, it is a
    response to a request we sent, never a misparse of the garbage as a request."""
    valid = encode_request(
        18, 3, 555, load_request_schema(18, 3)(client_software_name="t", client_software_version="1")
    )
    with WireConnection(server.host, server.port) as conn:
        conn.send_raw(frame(raw_header(3, 12, 554) + b"\x00" + b"\xff" * 30) + frame(valid))
        closed, data = conn.wait_closed(CLOSE_TIMEOUT)
        cids = []
        pos = 0
        while pos + 8 <= len(data):
            size, cid = struct.unpack_from(">ii", data, pos)
            cids.append(cid)
            pos += 4 + size
        assert set(cids) <= {554, 555}, cids
        assert closed or cids, "the broker neither answered nor closed the connection"
    assert_still_serving(server)


# ------------------------------------------------------------------------------------------ truncated frames


def test_truncated_frame_then_close(server: ServerProcess) -> None:
    body = encode_request(
        18, 3, 7, load_request_schema(18, 3)(client_software_name="t", client_software_version="1")
    )
    with WireConnection(server.host, server.port) as conn:
        conn.send_raw(struct.pack(">i", len(body) + 100) + body)  # promises 100 bytes more than it sends
    for _ in range(3):
        with WireConnection(server.host, server.port) as conn:
            conn.send_raw(struct.pack(">i", 1000) + b"\x00\x03")
    assert_still_serving(server)


def test_half_open_frame_does_not_block_other_clients(server: ServerProcess) -> None:
    """A connection stuck mid-frame (and one that half-closed) must not stall the broker for others."""
    stuck = WireConnection(server.host, server.port)
    half_closed = WireConnection(server.host, server.port)
    try:
        stuck.send_raw(struct.pack(">i", 500) + raw_header(18, 0, 9))
        half_closed.send_raw(struct.pack(">i", 500) + raw_header(18, 0, 10))
        half_closed.sock.shutdown(socket.SHUT_WR)  # EOF mid-frame
        assert_still_serving(server)
        closed, data = half_closed.wait_closed(CLOSE_TIMEOUT)
        assert closed and not data, "a connection that sent EOF mid-frame was not closed"
    finally:
        stuck.close()
        half_closed.close()
    assert_still_serving(server)


# ---------------------------------------------------------------------------------------------- size prefixes


@pytest.mark.parametrize(
    "size",
    [-1, -(2**31), 0, 100 * MiB + 1, 2**31 - 1],
    ids=["minus-one", "int32-min", "zero", "100MiB+1", "int32-max"],
)
def test_bad_size_prefix_closes_the_connection(server: ServerProcess, size: int) -> None:
    """Negative, empty and over-limit (> socket.request.max.bytes = 100 MiB) frames: closed at once, without
    waiting for (or allocating) the promised bytes."""
    with WireConnection(server.host, server.port) as conn:
        conn.send_raw(struct.pack(">i", size) + raw_header(18, 0, 11))
        closed, data = conn.wait_closed(CLOSE_TIMEOUT)
        assert closed, f"size prefix {size}: connection still open after {CLOSE_TIMEOUT}s"
        assert data == b"", f"size prefix {size}: unexpected response {data[:64]!r}"
    assert_still_serving(server)


# ---------------------------------------------------------------------------------- unknown keys / versions


@pytest.mark.parametrize("api_key", [1000, 32767, -1])
def test_unknown_api_key(server: ServerProcess, api_key: int) -> None:
    with WireConnection(server.host, server.port) as conn:
        conn.send_raw(frame(raw_header(api_key, 0, 77) + b"\x00" * 16))
        assert_closed_or_answered(conn, 77)
    assert_still_serving(server)


def test_api_versions_with_unsupported_version_gets_v0_error_response(server: ServerProcess) -> None:
    """As Kafka does (KIP-511): an ApiVersions request of a version the broker does not know is answered in
    the v0 format with UNSUPPORTED_VERSION (35) and the supported ApiVersions range, and the connection stays
    usable so the client can retry with a version it now knows."""
    with WireConnection(server.host, server.port) as conn:
        conn.send_raw(frame(api_versions_v3_with_version(99, 4242)))
        payload = conn.recv_frame()
        cid, error, versions = parse_api_versions_v0(payload)
        assert cid == 4242
        assert error == ErrorCode.unsupported_version, f"error code {error}"
        assert 18 in versions, f"ApiVersions (18) missing from the error response: {versions}"
        lo, hi = versions[18]
        assert lo == 0 and hi >= 3, versions[18]
        assert len(payload) == 10 + 6 * len(versions), "not the v0 response format (trailing bytes)"

        resp = conn.request(
            18, 3, load_request_schema(18, 3)(client_software_name="t", client_software_version="1")
        )
        assert resp.error_code == 0
        keys = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
        assert keys[18][1] == hi
        for api in (0, 1, 2, 3):  # Produce, Fetch, ListOffsets, Metadata
            assert api in keys, f"API {api} not advertised: {sorted(keys)}"
    assert_still_serving(server)


@pytest.mark.parametrize("api_key", [0, 1, 3])
def test_unsupported_version_of_other_apis(server: ServerProcess, api_key: int) -> None:
    """Produce/Fetch/Metadata v99: closed (Kafka's behaviour) or answered with an error for our request."""
    with WireConnection(server.host, server.port) as conn:
        conn.send_raw(frame(raw_header(api_key, 99, 88) + b"\x00" + b"\x00" * 32))
        assert_closed_or_answered(conn, 88)
    assert_still_serving(server)
