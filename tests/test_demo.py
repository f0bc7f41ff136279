"""``headrace demo`` — the README's main command — runs end to end on embedded defaults: the file
pipeline and the SQLite database pipeline (tables equal at the end)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts broker/worker processes

REPO = Path(__file__).resolve().parents[1]


def test_demo_moves_every_record_and_exits_cleanly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "headrace.cli",
            "demo",
            "--messages",
            "20000",
            "--rows",
            "3000",
            "--duration",
            "0",
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "OK: 20,000 records moved through the broker" in out, out
    assert "delivered" in out  # live progress was shown
    # the database pipeline: SQLite -> SqlSource -> broker -> SqlSink -> SQLite, written to while it ran
    assert "OK: the replica table equals the source table: 3,000 rows after 3,750 changes" in out, out
    assert "replicated" in out
    assert not re.search(r"eta\s+-?inf", out), out  # no "eta   infs" before the first record moved
    assert "kcat -b" in out and "kafkacat" not in out  # Debian 12's kafkacat package installs kcat
    copy = (tmp_path / "demo" / "orders-copy.jsonl").read_text()
    assert copy == (tmp_path / "demo" / "orders.jsonl").read_text()
    assert len(copy.splitlines()) == 20000


def test_cli_rejects_bad_input_with_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "headrace.cli", "broker", "--set", "num.partitions=zero", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("headrace: invalid broker config: num.partitions")
