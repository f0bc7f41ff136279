"""End-to-end: real Kafka clients (confluent-kafka, kafka-python, aiokafka, kcat) against the broker
under test.

Each client creates its topic through its own admin API, produces keyed records with headers and explicit
timestamps, and reads them back by assigning partitions (no consumer groups here). What must hold for every
client: nothing lost or duplicated, offsets 0..n-1 per partition in produce order, keys/values/headers/
timestamps intact, and each key on the partition Kafka's murmur2 partitioner picks.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import TopicPartition as CTopicPartition
from confluent_kafka.admin import ConfigResource, NewPartitions, OffsetSpec, ResourceType

from tests.support.brokers import BrokerUnderTest, kcat_binary
from tests.support.clients import (
    Got,
    Rec,
    admin,
    assert_roundtrip,
    confluent_consumer,
    confluent_producer,
    consume_confluent,
    create_topic,
    got_from_confluent,
    make_records,
    now_ms,
    produce_confluent,
    wait_for_topic,
)
from tests.support.kafkawire import WireConnection
from tests.support.murmur2 import default_partition, murmur2

N = 10_000
PARTITIONS = 3
CLIENTS = ("confluent", "kafka-python", "aiokafka")


def got_from_py(r: Any) -> Got:
    """A kafka-python or aiokafka ConsumerRecord as ``Got``."""
    return Got(
        r.partition,
        r.offset,
        r.key,
        r.value,
        tuple((k, v) for k, v in (r.headers or ())),
        r.timestamp,
        r.timestamp_type,
    )


def check_py_create_result(result: Any, topic: str) -> None:
    """kafka-python 3 returns a dict, aiokafka a CreateTopicsResponse; both carry per-topic error codes."""
    if isinstance(result, dict):
        errors = [(t["name"], t["error_code"]) for t in result["topics"]]
    else:
        errors = [(t[0], t[1]) for t in result.topic_errors]
    assert errors == [(topic, 0)], f"CreateTopics answered {result}"


# ---------------------------------------------------------------------------------- helpers per client


class ClientProducer:
    """One producer of the given client library (kept open across ``send`` calls until ``close``).

    ``acks`` and ``linger_ms`` are mapped to each library's config names. aiokafka runs on a private event
    loop (``asyncio.Runner``) owned by this object.
    """

    def __init__(self, client: str, bootstrap: str, acks: int | str = "all", linger_ms: int = 5) -> None:
        self.client = client
        self.acks = acks
        self._runner: asyncio.Runner | None = None
        if client == "confluent":
            self._p: Any = confluent_producer(bootstrap, acks=str(acks), **{"linger.ms": linger_ms})
        elif client == "kafka-python":
            from kafka import KafkaProducer

            self._p = KafkaProducer(
                bootstrap_servers=bootstrap, client_id="headrace-tests", acks=acks, linger_ms=linger_ms
            )
        else:
            from aiokafka import AIOKafkaProducer

            self._runner = asyncio.Runner()

            async def start() -> Any:
                p = AIOKafkaProducer(
                    bootstrap_servers=bootstrap, client_id="headrace-tests", acks=acks, linger_ms=linger_ms
                )
                await p.start()
                return p

            self._p = self._runner.run(start())

    def send(
        self, topic: str, records: Sequence[Rec], partition: int | None = None
    ) -> dict[int, tuple[int, int]]:
        """Produce and wait for all acknowledgements; ``{i: (partition, offset)}`` (nothing for acks=0)."""
        if self.client == "confluent":
            out = produce_confluent("", topic, records, partition=partition, producer=self._p)
            return {} if self.acks == 0 else out
        if self.client == "kafka-python":
            futures = [
                (
                    r.i,
                    self._p.send(
                        topic,
                        key=r.key,
                        value=r.value,
                        headers=list(r.headers),
                        timestamp_ms=r.timestamp,
                        partition=partition,
                    ),
                )
                for r in records
            ]
            self._p.flush(timeout=60)
            results = [(i, f.get(timeout=30)) for i, f in futures]
        else:

            async def send_all() -> list[tuple[int, Any]]:
                futures = [
                    (
                        r.i,
                        await self._p.send(
                            topic,
                            key=r.key,
                            value=r.value,
                            headers=list(r.headers),
                            timestamp_ms=r.timestamp,
                            partition=partition,
                        ),
                    )
                    for r in records
                ]
                await self._p.flush()
                return [(i, await asyncio.wait_for(f, 30)) for i, f in futures]

            assert self._runner is not None
            results = self._runner.run(send_all())
        if self.acks == 0:  # no response: whatever offsets a client reports are made up locally
            return {}
        return {i: (md.partition, md.offset) for i, md in results}

    def close(self) -> None:
        if self.client == "confluent":
            self._p.flush(10)
        elif self.client == "kafka-python":
            self._p.close(timeout=10)
        else:
            assert self._runner is not None
            try:
                self._runner.run(self._p.stop())
            finally:
                self._runner.close()


def produce_with(
    client: str,
    bootstrap: str,
    topic: str,
    records: Sequence[Rec],
    acks: int | str = "all",
    partition: int | None = None,
) -> dict[int, tuple[int, int]]:
    """Produce with a fresh producer of ``client`` and close it."""
    producer = ClientProducer(client, bootstrap, acks=acks)
    try:
        return producer.send(topic, records, partition)
    finally:
        producer.close()


def kp_consume(
    bootstrap: str, topic: str, partitions: Sequence[int], expected: int, timeout: float = 60.0, **conf: Any
) -> list[Got]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="headrace-tests",
        **conf,
    )
    out: list[Got] = []
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=200, max_records=5000).values():
                out.extend(got_from_py(r) for r in recs)
        end = time.monotonic() + 0.3  # anything beyond the expected records would be a bug
        while time.monotonic() < end:
            for recs in consumer.poll(timeout_ms=100).values():
                out.extend(got_from_py(r) for r in recs)
    finally:
        consumer.close()
    assert len(out) >= expected, f"kafka-python read {len(out)} of {expected} records in {timeout}s"
    return out


async def ak_consume(
    bootstrap: str, topic: str, partitions: Sequence[int], expected: int, timeout: float = 60.0, **conf: Any
) -> list[Got]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="headrace-tests",
        **conf,
    )
    await consumer.start()
    out: list[Got] = []
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            for recs in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
                out.extend(got_from_py(r) for r in recs)
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            for recs in (await consumer.getmany(timeout_ms=100)).values():
                out.extend(got_from_py(r) for r in recs)
    finally:
        await consumer.stop()
    assert len(out) >= expected, f"aiokafka read {len(out)} of {expected} records in {timeout}s"
    return out


def consume_with(
    client: str, bootstrap: str, topic: str, partitions: Sequence[int], expected: int, **conf: Any
) -> list[Got]:
    if client == "confluent":
        return consume_confluent(bootstrap, topic, partitions, expected, drain=0.3, **conf)
    if client == "kafka-python":
        return kp_consume(bootstrap, topic, partitions, expected, **conf)
    return asyncio.run(ak_consume(bootstrap, topic, partitions, expected, **conf))


# --------------------------------------------------------------------------------------------- murmur2


def test_murmur2_matches_kafka_reference_values() -> None:
    # From Kafka's UtilsTest.testMurmur2 (Java's signed ints).
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    assert {k: murmur2(k) for k in cases} == cases
    # toPositive clears the sign bit; it is not abs(): -973932308 & 0x7fffffff = 1173551340.
    assert default_partition(b"21", 1_000_000_007) == 1173551340 % 1_000_000_007


# --------------------------------------------------------------------------- 10,000-record round trips


def test_confluent_kafka_roundtrip(broker: BrokerUnderTest, topic: str) -> None:
    from confluent_kafka.admin import NewTopic

    cadmin = admin(broker.bootstrap)
    futures = cadmin.create_topics([NewTopic(topic, num_partitions=PARTITIONS)], operation_timeout=20)
    futures[topic].result(timeout=30)
    wait_for_topic(broker.bootstrap, topic, PARTITIONS)

    records = make_records(N)
    delivered = produce_confluent(broker.bootstrap, topic, records, acks="all", partitioner="murmur2_random")
    got = consume_confluent(broker.bootstrap, topic, range(PARTITIONS), N, drain=0.5)
    assert_roundtrip(records, delivered, got, PARTITIONS)


def test_kafka_python_roundtrip(broker: BrokerUnderTest, topic: str) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    kadmin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="headrace-tests")
    try:
        check_py_create_result(kadmin.create_topics([NewTopic(topic, PARTITIONS, 1)]), topic)
    finally:
        kadmin.close()
    wait_for_topic(broker.bootstrap, topic, PARTITIONS)

    records = make_records(N)
    delivered = produce_with("kafka-python", broker.bootstrap, topic, records, acks="all")
    got = kp_consume(broker.bootstrap, topic, range(PARTITIONS), N)
    assert_roundtrip(records, delivered, got, PARTITIONS)


def test_aiokafka_roundtrip(broker: BrokerUnderTest, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def create() -> None:
        aadmin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="headrace-tests")
        await aadmin.start()
        try:
            check_py_create_result(await aadmin.create_topics([NewTopic(topic, PARTITIONS, 1)]), topic)
        finally:
            await aadmin.close()

    asyncio.run(create())
    wait_for_topic(broker.bootstrap, topic, PARTITIONS)

    records = make_records(N)
    delivered = produce_with("aiokafka", broker.bootstrap, topic, records, acks="all")
    got = asyncio.run(ak_consume(broker.bootstrap, topic, range(PARTITIONS), N))
    assert_roundtrip(records, delivered, got, PARTITIONS)


# ------------------------------------------------------------------------------------------ acks 0 / 1


@pytest.mark.parametrize("client", CLIENTS)
def test_produce_acks_0_and_1(broker: BrokerUnderTest, topic: str, client: str) -> None:
    create_topic(broker.bootstrap, topic, PARTITIONS)
    fire_and_forget = make_records(300)
    leader_ack = make_records(300, start=300)
    # acks=0 has no response, so "sent" is all the client knows: keep that producer (and its connection)
    # open until the records are readable, then produce the acks=1 ones.
    p0 = ClientProducer(client, broker.bootstrap, acks=0)
    try:
        assert p0.send(topic, fire_and_forget) == {}
        first = consume_confluent(broker.bootstrap, topic, range(PARTITIONS), 300, drain=0.2)
        assert_roundtrip(fire_and_forget, None, first, PARTITIONS)
    finally:
        p0.close()
    delivered = produce_with(client, broker.bootstrap, topic, leader_ack, acks=1)
    assert len(delivered) == 300, delivered
    got = consume_with(client, broker.bootstrap, topic, range(PARTITIONS), 600)
    assert_roundtrip(fire_and_forget + leader_ack, delivered, got, PARTITIONS)


# ----------------------------------------------------------------------------------------- ListOffsets


def _offsets_dataset(
    broker: BrokerUnderTest, topic: str
) -> tuple[list[Rec], dict[int, tuple[int, int]], int]:
    create_topic(broker.bootstrap, topic, PARTITIONS)
    base = now_ms() - 120_000
    records = [Rec(r.i, r.key, r.value, r.headers, base + 10 * r.i) for r in make_records(600)]
    delivered = produce_confluent(broker.bootstrap, topic, records)
    return records, delivered, base


def _expected_by_time(
    records: Sequence[Rec], delivered: dict[int, tuple[int, int]], ts: int
) -> dict[int, tuple[int, int] | None]:
    """Kafka's answer per partition: (offset, timestamp) of the first record with timestamp >= ts,
    else None."""
    out: dict[int, tuple[int, int] | None] = dict.fromkeys(range(PARTITIONS))
    for r in records:
        p, o = delivered[r.i]
        assert r.timestamp is not None
        if r.timestamp >= ts and (out[p] is None or o < out[p][0]):  # type: ignore[index]
            out[p] = (o, r.timestamp)
    return out


@pytest.mark.xfail_tansu("ListOffsets: latest and by-timestamp answers are wrong")
@pytest.mark.parametrize("client", CLIENTS)
def test_list_offsets(broker: BrokerUnderTest, topic: str, client: str) -> None:
    records, delivered, base = _offsets_dataset(broker, topic)
    counts = defaultdict(int)
    for p, _ in delivered.values():
        counts[p] += 1
    earliest = dict.fromkeys(range(PARTITIONS), 0)
    latest = {p: counts[p] for p in range(PARTITIONS)}
    probes = {
        "before all": base - 5_000,
        "exact hit": base + 10 * 300,
        "between records": base + 10 * 450 + 3,
        "after all": base + 10 * 600 + 1,
    }
    expected = {name: _expected_by_time(records, delivered, ts) for name, ts in probes.items()}
    assert expected["before all"] == {p: (0, _first_ts(records, delivered, p)) for p in range(PARTITIONS)}
    assert all(v is None for v in expected["after all"].values())

    if client == "confluent":
        c = confluent_consumer(broker.bootstrap)
        try:
            marks = {
                p: c.get_watermark_offsets(CTopicPartition(topic, p), timeout=10, cached=False)
                for p in range(PARTITIONS)
            }
            assert marks == {p: (earliest[p], latest[p]) for p in range(PARTITIONS)}
            for name, ts in probes.items():
                res = c.offsets_for_times(
                    [CTopicPartition(topic, p, ts) for p in range(PARTITIONS)], timeout=10
                )
                assert all(tp.error is None for tp in res), res
                got = {tp.partition: tp.offset for tp in res}
                # librdkafka reports "no such record" as offset -1 (OFFSET_END).
                want = {p: (-1 if v is None else v[0]) for p, v in expected[name].items()}
                assert got == want, f"offsets_for_times({name}) = {got}, want {want}"
        finally:
            c.close()
        # The admin API as well (ListOffsets through AdminClient, also reporting the record's timestamp).
        specs = {
            CTopicPartition(topic, 0): OffsetSpec.earliest(),
            CTopicPartition(topic, 1): OffsetSpec.latest(),
            CTopicPartition(topic, 2): OffsetSpec.for_timestamp(probes["exact hit"]),
        }
        cadmin = admin(broker.bootstrap)
        res = {
            tp.partition: f.result(timeout=10)
            for tp, f in cadmin.list_offsets(specs, request_timeout=10).items()
        }
        assert res[0].offset == 0
        assert res[1].offset == latest[1]
        hit = expected["exact hit"][2]
        assert hit is not None and (res[2].offset, res[2].timestamp) == hit
        return

    def check(begin: dict[Any, int], end: dict[Any, int], by_time: dict[str, dict[Any, Any]]) -> None:
        assert {tp.partition: o for tp, o in begin.items()} == earliest
        assert {tp.partition: o for tp, o in end.items()} == latest
        for name, res in by_time.items():
            got = {tp.partition: (None if v is None else (v.offset, v.timestamp)) for tp, v in res.items()}
            assert got == expected[name], f"offsets_for_times({name}) = {got}, want {expected[name]}"

    if client == "kafka-python":
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
        try:
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            check(
                consumer.beginning_offsets(tps),
                consumer.end_offsets(tps),
                {name: consumer.offsets_for_times(dict.fromkeys(tps, ts)) for name, ts in probes.items()},
            )
        finally:
            consumer.close()
        return

    async def with_aiokafka() -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            by_time = {
                name: await consumer.offsets_for_times(dict.fromkeys(tps, ts)) for name, ts in probes.items()
            }
            check(await consumer.beginning_offsets(tps), await consumer.end_offsets(tps), by_time)
        finally:
            await consumer.stop()

    asyncio.run(with_aiokafka())


def _first_ts(records: Sequence[Rec], delivered: dict[int, tuple[int, int]], p: int) -> int:
    ts = [r.timestamp for r in records if delivered[r.i] == (p, 0)]
    assert len(ts) == 1 and ts[0] is not None
    return ts[0]


# --------------------------------------------------------------------- DeleteTopics / CreatePartitions


def _topic_listed(bootstrap: str, topic: str) -> bool:
    # All-topics metadata: asking for the one topic could auto-create it again.
    return topic in admin(bootstrap).list_topics(timeout=10).topics


def _admin_call(client: str, bootstrap: str, call: Callable[[Any], Any]) -> Any:
    """Run ``call(admin_client)`` with a fresh admin client of the given library."""
    if client == "confluent":
        return call(admin(bootstrap))
    if client == "kafka-python":
        from kafka import KafkaAdminClient

        kadmin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="headrace-tests")
        try:
            return call(kadmin)
        finally:
            kadmin.close()

    async def run() -> Any:
        from aiokafka.admin import AIOKafkaAdminClient

        aadmin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="headrace-tests")
        await aadmin.start()
        try:
            return await call(aadmin)
        finally:
            await aadmin.close()

    return asyncio.run(run())


@pytest.mark.parametrize("client", CLIENTS)
def test_delete_topic_then_recreate_starts_empty(broker: BrokerUnderTest, topic: str, client: str) -> None:
    create_topic(broker.bootstrap, topic, 1)
    produce_confluent(broker.bootstrap, topic, make_records(5))
    assert _topic_listed(broker.bootstrap, topic)

    if client == "confluent":
        _admin_call(
            client,
            broker.bootstrap,
            lambda a: a.delete_topics([topic], operation_timeout=20)[topic].result(timeout=30),
        )
    elif client == "kafka-python":
        # kafka-python 3 raises on per-topic errors (raise_errors=True is the default).
        _admin_call(client, broker.bootstrap, lambda a: a.delete_topics([topic], raise_errors=True))
    else:
        res = _admin_call(client, broker.bootstrap, lambda a: a.delete_topics([topic]))
        assert [tuple(t)[:2] for t in res.topic_error_codes] == [(topic, 0)], res

    deadline = time.monotonic() + 15
    while _topic_listed(broker.bootstrap, topic):
        assert time.monotonic() < deadline, f"{topic} still listed 15 s after DeleteTopics"
        time.sleep(0.1)

    # Re-creating the name gives a new, empty topic (Kafka may need a moment to finish the deletion).
    deadline = time.monotonic() + 15
    while True:
        try:
            create_topic(broker.bootstrap, topic, 1)
            break
        except Exception as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    fresh = make_records(1, start=100)
    assert produce_confluent(broker.bootstrap, topic, fresh) == {100: (0, 0)}
    got = consume_confluent(broker.bootstrap, topic, [0], 1, drain=0.5)
    assert_roundtrip(fresh, {100: (0, 0)}, got, 1)


@pytest.mark.xfail_tansu("no CreatePartitions API")
@pytest.mark.parametrize("client", CLIENTS)
def test_create_partitions(broker: BrokerUnderTest, topic: str, client: str) -> None:
    create_topic(broker.bootstrap, topic, PARTITIONS)
    before = make_records(30)
    delivered = produce_confluent(broker.bootstrap, topic, before)

    if client == "confluent":
        _admin_call(
            client,
            broker.bootstrap,
            lambda a: a.create_partitions([NewPartitions(topic, 5)])[topic].result(timeout=30),
        )
    elif client == "kafka-python":
        from kafka.admin import NewPartitions as KNewPartitions

        _admin_call(
            client,
            broker.bootstrap,
            lambda a: a.create_partitions({topic: KNewPartitions(5)}, raise_errors=True),
        )
    else:
        from aiokafka.admin import NewPartitions as ANewPartitions

        res = _admin_call(
            client, broker.bootstrap, lambda a: a.create_partitions({topic: ANewPartitions(5, None)})
        )
        assert [tuple(t)[:2] for t in res.topic_errors] == [(topic, 0)], res

    wait_for_topic(broker.bootstrap, topic, 5)
    md = admin(broker.bootstrap).list_topics(topic=topic, timeout=10).topics[topic]
    assert sorted(md.partitions) == [0, 1, 2, 3, 4]
    # The new partitions take writes, and the old ones kept their data.
    extra = [Rec(1000, b"new-4", b"value-1000:"), Rec(1001, b"new-3", b"value-1001:")]
    assert produce_confluent(broker.bootstrap, topic, extra[:1], partition=4) == {1000: (4, 0)}
    assert produce_confluent(broker.bootstrap, topic, extra[1:], partition=3) == {1001: (3, 0)}
    got = consume_confluent(broker.bootstrap, topic, range(5), 32, drain=0.3)
    assert_roundtrip(before + extra, {**delivered, 1000: (4, 0), 1001: (3, 0)}, got, 5, check_murmur2=False)
    # Keys produced before the increase stay where murmur2 put them for 3 partitions.
    for g in got:
        if g.partition < 3:
            assert g.key is not None and g.partition == default_partition(g.key, PARTITIONS)


# ------------------------------------------------------------------------------------- DescribeConfigs


@pytest.mark.xfail_tansu("DescribeConfigs returns no entries for a topic")
def test_describe_topic_configs(broker: BrokerUnderTest, topic: str) -> None:
    create_topic(broker.bootstrap, topic, 1, config={"retention.ms": "3600000"})
    cadmin = admin(broker.bootstrap)
    res = cadmin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)], request_timeout=10)
    (future,) = res.values()
    entries = future.result(timeout=10)
    assert {"retention.ms", "cleanup.policy"} <= set(entries), sorted(entries)
    assert entries["retention.ms"].value == "3600000"
    assert not entries["retention.ms"].is_default
    assert entries["cleanup.policy"].value == "delete"
    for name in ("segment.bytes", "max.message.bytes"):
        if name in entries:
            assert entries[name].value is not None and int(entries[name].value) > 0, (
                name,
                entries[name].value,
            )


# ------------------------------------------------------------------------------------------- long poll


def _raw_fetch(
    broker: BrokerUnderTest, conn: WireConnection, topic: str, offset: int, max_wait_ms: int
) -> tuple[float, Any]:
    """One Fetch v4 for partition 0 at ``offset``; returns (seconds until the answer, partition data)."""
    from kio.schema.fetch.v4.request import FetchPartition, FetchRequest, FetchTopic

    req = FetchRequest(
        max_wait=timedelta(milliseconds=max_wait_ms),
        min_bytes=1,
        max_bytes=1 << 20,
        topics=(
            FetchTopic(
                topic=topic,
                partitions=(FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=1 << 20),),
            ),
        ),
    )
    t0 = time.monotonic()
    resp = conn.request(1, 4, req)
    (t,) = resp.responses
    (p,) = t.partitions
    return time.monotonic() - t0, p


def test_empty_fetch_is_held_for_max_wait(broker: BrokerUnderTest, topic: str) -> None:
    """Raw Fetch v4 on an empty partition: the broker holds it for max_wait (long poll), not 0 and not
    forever."""
    create_topic(broker.bootstrap, topic, 1)
    with WireConnection(broker.host, broker.port) as conn:
        for max_wait in (100, 600):
            elapsed, p = _raw_fetch(broker, conn, topic, 0, max_wait)
            assert p.error_code == 0 and p.high_watermark == 0 and not p.records, p
            assert max_wait * 0.9 / 1000 <= elapsed < max_wait / 1000 + 1.5, (
                f"empty Fetch with max_wait={max_wait} ms answered after {elapsed * 1000:.0f} ms"
            )


@pytest.mark.xfail_tansu("a waiting Fetch is answered only at half of max_wait")
def test_waiting_fetch_returns_when_a_record_arrives(broker: BrokerUnderTest, topic: str) -> None:
    """Raw Fetch v4 with max_wait=5 s on an empty partition; a record produced at 200 ms must end the wait."""
    create_topic(broker.bootstrap, topic, 1)
    with WireConnection(broker.host, broker.port) as conn:
        timer = threading.Timer(0.2, lambda: produce_confluent(broker.bootstrap, topic, make_records(1)))
        timer.start()
        try:
            elapsed, p = _raw_fetch(broker, conn, topic, 0, 5000)
        finally:
            timer.join()
        assert p.error_code == 0 and p.records and p.high_watermark == 1, p
        assert elapsed < 1.0, (
            f"Fetch(max_wait=5 s) answered {elapsed * 1000:.0f} ms after start; a record came at 200 ms"
        )


def test_consumer_long_poll_gets_new_records_at_once(broker: BrokerUnderTest, topic: str) -> None:
    """A consumer waiting on an empty partition (fetch.wait.max.ms=500) sees records produced ~200 ms apart
    within a few ms, i.e. the broker wakes a waiting Fetch instead of letting it run out its 500 ms.

    (A broker that only answered at the end of max-wait gives latencies spread over 0-500 ms; five of them all
    below 150 ms would happen with probability ~0.2%.)"""
    create_topic(broker.bootstrap, topic, 1)
    producer = confluent_producer(broker.bootstrap, **{"linger.ms": 0})
    consumer = confluent_consumer(broker.bootstrap, **{"fetch.wait.max.ms": 500})
    sent_at: dict[bytes, float] = {}
    try:
        consumer.assign([CTopicPartition(topic, 0, 0)])

        def send(value: bytes) -> None:
            sent_at[value] = time.monotonic()
            producer.produce(topic, value=value)
            producer.flush(10)

        send(b"warm-up")
        deadline = time.monotonic() + 15
        while True:  # consumer connected and fetching
            m = consumer.poll(0.2)
            if m is not None and m.error() is None and m.value() == b"warm-up":
                break
            assert time.monotonic() < deadline, "warm-up record never arrived"

        values = [f"m{i}".encode() for i in range(5)]

        def sender() -> None:
            for i, v in enumerate(values):
                time.sleep(0.2 + 0.037 * i)
                send(v)

        thread = threading.Thread(target=sender)
        thread.start()
        latencies: dict[bytes, float] = {}
        deadline = time.monotonic() + 15
        try:
            while len(latencies) < len(values) and time.monotonic() < deadline:
                m = consumer.poll(0.05)
                if m is not None and m.error() is None:
                    latencies[m.value()] = time.monotonic() - sent_at[m.value()]
        finally:
            thread.join()
        assert sorted(latencies) == values, f"received {sorted(latencies)}"
        ms = {v.decode(): round(lat * 1000, 1) for v, lat in latencies.items()}
        assert max(latencies.values()) < 0.15, (
            f"produce-to-consume latencies (ms) with a 500 ms long poll: {ms}"
        )
    finally:
        consumer.close()


# ----------------------------------------------------------------------------------- fetch size limits


@pytest.mark.parametrize("client", CLIENTS)
def test_small_fetch_limits_still_return_bigger_records(
    broker: BrokerUnderTest, topic: str, client: str
) -> None:
    """max.partition.fetch.bytes / fetch.max.bytes far below the record size: the broker still returns the
    first batch whole (KIP-74), so consumers make progress."""
    create_topic(broker.bootstrap, topic, 1)
    sizes = [100, 300_000, 10, 600_000, 50]
    records = [
        Rec(i, f"k{i}".encode(), f"value-{i}:".encode() + bytes([i]) * n, (("n", str(n).encode()),))
        for i, n in enumerate(sizes)
    ]
    delivered: dict[int, tuple[int, int]] = {}
    producer = confluent_producer(broker.bootstrap, **{"linger.ms": 0})
    for r in records:  # one request (and batch) per record
        delivered.update(produce_confluent(broker.bootstrap, topic, [r], partition=0, producer=producer))
    assert delivered == {i: (0, i) for i in range(len(sizes))}

    if client == "confluent":
        # librdkafka insists on fetch.max.bytes >= message.max.bytes (a client-side limit only).
        conf = {"max.partition.fetch.bytes": 1024, "fetch.max.bytes": 1024, "message.max.bytes": 1000}
    else:
        conf = {"max_partition_fetch_bytes": 1024, "fetch_max_bytes": 1024}
    got = consume_with(client, broker.bootstrap, topic, [0], len(sizes), **conf)
    assert [(g.offset, g.value) for g in got] == [(i, r.value) for i, r in enumerate(records)]


# ------------------------------------------------------------------------------------------------ kcat


def _kcat(broker: BrokerUnderTest, *args: str, stdin: bytes | None = None) -> str:
    binary = kcat_binary()
    if binary is None:
        from tests.support.require import require_or_skip

        require_or_skip("kcat/kafkacat not installed (apt-get install kafkacat)")
    if broker.kind == "tansu":
        pytest.skip("kcat's bundled librdkafka 2.0.2 cannot parse Tansu's ApiVersions v3 response")
    proc = subprocess.run(
        [binary, "-b", broker.bootstrap, *args], input=stdin, capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, (
        f"kcat {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}"
    )
    return proc.stdout.decode()


def test_kcat_lists_and_consumes(broker: BrokerUnderTest, topic: str) -> None:
    create_topic(broker.bootstrap, topic, PARTITIONS)
    records = [
        Rec(
            i,
            f"key-{i % 10}".encode(),
            f"text value {i}".encode(),
            (("i", str(i).encode()),),
            now_ms() - 1000 + i,
        )
        for i in range(500)
    ]
    delivered = produce_confluent(broker.bootstrap, topic, records)

    md = json.loads(_kcat(broker, "-L", "-J", "-t", topic))
    (t,) = [t for t in md["topics"] if t["topic"] == topic]
    assert "error" not in t, t
    assert sorted(p["partition"] for p in t["partitions"]) == list(range(PARTITIONS))
    broker_ids = {b["id"] for b in md["brokers"]}
    assert all(p["leader"] in broker_ids for p in t["partitions"]), md

    lines = _kcat(broker, "-C", "-J", "-e", "-o", "beginning", "-t", topic).splitlines()
    msgs = [json.loads(line) for line in lines if line.strip()]
    got = {(m["partition"], m["offset"]): (m["key"], m["payload"], m.get("headers"), m["ts"]) for m in msgs}
    want = {
        delivered[r.i]: (r.key.decode(), r.value.decode(), ["i", str(r.i)], r.timestamp)  # type: ignore[union-attr]
        for r in records
    }
    assert len(msgs) == len(records)
    assert got == want

    fmt = _kcat(broker, "-C", "-e", "-o", "beginning", "-t", topic, "-p", "0", "-f", "%k %s\n")
    want_p0 = [
        f"{r.key.decode()} {r.value.decode()}"
        for r in sorted(  # type: ignore[union-attr]
            (r for r in records if delivered[r.i][0] == 0), key=lambda r: delivered[r.i][1]
        )
    ]
    assert fmt.splitlines() == want_p0


def test_kcat_produce_with_murmur2(broker: BrokerUnderTest, topic: str) -> None:
    create_topic(broker.bootstrap, topic, PARTITIONS)
    lines = [f"user-{i % 37}:event {i}" for i in range(200)]
    _kcat(
        broker,
        "-P",
        "-t",
        topic,
        "-K",
        ":",
        "-X",
        "partitioner=murmur2_random",
        stdin=("\n".join(lines) + "\n").encode(),
    )
    got = consume_confluent(broker.bootstrap, topic, range(PARTITIONS), len(lines), drain=0.3)
    assert sorted(g.value.decode() for g in got) == sorted(line.split(":", 1)[1] for line in lines)  # type: ignore[union-attr]
    for g in got:
        assert g.key is not None and g.partition == default_partition(g.key, PARTITIONS), (g.key, g.partition)
    per_partition: dict[int, list[int]] = defaultdict(list)
    for g in sorted(got, key=lambda g: (g.partition, g.offset)):
        per_partition[g.partition].append(int(g.value.split()[1]))  # type: ignore[union-attr]
    assert all(v == sorted(v) for v in per_partition.values()), "kcat lines out of order within a partition"


# ----------------------------------------------------------------------- confluent consumer via poll()


def test_confluent_poll_reports_no_errors_for_assigned_partitions(
    broker: BrokerUnderTest, topic: str
) -> None:
    """Reading an assigned, fully-consumed partition yields no error events (e.g. no spurious
    OFFSET_OUT_OF_RANGE or UNKNOWN_TOPIC_OR_PARTITION from the broker)."""
    create_topic(broker.bootstrap, topic, 1)
    produce_confluent(broker.bootstrap, topic, make_records(10))
    c = confluent_consumer(broker.bootstrap, **{"fetch.wait.max.ms": 100})
    try:
        c.assign([CTopicPartition(topic, 0, 0)])
        got: list[Got] = []
        errors = []
        end = time.monotonic() + 3
        while time.monotonic() < end:
            m = c.poll(0.1)
            if m is None:
                continue
            if m.error() is not None:
                errors.append(m.error())
            else:
                got.append(got_from_confluent(m))
        assert [g.offset for g in got] == list(range(10))
        assert errors == []
    finally:
        c.close()
