"""The worker says within seconds that it cannot reach its Kafka cluster, keeps retrying, says so in
``GET /health``, and says when it gets through (unit: injected probe; e2e: real worker, broker started
late on the address the worker was given)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from connect.runtime import cluster_watch
from connect.runtime.cluster_watch import ClusterWatch
from tests.support.connect import start_connect_worker, wait_until
from tests.support.servers import free_port, start_headrace_broker


def test_unreachable_then_reachable_is_told_once_each(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_watch, "RETRY_S", 0.01)
    answers = ["Connect to ipv4#127.0.0.1:1 failed: Connection refused"] * 3 + [None]
    probe_calls: list[float] = []

    def probe() -> str | None:
        probe_calls.append(time.monotonic())
        return answers[min(len(probe_calls) - 1, len(answers) - 1)]

    watch = ClusterWatch({"bootstrap.servers": "127.0.0.1:1", "sasl.password": "s3cret"}, probe=probe)
    assert watch.state() == (None, "")
    with caplog.at_level(logging.INFO, logger="connect.worker"):
        watch.start()
        wait_until("reachable", lambda: watch.state()[0] is True, 5)
        watch.stop()
    messages = [r.getMessage() for r in caplog.records]
    warnings = [m for m in messages if m.startswith("Cannot reach")]
    assert warnings == [
        "Cannot reach the Kafka cluster at bootstrap.servers=127.0.0.1:1: Connect to ipv4#127.0.0.1:1 "
        "failed: Connection refused; retrying (tasks start once it answers)"
    ]  # said once, not once per retry
    assert "Reached the Kafka cluster at bootstrap.servers=127.0.0.1:1" in messages
    assert not any("s3cret" in m for m in messages)
    assert len(probe_calls) >= 4


@pytest.mark.slow
def test_worker_tells_unreachable_cluster_and_recovers(tmp_path: Path) -> None:
    port = free_port()
    worker = start_connect_worker(f"127.0.0.1:{port}", tmp_path / "w")
    broker = None
    try:
        started = time.monotonic()
        wait_until("the warning", lambda: "Cannot reach the Kafka cluster" in worker.log_text(), 15)
        assert time.monotonic() - started < 12
        assert f"bootstrap.servers=127.0.0.1:{port}" in worker.log_text()
        health = worker.client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy"
        assert (
            f"cannot reach the Kafka cluster at bootstrap.servers=127.0.0.1:{port}"
            in health.json()["message"]
        )

        broker = start_headrace_broker(data_dir=tmp_path / "broker", port=port)
        wait_until(
            "healthy once the broker is up", lambda: worker.client.get("/health").status_code == 200, 30
        )
        assert "Reached the Kafka cluster" in worker.log_text()
    finally:
        worker.close()
        if broker is not None:
            broker.cleanup()
