"""Tells the operator, within seconds, whether the worker reaches its Kafka cluster — and keeps telling.

librdkafka retries an unreachable ``bootstrap.servers`` forever and quietly: a worker started against a
wrong address used to sit there with no word. :class:`ClusterWatch` runs one daemon thread per worker
(``start()`` by ``Worker.start``, ``stop()`` by ``Worker.stop``) that asks the cluster for its metadata
with a short timeout: the first failure is logged as one WARNING line naming the address and the client's
own reason (e.g. "Connection refused"), then again every ``REPEAT_S`` seconds while it lasts; reaching
the cluster (first time or again) is logged once at INFO. Nothing stops: clients keep retrying, tasks
start when the cluster answers. ``state()`` feeds ``GET /health`` (any thread).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka.admin import AdminClient

log = logging.getLogger("connect.worker")

CHECK_TIMEOUT_S = 3.0  # how long one metadata request may take before it counts as a failure
RETRY_S = 2.0  # between checks while unreachable
HEALTHY_RECHECK_S = 15.0  # between checks while reachable
REPEAT_S = 30.0  # how often "still unreachable" is repeated


class ClusterWatch:
    """Background reachability check of the worker's Kafka cluster (see the module docstring).

    ``client_config`` is an admin client configuration (``bootstrap.servers`` plus security settings;
    never logged). ``probe`` is injectable for tests: it returns None when the cluster answered, else a
    one-line reason.
    """

    def __init__(
        self,
        client_config: Mapping[str, Any],
        probe: Callable[[], str | None] | None = None,
    ) -> None:
        self._servers = str(client_config.get("bootstrap.servers", ""))
        self._config: dict[str, Any] = dict(client_config)
        self._errors: list[str] = []
        self._probe = probe or self._metadata_probe
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._reachable: bool | None = None  # None: not checked yet
        self._reason = ""
        self._down_since: float | None = None
        self._thread: threading.Thread | None = None
        self._admin: AdminClient | None = None

    # -- lifecycle (Worker.start / Worker.stop) ----------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cluster-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(CHECK_TIMEOUT_S + 2)

    # -- any thread --------------------------------------------------------------------------------

    def state(self) -> tuple[bool | None, str]:
        """(reachable — None until the first check finished, the reason when not)."""
        with self._lock:
            return self._reachable, self._reason

    # -- watch thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        last_warning = 0.0
        while not self._stop.is_set():
            reason = self._probe()
            now = time.monotonic()
            with self._lock:
                was = self._reachable
                self._reachable = reason is None
                self._reason = reason or ""
                if reason is not None and self._down_since is None:
                    self._down_since = now
                down_for = now - self._down_since if self._down_since is not None else 0.0
                if reason is None:
                    self._down_since = None
            if reason is None:
                if was is not True:
                    log.info("Reached the Kafka cluster at bootstrap.servers=%s", self._servers)
                self._stop.wait(HEALTHY_RECHECK_S)
                continue
            if was is not False or now - last_warning >= REPEAT_S:
                last_warning = now
                still = f" for {down_for:.0f} s" if was is False else ""
                log.warning(
                    "Cannot reach the Kafka cluster at bootstrap.servers=%s%s: %s; retrying (tasks start "
                    "once it answers)",
                    self._servers,
                    still,
                    reason,
                )
            self._stop.wait(RETRY_S)

    def _metadata_probe(self) -> str | None:
        if self._admin is None:
            config: dict[str, Any] = {**self._config, "error_cb": self._on_error}
            self._admin = AdminClient(config)
        try:
            self._admin.list_topics(timeout=CHECK_TIMEOUT_S)
            self._errors.clear()
            return None
        except Exception as exc:
            # librdkafka's error callback carries the transport reason ("Connect to ipv4#127.0.0.1:1
            # failed: Connection refused"); the exception only says the request timed out.
            return self._errors[-1] if self._errors else str(exc)

    def _on_error(self, error: Any) -> None:
        text = str(error.str() if hasattr(error, "str") else error)
        if "brokers are down" not in text:
            self._errors[:] = [*self._errors[-4:], text]
