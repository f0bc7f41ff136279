"""Helpers for FileStreamSource/FileStreamSink pipelines: input/output files and connector configs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.support.connect import wait_until


def append_lines(path: Path, lines: Sequence[str]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(f"{line}\n" for line in lines))
        f.flush()


def read_lines(path: Path) -> list[str]:
    """The complete (newline-terminated) lines of ``path``; [] if it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return lines[:-1]  # the last element is "" or an unterminated (partial) line


def wait_for_lines(
    path: Path,
    expected: Sequence[str],
    timeout: float = 20.0,
    alive: Callable[[], None] | None = None,
) -> list[str]:
    """Wait until ``path`` holds exactly ``expected`` (fails early on extra or different lines)."""
    want = list(expected)

    def check() -> list[str] | None:
        got = read_lines(path)
        assert got == want[: len(got)], _diff(got, want)
        return got if len(got) == len(want) else None

    return wait_until(
        f"{len(want)} lines in {path}", check, timeout, alive=alive, describe=lambda: _count(path)
    )


def assert_no_new_lines(path: Path, count: int, seconds: float) -> None:
    """``path`` keeps exactly ``count`` lines for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = len(read_lines(path))
        assert got == count, f"{path} grew from {count} to {got} lines"
        time.sleep(0.1)


def _count(path: Path) -> str:
    return f"{len(read_lines(path))} lines"


def _diff(got: list[str], want: list[str]) -> str:
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return f"line {i}: got {g!r}, expected {w!r} (got {len(got)} lines, expected {len(want)})"
    return f"got {len(got)} lines, expected {len(want)}: extra {got[len(want) :][:5]!r}"


def source_config(file: Path, topic: str, **extra: str) -> dict[str, str]:
    return {
        "connector.class": "FileStreamSource",
        "tasks.max": "1",
        "file": str(file),
        "topic": topic,
        **extra,
    }


def sink_config(file: Path, topic: str, **extra: str) -> dict[str, str]:
    return {
        "connector.class": "FileStreamSink",
        "tasks.max": "1",
        "file": str(file),
        "topics": topic,
        **extra,
    }
