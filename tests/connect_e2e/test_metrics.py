"""GET /metrics: Prometheus text with connector/task states and per-task counters of a live pipeline."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.connect_e2e.files import append_lines, sink_config, source_config, wait_for_lines
from tests.support.clients import create_topic
from tests.support.connect import ConnectWorker


def _value(text: str, metric: str, connector: str) -> float:
    m = re.search(rf'^{metric}{{connector="{connector}",task="0"}} (\d+)$', text, re.MULTILINE)
    assert m, f"{metric} for {connector} missing in:\n{text}"
    return float(m.group(1))


def test_metrics_count_records_and_commits(
    worker: ConnectWorker, tmp_path: Path, topic: str, snk: str
) -> None:
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    lines = [f"m-{i}" for i in range(300)]
    append_lines(src, lines)
    create_topic(worker.bootstrap, topic, partitions=1)
    worker.create("src", source_config(src, topic))
    worker.create(snk, sink_config(out, topic))
    wait_for_lines(out, lines)
    deadline = time.monotonic() + 20
    while True:
        r = worker.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        text = r.text
        done = (
            _value(text, "headrace_connect_task_offset_commits_total", "src") >= 1
            and _value(text, "headrace_connect_task_offset_commits_total", snk) >= 1
        )
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert 'headrace_connect_connector_state{connector="src",type="source",state="RUNNING"} 1' in text
    assert f'headrace_connect_task_state{{connector="{snk}",task="0",state="RUNNING"}} 1' in text
    assert _value(text, "headrace_connect_task_records_sent_total", "src") == 300
    assert _value(text, "headrace_connect_task_records_polled_total", "src") == 300
    assert _value(text, "headrace_connect_task_records_delivered_total", snk) == 300
    assert _value(text, "headrace_connect_task_offset_commits_total", "src") >= 1
    assert _value(text, "headrace_connect_task_errors_total", snk) == 0
