"""Issue 12: a write that arrives while the group rebalances waits until the rebalance is done and is then
applied (Kafka's herder queues requests behind a rebalance); 409 only when the rebalance outlasts the wait.

No broker: the herder is built, its stores replaced by memory ones, and the member's state is set by hand;
the herder thread runs so that an assignment handed over is applied as it is in a worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from connect.runtime.config_store import MemoryConfigBackingStore
from connect.runtime.distributed.connect_protocol import ConnectAssignment
from connect.runtime.distributed.herder import DistributedHerder
from connect.runtime.exceptions import RebalanceInProgressError
from connect.runtime.plugins import PluginRegistry
from connect.runtime.status_store import MemoryStatusBackingStore
from connect.runtime.worker_config import WorkerConfig

ME = "127.0.0.1:8083"


@pytest.fixture
def herder() -> Iterator[DistributedHerder]:
    config = WorkerConfig({"bootstrap.servers": "127.0.0.1:9", "group.id": "g"})
    h = DistributedHerder(config, PluginRegistry(), ME, f"http://{ME}")
    h.configs = MemoryConfigBackingStore()
    h.status = MemoryStatusBackingStore()
    h.configs.put_connector_config("x", {"connector.class": "Unknown"})
    thread = threading.Thread(target=h._run, name="herder-test", daemon=True)
    thread.start()
    try:
        yield h
    finally:
        with h._wake:
            h._stopping = True
            h._wake.notify_all()
        thread.join(10)


def _join_as_leader(h: DistributedHerder, generation: int) -> None:
    """What the member thread does at the end of a rebalance in which this worker became the leader."""
    a = ConnectAssignment(0, "m1", f"http://{ME}", h.configs.snapshot().offset, (), ())
    h.member.member_id = "m1"
    h.member._assignment = a
    h.member._rebalancing = False
    h.on_assigned(a, generation)


def test_a_write_during_a_rebalance_waits_for_it_and_is_applied(herder: DistributedHerder) -> None:
    result: list[BaseException | None] = []

    def delete() -> None:
        try:
            herder.delete_connector("x")
            result.append(None)
        except BaseException as exc:
            result.append(exc)

    writer = threading.Thread(target=delete)
    started = time.monotonic()
    writer.start()  # not joined yet: the write waits
    time.sleep(0.3)
    assert writer.is_alive() and not result, "the write did not wait for the rebalance"
    _join_as_leader(herder, 1)
    writer.join(10)
    assert result == [None], result
    assert time.monotonic() - started < 5
    assert not herder.configs.snapshot().contains("x")

    herder.member._rebalancing = True  # the next rebalance (the deletion starts one): writes wait again
    herder.configs.put_connector_config("y", {"connector.class": "Unknown"})
    writer = threading.Thread(target=lambda: herder.delete_connector("y"))
    writer.start()
    time.sleep(0.2)
    assert writer.is_alive()
    _join_as_leader(herder, 2)
    writer.join(10)
    assert not herder.configs.snapshot().contains("y")


def test_a_rebalance_that_outlasts_the_wait_is_a_409(herder: DistributedHerder) -> None:
    herder.rebalance_wait_s = 0.3
    started = time.monotonic()
    with pytest.raises(RebalanceInProgressError) as err:
        herder.delete_connector("x")
    assert err.value.status == 409 and "rebalance" in err.value.message
    assert 0.3 <= time.monotonic() - started < 3
    assert herder.configs.snapshot().contains("x")
