"""confluent-kafka helpers shared by the broker tests: topics, produce with delivery reports, assign-and-read.

Records are compared as plain data (``Rec`` sent, ``Got`` read back) so the same checks serve every
client library; ``assert_roundtrip`` holds the checks that a Kafka broker must pass for any client.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.murmur2 import default_partition

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Rec:
    """A record as sent. ``i`` is its position in produce order."""

    i: int
    key: bytes | None
    value: bytes
    headers: Headers = ()
    timestamp: int | None = None


@dataclass(frozen=True)
class Got:
    """A record as read back."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp: int
    timestamp_type: int  # 0 = CreateTime, 1 = LogAppendTime (Kafka's numbering)


def now_ms() -> int:
    return int(time.time() * 1000)


def make_records(n: int, base_ts: int | None = None, keys: int = 100, start: int = 0) -> list[Rec]:
    """``n`` keyed records: key ``key-<i % keys>``, a binary value containing ``i``, 1-2 headers, and
    strictly increasing explicit timestamps ``base_ts + i`` (a minute in the past by default, so a broker
    that stamped its own time would be noticed, yet well inside any retention)."""
    base = now_ms() - 60_000 if base_ts is None else base_ts
    out = []
    for i in range(start, start + n):
        headers: list[tuple[str, bytes]] = [("i", str(i).encode())]
        if i % 2:
            headers.append(("odd", bytes([i % 256, 0, 255]) + b"\xe2\x82\xac"))
        value = f"value-{i}:".encode() + bytes((i * 7 + j) % 256 for j in range(i % 50))
        out.append(Rec(i, f"key-{i % keys}".encode(), value, tuple(headers), base + i))
    return out


def value_index(value: bytes | None) -> int:
    """The ``i`` encoded in a value made by ``make_records``."""
    assert value is not None and value.startswith(b"value-"), value
    return int(value[6 : value.index(b":")])


# ---------------------------------------------------------------------------------------------- admin


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def wait_for_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 20.0) -> None:
    """Wait until metadata lists ``topic`` with exactly ``partitions`` partitions, each with a leader."""
    a = admin(bootstrap)
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        md = a.list_topics(topic=topic, timeout=5)
        t = md.topics.get(topic)
        last = t and (t.error, {p: (pm.leader, pm.error) for p, pm in t.partitions.items()})
        if (
            t is not None
            and t.error is None
            and len(t.partitions) == partitions
            and all(pm.leader >= 0 and pm.error is None for pm in t.partitions.values())
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"topic {topic} not ready with {partitions} partitions after {timeout}s: {last}")


def create_topic(
    bootstrap: str,
    topic: str,
    partitions: int = 3,
    config: dict[str, str] | None = None,
    timeout: float = 20.0,
) -> None:
    """CreateTopics via confluent-kafka's AdminClient and wait until all partitions have a leader."""
    a = admin(bootstrap)  # must outlive the futures: destroying the client fails them
    futures = a.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    futures[topic].result(timeout=timeout)
    wait_for_topic(bootstrap, topic, partitions, timeout)


# --------------------------------------------------------------------------------------------- produce


def confluent_producer(bootstrap: str, **conf: Any) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            **conf,
        }
    )


def produce_confluent(
    bootstrap: str,
    topic: str,
    records: Sequence[Rec],
    partition: int | None = None,
    producer: Producer | None = None,
    timeout: float = 60.0,
    **conf: Any,
) -> dict[int, tuple[int, int]]:
    """Produce ``records`` and return ``{i: (partition, offset)}`` from the delivery reports.

    Fails if any delivery failed or was not reported within ``timeout``.
    """
    p = producer or confluent_producer(bootstrap, **conf)
    delivered: dict[int, tuple[int, int]] = {}
    errors: list[tuple[int, KafkaError]] = []

    def on_delivery(i: int) -> Any:
        def cb(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                errors.append((i, err))
            else:
                offset = msg.offset()  # None with acks=0
                delivered[i] = (msg.partition(), -1 if offset is None else offset)

        return cb

    for r in records:
        kwargs: dict[str, Any] = {
            "key": r.key,
            "value": r.value,
            "headers": list(r.headers),
            "on_delivery": on_delivery(r.i),
        }
        if r.timestamp is not None:
            kwargs["timestamp"] = r.timestamp
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                p.produce(topic, **kwargs)
                break
            except BufferError:  # local queue full: serve delivery reports and retry
                p.poll(0.05)
        p.poll(0)
    remaining = p.flush(timeout)
    assert not errors, f"{len(errors)} deliveries failed, first: {errors[:3]}"
    assert remaining == 0, f"{remaining} messages not delivered within {timeout}s"
    assert len(delivered) == len(records)
    return delivered


# --------------------------------------------------------------------------------------------- consume


def confluent_consumer(bootstrap: str, **conf: Any) -> Consumer:
    """A consumer for assign()-based reads (a group.id is required by librdkafka but never used)."""
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"headrace-tests-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "error",
            **conf,
        }
    )


