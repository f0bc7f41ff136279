"""Distributed mode: workers that share configs, offsets and statuses through Kafka topics and split
connectors and tasks between them through the broker's group coordinator (Kafka Connect's design).

The public entry point is :class:`DistributedHerder` (``headrace distributed`` builds one through
:class:`headrace.launcher.DistributedWorker`); the stores, the group member and the assignor are
its parts.
"""

from connect.runtime.distributed.herder import DistributedHerder

__all__ = ["DistributedHerder"]
