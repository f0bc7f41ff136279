"""The Kafka Connect REST API on a 2-worker cluster. Writes are sent to the follower, which forwards
the leader-only ones (create, stop, restart, offsets, config update, delete) to the leader and a task
restart to the worker running the task; pause/resume, restarts, stop, the KIP-875 offsets endpoints,
a config update and deletion all go through the config topic and are applied by whichever worker runs
the connector and tasks. Reads are answered by both workers from their own replicas of the topics.
"""

from __future__ import annotations

import os
import signal
import time
from functools import partial
from typing import Any

from tests.connect_distributed.cluster import Cluster
from tests.support.brokers import BrokerUnderTest, unique_topic
from tests.support.connect import ConnectWorker, wait_until

NAME = "life"
TASKS = (f"{NAME}-0", f"{NAME}-1")


def _states(worker: ConnectWorker) -> tuple[str, list[str]]:
    body = worker.status(NAME)
    return body["connector"]["state"], [t["state"] for t in sorted(body["tasks"], key=lambda t: t["id"])]


def _wait_states(cluster: Cluster, connector: str, tasks: list[str], timeout: float = 60) -> None:
    """Both workers report the same connector and task states (each reads the status topic)."""
    for w in cluster.live():

        def check(w: ConnectWorker = w) -> bool:
            return _states(w) == (connector, tasks)

        wait_until(
            f"{w.url}: {connector} {tasks}", check, timeout, 0.2, cluster.check_alive, partial(_states, w)
        )


def _starts(cluster: Cluster, task: str) -> list[dict[str, Any]]:
    return [e for e in cluster.events() if e["event"] == "start" and e["task"] == task]


def _offsets(cluster: Cluster, via: ConnectWorker) -> dict[int, int]:
    body = cluster.request("GET", f"/connectors/{NAME}/offsets", via=via)
    return {o["partition"]["task"]: o["offset"]["seq"] for o in body["offsets"]}


