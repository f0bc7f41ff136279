"""Property tests: hostile bytes never crash the batch parsers; random operation sequences keep offsets
contiguous across segment rolls, reopens and crashes."""

from __future__ import annotations

import itertools
import shutil
import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from broker.log.config import LogConfig
from broker.log.errors import InvalidRecordError
from broker.log.partition_log import PartitionLog
from broker.log.records import (
    Record,
    build_batch,
    decode_records,
    iter_batch_headers,
    validate_produce_records,
)

from .conftest import crash, read_all

record_st = st.builds(
    Record,
    offset=st.just(0),
    timestamp=st.integers(0, 2**40),
    key=st.none() | st.binary(max_size=20),
    value=st.none() | st.binary(max_size=200),
    headers=st.lists(st.tuples(st.text(max_size=5), st.none() | st.binary(max_size=5)), max_size=2),
)


@st.composite
def batches(draw: st.DrawFn) -> bytes:
    records = draw(st.lists(record_st, min_size=1, max_size=5))
    for i, r in enumerate(records):
        r.offset = i
    codec = draw(st.sampled_from([0, 1]))
    return build_batch(records, compression=codec)


@st.composite
def mutated_blobs(draw: st.DrawFn) -> bytes:
    blob = bytearray(b"".join(draw(st.lists(batches(), min_size=1, max_size=3))))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "int"]))
        pos = draw(st.integers(0, max(0, len(blob) - 1)))
        if kind == "flip" and blob:
            blob[pos] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del blob[pos : pos + draw(st.integers(1, 70))]
        elif kind == "insert":
            blob[pos:pos] = draw(st.binary(min_size=1, max_size=10))
        elif kind == "int" and len(blob) >= pos + 4:
            struct.pack_into(">i", blob, pos, draw(st.integers(-(2**31), 2**31 - 1)))
    return bytes(blob)


hostile = st.binary(max_size=300) | mutated_blobs()


@settings(max_examples=300, deadline=None)
@given(hostile, st.integers(0, 2**31 - 1))
def test_validate_raises_only_invalid_record(data: bytes, max_bytes: int) -> None:
    try:
        headers = validate_produce_records(data, max_bytes)
    except InvalidRecordError as exc:
        assert exc.error_code in (2, 10, 87)
        return
    assert sum(h.size for h in headers) == len(data)


@settings(max_examples=300, deadline=None)
@given(hostile)
def test_iter_batch_headers_never_raises(data: bytes) -> None:
    total = 0
    for h in iter_batch_headers(data):
        assert h.position == total
        total += h.size
    assert total <= len(data)


@settings(max_examples=300, deadline=None)
@given(hostile)
def test_decode_records_raises_only_invalid_record(data: bytes) -> None:
    try:
        decode_records(data)
    except InvalidRecordError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(batches(), min_size=1, max_size=4))
def test_valid_blobs_validate_and_decode(parts: list[bytes]) -> None:
    headers = validate_produce_records(b"".join(parts), 2**31 - 1)
    assert [h.size for h in headers] == [len(p) for p in parts]
    for part in parts:
        decode_records(part)


class LogMachine(RuleBasedStateMachine):
    """Model: the log holds offsets [start, end) and every read sees exactly them, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="logmachine-"))
        self.config = LogConfig(segment_bytes=600, index_interval_bytes=64)
        self.plog = self._open()
        self.start = 0
        self.end = 0
        self.now = 0
        self.batches: list[tuple[int, int]] = []  # (base, last) of every batch appended

    def _open(self) -> PartitionLog:
        return PartitionLog(self.tmp / "t-0", "t", 0, self.config)

    def teardown(self) -> None:
        self.plog.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=3), value=st.integers(0, 120))
    def append(self, sizes: list[int], value: int) -> None:
        blob = b"".join(build_batch([(None, b"x" * value)] * n, timestamp_ms=self.now) for n in sizes)
        self.now += 1
        info = self.plog.append(blob, now_ms=self.now)
        assert info.base_offset == self.end
        for n in sizes:
            self.batches.append((self.end, self.end + n - 1))
            self.end += n
        assert info.last_offset == self.end - 1

    @rule(offset=st.integers(0, 200), max_bytes=st.integers(0, 2_000))
    def read(self, offset: int, max_bytes: int) -> None:
        if not self.start <= offset <= self.end:
            return
        data = self.plog.read(offset, max_bytes)
        headers = list(iter_batch_headers(data))
        assert sum(h.size for h in headers) == len(data)
        if offset == self.end:
            assert data == b""
        else:
            assert headers and headers[0].base_offset <= offset <= headers[0].last_offset
            assert len(data) <= max_bytes or len(headers) == 1
            for a, b in itertools.pairwise(headers):
                assert b.base_offset == a.last_offset + 1

    @rule()
    def reopen(self) -> None:
        self.plog.close()
        self.plog = self._open()

    @rule()
    def crash_and_reopen(self) -> None:
        crash(self.plog)
        self.plog = self._open()

    @rule()
    def flush(self) -> None:
        assert self.plog.flush() == self.end

    @precondition(lambda self: self.end > self.start)
    @rule(data=st.data())
    def delete_records(self, data: st.DataObject) -> None:
        before = data.draw(st.integers(self.start, self.end))
        assert self.plog.delete_records(before) == before
        self.start = before

    @precondition(lambda self: self.end - self.start >= 3)
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        target = data.draw(st.integers(self.start + 1, self.end - 1))
        base = next(b for b, last in self.batches if b <= target <= last)
        self.plog.truncate_to(target)
        if base < self.start:
            self.start = self.end = target
        else:
            self.end = base
        self.batches = [(b, last) for b, last in self.batches if last < self.end]

    @rule()
    def retention(self) -> None:
        self.plog.maintain(now_ms=self.now)
        self.start = self.plog.log_start_offset

    @invariant()
    def offsets_match(self) -> None:
        assert self.plog.log_end_offset == self.end
        assert self.plog.log_start_offset == self.start

    @invariant()
    def everything_readable(self) -> None:
        assert read_all(self.plog, max_bytes=500) == list(range(self.start, self.end))


TestLogMachine = LogMachine.TestCase
TestLogMachine.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
