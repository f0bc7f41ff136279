"""Standalone Connect workers a test starts (:class:`StartedWorkers`, closed at the fixture's teardown)
and their log tails in the report of a failed test.

The conftests of ``tests/connect_e2e`` and ``tests/connect_distributed`` keep the workers a test started
in ``item.stash[WORKERS_KEY]`` (their worker fixtures fill it) and call :func:`attach_worker_logs` from
their ``pytest_runtest_makereport`` hook wrapper, after the report is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.connect import ConnectWorker, start_connect_worker

WORKERS_KEY = pytest.StashKey[list[ConnectWorker]]()


def attach_worker_logs(item: pytest.Item, report: pytest.TestReport, label: str, lines: int) -> None:
    """When ``report`` failed, add a section with the last ``lines`` log lines of every process (first
    run and restarts) of every worker stashed on ``item``, titled ``<label> log tail (<path>, <status>)``."""
    if not report.failed:
        return
    for worker in item.stash.get(WORKERS_KEY, []):
        for server in worker.history:
            status = "running" if server.proc.poll() is None else f"exited {server.proc.returncode}"
            text = "\n".join(server.log_text().splitlines()[-lines:]) or "(empty)"
            report.sections.append((f"{label} log tail ({server.log_path}, {status})", text))


class StartedWorkers(list[ConnectWorker]):
    """The standalone workers a test started against ``bootstrap``, in start order. A fixture creates it,
    the test calls :meth:`start`, and the fixture's teardown calls :meth:`close` (whatever the test did)."""

    def __init__(self, bootstrap: str, work_dir: Path) -> None:
        super().__init__()
        self.bootstrap = bootstrap
        self.work_dir = work_dir

    def start(
        self, props: Mapping[str, str] | None = None, *, work_dir: Path | None = None, **kwargs: Any
    ) -> ConnectWorker:
        """``start_connect_worker`` in ``work_dir`` (default ``<work_dir>/w<n>``); ``kwargs`` go to it."""
        where = work_dir if work_dir is not None else self.work_dir / f"w{len(self)}"
        worker = start_connect_worker(self.bootstrap, where, props, **kwargs)
        self.append(worker)
        return worker

    def close(self) -> None:
        """Stop every worker, the last started first."""
        for worker in reversed(self):
            worker.close()
