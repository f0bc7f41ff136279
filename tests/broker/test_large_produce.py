"""Large Produce requests through a real client: the broker receives frames of up to ~1 MB straight into
a reused buffer, patches offsets (and, for LogAppendTime topics, attributes, timestamp and CRC) in place
and appends from that buffer. Every record must come back byte-exact at consecutive offsets, with CRCs
the consumer verifies, whichever request's bytes the reused buffer held before."""

from __future__ import annotations

import os

import pytest
from confluent_kafka import KafkaError, Message

from tests.support.brokers import BrokerUnderTest
from tests.support.clients import confluent_producer, consume_confluent, create_topic

RECORDS = 4000  # ~4 MB of 1 KiB values: at least 4 requests of up to 1 MB each


@pytest.mark.parametrize("timestamp_type", ["CreateTime", "LogAppendTime"])
def test_large_idempotent_produce_requests_round_trip(
    broker: BrokerUnderTest, topic: str, timestamp_type: str
) -> None:
    create_topic(broker.bootstrap, topic, 1, {"message.timestamp.type": timestamp_type})
    values = [i.to_bytes(4, "big") + os.urandom(1020) for i in range(RECORDS)]
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    p = confluent_producer(
        broker.bootstrap, **{"enable.idempotence": True, "linger.ms": 50, "batch.size": 1_000_000}
    )
    for v in values:
        p.produce(topic, v, partition=0, on_delivery=on_delivery)
    assert p.flush(60) == 0
    assert errors == []

    got = consume_confluent(broker.bootstrap, topic, [0], RECORDS, **{"check.crcs": True})
    assert [g.offset for g in got] == list(range(RECORDS))
    assert [g.value for g in got] == values
    assert {g.timestamp_type for g in got} == {1 if timestamp_type == "LogAppendTime" else 0}
