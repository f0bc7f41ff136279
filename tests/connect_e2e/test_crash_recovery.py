"""A worker SIGKILLed mid-stream resumes from its committed offsets (at-least-once, bounded duplicates).

FileStreamSource -> topic -> FileStreamSink, connectors given on the worker's command line. A writer
thread keeps appending lines while the worker is killed (no shutdown, no final commit), stays down,
and is restarted with the same offsets file and connector files. Then:

- every input line is in the output file at least once, nothing else is (no lost or torn lines);
- first occurrences are in input order;
- the source resumed exactly at its committed position (the offsets file at the time of the kill);
- duplicates in the topic are bounded by the records produced after the last committed source offset
  (topic end at the kill minus the committed line count), and duplicates in the output by those plus
  the records after the sink's committed consumer offset.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

from tests.connect_e2e.files import read_lines, sink_config, source_config
from tests.support.brokers import BrokerUnderTest
from tests.support.clients import admin, confluent_consumer, create_topic
from tests.support.connect import ConnectWorker, read_offsets_file, wait_until, write_connector_file

KILL_PROPS = {
    "offset.flush.interval.ms": "500",
    # The killed worker's sink consumer stays a group member until its session expires; keep that short
    # (the broker's group.min.session.timeout.ms is 6000, as in Kafka).
    "consumer.session.timeout.ms": "6000",
    "consumer.heartbeat.interval.ms": "1000",
}


class Writer(threading.Thread):
    """Appends ``line-<n>`` lines in small batches (one write per batch) until stopped."""

    def __init__(self, path: Path, per_batch: int = 20, pause: float = 0.01) -> None:
        super().__init__(name="line-writer", daemon=True)
        self.path, self.per_batch, self.pause = path, per_batch, pause
        self.lines: list[str] = []
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            while not self._halt.is_set():
                with self._lock:
                    start = len(self.lines)
                    batch = [f"line-{i:07d}" for i in range(start, start + self.per_batch)]
                    f.write("".join(x + "\n" for x in batch))
                    f.flush()
                    self.lines.extend(batch)
                time.sleep(self.pause)

    def written(self) -> int:
        with self._lock:
            return len(self.lines)

    def stop(self) -> list[str]:
        self._halt.set()
        self.join(10)
        return list(self.lines)


def _sink_committed(bootstrap: str, group: str, topic: str) -> int:
    a = admin(bootstrap)
    result = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(20)
    offsets = [tp.offset for tp in result.topic_partitions or [] if tp.topic == topic]
    return max(offsets[0], 0) if offsets else 0


def _high_watermark(bootstrap: str, topic: str) -> int:
    c = confluent_consumer(bootstrap)
    try:
        return int(c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    finally:
        c.close()


def _topic_values(bootstrap: str, topic: str, count: int) -> list[str]:
    c = confluent_consumer(bootstrap, **{"auto.offset.reset": "earliest"})
    out: list[str] = []
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 30
        while len(out) < count and time.monotonic() < deadline:
            for m in c.consume(num_messages=min(1000, count - len(out)), timeout=0.5):
                assert m.error() is None, m.error()
                doc: Any = json.loads(m.value())
                out.append(doc["payload"] if isinstance(doc, dict) and "payload" in doc else doc)
    finally:
        c.close()
    assert len(out) == count, f"read {len(out)} of {count} records from {topic}"
    return out


def test_sigkill_resumes_from_committed_offsets(
    broker: BrokerUnderTest, start_worker: Any, tmp_path: Path, topic: str, snk: str
) -> None:
    bootstrap = broker.bootstrap
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("")
    create_topic(bootstrap, topic, partitions=1)
    worker: ConnectWorker = start_worker(
        KILL_PROPS,
        connector_files=[
            write_connector_file(tmp_path / "src.json", "src", source_config(src, topic)),
            write_connector_file(tmp_path / "snk.json", snk, sink_config(out, topic)),
        ],
    )
    worker.wait_for_state("src", "RUNNING", ["RUNNING"])
    worker.wait_for_state(snk, "RUNNING", ["RUNNING"])
    healthy = worker.healthy("src", snk)

    writer = Writer(src)
    writer.start()
    try:
        # Let data flow and a few commits happen, then kill in the middle of the stream.
        wait_until("output to grow", lambda: len(read_lines(out)) >= 1000, 20, alive=healthy)
        wait_until("a committed source offset", lambda: read_offsets_file(worker.offsets_file), 10)
        time.sleep(0.3)
        worker.kill()
        written_at_kill = writer.written()
        time.sleep(0.5)  # requests already on the wire may still land
        committed = read_offsets_file(worker.offsets_file)
        position = next(v["position"] for k, v in committed.items() if json.loads(k)[0] == "src")
        sink_offset = _sink_committed(bootstrap, f"connect-{snk}", topic)
        topic_end_at_kill = _high_watermark(bootstrap, topic)
        output_at_kill = len(read_lines(out))
        time.sleep(0.5)  # lines keep arriving while the worker is down

        worker.start()
        worker.wait_for_state("src", "RUNNING", ["RUNNING"])
        time.sleep(1.0)
    finally:
        lines = writer.stop()
    assert written_at_kill < len(lines), "the writer should have kept writing while the worker was down"

    # -- every line arrives at least once -------------------------------------------------------------
    want = set(lines)

    def all_arrived() -> bool:
        return want <= set(read_lines(out))

    wait_until(
        f"all {len(lines)} lines in the output",
        all_arrived,
        45,  # includes the dead sink member's session timeout (6 s)
        interval=0.2,
        alive=worker.healthy("src", snk),
        describe=lambda: f"{len(want - set(read_lines(out)))} missing",
    )
    time.sleep(1.0)  # let late duplicates land before counting them
    got = read_lines(out)
    strangers = [x for x in got if x not in want]
    assert not strangers, f"output has lines that were never written (torn or corrupt): {strangers[:5]}"
    first_seen = list(dict.fromkeys(got))
    assert first_seen == lines, "first occurrences are not in input order"

    # -- the source resumed exactly at the committed position ----------------------------------------
    restarted_log = worker.log_text(all_generations=False)
    assert f"Resuming {src} at byte {position}" in restarted_log, restarted_log[-3000:]
    ends = []
    pos = 0
    for line in lines:
        pos += len(line) + 1
        ends.append(pos)
    assert position in ends, f"committed position {position} is not at a line boundary"
    committed_lines = ends.index(position) + 1
    # Records produced after the last commit: the only ones the restarted source may produce again.
    produced_after_commit = topic_end_at_kill - committed_lines
    assert produced_after_commit >= 0, (topic_end_at_kill, committed_lines)

    # -- duplicates are bounded by what was not committed ---------------------------------------------
    topic_end = _high_watermark(bootstrap, topic)
    topic_values = _topic_values(bootstrap, topic, topic_end)
    topic_dups = len(topic_values) - len(set(topic_values))
    assert set(topic_values) == want
    assert topic_dups <= produced_after_commit, (
        f"{topic_dups} duplicate records in the topic, but only {produced_after_commit} records were "
        f"produced after the committed source position {position} (line {committed_lines})"
    )
    out_dups = len(got) - len(first_seen)
    sink_redelivery = max(topic_end_at_kill - sink_offset, 0)
    assert out_dups <= topic_dups + sink_redelivery, (
        f"{out_dups} duplicate lines in the output; bound = {topic_dups} topic duplicates + "
        f"{sink_redelivery} records after the sink's committed offset {sink_offset}"
    )
    counts = Counter(got)
    assert max(counts.values()) <= 3, counts.most_common(3)
    print(
        f"kill after {written_at_kill} lines written, {output_at_kill} in the output; committed: source "
        f"byte {position} (line {committed_lines}; {produced_after_commit} records produced after it), "
        f"sink offset {sink_offset} of {topic_end_at_kill}; duplicates: topic {topic_dups}, output {out_dups}"
    )


def test_sigterm_commits_and_a_restart_duplicates_nothing(
    broker: BrokerUnderTest, start_worker: Any, tmp_path: Path, topic: str, snk: str
) -> None:
    """The graceful counterpart: SIGTERM exits 0 after committing the offsets of everything acknowledged,
    so the restarted worker (connectors re-created over REST this time) neither loses nor repeats a line."""
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("")
    create_topic(broker.bootstrap, topic, partitions=1)
    # A long flush interval: only the shutdown commit can make the offsets durable.
    worker: ConnectWorker = start_worker({"offset.flush.interval.ms": "600000"})
    configs = {"src": source_config(src, topic), snk: sink_config(out, topic)}
    for name, config in configs.items():
        worker.create(name, config)
    first = [f"first-{i:04d}" for i in range(300)]
    with open(src, "a") as f:
        f.write("".join(x + "\n" for x in first))
    healthy = worker.healthy("src", snk)
    # (FileStreamSink writes through a buffer flushed at offset commits, so the file stays empty here.)
    wait_until(
        "all first lines in the topic",
        lambda: _high_watermark(broker.bootstrap, topic) == len(first),
        20,
        alive=healthy,
    )
    time.sleep(0.5)  # let the sink consume them too
    assert read_offsets_file(worker.offsets_file) == {}

    assert worker.stop() == 0, worker.log_tail()
    committed = read_offsets_file(worker.offsets_file)
    assert list(committed.values()) == [{"position": src.stat().st_size}], committed
    sink_offset = _sink_committed(broker.bootstrap, f"connect-{snk}", topic)
    assert read_lines(out) == first[:sink_offset]

    worker.start()
    for name, config in configs.items():
        r = worker.put(f"/connectors/{name}/config", json=config)
        assert r.status_code == 201, r.text
    second = [f"second-{i:04d}" for i in range(300)]
    with open(src, "a") as f:
        f.write("".join(x + "\n" for x in second))
    wait_until(
        "all lines in the topic, once",
        lambda: _high_watermark(broker.bootstrap, topic) == len(first + second),
        20,
        alive=worker.healthy("src", snk),
    )
    time.sleep(1.0)
    assert worker.stop() == 0, worker.log_tail()
    assert _high_watermark(broker.bootstrap, topic) == len(first + second)  # the source repeated nothing
    assert read_lines(out) == first + second  # the sink repeated and lost nothing
