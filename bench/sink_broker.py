#!/usr/bin/env python3
"""A produce sink: the headrace broker with the log append replaced by an instant acknowledgement.

It speaks the same protocol as ``headrace broker`` (ApiVersions, Metadata, CreateTopics, InitProducerId,
Produce, ...) through the same connection and request code, but a Produce request's record batches are
neither CRC-checked, sequence-checked nor written: the batch headers are counted and the request is
answered at once with made-up, increasing offsets. Whatever a producer reaches against it is the
client-side ceiling of a produce benchmark on this machine (the broker's share of each request round
trip is then only receiving the frame and writing the response).

    python bench/sink_broker.py --port 9599 &
    python bench/broker_throughput.py --bootstrap 127.0.0.1:9599 --brokers sink --only produce --idempotence

Not a broker: nothing is stored, Fetch returns nothing. Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broker.config import BrokerConfig
from broker.log import partition_log
from broker.log.batch import iter_batch_headers
from broker.server import run

_next_offset: dict[int, int] = {}


def _instant_append(
    self: partition_log.PartitionLog, records: bytes | bytearray | memoryview, *, now_ms: int
) -> partition_log.AppendInfo:
    """Count the records of the request's batches and acknowledge them; store nothing."""
    count = sum(h.record_count for h in iter_batch_headers(records))
    base = _next_offset.get(id(self), 0)
    _next_offset[id(self)] = base + count
    return partition_log.AppendInfo(base, base + count - 1, -1, 0, count)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9599)
    args = ap.parse_args()
    partition_log.PartitionLog.append = _instant_append  # type: ignore[method-assign]
    data_dir = Path(tempfile.mkdtemp(prefix="headrace-sink-"))
    try:
        run(BrokerConfig.from_properties(data_dir, args.host, args.port, {}))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
