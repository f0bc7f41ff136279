"""Kafka record batches (magic v2): the public face of header handling, validation and record codecs.

The hot path (``validate_produce_records``, ``iter_batch_headers``) only parses the 61-byte headers and
checks CRC32C over memoryview slices; ``decode_records`` / ``build_batch`` are the slow path.
"""

from __future__ import annotations

from broker.log.batch import (
    ATTRIBUTES_OFFSET,
    BASE_OFFSET_OFFSET,
    BASE_SEQUENCE_OFFSET,
    BASE_TIMESTAMP_OFFSET,
    BATCH_HEADER_SIZE,
    BATCH_LENGTH_OFFSET,
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    CRC_OFFSET,
    LAST_OFFSET_DELTA_OFFSET,
    MAGIC_OFFSET,
    MAX_TIMESTAMP_OFFSET,
    PARTITION_LEADER_EPOCH_OFFSET,
    PRODUCER_EPOCH_OFFSET,
    PRODUCER_ID_OFFSET,
    RECORDS_COUNT_OFFSET,
    BatchHeader,
    iter_batch_headers,
    validate_produce_records,
)
from broker.log.codec import Record, build_batch, decode_records
from broker.log.compression import available_codecs
from broker.log.errors import InvalidRecordError

__all__ = [
    "ATTRIBUTES_OFFSET",
    "BASE_OFFSET_OFFSET",
    "BASE_SEQUENCE_OFFSET",
    "BASE_TIMESTAMP_OFFSET",
    "BATCH_HEADER_SIZE",
    "BATCH_LENGTH_OFFSET",
    "COMPRESSION_GZIP",
    "COMPRESSION_LZ4",
    "COMPRESSION_NONE",
    "COMPRESSION_SNAPPY",
    "COMPRESSION_ZSTD",
    "CRC_OFFSET",
    "LAST_OFFSET_DELTA_OFFSET",
    "MAGIC_OFFSET",
    "MAX_TIMESTAMP_OFFSET",
    "PARTITION_LEADER_EPOCH_OFFSET",
    "PRODUCER_EPOCH_OFFSET",
    "PRODUCER_ID_OFFSET",
    "RECORDS_COUNT_OFFSET",
    "BatchHeader",
    "InvalidRecordError",
    "Record",
    "available_codecs",
    "build_batch",
    "decode_records",
    "iter_batch_headers",
    "validate_produce_records",
]
