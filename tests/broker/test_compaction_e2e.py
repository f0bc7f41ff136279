"""Log compaction through real Kafka clients against the real broker process.

100k updates over 1k keys to a compacted topic with small segments: the cleaner shrinks the log to
about one record per key plus the active segment, and a consumer reading from the beginning sees the
latest value of every key (and nothing but the latest outside the active segment).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.servers import start_headrace_broker

pytestmark = pytest.mark.slow  # starts broker/worker processes

KEYS = 1000
UPDATES = 100_000
SEGMENT_BYTES = 256 * 1024


def _log_bytes(data_dir: Path, topic: str) -> int:
    return sum(f.stat().st_size for f in (data_dir / f"{topic}-0").glob("*.log"))


@pytest.mark.timeout(180)
def test_compacted_topic_keeps_latest_value_per_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    broker = start_headrace_broker(data_dir=data_dir, extra_args=["--set", "log.cleaner.backoff.ms=200"])
    topic = "compacted-e2e"
    try:
        bs = broker.bootstrap
        admin = AdminClient({"bootstrap.servers": bs})
        config = {
            "cleanup.policy": "compact",
            "segment.bytes": str(SEGMENT_BYTES),
            "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": "100",
        }
        admin.create_topics([NewTopic(topic, 1, 1, config=config)])[topic].result(30)

        producer = Producer({"bootstrap.servers": bs, "linger.ms": 20, "acks": "all"})
        errors: list[str] = []
        for i in range(UPDATES):
            key = f"key-{i % KEYS:04d}"
            producer.produce(
                topic,
                f"{key}=v{i // KEYS}".encode(),
                key.encode(),
                on_delivery=lambda err, _m: err is not None and errors.append(str(err)),
            )
            if i % 10_000 == 0:
                producer.poll(0)
        assert producer.flush(60) == 0 and not errors, errors
        written = _log_bytes(data_dir, topic)

        deadline = time.monotonic() + 60
        while _log_bytes(data_dir, topic) > written * 0.2 and time.monotonic() < deadline:
            time.sleep(0.5)
        cleaned = _log_bytes(data_dir, topic)
        assert cleaned <= written * 0.2, f"log did not shrink: {written} -> {cleaned} bytes"
        assert "clean" in broker.log_text().lower()

        consumer = Consumer(
            {
                "bootstrap.servers": bs,
                "group.id": "compaction-reader",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        latest: dict[str, str] = {}
        read = 0
        last_offset = -1
        eof = False
        deadline = time.monotonic() + 30
        while not eof and time.monotonic() < deadline:
            for msg in consumer.consume(5000, 0.5):
                if msg.error():
                    eof = eof or msg.error().code() == -191  # _PARTITION_EOF
                    continue
                assert msg.offset() > last_offset, "offsets must stay increasing after compaction"
                last_offset = msg.offset()
                latest[msg.key().decode()] = msg.value().decode()
                read += 1
        consumer.close()
        expected = {f"key-{k:04d}": f"key-{k:04d}=v{UPDATES // KEYS - 1}" for k in range(KEYS)}
        assert latest == expected
        # about one record per key plus what the active (never cleaned) segment holds
        assert read < KEYS + SEGMENT_BYTES // 20, f"read {read} records from a compacted log of {KEYS} keys"
        assert last_offset == UPDATES - 1
    finally:
        broker.cleanup()
