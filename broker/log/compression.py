"""Compression codecs of Kafka record batches (slow path: record decoding and test/internal encoding).

gzip always works (stdlib). snappy, lz4 and zstd use ``python-snappy`` / ``lz4`` / ``zstandard`` or
``cramjam`` when one of them is importable; otherwise InvalidRecordError is raised. Snappy follows Kafka's
Java client (xerial framing) when compressing and accepts both framed and raw data when decompressing.
"""

from __future__ import annotations

import gzip
import importlib
import struct
from functools import cache
from types import ModuleType
from typing import Any

from kio.schema.errors import ErrorCode

from broker.log.batch import (
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
)
from broker.log.errors import InvalidRecordError

CODEC_NAMES = {
    COMPRESSION_NONE: "none",
    COMPRESSION_GZIP: "gzip",
    COMPRESSION_SNAPPY: "snappy",
    COMPRESSION_LZ4: "lz4",
    COMPRESSION_ZSTD: "zstd",
}

_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = _XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024
_I32 = struct.Struct(">i")


@cache
def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _unavailable(codec: int) -> InvalidRecordError:
    name = CODEC_NAMES.get(codec, str(codec))
    return InvalidRecordError(
        f"Compression codec {name} is not available on this broker", ErrorCode.invalid_record
    )


def available_codecs() -> set[int]:
    """The codec ids this process can compress and decompress."""
    out = {COMPRESSION_NONE, COMPRESSION_GZIP}
    for codec in (COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD):
        try:
            _codec_functions(codec)
        except InvalidRecordError:
            continue
        out.add(codec)
    return out


def _codec_functions(codec: int) -> tuple[Any, Any]:
    """Return ``(compress, decompress)`` callables for snappy (raw), lz4 (frame) or zstd."""
    cramjam = _module("cramjam")
    if codec == COMPRESSION_SNAPPY:
        snappy = _module("snappy")
        if snappy is not None:
            return snappy.compress, snappy.uncompress
        if cramjam is not None:
            return (
                lambda b: bytes(cramjam.snappy.compress_raw(b)),
                lambda b: bytes(cramjam.snappy.decompress_raw(b)),
            )
    elif codec == COMPRESSION_LZ4:
        lz4 = _module("lz4.frame")
        if lz4 is not None:
            return lz4.compress, lz4.decompress
        if cramjam is not None:
            return (lambda b: bytes(cramjam.lz4.compress(b)), lambda b: bytes(cramjam.lz4.decompress(b)))
    elif codec == COMPRESSION_ZSTD:
        zstd = _module("zstandard")
        if zstd is not None:
            return (
                lambda b: zstd.ZstdCompressor().compress(b),
                lambda b: zstd.ZstdDecompressor().decompressobj().decompress(b),
            )
        if cramjam is not None:
            return (lambda b: bytes(cramjam.zstd.compress(b)), lambda b: bytes(cramjam.zstd.decompress(b)))
    raise _unavailable(codec)


def compress(codec: int, data: bytes) -> bytes:
    """Compress a batch's records section with ``codec``; raise InvalidRecordError if unavailable."""
    if codec == COMPRESSION_NONE:
        return data
    if codec == COMPRESSION_GZIP:
        return gzip.compress(data, compresslevel=6, mtime=0)
    compress_fn, _ = _codec_functions(codec)
    if codec == COMPRESSION_SNAPPY:
        parts = [_XERIAL_HEADER]
        for i in range(0, len(data), _XERIAL_BLOCK):
            block = bytes(compress_fn(data[i : i + _XERIAL_BLOCK]))
            parts.append(_I32.pack(len(block)))
            parts.append(block)
        return b"".join(parts)
    return bytes(compress_fn(data))


def decompress(codec: int, data: bytes | memoryview) -> bytes:
    """Decompress a batch's records section; raise InvalidRecordError if unavailable or corrupt."""
    if codec == COMPRESSION_NONE:
        return bytes(data)
    try:
        if codec == COMPRESSION_GZIP:
            return gzip.decompress(data)
        _, decompress_fn = _codec_functions(codec)
        raw = bytes(data)
        if codec == COMPRESSION_SNAPPY and raw.startswith(_XERIAL_MAGIC):
            return _xerial_decompress(raw, decompress_fn)
        return bytes(decompress_fn(raw))
    except InvalidRecordError:
        raise
    except Exception as exc:
        name = CODEC_NAMES.get(codec, str(codec))
        raise InvalidRecordError(
            f"Cannot decompress {name} record batch: {exc}", ErrorCode.invalid_record
        ) from exc


def _xerial_decompress(raw: bytes, decompress_fn: Any) -> bytes:
    pos = len(_XERIAL_HEADER)
    out: list[bytes] = []
    while pos < len(raw):
        if len(raw) - pos < 4:
            raise InvalidRecordError("Truncated xerial snappy block", ErrorCode.invalid_record)
        (length,) = _I32.unpack_from(raw, pos)
        pos += 4
        if length < 0 or pos + length > len(raw):
            raise InvalidRecordError("Truncated xerial snappy block", ErrorCode.invalid_record)
        out.append(bytes(decompress_fn(raw[pos : pos + length])))
        pos += length
    return b"".join(out)
