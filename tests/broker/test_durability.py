"""Nothing acknowledged is lost: the headrace broker is SIGKILLed (or its segment files damaged) and restarted
on the same data dir and port; every record acknowledged with acks=all must come back at its offset.

These need headrace's own process and files, so they are skipped for other brokers.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, TopicPartition

from tests.support.brokers import HeadraceBrokers, log_since, log_size
from tests.support.clients import (
    Rec,
    assert_roundtrip,
    confluent_consumer,
    confluent_producer,
    consume_confluent,
    create_topic,
    make_records,
    produce_confluent,
    value_index,
    wait_for_topic,
)
from tests.support.murmur2 import default_partition
from tests.support.segments import BatchInfo, read_batches, segment_files
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.headrace_only

PARTITIONS = 3


def watermarks(bootstrap: str, topic: str, partitions: int) -> dict[int, tuple[int, int]]:
    c = confluent_consumer(bootstrap)
    try:
        return {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
            for p in range(partitions)
        }
    finally:
        c.close()


def ends(delivered: dict[int, tuple[int, int]]) -> dict[int, int]:
    """Next offset per partition implied by delivery reports of a fresh topic."""
    out: dict[int, int] = defaultdict(int)
    for p, o in delivered.values():
        out[p] = max(out[p], o + 1)
    return out


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_acknowledged_records_survive_restart(
    headrace_brokers: HeadraceBrokers, topic: str, how: str
) -> None:
    server = headrace_brokers.start()
    create_topic(server.bootstrap, topic, PARTITIONS)
    records = make_records(20_000)
    delivered = produce_confluent(server.bootstrap, topic, records, acks="all")
    end = ends(delivered)

    if how == "sigkill":
        server.kill()
    else:
        assert server.stop() == 0, "broker did not exit cleanly on SIGTERM"
    server = headrace_brokers.restart(server)
    wait_for_topic(server.bootstrap, topic, PARTITIONS)
    assert watermarks(server.bootstrap, topic, PARTITIONS) == {p: (0, end[p]) for p in range(PARTITIONS)}
    got = consume_confluent(server.bootstrap, topic, range(PARTITIONS), len(records), drain=0.5)
    assert_roundtrip(records, delivered, got, PARTITIONS)

    # Offsets continue where they were.
    more = make_records(300, start=len(records))
    delivered_more = produce_confluent(server.bootstrap, topic, more, acks="all")
    new_offsets: dict[int, list[int]] = defaultdict(list)
    for p, o in delivered_more.values():
        new_offsets[p].append(o)
    for p, offsets in new_offsets.items():
        assert sorted(offsets) == list(range(end[p], end[p] + len(offsets))), f"partition {p}"
    got = consume_confluent(server.bootstrap, topic, range(PARTITIONS), len(records) + len(more), drain=0.3)
    assert_roundtrip(records + more, {**delivered, **delivered_more}, got, PARTITIONS)


def test_sigkill_while_producing_keeps_every_acknowledged_record(
    headrace_brokers: HeadraceBrokers, topic: str
) -> None:
    """SIGKILL with produce requests in flight: records acknowledged before the kill are all there, at
    their offsets; the log holds no gaps and nothing that was not sent."""
    server = headrace_brokers.start()
    create_topic(server.bootstrap, topic, PARTITIONS)
    producer = confluent_producer(server.bootstrap, **{"linger.ms": 1, "retries": 0})
    acked: dict[int, tuple[int, int]] = {}
    failed: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, msg: object) -> None:
        if err is not None:
            failed.append(err)
        else:
            acked[value_index(msg.value())] = (msg.partition(), msg.offset())  # type: ignore[attr-defined]

    records = make_records(200_000)
    by_i = {r.i: r for r in records}
    sent = 0
    deadline = time.monotonic() + 60
    # Produce in chunks and kill right after a chunk was handed over, so requests are in flight.
    for start in range(0, len(records), 1000):
        for r in records[start : start + 1000]:
            while True:
                try:
                    producer.produce(
                        topic,
                        key=r.key,
                        value=r.value,
                        headers=list(r.headers),
                        timestamp=r.timestamp,
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    producer.poll(0.01)
            sent += 1
        if len(acked) >= 8_000:
            break
        producer.poll(0)
        assert time.monotonic() < deadline, f"only {len(acked)} acknowledged after 60 s"
    in_flight = len(producer)
    server.kill()
    producer.poll(0.5)  # deliver reports whose responses arrived before the kill
    producer.purge()
    producer.flush(10)
    assert in_flight > 0, "nothing was in flight at the kill; the test did not test anything"
    assert len(acked) + len(failed) == sent

    server = headrace_brokers.restart(server)
    wait_for_topic(server.bootstrap, topic, PARTITIONS)
    marks = watermarks(server.bootstrap, topic, PARTITIONS)
    for p, (low, high) in marks.items():
        assert low == 0
        assert high >= ends(acked).get(p, 0), (
            f"partition {p}: high watermark {high} below acknowledged offsets"
        )
    total = sum(high for _, high in marks.values())
    got = consume_confluent(server.bootstrap, topic, range(PARTITIONS), total, drain=0.3)
    assert len(got) == total

    seen: dict[tuple[int, int], int] = {}
    per_partition: dict[int, list[int]] = defaultdict(list)
    for g in got:
        i = value_index(g.value)
        r = by_i[i]
        assert (g.key, g.value, g.headers, g.timestamp) == (r.key, r.value, r.headers, r.timestamp), (
            f"record {i}"
        )
        assert g.key is not None and g.partition == default_partition(g.key, PARTITIONS)
        seen[(g.partition, g.offset)] = i
        per_partition[g.partition].append(g.offset)
    for p, offsets in per_partition.items():
        assert sorted(offsets) == list(range(len(offsets))), f"partition {p}: offsets have gaps"
    lost = {i: po for i, po in acked.items() if seen.get(po) != i}
    assert not lost, f"{len(lost)} acknowledged records missing or moved, e.g. {list(lost.items())[:5]}"
    # Produced after the restart: offsets continue at the recovered end.
    extra = make_records(30, start=len(records))
    delivered = produce_confluent(server.bootstrap, topic, extra)
    firsts: dict[int, int] = {}
    for p, o in delivered.values():
        firsts[p] = min(firsts.get(p, o), o)
    assert all(firsts[p] == marks[p][1] for p in firsts), (firsts, marks)


# ------------------------------------------------------------------------------------------- damaged files


def _produce_batches(
    server: ServerProcess, topic: str, rounds: int, per_round: int
) -> tuple[list[Rec], dict[int, tuple[int, int]]]:
    producer = confluent_producer(server.bootstrap, **{"linger.ms": 20})
    records: list[Rec] = []
    delivered: dict[int, tuple[int, int]] = {}
    for k in range(rounds):
        batch = make_records(per_round, start=k * per_round)
        delivered.update(produce_confluent(server.bootstrap, topic, batch, partition=0, producer=producer))
        records += batch
    return records, delivered


def _damage(path: Path, batches: list[BatchInfo], how: str) -> int:
    """Damage the segment; returns the first offset that must be gone (= the next offset after restart)."""
    last = batches[-1]
    if how == "garbage":
        with open(path, "ab") as f:
            f.write(random.Random(7).randbytes(100))
        return last.next_offset
    if how == "truncate":
        os.truncate(path, last.position + last.size // 2)
        return last.base_offset
    victim = last if how == "flip" else batches[len(batches) // 2]
    with open(path, "r+b") as f:
        f.seek(victim.end - 3)  # inside the records, covered by the batch CRC
        byte = f.read(1)
        f.seek(victim.end - 3)
        f.write(bytes([byte[0] ^ 0x5A]))
    return victim.base_offset


@pytest.mark.parametrize("how", ["garbage", "truncate", "flip", "flip_middle"])
def test_damaged_segment_tail_is_truncated_on_restart(
    headrace_brokers: HeadraceBrokers, topic: str, how: str
) -> None:
    server = headrace_brokers.start()
    create_topic(server.bootstrap, topic, 1)
    records, delivered = _produce_batches(server, topic, rounds=6, per_round=25)
    server.kill()

    assert server.data_dir is not None
    partition_dir = server.data_dir / f"{topic}-0"
    segments = segment_files(partition_dir)
    assert segments, f"no <20-digit>.log segment in {partition_dir}: {sorted(os.listdir(partition_dir))}"
    active = segments[-1]
    batches = read_batches(active)
    assert len(batches) >= 3, f"expected several batches in {active.name}, found {batches}"
    assert batches[-1].next_offset == len(records)
    cut = _damage(active, batches, how)

    log_start = log_size(server)
    server = headrace_brokers.restart(server)
    wait_for_topic(server.bootstrap, topic, 1)
    startup_log = log_since(server, log_start)
    assert "truncat" in startup_log.lower() and active.name in startup_log, (
        f"start-up log does not report truncating {active.name}:\n{startup_log[-3000:]}"
    )

    assert watermarks(server.bootstrap, topic, 1) == {0: (0, cut)}
    kept = [r for r in records if delivered[r.i][1] < cut]
    got = consume_confluent(server.bootstrap, topic, [0], len(kept), drain=0.5) if kept else []
    assert_roundtrip(kept, delivered, got, 1)

    after = make_records(5, start=1000)
    delivered_after = produce_confluent(server.bootstrap, topic, after, partition=0)
    assert sorted(o for _, o in delivered_after.values()) == list(range(cut, cut + 5))
    got = consume_confluent(server.bootstrap, topic, [0], len(kept) + 5, drain=0.3)
    assert Counter(value_index(g.value) for g in got) == Counter(r.i for r in kept + after)
    assert_roundtrip(kept + after, {**delivered, **delivered_after}, got, 1, check_murmur2=False)
