"""Poison records in a sink: ``errors.tolerance=all`` skips them into the dead letter queue with the
reason in ``__connect.errors.*`` headers (read back with confluent-kafka); ``errors.tolerance=none``
fails the task with the trace in its status.

The topic is fed directly by a confluent-kafka producer: JSON strings (valid for
``value.converter=JsonConverter`` with ``schemas.enable=false``) interleaved with bytes that are not JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

from confluent_kafka import ConsumerGroupTopicPartitions

from tests.connect_e2e.files import assert_no_new_lines, read_lines, sink_config, wait_for_lines
from tests.support.clients import Got, Rec, admin, consume_confluent, create_topic, produce_confluent
from tests.support.connect import ConnectWorker, wait_until

GARBAGE = [b"not json {", b"\xff\xfe\x00binary", b'{"unterminated": ']


def _feed(bootstrap: str, topic: str, start: int = 0) -> tuple[list[str], list[tuple[int, bytes]]]:
    """Produce 30 records, every 10th-ish one garbage; returns (valid values, [(index, garbage)])."""
    valid: list[str] = []
    bad: list[tuple[int, bytes]] = []
    recs: list[Rec] = []
    for i in range(start, start + 30):
        if i % 10 in (3, 7):
            value = GARBAGE[i % len(GARBAGE)]
            bad.append((i, value))
        else:
            text = f"valid-{i:03d}"
            valid.append(text)
            value = json.dumps(text).encode()
        recs.append(Rec(i, None, value, (("origin", b"test"),)))
    produce_confluent(bootstrap, topic, recs, partition=0)
    return valid, bad


def _headers(got: Got) -> dict[str, str]:
    return {k: (v or b"").decode(errors="replace") for k, v in got.headers}


def test_errors_tolerance_all_sends_poison_records_to_the_dlq(
    worker: ConnectWorker, tmp_path: Path, topic: str, snk: str
) -> None:
    bootstrap = worker.bootstrap
    dlq = f"{topic}-dlq"
    out = tmp_path / "out.txt"
    create_topic(bootstrap, topic, partitions=1)
    worker.create(
        snk,
        sink_config(
            out,
            topic,
            **{
                "value.converter": "JsonConverter",
                "value.converter.schemas.enable": "false",
                "errors.tolerance": "all",
                "errors.deadletterqueue.topic.name": dlq,
                "errors.deadletterqueue.context.headers.enable": "true",
                "errors.log.enable": "true",
            },
        ),
    )
    worker.wait_for_state(snk, "RUNNING", ["RUNNING"])
    valid, bad = _feed(bootstrap, topic)
    wait_for_lines(out, valid, alive=worker.healthy(snk))
    more_valid, more_bad = _feed(bootstrap, topic, start=30)  # still consuming after poison records
    wait_for_lines(out, valid + more_valid, alive=worker.healthy(snk))
    bad += more_bad

    got = consume_confluent(bootstrap, dlq, [0], expected=len(bad), timeout=30, drain=0.5)
    assert [g.value for g in got] == [value for _, value in bad]
    for g, (index, _) in zip(got, bad, strict=True):
        h = _headers(g)
        assert h["origin"] == "test", h  # the original headers are kept
        assert h["__connect.errors.topic"] == topic
        assert h["__connect.errors.partition"] == "0"
        assert h["__connect.errors.offset"] == str(index)
        assert h["__connect.errors.connector.name"] == snk
        assert h["__connect.errors.task.id"] == "0"
        assert h["__connect.errors.stage"] == "VALUE_CONVERTER"
        assert h["__connect.errors.exception.class.name"], h
        assert h["__connect.errors.exception.message"], h
        assert "Traceback" in h["__connect.errors.exception.stacktrace"], h
    status = worker.status(snk)
    assert status["tasks"][0]["state"] == "RUNNING", status
    assert f"Error encountered in task {snk}-0 at stage VALUE_CONVERTER" in worker.log_text()


def test_dlq_context_header_names_the_failing_class(
    worker: ConnectWorker, tmp_path: Path, topic: str, snk: str
) -> None:
    """Kafka sets ``__connect.errors.class.name`` to the class that was executing (here the value
    converter, ``org.apache.kafka.connect.json.JsonConverter``); tools group DLQ records by it."""
    bootstrap = worker.bootstrap
    dlq = f"{topic}-dlq"
    create_topic(bootstrap, topic, partitions=1)
    worker.create(
        snk,
        sink_config(
            tmp_path / "out.txt",
            topic,
            **{
                "value.converter": "JsonConverter",
                "value.converter.schemas.enable": "false",
                "errors.tolerance": "all",
                "errors.deadletterqueue.topic.name": dlq,
                "errors.deadletterqueue.context.headers.enable": "true",
            },
        ),
    )
    worker.wait_for_state(snk, "RUNNING", ["RUNNING"])
    produce_confluent(bootstrap, topic, [Rec(0, None, b"not json {")], partition=0)
    (got,) = consume_confluent(bootstrap, dlq, [0], expected=1, timeout=30)
    h = _headers(got)
    problems = []
    if "JsonConverter" not in h["__connect.errors.class.name"]:
        problems.append(
            f"class.name is {h['__connect.errors.class.name']!r}, expected the JsonConverter class"
        )
    # Kafka reports the exception the stage threw (a DataException wrapping the parse error), not its cause.
    if not h["__connect.errors.exception.class.name"].endswith("DataException"):
        problems.append(
            f"exception.class.name is {h['__connect.errors.exception.class.name']!r}, expected DataException"
        )
    assert not problems, "; ".join(problems)


def test_errors_tolerance_none_fails_the_task(
    worker: ConnectWorker, tmp_path: Path, topic: str, snk: str
) -> None:
    bootstrap = worker.bootstrap
    out = tmp_path / "out.txt"
    create_topic(bootstrap, topic, partitions=1)
    worker.create(
        snk,
        sink_config(
            out, topic, **{"value.converter": "JsonConverter", "value.converter.schemas.enable": "false"}
        ),
    )
    worker.wait_for_state(snk, "RUNNING", ["RUNNING"])
    _feed(bootstrap, topic)
    status = worker.wait_for_state(snk, "RUNNING", ["FAILED"])
    trace = status["tasks"][0]["trace"]
    assert "Tolerance exceeded in error handler" in trace, trace
    assert "VALUE_CONVERTER" in trace, trace
    task = worker.json("GET", f"/connectors/{snk}/tasks/0/status")
    assert task["state"] == "FAILED" and task["trace"] == trace
    assert f"Task {snk}-0 threw an uncaught and unrecoverable exception" in worker.log_text()
    # Nothing after the poison record is written, and the failed task stays failed.
    lines = read_lines(out)
    assert all(x.startswith("valid-") for x in lines) and len(lines) <= 3, lines
    assert_no_new_lines(out, len(lines), 1.0)


def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    """The group's committed offset for partition 0 of ``topic`` (None when nothing is committed)."""
    client = admin(bootstrap)  # keep the client alive until its future resolves
    result = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)
    tps = result[group].result(15).topic_partitions or []
    offsets = [tp.offset for tp in tps if tp.topic == topic and tp.partition == 0 and tp.offset >= 0]
    return offsets[0] if offsets else None


