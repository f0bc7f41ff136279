"""Assembles a worker process: properties -> plugins -> herder -> REST, and runs it until a signal.

Used by ``headrace standalone`` / ``headrace distributed`` and by the demo. ``run_*`` block the calling
(main) thread until SIGTERM/SIGINT, then stop REST first (no new requests), then the herder (tasks
commit their offsets and stop), and return the exit code.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from pathlib import Path

from connect.runtime.config_files import LaunchError, build_worker_config
from connect.runtime.config_store import FileConfigBackingStore, MemoryConfigBackingStore
from connect.runtime.distributed import DistributedHerder
from connect.runtime.exceptions import HerderError
from connect.runtime.offsets import FileOffsetBackingStore
from connect.runtime.plugins import discover
from connect.runtime.standalone import StandaloneHerder
from connect.runtime.worker_config import WorkerConfig
from rest.app import create_app
from rest.forward import HttpForwarder
from rest.server import RestServer

__all__ = ["DistributedWorker", "LaunchError", "StandaloneWorker", "wait_for_signal"]

log = logging.getLogger("connect.launcher")


class StandaloneWorker:
    """A running standalone worker: herder + REST server. ``start()`` then ``stop()``."""

    def __init__(self, props: Mapping[str, str], rest_host: str = "127.0.0.1", rest_port: int = 8083) -> None:
        self.config = build_worker_config(props)
        offsets = self.config.get("offset.storage.file.filename") or "./data/connect.offsets"
        self.offsets_path = Path(offsets)
        configs_file = self.config.get("config.storage.file.filename")
        self.registry = discover(self.config.plugin_path)
        self._rest_host = rest_host
        self.rest = RestServer(None, rest_host, rest_port, access_log=False)
        self.rest_port = self.rest.bind()
        self.herder: StandaloneHerder | None = None
        self._configs_file = Path(configs_file) if configs_file else None

    def start(self) -> None:
        worker_id = _advertised_id(self.config, self._rest_host, self.rest_port)
        self.herder = StandaloneHerder(
            self.config,
            self.registry,
            FileOffsetBackingStore(self.offsets_path),
            worker_id,
            FileConfigBackingStore(self._configs_file) if self._configs_file else MemoryConfigBackingStore(),
        )
        self.herder.start()
        self.rest.app = create_app(self.herder)
        self.rest.start()

    def add_connector(self, config: dict[str, str]) -> None:
        assert self.herder is not None
        try:
            self.herder.put_connector_config(config["name"], config, allow_replace=True)
        except HerderError as exc:
            raise LaunchError(f"connector {config['name']}: {exc.message}") from None

    def stop(self) -> None:
        self.rest.stop()
        if self.herder is not None:
            self.herder.stop()


def _advertised_id(config: WorkerConfig, rest_host: str, rest_port: int) -> str:
    """``host:port`` other workers and status entries use: rest.advertised.* or the bound address."""
    host = config.get("rest.advertised.host.name") or (
        "127.0.0.1" if rest_host in ("", "0.0.0.0") else rest_host
    )
    return f"{host}:{config.get('rest.advertised.port') or rest_port}"


class DistributedWorker:
    """A running distributed worker: :class:`DistributedHerder` + REST server (forwarding to the
    leader). ``start()`` then ``stop()``; ``start()`` returns once the internal topics are read and the
    REST API listens (joining the group continues in the background)."""

    def __init__(self, props: Mapping[str, str], rest_host: str = "127.0.0.1", rest_port: int = 8083) -> None:
        self.config = build_worker_config(props)
        if not self.config.get("group.id"):
            raise LaunchError(
                "distributed mode needs a group id: --group-id ID (or group.id in --worker-config)"
            )
        self.registry = discover(self.config.plugin_path)
        self._rest_host = rest_host
        self.rest = RestServer(None, rest_host, rest_port, access_log=False)
        self.rest_port = self.rest.bind()
        self.herder: DistributedHerder | None = None

    def start(self) -> None:

        worker_id = _advertised_id(self.config, self._rest_host, self.rest_port)
        self.herder = DistributedHerder(self.config, self.registry, worker_id, f"http://{worker_id}")
        self.herder.start()
        self.rest.app = create_app(self.herder, forward=HttpForwarder())
        self.rest.start()

    def stop(self) -> None:
        self.rest.stop()
        if self.herder is not None:
            self.herder.stop()


def wait_for_signal() -> None:
    """Block the main thread until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1):
        pass