def got_from_confluent(m: Any) -> Got:
    ts_type, ts = m.timestamp()
    headers = tuple((k, v) for k, v in (m.headers() or []))
    # librdkafka: 1 = CreateTime, 2 = LogAppendTime; Kafka's attribute bit: 0 / 1.
    return Got(m.partition(), m.offset(), m.key(), m.value(), headers, ts, ts_type - 1)


def consume_confluent(
    bootstrap: str,
    topic: str,
    partitions: Iterable[int],
    expected: int,
    start_offset: int = 0,
    timeout: float = 60.0,
    drain: float = 0.0,
    **conf: Any,
) -> list[Got]:
    """Assign ``partitions`` at ``start_offset`` and read until ``expected`` records arrived
    (then keep reading for ``drain`` seconds to catch extras). Fails on timeout."""
    c = confluent_consumer(bootstrap, **conf)
    out: list[Got] = []
    errors: list[KafkaError] = []
    try:
        c.assign([TopicPartition(topic, p, start_offset) for p in partitions])
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            for m in c.consume(num_messages=1000, timeout=0.2):
                if m.error() is not None:
                    if m.error().fatal():
                        raise KafkaException(m.error())
                    errors.append(m.error())
                    continue
                out.append(got_from_confluent(m))
        drain_end = time.monotonic() + drain
        while time.monotonic() < drain_end:
            out.extend(
                got_from_confluent(m) for m in c.consume(num_messages=1000, timeout=0.1) if m.error() is None
            )
    finally:
        c.close()
    assert len(out) >= expected, (
        f"read {len(out)} of {expected} records from {topic} in {timeout}s; consumer errors: {errors[:5]}"
    )
    return out


# ---------------------------------------------------------------------------------------------- checks


def assert_roundtrip(
    sent: Sequence[Rec],
    delivered: dict[int, tuple[int, int]] | None,
    got: Sequence[Got],
    num_partitions: int,
    check_murmur2: bool = True,
    fresh_topic: bool = True,
) -> None:
    """Everything sent came back once, intact, in produce order per partition, keyed by murmur2.

    ``delivered`` (``{i: (partition, offset)}`` from delivery reports) is checked for the records it has
    (acks=0 reports no offsets); records are matched by the ``i`` in their value.
    """
    by_i = {r.i: r for r in sent}
    assert len(got) == len(sent), f"read {len(got)} records, sent {len(sent)}"
    positions = [(g.partition, g.offset) for g in got]
    assert len(set(positions)) == len(positions), "the same (partition, offset) was read twice"

    per_partition: dict[int, list[Got]] = defaultdict(list)
    for g in got:
        per_partition[g.partition].append(g)
    key_partition: dict[bytes | None, int] = {}
    for p, gs in per_partition.items():
        gs.sort(key=lambda g: g.offset)
        offsets = [g.offset for g in gs]
        if fresh_topic:
            assert offsets == list(range(len(gs))), (
                f"partition {p}: offsets not 0..{len(gs) - 1}: {offsets[:20]}"
            )
        order = [value_index(g.value) for g in gs]
        assert order == sorted(order), f"partition {p}: records out of produce order: {order[:30]}"
        for g in gs:
            r = by_i[value_index(g.value)]
            where = f"record {r.i} at {p}/{g.offset}"
            if delivered is not None and r.i in delivered:
                assert delivered[r.i] == (p, g.offset), f"{where}: delivery report said {delivered[r.i]}"
            assert g.key == r.key, f"{where}: key {g.key!r} != {r.key!r}"
            assert g.value == r.value, f"{where}: value differs"
            assert g.headers == r.headers, f"{where}: headers {g.headers!r} != {r.headers!r}"
            if r.timestamp is not None:
                assert (g.timestamp_type, g.timestamp) == (0, r.timestamp), (
                    f"{where}: timestamp (type {g.timestamp_type}) {g.timestamp} != CreateTime {r.timestamp}"
                )
            assert key_partition.setdefault(g.key, p) == p, (
                f"key {g.key!r} on partitions {key_partition[g.key]}, {p}"
            )
            if check_murmur2 and g.key is not None:
                want = default_partition(g.key, num_partitions)
                assert p == want, f"key {g.key!r} on partition {p}, Kafka's murmur2 partitioner picks {want}"
    assert set(by_i) == {value_index(g.value) for g in got}
