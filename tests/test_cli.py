"""The ``headrace`` command's own behaviour: version, where ``--log-level`` may stand, and one-line
errors (non-zero exit, no traceback) when a port or a data directory is taken."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from headrace.cli import build_parser
from headrace.demo import _eta

REPO = Path(__file__).resolve().parents[1]


def _headrace(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headrace", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("headrace: "), proc.stderr
    return last


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(r"headrace \d+\.\d+\.\d+\S*", out), out


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-level", "DEBUG", "broker"],
        ["broker", "--log-level", "DEBUG"],
        ["broker", "--log-level", "debug", "--port", "0"],
        ["standalone", "--log-level", "DEBUG"],
        ["distributed", "--log-level", "DEBUG"],
        ["--log-level", "INFO", "demo", "--log-level", "DEBUG"],
    ],
)
def test_log_level_before_or_after_the_subcommand(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).log_level == "DEBUG"


def test_log_level_defaults_and_rejects_unknown_levels() -> None:
    assert build_parser().parse_args(["broker"]).log_level is None  # INFO (WARNING for the demo) in main()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["broker", "--log-level", "LOUD"])


def test_demo_help_states_the_default_of_messages() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["demo"].format_help()  # type: ignore[union-attr]
    assert "default 200000" in " ".join(text.split())


def test_eta_is_never_infinite() -> None:
    assert _eta(0, 100, 0.0) == "--"
    assert _eta(50, 100, 10.0) == "5.0s"
    assert _eta(100, 100, 0.0) == "0.0s"


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["standalone", "distributed"])
def test_rest_port_in_use_is_one_line(mode: str, taken_port: int) -> None:
    extra = ["--group-id", "g"] if mode == "distributed" else []
    proc = _headrace(mode, "--rest-port", str(taken_port), "--bootstrap-servers", "127.0.0.1:1", *extra)
    last = _one_line_error(proc)
    assert f"cannot listen on 127.0.0.1:{taken_port}" in last and "--rest-port" in last


@pytest.mark.slow
def test_locked_broker_data_dir_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = subprocess.Popen(
        [sys.executable, "-m", "headrace", "broker", "--data-dir", str(data), "--port", "0"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 30
        while not (data / ".lock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        last = _one_line_error(_headrace("broker", "--data-dir", str(data), "--port", "0"))
        assert "in use by another broker process" in last and str(data) in last
    finally:
        first.kill()
        first.wait(10)
