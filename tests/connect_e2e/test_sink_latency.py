"""A sink gets a record as soon as the consumer has it, as Kafka's ``poll()`` returns at the first data:
librdkafka's ``consume(n, timeout)`` waits for ``n`` messages or the timeout, which held each record of a
quiet topic up to the sink's consume timeout (0.5 s)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from tests.connect_e2e.files import read_lines, sink_config
from tests.support.clients import confluent_producer, create_topic
from tests.support.connect import ConnectWorker, wait_until


def test_a_lone_record_reaches_put_without_waiting_for_a_full_batch(
    worker: ConnectWorker, tmp_path: Path, topic: str, snk: str
) -> None:
    create_topic(worker.bootstrap, topic, partitions=1)
    out = tmp_path / "out.txt"
    worker.create(snk, sink_config(out, topic, **{"value.converter": "StringConverter"}))
    worker.wait_for_state(snk, "RUNNING", ["RUNNING"])
    producer = confluent_producer(worker.bootstrap, **{"linger.ms": 0})
    producer.produce(topic, b"warm-up")
    producer.flush(10)
    wait_until("the warm-up line", lambda: read_lines(out) == ["warm-up"], 30)
    latencies = []
    for i in range(12):
        time.sleep(0.13)  # a quiet topic: one record at a time, off any 0.5 s cycle
        started = time.monotonic()
        producer.produce(topic, f"line-{i}".encode())
        producer.flush(10)
        wait_until(f"line-{i}", lambda i=i: len(read_lines(out)) == i + 2, 10, interval=0.002)  # type: ignore[misc]
        latencies.append(time.monotonic() - started)
    median = statistics.median(latencies)
    assert median < 0.2, (
        f"median produce -> file {median * 1000:.0f} ms: {[round(x * 1000) for x in latencies]}"
    )
