"""Consumer-group test helpers: group members in their own processes, a numbered background producer,
committed-offset commits and look-ups.

``MemberProcess`` runs ``tests/support/group_member.py`` (one subscribed consumer of confluent-kafka,
kafka-python or aiokafka) and collects its JSON-line events, each stamped with the time the test received
it, so a test can ``close()`` it (LeaveGroup) or ``kill()`` it (SIGKILL: no goodbye) and measure how fast
the rest of the group takes over. Every process started here is killed by ``stop_all`` (fixtures call it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.support.servers import REPO_ROOT

MEMBER_SCRIPT = Path(__file__).with_name("group_member.py")


@dataclass
class Event:
    t: float  # time.monotonic() when the test received it
    ev: str
    data: dict[str, Any]


@dataclass
class MemberProcess:
    """A group member in a child process. ``name`` labels it in assertion messages."""

    name: str
    proc: subprocess.Popen[bytes]
    stderr_path: Path
    events: list[Event] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _reader: threading.Thread | None = None

    @classmethod
    def start(
        cls,
        name: str,
        client: str,
        bootstrap: str,
        topic: str,
        group: str,
        log_dir: Path,
        session_timeout_ms: int,
        heartbeat_ms: int = 500,
        max_records: int = 50,
        assignor: str | None = None,
    ) -> MemberProcess:
        stderr_path = log_dir / f"member-{name}-{uuid.uuid4().hex[:6]}.stderr"
        cmd = [
            sys.executable,
            str(MEMBER_SCRIPT),
            "--client",
            client,
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--group",
            group,
            "--client-id",
            f"member-{name}",
            "--session-timeout-ms",
            str(session_timeout_ms),
            "--heartbeat-ms",
            str(heartbeat_ms),
            "--max-records",
            str(max_records),
            *(["--assignor", assignor] if assignor else []),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore"}
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=REPO_ROOT, env=env
            )
        m = cls(name, proc, stderr_path)
        m._reader = threading.Thread(target=m._read, name=f"member-{name}-reader", daemon=True)
        m._reader.start()
        STARTED_MEMBERS.append(m)
        return m

    @property
    def events_path(self) -> Path:
        """Every event line as received, prefixed with the receive time (for post-mortems)."""
        return self.stderr_path.with_suffix(".events")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with open(self.events_path, "wb") as log:
            self._read_into(log)

    def _read_into(self, log: Any) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            log.write(f"{time.monotonic():.3f} ".encode() + raw)
            log.flush()
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = {"ev": "garbage", "line": raw.decode(errors="replace")}
            with self._cond:
                self.events.append(Event(time.monotonic(), obj.pop("ev"), obj))
                self._cond.notify_all()
        with self._cond:
            self.events.append(Event(time.monotonic(), "eof", {}))
            self._cond.notify_all()

    # -- observations ------------------------------------------------------------------------------

    def of(self, ev: str) -> list[Event]:
        with self._cond:
            return [e for e in self.events if e.ev == ev]

    @property
    def assignment(self) -> list[int] | None:
        a = self.of("assigned")
        return a[-1].data["partitions"] if a else None

    def records(self) -> list[tuple[int, int, str]]:
        """Every (partition, offset, value) this member reported as processed, in order."""
        return [(p, o, v) for e in self.of("records") for p, o, v in e.data["recs"]]

    def committed(self) -> dict[int, int]:
        """The last offset this member reported committed, per partition."""
        out: dict[int, int] = {}
        for e in self.of("committed"):
            out.update({int(p): o for p, o in e.data["offsets"].items()})
        return out

    def errors(self) -> list[str]:
        return [e.data.get("msg", "") for e in self.of("error")]

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def describe(self) -> str:
        status = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
        assigned = [(round(e.t, 2), e.data["partitions"]) for e in self.of("assigned")]
        return (
            f"member {self.name} ({status}): assignments {assigned}, {len(self.records())} records, "
            f"committed {self.committed()}, errors {self.errors()[:3]}\n  events: {self.events_path}\n"
            f"  stderr: {self.stderr_tail(8)}"
        )

    def wait_until(self, pred: Callable[[], bool], timeout: float, what: str) -> float:
        """Wait until ``pred()`` holds (checked after every event); returns time.monotonic() then."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {self.describe()}")
                self._cond.wait(min(remaining, 0.2))
            return time.monotonic()

    def assigned_at(self, partitions: Iterable[int], after: float = 0.0) -> float | None:
        """When this member first reported exactly ``partitions`` after time ``after``."""
        want = sorted(partitions)
        for e in self.of("assigned"):
            if e.t >= after and e.data["partitions"] == want:
                return e.t
        return None

    # -- endings -------------------------------------------------------------------------------

    def close(self, timeout: float = 20.0) -> float:
        """Ask the member to leave the group cleanly (client close()/stop()); returns when it was asked."""
        assert self.proc.stdin is not None
        asked = time.monotonic()
        self.proc.stdin.write(b"close\n")
        self.proc.stdin.flush()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"member {self.name} did not close within {timeout}s: {self.describe()}"
            ) from None
        assert self.proc.returncode == 0, (
            f"member {self.name} exited {self.proc.returncode}: {self.describe()}"
        )
        return asked

    def kill(self) -> float:
        """SIGKILL the member (no LeaveGroup, no last commit); returns when it was killed."""
        killed = time.monotonic()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        return killed

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        if self._reader is not None:
            self._reader.join(timeout=5)


