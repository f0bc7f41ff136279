"""A Connect cluster of real ``headrace distributed`` worker processes for end-to-end tests, and the
task-event log of the test-only ``SequenceSource`` connector (``plugins/sequence_source.py``).

Every cluster gets its own group id and internal topics (the session broker is shared), short group
timeouts so failover is quick (``session.timeout.ms`` 6000, ``heartbeat.interval.ms`` 1000,
``scheduled.rebalance.max.delay.ms`` 3000), and a JSON-lines file where every task start and stop is
recorded with the worker's pid, so tests can tell which process runs which task and whether a task was
restarted.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.connect import ConnectWorker, start_connect_worker, wait_until

PLUGINS = Path(__file__).parent / "plugins"
SESSION_TIMEOUT_MS = 6000
REBALANCE_DELAY_MS = 3000


@dataclass
class Cluster:
    """Distributed workers of one Connect group and the SequenceSource task-event log they share."""

    bootstrap: str
    work_dir: Path
    group_id: str
    props: dict[str, str]
    workers: list[ConnectWorker] = field(default_factory=list)

    @property
    def events_file(self) -> Path:
        return self.work_dir / "task-events.jsonl"

    def add(self, count: int = 1) -> list[ConnectWorker]:
        """Start ``count`` workers in parallel; returns them once each one's REST API answers."""
        started: list[ConnectWorker | BaseException] = [RuntimeError("not started")] * count
        base = len(self.workers)

        def run(i: int) -> None:
            try:
                started[i] = start_connect_worker(
                    self.bootstrap,
                    self.work_dir / f"w{base + i}",
                    self.props,
                    group_id=self.group_id,
                    timeout=60,
                )
            except BaseException as exc:
                started[i] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        new = [w for w in started if isinstance(w, ConnectWorker)]
        self.workers.extend(new)
        for w in started:
            if isinstance(w, BaseException):
                raise w
        return new

    def wait_joined(self, timeout: float = 60) -> None:
        """Wait until every live worker has joined the group (GET /health answers 200)."""

        def check() -> bool:
            return all(w.get("/health").status_code == 200 for w in self.live())

        wait_until("every worker joined the group", check, timeout, 0.2, self.check_alive)

    def follower(self) -> ConnectWorker:
        """A live worker that is not the group's leader (per the newest "Joined group" line of its log)."""

        def find() -> ConnectWorker | None:
            for w in self.live():
                joined = [line for line in w.log_text(False).splitlines() if "Joined group" in line]
                if joined and f"(leader {w.url})" not in joined[-1]:
                    return w
            return None

        return wait_until("a follower", find, 30, 0.2, self.check_alive)

    def leader_and_follower(self) -> tuple[ConnectWorker, ConnectWorker]:
        """Two live workers that joined the group: (the leader, a follower)."""
        self.add(2)
        self.wait_joined()
        follower = self.follower()
        return next(w for w in self.live() if w is not follower), follower

    def live(self) -> list[ConnectWorker]:
        return [w for w in self.workers if w.alive()]

    def check_alive(self) -> None:
        for w in self.live():
            w.check_alive()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        expect: int = 200,
        timeout: float = 60,
        via: ConnectWorker | None = None,
        retry: tuple[int, ...] = (409, 500, 503),
    ) -> Any:
        """Send a request to ``via`` (default: the first live worker that answers), retrying while the
        answer is one of ``retry`` (409: rebalancing) or a worker is not reachable; returns the decoded
        body of the ``expect`` answer."""
        last = ""

        def attempt() -> Any:
            nonlocal last
            for w in [via] if via is not None else self.live():
                try:
                    r = w.request(method, path, json=body)
                except httpx.TransportError as exc:
                    last = f"{w.url}: {exc}"
                    continue
                if r.status_code == expect:
                    return (r.json() if r.content else None,)
                last = f"{w.url}: {r.status_code} {r.text[:300]}"
                if r.status_code not in retry:
                    raise AssertionError(f"{method} {path}: {last}")
            return None

        return wait_until(
            f"{method} {path} -> {expect}", attempt, timeout, 0.3, self.check_alive, lambda: last
        )[0]

    def create_sequence(
        self, name: str, topic: str, tasks: int, via: ConnectWorker, interval_ms: int = 50
    ) -> None:
        """Create a SequenceSource through ``via`` (forwarded to the leader when ``via`` is a follower)."""
        config = {
            "connector.class": "SequenceSource",
            "tasks.max": str(tasks),
            "topic": topic,
            "events.file": str(self.events_file),
            "interval.ms": str(interval_ms),
            "key.converter": "StringConverter",
            "value.converter": "StringConverter",
        }

        def attempt() -> bool:
            r = via.post("/connectors", json={"name": name, "config": config})
            if r.status_code == 201:
                return True
            assert r.status_code == 409, f"POST /connectors: {r.status_code} {r.text[:500]}"
            return False  # rebalance in progress: retry

        wait_until(f"creating {name}", attempt, 60, 0.3, self.check_alive)

    def task_states(self, names: list[str]) -> dict[str, tuple[str, str]]:
        """``connector-task -> (state, worker_id)`` for the given connectors, read from a live worker."""
        out: dict[str, tuple[str, str]] = {}
        for name in names:
            # 404 too: a worker that was frozen or just started may not have read the config topic yet
            body = self.request("GET", f"/connectors/{name}/status", retry=(404, 409, 500, 503))
            for t in body["tasks"]:
                out[f"{name}-{t['id']}"] = (t["state"], t["worker_id"])
        return out

    def events(self) -> list[dict[str, Any]]:
        try:
            text = self.events_file.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def starts(self) -> Counter[str]:
        """How many times each task was started so far."""
        return Counter(e["task"] for e in self.events() if e["event"] == "start")

    def live_instances(self) -> dict[str, list[int]]:
        """task -> pids of the live worker processes that started it and have not stopped it."""
        live_pids = {w.pid for w in self.live()}
        running: Counter[tuple[str, int]] = Counter()
        for e in self.events():
            running[(e["task"], e["pid"])] += 1 if e["event"] == "start" else -1
        out: dict[str, list[int]] = {}
        for (task, pid), n in running.items():
            if n > 0 and pid in live_pids:
                out.setdefault(task, []).append(pid)
        return out

    def wait_settled(
        self, names: list[str], expected_tasks: int, timeout: float = 60
    ) -> dict[str, tuple[str, str]]:
        """Wait until exactly ``expected_tasks`` tasks exist, all RUNNING on live workers, each task
        running in exactly one live process; returns ``task -> (state, worker_id)``."""
        last: dict[str, Any] = {}
        live_ids = {w.worker_id: w for w in self.live()}

        def check() -> dict[str, tuple[str, str]] | None:
            states = self.task_states(names)
            instances = self.live_instances()
            last.update(states=states, instances=instances)
            if len(states) != expected_tasks:
                return None
            if any(s != "RUNNING" or wid not in live_ids for s, wid in states.values()):
                return None
            for task, (_, wid) in states.items():
                if instances.get(task) != [live_ids[wid].pid]:
                    return None
            return states

        return wait_until(
            f"{expected_tasks} tasks RUNNING, each on exactly one live worker",
            check,
            timeout,
            0.25,
            self.check_alive,
            lambda: last,
        )

    def close(self) -> None:
        for w in reversed(self.workers):
            w.close()


def cluster_props(group: str) -> dict[str, str]:
    return {
        "config.storage.topic": f"{group}-configs",
        "offset.storage.topic": f"{group}-offsets",
        "status.storage.topic": f"{group}-status",
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.storage.partitions": "5",
        "status.storage.partitions": "3",
        "session.timeout.ms": str(SESSION_TIMEOUT_MS),
        "heartbeat.interval.ms": "1000",
        "rebalance.timeout.ms": "20000",
        "scheduled.rebalance.max.delay.ms": str(REBALANCE_DELAY_MS),
        "plugin.path": str(PLUGINS),
        "offset.flush.interval.ms": "300",
    }


def elapsed_since(t0: float) -> float:
    return round(time.monotonic() - t0, 2)
