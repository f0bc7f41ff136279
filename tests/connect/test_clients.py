"""connect.runtime.clients: the librdkafka configs the runtime builds for a connector's clients."""

from __future__ import annotations

from connect.runtime.clients import consumer_config
from connect.runtime.worker_config import WorkerConfig


def _worker(**extra: str) -> WorkerConfig:
    return WorkerConfig({"bootstrap.servers": "127.0.0.1:9092", **extra})


def test_pattern_subscription_refreshes_metadata_often() -> None:
    conf = consumer_config(_worker(), {"topics.regex": "shop\\..*"}, "c", "connect-s")
    assert conf["topic.metadata.refresh.interval.ms"] == "10000"
    assert "topic.metadata.refresh.interval.ms" not in consumer_config(_worker(), {"topics": "a"}, "c", "g")


def test_worker_and_connector_overrides_win() -> None:
    worker = _worker(**{"consumer.topic.metadata.refresh.interval.ms": "2000"})
    conf = consumer_config(worker, {"topics.regex": "x.*"}, "c", "g")
    assert conf["topic.metadata.refresh.interval.ms"] == "2000"
    connector = {"topics.regex": "x.*", "consumer.override.topic.metadata.refresh.interval.ms": "3000"}
    assert consumer_config(_worker(), connector, "c", "g")["topic.metadata.refresh.interval.ms"] == "3000"
