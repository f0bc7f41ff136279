"""Issue 12 ("Data arrives late, or twice"), distributed items, on real ``headrace distributed`` workers:

- after ``kill -9`` of a worker, its connector and tasks show UNASSIGNED on that worker (with when it left
  and when the work moves, in Kafka's ``trace``) while the leader holds them for
  ``scheduled.rebalance.max.delay.ms``, and ``/health`` says that work waits; then they run elsewhere;
- after a SIGTERM, the worker's sink consumers have left their group: the other worker consumes its
  partitions within seconds, not after the consumer's ``session.timeout.ms``;
- REST writes fired back to back (each one starts a rebalance) are all answered 2xx: a write that arrives
  during a rebalance waits for it instead of getting 409.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import TopicPartition

from tests.connect_distributed.cluster import SESSION_TIMEOUT_MS, Cluster, elapsed_since
from tests.support.brokers import BrokerUnderTest, unique_topic
from tests.support.clients import admin, confluent_consumer, confluent_producer, create_topic
from tests.support.connect import ConnectWorker, wait_until

HOLD_MS = 20_000  # scheduled.rebalance.max.delay.ms of the kill -9 test: long enough to look at the window


def _status(w: ConnectWorker, name: str) -> dict[str, Any]:
    return w.json("GET", f"/connectors/{name}/status")


def test_work_of_a_killed_worker_is_unassigned_on_it_until_reassigned(
    broker: BrokerUnderTest, make_cluster: Any, record_property: Any
) -> None:
    cluster: Cluster = make_cluster(broker.bootstrap)
    cluster.props["scheduled.rebalance.max.delay.ms"] = str(HOLD_MS)
    # the victim is a follower: a departed leader's work is reassigned at once by the next leader
    survivor, victim = cluster.leader_and_follower()
    name = "held"
    cluster.create_sequence(name, unique_topic("held"), 2, via=survivor)
    states = cluster.wait_settled([name], 2)
    held = sorted(t for t, (_, wid) in states.items() if wid == victim.worker_id)
    assert held, f"the victim runs none of the tasks: {states}"

    victim.kill()
    t0 = time.monotonic()

    def unassigned() -> dict[str, Any] | None:
        body = _status(survivor, name)
        tasks = {f"{name}-{t['id']}": t for t in body["tasks"]}
        if all(tasks[t]["state"] == "UNASSIGNED" for t in held):
            return body
        return None

    body = wait_until(
        "the dead worker's tasks UNASSIGNED",
        unassigned,
        SESSION_TIMEOUT_MS / 1000 + 20,
        0.2,
        survivor.check_alive,
    )
    noticed_s = elapsed_since(t0)
    record_property("unassigned_after_kill_seconds", noticed_s)
    print(
        f"\nkill -9 -> its tasks UNASSIGNED after {noticed_s:.2f}s (session.timeout.ms {SESSION_TIMEOUT_MS})"
    )
    for t in body["tasks"]:
        if f"{name}-{t['id']}" in held:
            assert set(t) == {"id", "state", "worker_id", "trace"}, t  # Kafka's shape
            assert t["worker_id"] == victim.worker_id
            assert t["trace"].startswith(f"Worker {victim.worker_id} left the Connect group at "), t
            assert "waits for it until" in t["trace"]
        else:
            assert (t["state"], t["worker_id"], t.get("trace")) == ("RUNNING", survivor.worker_id, None)
    connector = body["connector"]
    if connector["worker_id"] == victim.worker_id:
        assert connector["state"] == "UNASSIGNED" and "left the Connect group" in connector["trace"]
    health = survivor.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    message = health.json()["message"]
    assert "work waits to be reassigned" in message and f"of worker {victim.worker_id}" in message, message

    # The delay expires: the work runs on the survivor, the explanation is gone with the departure.
    after = cluster.wait_settled([name], 2, timeout=HOLD_MS / 1000 + 30)
    moved_s = elapsed_since(t0)
    record_property("reassigned_after_kill_seconds", moved_s)
    assert moved_s >= HOLD_MS / 1000, f"the held work moved before the delay: {moved_s}s"
    assert all(wid == survivor.worker_id for _, wid in after.values())
    body = _status(survivor, name)
    assert all("trace" not in t for t in body["tasks"]) and "trace" not in body["connector"]
    health = survivor.get("/health").json()
    assert health["message"] == "Worker has completed startup and is ready to handle requests.", health


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    consumer = confluent_consumer(bootstrap, **{"group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return [tp.offset for tp in tps]
    finally:
        consumer.close()


def _members_with_partitions(bootstrap: str, group: str) -> int:
    """How many members of consumer group ``group`` hold partitions now."""
    client = admin(bootstrap)  # must outlive the future
    result = client.describe_consumer_groups([group], request_timeout=10)[group].result(10)
    return sum(1 for m in result.members if m.assignment and m.assignment.topic_partitions)


def test_sigterm_hands_sink_partitions_over_within_seconds(
    broker: BrokerUnderTest, make_cluster: Any, record_property: Any
) -> None:
    consumer_session_ms = 45_000  # librdkafka's default, spelled out: what a non-leaving consumer costs
    cluster: Cluster = make_cluster(broker.bootstrap)
    cluster.props["consumer.session.timeout.ms"] = str(consumer_session_ms)
    workers = cluster.add(2)
    cluster.wait_joined()
    topic, partitions, name = unique_topic("snk"), 4, "sink"
    create_topic(broker.bootstrap, topic, partitions)
    producer = confluent_producer(broker.bootstrap)

    def produce(n: int) -> list[int]:
        for i in range(n):
            for p in range(partitions):
                producer.produce(topic, f'{{"n": {i}}}'.encode(), partition=p)
        producer.flush(10)
        consumer = confluent_consumer(broker.bootstrap)
        try:
            return [
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)
            ]
        finally:
            consumer.close()

    sink = {
        "connector.class": "ParquetSink",
        "tasks.max": "2",
        "topics": topic,
        "store.url": (cluster.work_dir / "parquet").as_uri(),
        "flush.size": "1",
        "key.converter": "StringConverter",
        "value.converter": "JsonConverter",
        "value.converter.schemas.enable": "false",
    }
    cluster.request("POST", "/connectors", {"name": name, "config": sink}, expect=201)

    def spread() -> dict[str, tuple[str, str]] | None:
        states = cluster.task_states([name])
        running = len(states) == 2 and all(s == "RUNNING" for s, _ in states.values())
        return states if running and len({wid for _, wid in states.values()}) == 2 else None

    states = wait_until("one sink task RUNNING on each worker", spread, 60, 0.2, cluster.check_alive)
    wait_until(
        "both sink tasks hold partitions",
        lambda: _members_with_partitions(broker.bootstrap, f"connect-{name}") == 2,
        60,
        0.2,
        cluster.check_alive,
    )
    ends = produce(10)
    wait_until(
        "both sink tasks consumed everything",
        lambda: _committed(broker.bootstrap, f"connect-{name}", topic, partitions) == ends,
        60,
        0.2,
        cluster.check_alive,
    )
    victim, survivor = workers[0], workers[1]
    assert {wid for _, wid in states.values()} == {victim.worker_id, survivor.worker_id}

    t0 = time.monotonic()
    assert victim.stop() == 0  # SIGTERM: an orderly shutdown
    stopped_s = elapsed_since(t0)
    ends = produce(10)  # records in every partition, also the ones the victim's task consumed
    wait_until(
        "the survivor consumed every partition",
        lambda: _committed(broker.bootstrap, f"connect-{name}", topic, partitions) == ends,
        consumer_session_ms / 1000,
        0.2,
        survivor.check_alive,
        lambda: (_committed(broker.bootstrap, f"connect-{name}", topic, partitions), ends),
    )
    took_s = elapsed_since(t0)
    record_property("sink_handover_seconds", took_s)
    print(
        f"\nSIGTERM -> worker exited in {stopped_s:.2f}s, its sink partitions consumed elsewhere "
        f"in {took_s:.2f}s"
    )
    assert took_s < 20, f"hand-over took {took_s}s: the victim's consumer did not leave its group"
    log = victim.log_text()
    assert "Sink task sink-" in log and "stopped (" in log, "the victim's sink task did not close"


def test_writes_back_to_back_are_queued_behind_rebalances(broker: BrokerUnderTest, make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(broker.bootstrap)
    leader, follower = cluster.leader_and_follower()
    topic = unique_topic("q")

    def config(interval_ms: int) -> dict[str, str]:
        return {
            "connector.class": "SequenceSource",
            "tasks.max": "2",
            "topic": topic,
            "events.file": str(cluster.events_file),
            "interval.ms": str(interval_ms),
            "key.converter": "StringConverter",
            "value.converter": "StringConverter",
        }

    writes = [
        (follower, "POST", "/connectors", {"name": "qa", "config": config(50)}, 201),
        (follower, "POST", "/connectors", {"name": "qb", "config": config(50)}, 201),
        (leader, "PUT", "/connectors/qa/pause", None, 202),
        (follower, "PUT", "/connectors/qb/config", config(70), 200),
        (follower, "DELETE", "/connectors/qa", None, 204),
        (leader, "PUT", "/connectors/qb/config", config(80), 200),
    ]
    answers = []
    for via, method, path, body, expect in writes:
        started = time.monotonic()
        r = via.request(method, path, json=body, timeout=95)
        answers.append((method, path, r.status_code, elapsed_since(started)))
        assert r.status_code == expect, f"{method} {path} via {via.url}: {r.status_code} {r.text[:300]}"
    print("\n" + "\n".join(f"{m} {p}: {s} in {t:.2f}s" for m, p, s, t in answers))

    for w in cluster.workers:  # both workers converge on the end state
        wait_until(f"{w.url} lists only qb", lambda w=w: w.json("GET", "/connectors") == ["qb"], 60, 0.2)
    cluster.wait_settled(["qb"], 2)
    tasks = cluster.request("GET", "/connectors/qb/tasks")
    assert [t["config"]["interval.ms"] for t in tasks] == ["80", "80"]
    assert cluster.request("GET", "/connectors/qb/config")["interval.ms"] == "80"
    assert follower.get("/connectors/qa/status").status_code == 404
