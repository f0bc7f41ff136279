"""Property tests: garbage and mutated valid frames never escape the decoder as anything but
ProtocolError (connection closed) or a well-formed response; the broker state stays usable."""

from __future__ import annotations

import asyncio
import inspect
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.apis import API_TABLE, KafkaApis
from broker.config import BrokerConfig
from broker.flusher import GroupCommitFlusher
from broker.log.manager import LogManager
from broker.log.records import build_batch
from kafka_common.codec import ProtocolError


def _header(api_key: int, version: int, corr: int = 7, flexible: bool = False) -> bytes:
    client = b"fuzz"
    h = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    return h + (b"\x00" if flexible else b"")


def _valid_frames() -> list[bytes]:
    batch = build_batch([(b"k", b"v")])
    produce = (
        _header(0, 8)
        + struct.pack(">hhi", -1, 1, 1000)
        + struct.pack(">i", 1)
        + struct.pack(">h", 1)
        + b"t"
        + struct.pack(">i", 1)
        + struct.pack(">ii", 0, len(batch))
        + batch
    )
    fetch = (
        _header(1, 11)
        + struct.pack(">iiiibii", -1, 0, 1, 1 << 20, 0, 0, -1)
        + struct.pack(">i", 1)
        + struct.pack(">h", 1)
        + b"t"
        + struct.pack(">i", 1)
        + struct.pack(">iiqqi", 0, -1, 0, -1, 1 << 20)
        + struct.pack(">i", 0)
        + struct.pack(">h", 0)
    )
    metadata = _header(3, 4) + struct.pack(">i", 1) + struct.pack(">h", 1) + b"t" + b"\x01"
    api_versions = _header(18, 3, flexible=True) + b"\x05fuzz\x041.0\x00"
    list_offsets = (
        _header(2, 1)
        + struct.pack(">i", -1)
        + struct.pack(">i", 1)
        + struct.pack(">h", 1)
        + b"t"
        + struct.pack(">i", 1)
        + struct.pack(">iq", 0, -1)
    )
    return [produce, fetch, metadata, api_versions, list_offsets]


VALID = _valid_frames()


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> KafkaApis:
    data: Path = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    cfg = BrokerConfig.from_properties(data, "127.0.0.1", 9092, {})
    logs = LogManager(data, cfg.log_defaults, 1, True)
    logs.create_topic("t", 1, {})
    apis = KafkaApis(cfg, logs, GroupCommitFlusher(loop), "fuzz-cluster")
    apis._fuzz_loop = loop  # type: ignore[attr-defined]
    return apis


def _answer(apis: KafkaApis, frame: bytes) -> None:
    try:
        result = apis.handle(frame, "fuzz")
    except ProtocolError:
        return
    if inspect.isawaitable(result):
        loop: asyncio.AbstractEventLoop = apis._fuzz_loop  # type: ignore[attr-defined]
        try:
            result = loop.run_until_complete(asyncio.wait_for(result, 5))  # type: ignore[arg-type]
        except TimeoutError:
            # A Fetch whose mutated max_wait_ms is huge legitimately long-polls (Kafka does not cap it);
            # anything else must answer.
            assert struct.unpack(">h", frame[:2])[0] == 1, "only a Fetch may long-poll"
            return
    if result is not None:
        out = b"".join(result)
        (size,) = struct.unpack(">i", out[:4])
        assert size == len(out) - 4
        assert struct.unpack(">i", out[4:8])[0] == struct.unpack(">i", frame[4:8])[0]


def test_valid_frames_answer(apis: KafkaApis) -> None:
    for frame in VALID:
        _answer(apis, frame)
    assert apis.logs.partition("t", 0).log_end_offset >= 1


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_garbage_frames(apis: KafkaApis, data: bytes) -> None:
    _answer(apis, data)


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_frames(apis: KafkaApis, frame: bytes, data: st.DataObject) -> None:
    buf = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "set-int"]))
        pos = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if kind == "flip" and buf:
            buf[pos] ^= data.draw(st.integers(1, 255))
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif kind == "set-int" and len(buf) >= pos + 4:
            buf[pos : pos + 4] = struct.pack(
                ">i", data.draw(st.sampled_from([-1, 0, 2**31 - 1, -(2**31), 1 << 20]))
            )
    # Keep the request header's API key valid half of the time so the body decoders get exercised.
    if len(buf) >= 4 and data.draw(st.booleans()):
        buf[0:4] = frame[0:4]
    _answer(apis, bytes(buf))


def test_every_registered_api_rejects_empty_body(apis: KafkaApis) -> None:
    for key, spec in API_TABLE.items():
        for version in (spec.min_version, spec.max_version):
            frame = _header(key, version)
            _answer(apis, frame)