def test_rest_lifecycle_on_two_workers(broker: BrokerUnderTest, make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(broker.bootstrap)
    leader, follower = cluster.leader_and_follower()
    cluster.create_sequence(NAME, unique_topic("life"), 2, via=follower)
    cluster.wait_settled([NAME], 2)
    for w in (leader, follower):
        assert w.json("GET", "/connectors") == [NAME]
        info = w.json("GET", f"/connectors/{NAME}")
        assert info["tasks"] == [{"connector": NAME, "task": 0}, {"connector": NAME, "task": 1}]
        assert [t["config"]["task.index"] for t in w.json("GET", f"/connectors/{NAME}/tasks")] == ["0", "1"]

    # pause / resume (any worker writes the target state)
    cluster.request("PUT", f"/connectors/{NAME}/pause", expect=202, via=follower)
    _wait_states(cluster, "PAUSED", ["PAUSED", "PAUSED"])
    cluster.request("PUT", f"/connectors/{NAME}/resume", expect=202, via=leader)
    _wait_states(cluster, "RUNNING", ["RUNNING", "RUNNING"])

    # restart with tasks: 202 with the plan, then each task is started once more
    before = {t: len(_starts(cluster, t)) for t in TASKS}
    plan = cluster.request("POST", f"/connectors/{NAME}/restart?includeTasks=true", expect=202, via=follower)
    assert plan["connector"]["state"] == "RESTARTING"
    assert [t["state"] for t in plan["tasks"]] == ["RESTARTING", "RESTARTING"]
    wait_until(
        "both tasks started again",
        lambda: all(len(_starts(cluster, t)) == n + 1 for t, n in before.items()),
        60,
        0.2,
        cluster.check_alive,
    )
    states = cluster.wait_settled([NAME], 2)

    # a task restart sent to the worker that does not run the task is forwarded to the one that does
    elsewhere = next(w for w in (leader, follower) if w.worker_id != states[f"{NAME}-1"][1])
    n1 = len(_starts(cluster, f"{NAME}-1"))
    cluster.request("POST", f"/connectors/{NAME}/tasks/1/restart", expect=204, via=elsewhere)
    wait_until("task 1 restarted", lambda: len(_starts(cluster, f"{NAME}-1")) == n1 + 1, 60, 0.2)
    cluster.wait_settled([NAME], 2)

    # stop (KIP-875); offsets: read on both, altered and reset through the follower
    cluster.request("PUT", f"/connectors/{NAME}/stop", expect=204, via=follower)
    _wait_states(cluster, "STOPPED", [])
    assert sorted(_offsets(cluster, leader)) == [0, 1]
    body = {"offsets": [{"partition": {"task": 0}, "offset": {"seq": 41}}]}
    altered = cluster.request("PATCH", f"/connectors/{NAME}/offsets", body, via=follower)
    assert "altered" in altered["message"]
    assert _offsets(cluster, leader)[0] == 41
    n0 = len(_starts(cluster, f"{NAME}-0"))
    cluster.request("PUT", f"/connectors/{NAME}/resume", expect=202, via=follower)
    cluster.wait_settled([NAME], 2)
    wait_until("task 0 resumed", lambda: len(_starts(cluster, f"{NAME}-0")) == n0 + 1, 30, 0.2)
    assert _starts(cluster, f"{NAME}-0")[-1]["seq"] == 42, "task 0 did not resume after the altered offset"

    cluster.request("PUT", f"/connectors/{NAME}/stop", expect=204, via=follower)
    _wait_states(cluster, "STOPPED", [])
    assert "reset" in cluster.request("DELETE", f"/connectors/{NAME}/offsets", via=follower)["message"]
    assert _offsets(cluster, follower) == {}
    n0 = len(_starts(cluster, f"{NAME}-0"))
    cluster.request("PUT", f"/connectors/{NAME}/resume", expect=202, via=leader)
    cluster.wait_settled([NAME], 2)
    wait_until("task 0 resumed after the reset", lambda: len(_starts(cluster, f"{NAME}-0")) > n0, 30, 0.2)
    assert _starts(cluster, f"{NAME}-0")[-1]["seq"] == 0, "task 0 did not start over after the reset"

    # a config update reaches the task configs and the running tasks
    config = dict(follower.json("GET", f"/connectors/{NAME}/config"))
    config["interval.ms"] = "77"
    cluster.request("PUT", f"/connectors/{NAME}/config", config, via=follower)

    def updated() -> bool:
        return all(
            t["config"]["interval.ms"] == "77" for t in leader.json("GET", f"/connectors/{NAME}/tasks")
        )

    wait_until("task configs updated", updated, 60, 0.2)
    cluster.wait_settled([NAME], 2)

    # delete: gone on both workers, every task instance stopped
    cluster.request("DELETE", f"/connectors/{NAME}", expect=204, via=follower)
    for w in (leader, follower):

        def gone(w: ConnectWorker = w) -> bool:
            return w.get(f"/connectors/{NAME}").status_code == 404

        wait_until(f"{w.url}: deleted", gone, 30, 0.2)
    wait_until("no task instance left", lambda: not cluster.live_instances(), 30, 0.2, cluster.check_alive)

    # SIGTERM: each worker stops its work, leaves the group and exits 0
    for w in (follower, leader):
        assert w.stop() == 0, w.log_tail(30)
        assert "Distributed herder" in w.log_text(False) and "stopped" in w.log_tail(5)


def test_writes_wait_while_the_group_rebalances(broker: BrokerUnderTest, make_cluster: Any) -> None:
    """With the follower frozen (SIGSTOP), a new connector makes the leader rebalance, and the group
    cannot complete that rebalance until the follower's session expires: a write meanwhile waits for the
    rebalance and then gets its own answer (here 400: an invalid config), not Kafka's 409."""
    cluster: Cluster = make_cluster(broker.bootstrap)
    leader, follower = cluster.leader_and_follower()
    os.kill(follower.pid, signal.SIGSTOP)
    try:
        rejoins = leader.log_text().count("reason: connectors or tasks changed")
        cluster.create_sequence("first", unique_topic("rb"), 1, via=leader)
        wait_until(
            "the leader rebalancing",
            lambda: leader.log_text().count("reason: connectors or tasks changed") > rejoins,
            10,
            0.05,
            cluster.check_alive,
        )
        invalid = {"name": "second", "config": {"connector.class": "SequenceSource"}}
        started = time.monotonic()
        r = leader.post("/connectors", json=invalid, timeout=95)
        waited = time.monotonic() - started
        assert r.status_code == 400, r.text
        assert waited > 1, f"answered after {waited:.2f}s: the write did not wait for the rebalance"
    finally:
        os.kill(follower.pid, signal.SIGCONT)
    cluster.wait_settled(["first"], 1)
