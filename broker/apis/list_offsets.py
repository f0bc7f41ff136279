"""ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3), or first offset at a time."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from broker.apis.kafka_apis import KafkaApis, RequestContext
from broker.apis.registry import api
from kafka_common.codec import encode_response_body

LATEST, EARLIEST, MAX_TIMESTAMP = -1, -2, -3


@api(2, "ListOffsets", 1, 7)
def handle_list_offsets(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    topics = []
    for t in req.topics:
        info = apis.logs.get(t.name)
        parts = []
        for p in t.partitions:
            res: dict[str, Any] = {
                "partition_index": p.partition_index,
                "error_code": ErrorCode.none,
                "timestamp": -1,
                "offset": -1,
                "leader_epoch": 0,
            }
            parts.append(res)
            if info is None or not 0 <= p.partition_index < len(info.partitions):
                res["error_code"] = ErrorCode.unknown_topic_or_partition
                res["leader_epoch"] = -1
                continue
            plog = info.partitions[p.partition_index]
            if p.timestamp == LATEST:
                res["offset"] = plog.log_end_offset
            elif p.timestamp == EARLIEST:
                res["offset"] = plog.log_start_offset
            elif p.timestamp == MAX_TIMESTAMP:
                found = plog.max_timestamp_and_offset()
                if found is not None:
                    res["offset"], res["timestamp"] = found
            else:
                found = plog.offset_for_timestamp(p.timestamp)
                if found is not None:
                    res["offset"], res["timestamp"] = found
        topics.append({"name": t.name, "partitions": parts})
    return encode_response_body(2, ctx.api_version, {"throttle_time": 0, "topics": topics})
