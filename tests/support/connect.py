"""Run real ``headrace standalone`` (or ``headrace distributed``) Connect workers for end-to-end tests
and benchmarks, and talk to their REST API over HTTP.

::

    worker = start_connect_worker(bootstrap, work_dir, props={"offset.flush.interval.ms": "500"})
    try:
        worker.post("/connectors", json={"name": "src", "config": {...}})
        worker.wait_for_state("src", "RUNNING", ["RUNNING"])
    finally:
        worker.stop()

Every worker runs as ``python -m headrace.cli standalone`` (``distributed --group-id G`` when
``group_id`` is given) in its own session (so a SIGKILL takes the
whole process, librdkafka threads included) on a free REST port, logging to ``<work_dir>/worker-<n>.log``.
It is registered in :data:`tests.support.brokers.STARTED`, so the session-end hook kills leftovers.
``restart()`` starts the same command again (same offsets file, same connector files, same port).
Used by ``tests/connect_e2e`` and ``bench/connect_throughput.py``; never imported by product code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.brokers import STARTED
from tests.support.servers import REPO_ROOT, ServerProcess, free_port

T = TypeVar("T")

DEFAULT_PROPS = {
    # Kafka Connect defaults to 60 s; tests want commits they can wait for.
    "offset.flush.interval.ms": "500",
    "task.shutdown.graceful.timeout.ms": "5000",
}


class WorkerDied(AssertionError):
    pass


def wait_until(
    what: str,
    check: Callable[[], T | None],
    timeout: float = 20.0,
    interval: float = 0.1,
    alive: Callable[[], None] | None = None,
    describe: Callable[[], object] | None = None,
) -> T:
    """Poll ``check()`` until it returns something truthy (returned) or fail after ``timeout`` s.

    ``alive()`` is called between polls and should raise if a process under test died (fail fast).
    ``describe()`` adds the last observed state to the failure message.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            extra = f"; last seen: {describe()!r}" if describe is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


