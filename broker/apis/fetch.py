"""Fetch (key 1): whole record batches straight from the log, with long polling.

Honours ``max_wait_ms`` / ``min_bytes`` (the answer waits until enough bytes are available or the
wait expires), the response-wide ``max_bytes`` and per-partition ``partition_max_bytes``; the first
non-empty partition always returns at least one whole batch (KIP-74) so consumers make progress.
"""

from __future__ import annotations

import asyncio
import time

from kio.schema.errors import ErrorCode

from broker.apis.kafka_apis import KafkaApis, RequestContext
from broker.apis.registry import Body, Result, api
from broker.log.errors import OffsetOutOfRangeError
from broker.log.partition_log import PartitionLog
from broker.protocol import fetch as codec


def _read(
    apis: KafkaApis, req: codec.FetchRequest
) -> tuple[list[tuple[str, list[codec.PartitionData]]], int, list[PartitionLog]]:
    remaining = req.max_bytes if req.max_bytes > 0 else 0x7FFFFFFF
    total = 0
    out: list[tuple[str, list[codec.PartitionData]]] = []
    logs: list[PartitionLog] = []
    for topic in req.topics:
        info = apis.logs.get(topic.name)
        parts: list[codec.PartitionData] = []
        for p in topic.partitions:
            data = codec.PartitionData(p.index)
            parts.append(data)
            plog = (
                info.partitions[p.index] if info is not None and 0 <= p.index < len(info.partitions) else None
            )
            if plog is None:
                data.error_code = ErrorCode.unknown_topic_or_partition
                continue
            logs.append(plog)
            data.high_watermark = data.last_stable_offset = plog.log_end_offset
            data.log_start_offset = plog.log_start_offset
            limit = min(p.partition_max_bytes, remaining)
            if limit <= 0 and total > 0:
                continue
            try:
                records = plog.read(p.fetch_offset, max(limit, 0), min_one_batch=total == 0)
            except OffsetOutOfRangeError:
                data.error_code = ErrorCode.offset_out_of_range
                continue
            data.records = records
            total += len(records)
            remaining -= len(records)
        out.append((topic.name, parts))
    return out, total, logs


@api(1, "Fetch", codec.MIN_VERSION, codec.MAX_VERSION, decode="raw")
def handle_fetch(apis: KafkaApis, ctx: RequestContext, raw: tuple[memoryview, int]) -> Result:
    req = codec.decode_fetch(raw[0], raw[1], ctx.api_version)
    topics, total, logs = _read(apis, req)
    if total >= req.min_bytes or req.max_wait_ms <= 0 or not logs:
        return codec.encode_fetch_response(ctx.api_version, topics)
    return _long_poll(apis, ctx, req, time.monotonic() + req.max_wait_ms / 1000, logs)


async def _long_poll(
    apis: KafkaApis, ctx: RequestContext, req: codec.FetchRequest, deadline: float, logs: list[PartitionLog]
) -> Body:
    while True:
        notified = await apis.watch.wait(logs, deadline - time.monotonic())
        topics, total, logs = _read(apis, req)
        if total >= req.min_bytes or not notified or time.monotonic() >= deadline:
            return codec.encode_fetch_response(ctx.api_version, topics)
        await asyncio.sleep(0)
