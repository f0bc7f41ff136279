from __future__ import annotations

import struct

import pytest
from crc32c import crc32c
from kio.schema.errors import ErrorCode

from broker.log.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    CRC_OFFSET,
    InvalidRecordError,
    Record,
    available_codecs,
    build_batch,
    decode_records,
    iter_batch_headers,
    validate_produce_records,
)


def _recrc(buf: bytearray, pos: int = 0) -> None:
    (length,) = struct.unpack_from(">i", buf, pos + 8)
    struct.pack_into(
        ">I", buf, pos + CRC_OFFSET, crc32c(bytes(buf[pos + ATTRIBUTES_OFFSET : pos + 12 + length]))
    )


def test_round_trip_with_headers_nulls_and_timestamps() -> None:
    records = [
        Record(10, 1_000, b"k1", b"v1", [("h", b"x"), ("empty", None)]),
        Record(11, 900, None, b"v2"),
        Record(13, 1_500, b"k3", None),
    ]
    data = build_batch(records, base_offset=10)
    (header,) = iter_batch_headers(data)
    assert header.base_offset == 10
    assert header.last_offset == 13
    assert header.record_count == 3
    assert header.base_timestamp == 1_000
    assert header.max_timestamp == 1_500
    assert decode_records(data) == records
    _expect(ErrorCode.invalid_record, data)  # an offset gap: fine in a compacted log, not in a produce


def test_header_properties() -> None:
    data = build_batch([(b"k", b"v")], producer_id=7, producer_epoch=2, base_sequence=5, transactional=True)
    (h,) = validate_produce_records(data, 1 << 20)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (7, 2, 5)
    assert h.is_transactional and not h.is_control
    assert h.timestamp_type == 0 and h.compression == 0
    assert h.size == len(data) and h.position == 0
    lat = build_batch([(b"k", b"v")], log_append_time=True, timestamp_ms=5)
    assert next(iter_batch_headers(lat)).timestamp_type == 1


def test_matches_kafka_python_encoding() -> None:
    default_records = pytest.importorskip("kafka.record.default_records")
    builder = default_records.DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    builder.append(0, timestamp=1_000, key=b"k", value=b"v", headers=[("h", b"1")])
    builder.append(1, timestamp=1_005, key=None, value=b"xx", headers=[])
    theirs = bytes(builder.build())
    ours = build_batch([Record(0, 1_000, b"k", b"v", [("h", b"1")]), Record(1, 1_005, None, b"xx")])
    # Identical except partitionLeaderEpoch (kafka-python writes 0, we write -1 like the Java producer).
    assert theirs[:12] == ours[:12] and theirs[16:] == ours[16:]
    validate_produce_records(theirs, 1 << 20)
    assert [r.value for r in decode_records(theirs)] == [b"v", b"xx"]


@pytest.mark.parametrize("codec", [COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD])
def test_compressed_round_trip(codec: int) -> None:
    if codec not in available_codecs():
        with pytest.raises(InvalidRecordError) as info:
            build_batch([(b"k", b"v")], compression=codec)
        assert info.value.error_code == ErrorCode.invalid_record
        return
    records = [(b"k%d" % i, b"value" * 20) for i in range(100)]
    data = build_batch(records, compression=codec, timestamp_ms=7)
    (h,) = validate_produce_records(data, 1 << 20)
    assert h.compression == codec
    decoded = decode_records(data)
    assert [(r.key, r.value) for r in decoded] == records
    assert [r.offset for r in decoded] == list(range(100))


def test_unavailable_codec_raises_invalid_record() -> None:
    missing = {COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD} - available_codecs()
    if not missing:
        pytest.skip("every codec is available here")
    data = bytearray(build_batch([(b"k", b"v")]))
    struct.pack_into(">h", data, ATTRIBUTES_OFFSET, min(missing))
    _recrc(data)
    validate_produce_records(data, 1 << 20)  # the broker stores batches of any known codec
    with pytest.raises(InvalidRecordError) as info:
        decode_records(bytes(data))
    assert info.value.error_code == ErrorCode.invalid_record