STARTED_MEMBERS: list[MemberProcess] = []


def stop_all_members() -> None:
    while STARTED_MEMBERS:
        STARTED_MEMBERS.pop().stop()


# ---------------------------------------------------------------------------------------- producing


def numbered_value(partition: int, n: int) -> bytes:
    return f"{partition}:{n}".encode()


class NumberedProducer:
    """Produces ``"<partition>:<n>"`` to every partition in turn (n = 0, 1, ... per partition) at about
    ``rate`` records/s in a background thread until ``stop()``; on a fresh topic record n lands at offset n.
    ``produce_now(count)`` adds ``count`` records per partition synchronously."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, rate: float = 200.0) -> None:
        self.topic = topic
        self.partitions = partitions
        self.rate = rate
        self.next = [0] * partitions
        self.errors: list[str] = []
        self._p = Producer(
            {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2, "enable.idempotence": True}
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _one_round(self) -> None:
        with self._lock:
            for p in range(self.partitions):
                self._p.produce(
                    self.topic,
                    value=numbered_value(p, self.next[p]),
                    partition=p,
                    on_delivery=self._on_delivery,
                )
                self.next[p] += 1
        self._p.poll(0)

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))

    def produce_now(self, per_partition: int) -> None:
        for _ in range(per_partition):
            self._one_round()
        self.flush()

    def start(self) -> NumberedProducer:
        def run() -> None:
            interval = self.partitions / self.rate
            while not self._stop.wait(interval):
                self._one_round()

        self._thread = threading.Thread(target=run, name="numbered-producer", daemon=True)
        self._thread.start()
        return self

    def halt(self) -> None:
        """Stop the background thread without checking anything (cleanup after a failure)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._p.flush(5)

    def stop(self) -> dict[int, int]:
        """Stop producing, wait for all deliveries; returns {partition: records produced}."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
        return dict(enumerate(self.next))

    def flush(self) -> None:
        left = self._p.flush(30)
        assert left == 0 and not self.errors, f"producer: {left} undelivered, errors {self.errors[:3]}"


# ------------------------------------------------------------------------------------------ offsets


def commit_offsets(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit ``{partition: offset}`` for ``group`` as a simple (non-member) consumer would."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        result = c.commit(
            offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False
        )
        errs = [(tp.partition, tp.error) for tp in result or [] if tp.error is not None]
        assert not errs, f"commit for {group} failed: {errs}"
    finally:
        c.close()


def fetch_committed(bootstrap: str, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """OffsetFetch through confluent's AdminClient: ``{partition: committed offset}`` (-1001 = none)."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    a = AdminClient({"bootstrap.servers": bootstrap})
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])
    res = a.list_consumer_group_offsets([req], request_timeout=10)[group].result(timeout=15)
    out = {}
    for tp in res.topic_partitions:
        if tp.error is not None:
            raise KafkaException(tp.error)
        out[tp.partition] = tp.offset
    return out


# ------------------------------------------------------------------------------- in-process groups


@contextmanager
def stable_confluent_group(
    bootstrap: str, topic: str, group: str, partitions: int, members: int = 2, timeout: float = 30.0
) -> Iterator[list[Consumer]]:
    """``members`` subscribed confluent consumers (client ids ``<group>-m<i>``, range assignor), polled
    until their assignments are disjoint and cover all ``partitions``; closed (LeaveGroup) on exit.
    librdkafka heartbeats from its own thread, so the group stays Stable while the test does other work."""
    consumers = [
        Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": f"{group}-m{i}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "range",
                "heartbeat.interval.ms": 500,
            }
        )
        for i in range(members)
    ]
    try:
        for c in consumers:
            c.subscribe([topic])
        deadline = time.monotonic() + timeout
        while True:
            for c in consumers:
                c.poll(0.05)
            shares = [sorted(tp.partition for tp in c.assignment()) for c in consumers]
            flat = sorted(p for s in shares for p in s)
            if all(shares) and flat == list(range(partitions)):
                break
            assert time.monotonic() < deadline, f"group {group} not stable after {timeout}s: {shares}"
        yield consumers
    finally:
        for c in consumers:
            c.close()