@dataclass
class ConnectWorker:
    """A ``headrace standalone`` worker process and an HTTP client for its REST API."""

    bootstrap: str
    work_dir: Path
    rest_port: int
    offsets_file: Path
    props: dict[str, str]
    connector_files: list[Path] = field(default_factory=list)
    log_level: str = "INFO"
    env: dict[str, str] = field(default_factory=dict)
    group_id: str | None = None  # set: ``headrace distributed --group-id`` instead of standalone
    server: ServerProcess | None = None
    generation: int = 0
    history: list[ServerProcess] = field(default_factory=list)
    _client: httpx.Client | None = None

    # -- process -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def worker_id(self) -> str:
        return f"127.0.0.1:{self.rest_port}"

    @property
    def pid(self) -> int:
        assert self.server is not None
        return self.server.proc.pid

    @property
    def log_path(self) -> Path:
        assert self.server is not None
        return self.server.log_path

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "headrace.cli", "--log-level", self.log_level]
        if self.group_id is not None:  # one worker of a distributed cluster
            cmd += ["distributed", "--group-id", self.group_id]
        else:
            cmd += ["standalone", "--offsets-file", str(self.offsets_file)]
        cmd += ["--bootstrap-servers", self.bootstrap, "--rest-port", str(self.rest_port)]
        for key, value in self.props.items():
            cmd += ["--set", f"{key}={value}"]
        cmd += [str(p) for p in self.connector_files]
        return cmd

    def start(self, timeout: float = 30.0) -> ConnectWorker:
        """Start the process and wait until ``GET /`` answers 200."""
        assert self.server is None or self.server.proc.poll() is not None, "already running"
        self.generation += 1
        log_path = self.work_dir / f"worker-{self.rest_port}-{self.generation}.log"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        full_env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.work_dir,
                env=full_env,
                start_new_session=True,
            )
        self.server = ServerProcess("connect-worker", proc, "127.0.0.1", self.rest_port, log_path)
        self.history.append(self.server)
        STARTED.append(self.server)
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise WorkerDied(
                    f"connect worker exited with code {proc.returncode} during start-up:\n{self.log_tail(60)}"
                )
            try:
                if self.client.get("/", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"connect worker REST API not up after {timeout}s:\n{self.log_tail(60)}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.server is not None and self.server.proc.poll() is None

    def check_alive(self) -> None:
        if self.server is not None and self.server.proc.poll() is not None:
            raise WorkerDied(
                f"connect worker exited with code {self.server.proc.returncode}:\n{self.log_tail(60)}"
            )

    def kill(self) -> None:
        """SIGKILL (no shutdown: no offset commit, no flush)."""
        if self.server is not None:
            self.server.kill()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        code = self.server.stop(timeout) if self.server is not None else None
        return code

    def restart(self, timeout: float = 30.0) -> ConnectWorker:
        if self.alive():
            self.stop()
        return self.start(timeout)

    def close(self) -> None:
        """Stop the process (if running) and the HTTP client. Idempotent."""
        for server in self.history:
            if server.proc.poll() is None:
                server.stop()
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- logs ----------------------------------------------------------------------------------

    def log_text(self, all_generations: bool = True) -> str:
        servers = self.history if all_generations else self.history[-1:]
        return "".join(s.log_text() for s in servers)

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_text(all_generations=False).splitlines()[-lines:])

    # -- HTTP ----------------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=30.0)
        return self._client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def json(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        """Send a request, assert the status and return the decoded JSON body (None if empty)."""
        r = self.request(method, path, **kwargs)
        assert r.status_code == expect, (
            f"{method} {path}: expected {expect}, got {r.status_code}: {r.text[:2000]}"
        )
        return r.json() if r.content else None

    # -- connectors ----------------------------------------------------------------------------

    def create(self, name: str, config: Mapping[str, str]) -> dict[str, Any]:
        """POST /connectors; asserts 201."""
        return self.json("POST", "/connectors", 201, json={"name": name, "config": dict(config)})  # type: ignore[no-any-return]

    def status(self, name: str) -> dict[str, Any]:
        return self.json("GET", f"/connectors/{name}/status")  # type: ignore[no-any-return]

    def healthy(self, *names: str) -> Callable[[], None]:
        """A check for ``wait_until(alive=...)``: the process runs and none of ``names`` (connector or
        task) is FAILED — so a wait fails at once with the trace instead of timing out."""

        def check() -> None:
            self.check_alive()
            for name in names:
                r = self.get(f"/connectors/{name}/status")
                if r.status_code != 200:
                    continue
                body = r.json()
                for part in [body["connector"], *body["tasks"]]:
                    if part["state"] == "FAILED":
                        which = f"task {part['id']}" if "id" in part else "connector"
                        raise AssertionError(
                            f"{name} {which} FAILED:\n{part.get('trace', '(no trace)')[-3000:]}"
                        )

        return check

    def wait_for_state(
        self,
        name: str,
        connector: str,
        tasks: Iterable[str] | None = None,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        """Wait until the connector's state is ``connector`` and its task states are exactly ``tasks``
        (in task-id order; None = any). Returns the status body."""
        want_tasks = None if tasks is None else list(tasks)
        last: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            nonlocal last
            r = self.get(f"/connectors/{name}/status")
            if r.status_code != 200:
                last = {"http": r.status_code, "body": r.text[:500]}
                return None
            last = r.json()
            states = [t["state"] for t in sorted(last["tasks"], key=lambda t: t["id"])]
            if last["connector"]["state"] == connector and (want_tasks is None or states == want_tasks):
                return last
            return None

        return wait_until(
            f"{name}: connector {connector}, tasks {want_tasks}",
            check,
            timeout,
            alive=self.check_alive,
            describe=lambda: last,
        )


def start_connect_worker(
    bootstrap: str,
    work_dir: Path,
    props: Mapping[str, str] | None = None,
    connector_files: Iterable[Path] = (),
    offsets_file: Path | None = None,
    rest_port: int | None = None,
    log_level: str = "INFO",
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    group_id: str | None = None,
) -> ConnectWorker:
    """Start a standalone worker (or, with ``group_id``, a distributed one) against ``bootstrap``;
    ``props`` are ``--set`` worker properties on top of :data:`DEFAULT_PROPS`. The caller must
    ``close()`` it (fixtures do)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port = rest_port or free_port()
    worker = ConnectWorker(
        bootstrap=bootstrap,
        work_dir=work_dir,
        rest_port=port,
        offsets_file=offsets_file or work_dir / f"connect-{port}.offsets",
        props={**DEFAULT_PROPS, **(props or {})},
        connector_files=list(connector_files),
        log_level=log_level,
        env=dict(env or {}),
        group_id=group_id,
    )
    try:
        worker.start(timeout)
    except BaseException:
        worker.close()
        raise
    return worker


def write_connector_file(path: Path, name: str, config: Mapping[str, str]) -> Path:
    """A ``{"name", "config"}`` JSON file for the worker's command line."""
    path.write_text(json.dumps({"name": name, "config": dict(config)}, indent=2))
    return path


def read_offsets_file(path: Path) -> dict[str, Any]:
    """The standalone offsets file as ``{serialized key: offset dict}`` (empty if missing)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return {k: json.loads(v) for k, v in raw.items()}
