"""The connection's receive path (``KafkaConnection.get_buffer``/``buffer_updated``), in process.

The transport is simulated the way uvloop drives a BufferedProtocol: it asks for a buffer, copies up to
that many bytes of the byte stream into it and reports how many. The byte stream is cut at random points
(a seeded RNG), so frame boundaries fall inside size prefixes, small frames and large frames alike. The
handler records what it saw; large frames (read straight into their own reused buffer) must arrive
byte-exact, in order, and their buffer must only be reused once nothing references it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from broker.server import BIG_FRAME, RECV_BUFFER, KafkaConnection

MAX_REQUEST = 8 * 1024 * 1024


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False
        self.reading = True

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else None

    def writelines(self, buffers: list[bytes]) -> None:
        self.written.append(b"".join(buffers))

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self) -> None:
        self.closed = True


class RecordingApis:
    """Answers every frame with its length; remembers a copy of each frame and the buffer it was in."""

    def __init__(self, keep: Callable[[memoryview], bool] = lambda _: False) -> None:
        self.frames: list[bytes] = []
        self.owners: list[object] = []  # the buffer object of each frame (not a view: no export)
        self.kept: list[tuple[memoryview, bytes]] = []
        self._keep = keep

    def handle(self, frame: bytes | bytearray | memoryview, peer: str) -> list[bytes]:
        view = memoryview(frame)
        self.frames.append(bytes(view))
        self.owners.append(frame.obj if isinstance(frame, memoryview) else None)
        if self._keep(view):
            self.kept.append((view[:100], bytes(view[:100])))
        return [len(view).to_bytes(4, "big")]


def connect(apis: RecordingApis) -> tuple[KafkaConnection, FakeTransport]:
    server: Any = SimpleNamespace(
        apis=apis, config=SimpleNamespace(max_request_bytes=MAX_REQUEST), connections=set()
    )
    conn = KafkaConnection(server)
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def feed(conn: KafkaConnection, stream: bytes, rng: random.Random, max_chunk: int) -> None:
    """Deliver ``stream`` as uvloop does: never more than the buffer offered, random read sizes."""
    pos = 0
    while pos < len(stream):
        buf = conn.get_buffer(-1)
        assert len(buf) > 0
        n = min(len(buf), rng.randint(1, max_chunk), len(stream) - pos)
        buf[:n] = stream[pos : pos + n]
        conn.buffer_updated(n)  # like uvloop, still holding the buffer it read into
        del buf
        pos += n


def framed(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def payload(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def test_frames_of_every_size_arrive_exact_and_in_order_whatever_the_read_sizes() -> None:
    rng = random.Random(1234)
    sizes = [0, 1, 17, BIG_FRAME - 1, BIG_FRAME, 3, 1_000_000, 999_875, 5, RECV_BUFFER + 7, 2_500_000, 40]
    for max_chunk in (1, 7, 4096, 300_000, 4_000_000):
        bodies = [payload(rng, s) for s in (sizes if max_chunk > 7 else [0, 1, 17, BIG_FRAME + 3, 9])]
        apis = RecordingApis()
        conn, transport = connect(apis)
        feed(conn, b"".join(framed(b) for b in bodies), rng, max_chunk)
        assert apis.frames == bodies, f"max_chunk={max_chunk}"
        assert transport.written == [len(b).to_bytes(4, "big") for b in bodies]
        assert not transport.closed


def test_big_frame_buffer_is_reused_only_when_no_view_of_it_is_alive() -> None:
    rng = random.Random(99)
    bodies = [payload(rng, 500_000 + i) for i in range(6)]
    apis = RecordingApis()
    conn, _ = connect(apis)
    feed(conn, b"".join(framed(b) for b in bodies), rng, 200_000)
    assert apis.frames == bodies
    assert all(o is apis.owners[0] for o in apis.owners)  # one buffer served every large frame

    # A handler that keeps a view of frame 0: that buffer must never be written to again.
    apis = RecordingApis(keep=lambda view: len(apis.kept) == 0)
    conn, _ = connect(apis)
    feed(conn, b"".join(framed(b) for b in bodies), rng, 200_000)
    assert apis.frames == bodies
    kept_view, kept_copy = apis.kept[0]
    assert bytes(kept_view) == kept_copy == bodies[0][:100]
    assert apis.owners[1] is not apis.owners[0]
    assert all(o is apis.owners[1] for o in apis.owners[1:])  # reuse resumes for the frames nobody kept


def test_bad_size_prefix_closes_the_connection_and_handles_nothing_more() -> None:
    rng = random.Random(5)
    apis = RecordingApis()
    conn, transport = connect(apis)
    stream = framed(b"ok") + (MAX_REQUEST + 1).to_bytes(4, "big") + b"x" * 100 + framed(b"never")
    feed(conn, stream, rng, 3)
    assert apis.frames == [b"ok"]
    assert transport.closed
