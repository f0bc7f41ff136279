"""Idempotent producers under forced retries: a proxy between a confluent-kafka producer and the broker
swallows some Produce responses, so the producer times out (``socket.timeout.ms``, which bounds a
ProduceRequest in librdkafka; ``message.timeout.ms`` stays large), reconnects and sends the same batches
again. With ``enable.idempotence=true`` the broker must recognise the retries by producer id and sequence
number and acknowledge them with the original offsets: every message exactly once, in order. The same
proxy without idempotence must produce duplicates, which proves the retries really happened.

The proxy tests are headrace only: the broker advertises the proxy's address (``advertised.listeners``) so
the producer's connections after the bootstrap Metadata also go through the proxy. The sequence rules are
also checked request by request with hand-built batches (any broker).
"""

from __future__ import annotations

import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import Producer
from kio.schema.errors import ErrorCode

from tests.support.batches import record_batch
from tests.support.brokers import STARTED, BrokerUnderTest, HeadraceBrokers
from tests.support.clients import consume_confluent, create_topic
from tests.support.kafkawire import WireConnection
from tests.support.proxy import PRODUCE, DroppingProxy, every_nth_produce
from tests.support.servers import ServerProcess, free_port, start_headrace_broker

PARTITIONS = 2


@dataclass
class Proxied:
    proxy: DroppingProxy
    server: ServerProcess
    brokers: HeadraceBrokers

    @property
    def bootstrap(self) -> str:
        return self.proxy.bootstrap

    def kill_and_restart(self) -> None:
        """SIGKILL the broker and start it again on the same data dir and port (still advertising the
        proxy, which reconnects to it)."""
        old = self.server
        old.kill()
        assert old.data_dir is not None
        self.server = _start(self.brokers, old.data_dir, self.proxy.listen_port, old.port)


def _start(
    brokers: HeadraceBrokers, data_dir: Any, proxy_port: int, port: int | None = None
) -> ServerProcess:
    server = start_headrace_broker(
        data_dir=data_dir,
        port=port,
        extra_args=["--set", f"advertised.listeners=PLAINTEXT://127.0.0.1:{proxy_port}"],
    )
    STARTED.append(server)
    brokers.started.append(server)
    brokers.on_start("headrace (behind the proxy)", server)
    return server


@pytest.fixture
def proxied(headrace_brokers: HeadraceBrokers, tmp_path: Any) -> Iterator[Callable[..., Proxied]]:
    """``proxied(drop)`` starts a broker that advertises a ``DroppingProxy`` in front of it."""
    proxies: list[DroppingProxy] = []

    def start(drop: Callable[[int, int], bool]) -> Proxied:
        proxy_port = free_port()
        server = _start(headrace_brokers, tmp_path / f"data{len(proxies)}", proxy_port)
        proxy = DroppingProxy(proxy_port, "127.0.0.1", server.port, drop).start()
        proxies.append(proxy)
        return Proxied(proxy, server, headrace_brokers)

    try:
        yield start
    finally:
        for p in proxies:
            p.stop()


def retrying_producer(bootstrap: str, idempotent: bool) -> Producer:
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": idempotent,
        "acks": "all",
        "linger.ms": 5,
        "socket.timeout.ms": 1000,  # a ProduceRequest without an answer times out after ~1-1.5 s
        "request.timeout.ms": 1000,
        "message.timeout.ms": 60000,  # ... and is retried instead of failing the message
        "retry.backoff.ms": 50,
    }
    if os.environ.get("HEADRACE_RDKAFKA_DEBUG"):  # e.g. eos,msg,protocol when a retry test misbehaves
        conf["debug"] = os.environ["HEADRACE_RDKAFKA_DEBUG"]
    if not idempotent:
        conf.update({"retries": 1000, "max.in.flight.requests.per.connection": 1})
    return Producer(conf)


