#!/usr/bin/env python3
"""MySqlSource throughput: N row changes in the binlog of a throwaway MariaDB -> Debezium records, with
the raw binlog read rate of the same client library (pymysqlreplication) as the ceiling, in the same run.

1. **decode** (ceiling): ``BinLogStreamReader`` from the position before the changes, every row decoded
   (``event.rows``). Clock: first read until the N-th row.
2. **task**: ``MySqlSourceTask`` in this process (no runtime): binlog read, type conversion, Debezium
   records (key, envelope, source block, offsets). Clock: first ``poll()`` until N records.

Not measured yet: the runtime phase (worker -> JsonConverter -> produce -> broker ack) that
bench/cdc_postgres.py has. One line per phase on stdout.

    python bench/cdc_mysql.py [--changes N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import WriteRowsEvent

from connect.testing import FakeSourceTaskContext, InMemoryOffsetStorageReader
from connectors.mysql import MySqlSourceTask
from tests.support.mariadb import start_or_connect


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=200_000)
    args = parser.parse_args()
    n = args.changes
    server = start_or_connect()
    try:
        with server.database("bench") as db, tempfile.TemporaryDirectory() as tmp:
            server.execute("CREATE TABLE narrow (id BIGINT PRIMARY KEY, v INT NOT NULL)", database=db)
            (file, pos), *_ = [(str(r[0]), int(r[1])) for r in server.query("SHOW MASTER STATUS")]
            batch = 1000
            for start in range(0, n, batch):
                values = ",".join(f"({i},{i})" for i in range(start, min(n, start + batch)))
                server.execute(f"INSERT INTO narrow VALUES {values}", database=db)
            print(f"committed {n} inserts", file=sys.stderr)

            reader = BinLogStreamReader(
                connection_settings={"host": server.host, "port": server.port, "user": server.user,
                                     "password": server.password},
                server_id=9901, resume_stream=True, log_file=file, log_pos=pos, blocking=True,
                only_events=[WriteRowsEvent], enable_logging=False,
            )  # fmt: skip
            t0, rows = time.perf_counter(), 0
            for event in reader:
                rows += len(event.rows)
                if rows >= n:
                    break
            decode_s = time.perf_counter() - t0
            reader.close()

            task = MySqlSourceTask()
            offsets = InMemoryOffsetStorageReader()
            offsets.set({"server": "bench"}, {"file": file, "pos": pos, "event": 0, "row": 0, "gtids": ""})
            history = Path(tmp) / "history.jsonl"
            config = {
                **server.connector_config(),
                "topic.prefix": "bench",
                "database.include.list": db,
                "snapshot.mode": "recovery",
                "max.batch.size": "4096",
                "schema.history.internal": "io.debezium.storage.file.history.FileSchemaHistory",
                "schema.history.internal.file.filename": str(history),
            }
            task.initialize(FakeSourceTaskContext(config, offsets))
            task.start(config)
            t0, records = time.perf_counter(), 0
            while records < n:
                records += len(task.poll() or [])
            task_s = time.perf_counter() - t0
            task.stop()
    finally:
        server.close()
    ceiling = n / decode_s
    rate = n / task_s
    print(f"cdc_mysql decode(ceiling): {n} rows in {decode_s:.2f} s = {ceiling:,.0f} rows/s")
    share = rate / ceiling
    print(f"cdc_mysql task: {n} records in {task_s:.2f} s = {rate:,.0f} events/s ({share:.2f} of ceiling)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