def test_poison_records_at_the_end_of_the_topic_are_committed(
    worker: ConnectWorker, tmp_path: Path, topic: str, snk: str
) -> None:
    """Records skipped under ``errors.tolerance=all`` count as consumed: when the last records of the
    topic are poison, the sink's consumer group still commits the end of the topic once the valid
    records before them are flushed, and a later batch of only poison records moves it again."""
    bootstrap = worker.bootstrap
    group = f"connect-{snk}"
    out = tmp_path / "out.txt"
    create_topic(bootstrap, topic, partitions=1)
    valid = [f"valid-{i:03d}" for i in range(20)]
    recs = [Rec(i, None, json.dumps(text).encode()) for i, text in enumerate(valid)]
    recs += [Rec(20 + i, None, GARBAGE[i % len(GARBAGE)]) for i in range(5)]
    produce_confluent(bootstrap, topic, recs, partition=0)  # before the sink starts: one batch
    worker.create(
        snk,
        sink_config(
            out,
            topic,
            **{
                "value.converter": "JsonConverter",
                "value.converter.schemas.enable": "false",
                "errors.tolerance": "all",
            },
        ),
    )
    wait_for_lines(out, valid, alive=worker.healthy(snk))
    wait_until(
        "the committed offset to reach the end of the topic (25)",
        lambda: _committed(bootstrap, group, topic) == 25,
        30,
        alive=worker.healthy(snk),
        describe=lambda: _committed(bootstrap, group, topic),
    )
    produce_confluent(bootstrap, topic, [Rec(25 + i, None, GARBAGE[0]) for i in range(3)], partition=0)
    wait_until(
        "the committed offset to pass a batch of only poison records (28)",
        lambda: _committed(bootstrap, group, topic) == 28,
        30,
        alive=worker.healthy(snk),
        describe=lambda: _committed(bootstrap, group, topic),
    )
    assert read_lines(out) == valid
    assert worker.status(snk)["tasks"][0]["state"] == "RUNNING"