def test_log_append_time_batches_report_max_timestamp() -> None:
    data = build_batch([Record(0, 5, b"a", b"b"), Record(1, 9, b"c", b"d")], log_append_time=True)
    assert [r.timestamp for r in decode_records(data)] == [9, 9]


def test_iter_batch_headers_stops_at_partial_batch() -> None:
    one, two = build_batch([(b"a", b"1")]), build_batch([(b"b", b"2")], base_offset=1)
    blob = one + two
    assert [h.position for h in iter_batch_headers(blob)] == [0, len(one)]
    assert [h.base_offset for h in iter_batch_headers(blob[:-1])] == [0]
    assert list(iter_batch_headers(blob[: BATCH_HEADER_SIZE - 1])) == []
    assert next(iter(iter_batch_headers(memoryview(blob)[len(one) :]))).base_offset == 1


def test_validate_accepts_several_batches() -> None:
    blob = b"".join(build_batch([(b"k", b"v")] * n) for n in (1, 5, 3))
    headers = validate_produce_records(memoryview(blob), 1 << 20)
    assert [h.record_count for h in headers] == [1, 5, 3]
    assert headers[2].position == headers[1].position + headers[1].size


def _expect(code: int, data: bytes | bytearray, max_bytes: int = 1 << 20) -> None:
    with pytest.raises(InvalidRecordError) as info:
        validate_produce_records(data, max_bytes)
    assert info.value.error_code == code, str(info.value)


def test_validate_rejections() -> None:
    good = build_batch([(b"k", b"v" * 100)] * 3)
    _expect(ErrorCode.invalid_record, b"")
    _expect(ErrorCode.corrupt_message, good[:-1])  # truncated batch
    _expect(ErrorCode.corrupt_message, good + good[:30])  # trailing bytes
    flipped = bytearray(good)
    flipped[-5] ^= 0xFF
    _expect(ErrorCode.corrupt_message, flipped)  # bad CRC
    _expect(ErrorCode.message_too_large, good, max_bytes=len(good) - 1)
    validate_produce_records(good, len(good))

    magic1 = bytearray(good)
    magic1[16] = 1
    _expect(ErrorCode.invalid_record, magic1)

    short = bytearray(good)
    struct.pack_into(">i", short, 8, 10)
    _expect(ErrorCode.corrupt_message, short)

    wrong_count = bytearray(good)
    struct.pack_into(">i", wrong_count, 57, 2)
    _recrc(wrong_count)
    _expect(ErrorCode.invalid_record, wrong_count)

    zero = bytearray(good)
    struct.pack_into(">i", zero, 57, 0)
    struct.pack_into(">i", zero, 23, -1)
    _recrc(zero)
    _expect(ErrorCode.invalid_record, zero)

    _expect(ErrorCode.invalid_record, build_batch([(b"k", b"v")], control=True))
    _expect(ErrorCode.invalid_record, build_batch([(b"k", b"v")], producer_id=5, base_sequence=-1))

    bad_codec = bytearray(good)
    struct.pack_into(">h", bad_codec, ATTRIBUTES_OFFSET, 7)
    _recrc(bad_codec)
    _expect(ErrorCode.invalid_record, bad_codec)


def test_decode_rejects_garbage() -> None:
    with pytest.raises(InvalidRecordError):
        decode_records(b"nope")
    data = bytearray(build_batch([(b"k", b"v" * 10)] * 2))
    struct.pack_into(">i", data, 57, 3)  # claims one record more than present
    with pytest.raises(InvalidRecordError):
        decode_records(bytes(data))


def test_build_batch_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        build_batch([])
    with pytest.raises(ValueError):
        build_batch([Record(5, 1, None, b"a"), Record(5, 1, None, b"b")], base_offset=5)
