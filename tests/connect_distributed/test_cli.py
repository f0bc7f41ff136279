"""``headrace distributed`` refuses bad input with one line on stderr and a non-zero exit code."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.support.servers import REPO_ROOT

pytestmark = pytest.mark.slow  # starts broker/worker processes


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headrace.cli", "distributed", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bootstrap-servers", "127.0.0.1:9"], "needs a group id: --group-id ID"),
        (["--group-id", "g", "--set", "session.timeout.ms=soon"], "invalid worker config"),
        (["--group-id", "g", "--set", "connect.protocol=chatty"], "connect.protocol"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = _run(*args, "--rest-port", "0")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("headrace:")]
    assert len(errors) == 1 and message in errors[0], result.stderr


def test_a_taken_rest_port_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = _run("--group-id", "g", "--rest-port", str(taken.getsockname()[1]))
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("headrace:")]
    assert len(errors) == 1 and "cannot listen on" in errors[0], result.stderr
