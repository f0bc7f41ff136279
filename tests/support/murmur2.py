"""Kafka's murmur2 hash and default partitioner, bit-for-bit as in Java's ``Utils.murmur2``.

The Java code works on signed 32-bit ints; here every step is reduced mod 2**32 and the result is
returned as a signed int, so the values match Java's (see Kafka's ``UtilsTest.testMurmur2``).
"""

from __future__ import annotations

_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Java-compatible murmur2 (seed 0x9747b28c); returns a signed 32-bit int like Java."""
    length = len(data)
    m = 0x5BD1E995
    r = 24
    h = (0x9747B28C ^ length) & _MASK
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * m) & _MASK
        k ^= k >> r  # Java >>> on the unsigned representation
        k = (k * m) & _MASK
        h = (h * m) & _MASK
        h ^= k
    tail = length & ~3
    rem = length % 4
    if rem == 3:
        h ^= data[tail + 2] << 16
    if rem >= 2:
        h ^= data[tail + 1] << 8
    if rem >= 1:
        h ^= data[tail]
        h = (h * m) & _MASK
    h ^= h >> 13
    h = (h * m) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(n: int) -> int:
    """Kafka's ``Utils.toPositive``: clear the sign bit (not abs())."""
    return n & 0x7FFFFFFF


def default_partition(key: bytes, num_partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a non-null key."""
    return to_positive(murmur2(key)) % num_partitions
