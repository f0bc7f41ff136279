"""A process appending (and flushing) is killed with SIGKILL; everything it acknowledged survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from broker.log.config import LogConfig
from broker.log.partition_log import PartitionLog

from .conftest import batch, read_all

REPO_ROOT = Path(__file__).resolve().parents[3]

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from broker.log.config import LogConfig
    from broker.log.partition_log import PartitionLog
    from broker.log.records import build_batch

    plog = PartitionLog(Path(sys.argv[1]), "t", 0, LogConfig(segment_bytes=20_000, index_interval_bytes=256))
    i = 0
    while True:
        info = plog.append(build_batch([(None, b"x" * 200)] * (1 + i % 7)), now_ms=i)
        if i % 10 == 0:
            plog.flush()
        print(info.last_offset, flush=True)
        i += 1
    """
)


def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory)], stdout=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout is not None
    acked = -1
    deadline = time.monotonic() + 30
    while acked < 3_000 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acked = int(line)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert acked >= 3_000, "the writer did not make progress"
    plog = PartitionLog(directory, "t", 0, LogConfig(segment_bytes=20_000, index_interval_bytes=256))
    try:
        assert plog.log_end_offset > acked
        assert read_all(plog, max_bytes=50_000) == list(range(plog.log_end_offset))
        end = plog.log_end_offset
        assert plog.append(batch(1), now_ms=1).base_offset == end
    finally:
        plog.close()
