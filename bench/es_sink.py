#!/usr/bin/env python3
"""ElasticsearchSink throughput against an Elasticsearch-API server (noida-db started here, or --url),
side by side with the ceiling: the raw ``elasticsearch`` client sending the same documents with the
bulk API (bodies pre-built with orjson, one request after the other, ``batch.size`` docs each).

The sink runs in-process (ElasticsearchSinkTask with a fake context, as the runtime would drive it):
records are Connect structs of a 6-field row with int64 keys, handed over in ``put()`` calls of 500;
the clock stops when every bulk request has succeeded (``flush``). The runtime's consumer and
converter are not part of it (bench/connect_throughput.py measures those). Each side writes into its
own new index. One comparable line per side, then the ratio.

    python bench/es_sink.py                 # 200k documents
    python bench/es_sink.py --records 50000 --url http://127.0.0.1:9200
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connect.api import Schema, SchemaBuilder, SinkRecord, Struct, TopicPartition
from connect.testing import FakeSinkTaskContext
from connectors.elasticsearch import ElasticsearchSinkTask

ROW = (
    SchemaBuilder.struct()
    .name("bench.Order")
    .field("id", Schema.INT64_SCHEMA)
    .field("customer", Schema.STRING_SCHEMA)
    .field("status", Schema.STRING_SCHEMA)
    .field("qty", Schema.INT32_SCHEMA)
    .field("price", Schema.FLOAT64_SCHEMA)
    .field("note", Schema.OPTIONAL_STRING_SCHEMA)
    .build()
)


def row(i: int) -> dict[str, object]:
    return {
        "id": i,
        "customer": f"customer-{i % 1024}",
        "status": ("new", "paid", "shipped")[i % 3],
        "qty": i % 17,
        "price": (i % 1000) / 10,
        "note": "x" * 40,
    }


def raw_bulk(url: str, n: int, batch: int) -> float:
    from elasticsearch import Elasticsearch

    client = Elasticsearch(url, request_timeout=60)
    index = f"bench-raw-{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        body = b"".join(
            orjson.dumps({"index": {"_index": index, "_id": str(i)}}) + b"\n" + orjson.dumps(row(i)) + b"\n"
            for i in range(start, min(n, start + batch))
        )
        resp = client.bulk(body=body)  # type: ignore[arg-type]
        assert not resp["errors"], "raw bulk had errors"
    elapsed = time.perf_counter() - t0
    client.close()
    return n / elapsed


def sink(url: str, n: int, batch: int, in_flight: int) -> float:
    key_schema = Schema.INT64_SCHEMA
    topic = f"bench-sink-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(topic, 0)
    records = [SinkRecord(topic, 0, key_schema, i, ROW, Struct(ROW, row(i)), i) for i in range(n)]
    config = {
        "connection.url": url,
        "batch.size": str(batch),
        "max.in.flight.requests": str(in_flight),
        "external.version.source": "none",
        "read.timeout.ms": "60000",
    }
    task = ElasticsearchSinkTask()
    task.initialize(FakeSinkTaskContext(config, assignment=[tp]))
    task.start(config)
    task.open([tp])
    task.put(records[:1])  # creates the index with its mapping (not timed)
    task.flush({tp: 1})
    t0 = time.perf_counter()
    for start in range(1, n, 500):
        task.put(records[start : start + 500])
    task.flush({tp: n})
    elapsed = time.perf_counter() - t0
    assert task.pre_commit({tp: n}) == {tp: n}
    assert task.stats.written == n, task.stats.written
    task.close([tp])
    task.stop()
    return (n - 1) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--in-flight", type=int, default=5)
    ap.add_argument("--url", default="")
    args = ap.parse_args()
    server = None
    url = args.url
    if not url:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.support.noida import start_local

        server = start_local()
        url = server.url
    try:
        raw = raw_bulk(url, args.records, args.batch_size)
        print(f"es_bulk_raw   docs={args.records} batch={args.batch_size} docs_per_s={raw:,.0f}")
        got = sink(url, args.records, args.batch_size, args.in_flight)
        print(
            f"es_sink       docs={args.records} batch={args.batch_size} in_flight={args.in_flight} "
            f"docs_per_s={got:,.0f}"
        )
        print(f"es_sink/raw   ratio={got / raw:.2f} (target >= 0.80)")
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":
    main()