def produce_paced(
    p: Producer, topic: str, n: int, proxy: DroppingProxy, per_round: int = 20, pause: float = 0.05
) -> dict[int, tuple[int, int]]:
    """Produce values ``b"<i>"`` (i % PARTITIONS picks the partition) in small rounds, so there are many
    Produce requests; returns ``{i: (partition, offset)}`` from the delivery reports."""
    delivered: dict[int, tuple[int, int]] = {}
    errors: list[Any] = []

    def cb(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            delivered[int(msg.value())] = (msg.partition(), msg.offset())

    for i in range(n):
        p.produce(topic, value=str(i).encode(), partition=i % PARTITIONS, on_delivery=cb)
        if i % per_round == per_round - 1:
            p.poll(pause)
    left = p.flush(60)
    assert not errors and left == 0, f"{left} undelivered, errors: {errors[:3]}; {proxy.describe()}"
    assert len(delivered) == n
    return delivered


def read_back(bootstrap: str, topic: str, expected: int) -> dict[int, list[tuple[int, int]]]:
    """{partition: [(offset, i), ...]} in offset order, reading until ``expected`` records (+ a drain)."""
    got = consume_confluent(bootstrap, topic, range(PARTITIONS), expected, drain=0.5)
    out: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for g in got:
        assert g.value is not None
        out[g.partition].append((g.offset, int(g.value)))
    for recs in out.values():
        recs.sort()
    return out


@pytest.mark.headrace_only
def test_idempotent_producer_retries_write_each_message_once(proxied: Any, topic: str) -> None:
    env = proxied(every_nth_produce(4, limit=4))
    create_topic(env.bootstrap, topic, partitions=PARTITIONS)
    n = 1500
    delivered = produce_paced(retrying_producer(env.bootstrap, idempotent=True), topic, n, env.proxy)
    dropped = env.proxy.dropped[PRODUCE]
    assert dropped >= 3, f"the proxy dropped only {dropped} Produce responses: retries were not exercised"

    log = read_back(env.bootstrap, topic, n)
    total = sum(len(v) for v in log.values())
    values = Counter(i for recs in log.values() for _, i in recs)
    dups = sorted(i for i, c in values.items() if c > 1)
    assert not dups, f"{len(dups)} messages written more than once despite idempotence, first {dups[:10]}"
    assert total == n and set(values) == set(range(n)), f"read {total} of {n} records"
    for p, recs in log.items():
        assert [o for o, _ in recs] == list(range(len(recs))), f"partition {p}: offsets not contiguous"
        assert [i for _, i in recs] == list(range(p, n, PARTITIONS)), f"partition {p}: not in produce order"
        for o, i in recs:  # retries were acknowledged with the offsets of the original write
            assert delivered[i] == (p, o), f"message {i} at {p}/{o}, its delivery report said {delivered[i]}"


@pytest.mark.headrace_only
def test_without_idempotence_the_proxy_causes_duplicates(proxied: Any, topic: str) -> None:
    """The control experiment: the retries forced by the proxy really write twice when the broker cannot
    recognise them."""
    env = proxied(every_nth_produce(4, limit=2))
    create_topic(env.bootstrap, topic, partitions=PARTITIONS)
    n = 600
    produce_paced(retrying_producer(env.bootstrap, idempotent=False), topic, n, env.proxy)
    assert env.proxy.dropped[PRODUCE] >= 1

    expected_min = n + 1
    log = read_back(env.bootstrap, topic, expected_min)
    values = Counter(i for recs in log.values() for _, i in recs)
    assert set(values) == set(range(n)), "messages lost"
    dups = [i for i, c in values.items() if c > 1]
    assert dups, "no duplicates: the proxy did not force any retry"


@pytest.mark.headrace_only
def test_idempotent_retry_after_broker_sigkill_is_deduplicated(proxied: Any, topic: str) -> None:
    """A Produce is written but its response is lost; the broker is SIGKILLed and restarted before the
    producer retries. The restarted broker must rebuild the producer's sequence state from its log and
    acknowledge the retry as a duplicate instead of writing it again."""
    dropped = threading.Event()
    armed = threading.Event()

    def drop(api_key: int, count: int) -> bool:
        if api_key == PRODUCE and armed.is_set() and not dropped.is_set():
            dropped.set()
            return True
        return False

    env = proxied(drop)
    create_topic(env.bootstrap, topic, partitions=PARTITIONS)
    p = retrying_producer(env.bootstrap, idempotent=True)
    first = produce_paced(p, topic, 100, env.proxy)  # the producer id is known and has history in the log
    armed.set()
    errors: list[Any] = []
    delivered: dict[int, tuple[int, int]] = dict(first)

    def cb(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            delivered[int(msg.value())] = (msg.partition(), msg.offset())

    for i in range(100, 110):
        p.produce(topic, value=str(i).encode(), partition=0, on_delivery=cb)
    p.poll(0)
    assert dropped.wait(10), "no Produce response was dropped"
    env.kill_and_restart()
    for i in range(110, 120):
        p.produce(topic, value=str(i).encode(), partition=0, on_delivery=cb)
    left = p.flush(30)
    assert left == 0 and not errors, f"{left} undelivered, errors {errors[:3]}; {env.proxy.describe()}"

    log = read_back(env.bootstrap, topic, 120)
    values = Counter(i for recs in log.values() for _, i in recs)
    dups = sorted(i for i, c in values.items() if c > 1)
    assert not dups, f"the retry after the restart was written again: duplicates {dups}"
    assert set(values) == set(range(120))
    assert [i for _, i in log[0]] == list(range(0, 100, 2)) + list(range(100, 120)), "partition 0 order"
    for part, recs in log.items():
        for o, i in recs:
            assert delivered[i] == (part, o), f"message {i} at {part}/{o}, delivery report {delivered[i]}"


# ------------------------------------------------------------------------------- sequence rules, raw


def init_producer_id(conn: WireConnection, producer_id: int = -1, epoch: int = -1) -> tuple[int, int]:
    from kio.schema.init_producer_id.v4.request import InitProducerIdRequest

    resp = conn.request(
        22,
        4,
        InitProducerIdRequest(
            transactional_id=None,
            transaction_timeout=timedelta(seconds=60),
            producer_id=producer_id,
            producer_epoch=epoch,
        ),
    )
    assert resp.error_code == 0, resp
    return int(resp.producer_id), int(resp.producer_epoch)


def produce_raw(conn: WireConnection, topic: str, batch: bytes) -> tuple[int, int]:
    """Produce v8 of one batch to partition 0 with acks=all; returns (error code, base offset)."""
    from kio.schema.produce.v8.request import PartitionProduceData, ProduceRequest, TopicProduceData

    req = ProduceRequest(
        transactional_id=None,
        acks=-1,
        timeout=timedelta(seconds=10),
        topic_data=(
            TopicProduceData(name=topic, partition_data=(PartitionProduceData(index=0, records=batch),)),
        ),
    )
    resp = conn.request(0, 8, req)
    (t,) = resp.responses
    (p,) = t.partition_responses
    return int(p.error_code), int(p.base_offset)


def test_sequence_rules_on_the_wire(broker: BrokerUnderTest, topic: str) -> None:
    """What an idempotent producer relies on, request by request: a retried batch is acknowledged with
    its original offset and not appended (also when it is not the latest of the producer's last five),
    a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch is INVALID_PRODUCER_EPOCH, a new
    epoch starts at sequence 0; rejected batches change nothing."""
    create_topic(broker.bootstrap, topic, partitions=1)
    with WireConnection(broker.host, broker.port) as conn:
        pid, epoch = init_producer_id(conn)

        def batch(seq: int, *values: str, ep: int | None = None) -> bytes:
            return record_batch(
                [v.encode() for v in values],
                producer_id=pid,
                producer_epoch=epoch if ep is None else ep,
                base_sequence=seq,
            )

        assert produce_raw(conn, topic, batch(0, "a", "b", "c")) == (0, 0)
        assert produce_raw(conn, topic, batch(0, "a", "b", "c")) == (0, 0), "retry of the last batch"
        assert produce_raw(conn, topic, batch(3, "d", "e")) == (0, 3)
        assert produce_raw(conn, topic, batch(5, "f")) == (0, 5)
        assert produce_raw(conn, topic, batch(0, "a", "b", "c")) == (0, 0), "retry of an older batch"
        assert produce_raw(conn, topic, batch(3, "d", "e")) == (0, 3), "retry of an older batch"
        code, _ = produce_raw(conn, topic, batch(9, "gap"))
        assert code == ErrorCode.out_of_order_sequence_number, f"a sequence gap was answered with {code}"
        assert produce_raw(conn, topic, batch(6, "g")) == (0, 6), "the gap must not have moved anything"

        bumped_pid, new_epoch = init_producer_id(conn, pid, epoch)  # KIP-360 epoch bump
        assert (bumped_pid, new_epoch) == (pid, epoch + 1)
        code, _ = produce_raw(conn, topic, batch(4, "new epoch, not at 0", ep=new_epoch))
        assert code == ErrorCode.out_of_order_sequence_number, f"a new epoch starting at sequence 4: {code}"
        assert produce_raw(conn, topic, batch(0, "h", ep=new_epoch)) == (0, 7)
        code, _ = produce_raw(conn, topic, batch(7, "stale", ep=epoch))
        assert code == ErrorCode.invalid_producer_epoch, f"fenced epoch answered with {code}"
        assert produce_raw(conn, topic, batch(1, "i", ep=new_epoch)) == (0, 8)

    got = consume_confluent(broker.bootstrap, topic, [0], 9, drain=0.3)
    assert [(g.offset, g.value) for g in got] == list(enumerate([v.encode() for v in "abcdefghi"]))
