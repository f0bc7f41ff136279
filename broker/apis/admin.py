"""Cluster and config administration: DescribeCluster (60), DeleteRecords (21), AlterConfigs (33),
IncrementalAlterConfigs (44)."""

from __future__ import annotations

import logging
from typing import Any

from kio.schema.errors import ErrorCode

from broker.apis.kafka_apis import KafkaApis, RequestContext
from broker.apis.registry import api
from broker.log.config import LogConfig
from broker.log.errors import LogError, OffsetOutOfRangeError
from kafka_common.codec import encode_response_body

log = logging.getLogger("broker.apis")

RESOURCE_TOPIC, RESOURCE_BROKER = 2, 4
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3
HIGH_WATERMARK = -1


@api(60, "DescribeCluster", 0, 1)
def handle_describe_cluster(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    host, port = apis.config.advertised
    return encode_response_body(
        60,
        ctx.api_version,
        {
            "throttle_time": 0,
            "error_code": ErrorCode.none,
            "error_message": None,
            "endpoint_type": 1,
            "cluster_id": apis.cluster_id,
            "controller_id": apis.config.node_id,
            "brokers": [{"broker_id": apis.config.node_id, "host": host, "port": port, "rack": None}],
            "cluster_authorized_operations": -2147483648,
        },
    )


@api(21, "DeleteRecords", 0, 2)
def handle_delete_records(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    topics = []
    for t in req.topics:
        info = apis.logs.get(t.name)
        parts = []
        for p in t.partitions:
            res = {"partition_index": p.partition_index, "low_watermark": -1, "error_code": ErrorCode.none}
            parts.append(res)
            if info is None or not 0 <= p.partition_index < len(info.partitions):
                res["error_code"] = ErrorCode.unknown_topic_or_partition
                continue
            plog = info.partitions[p.partition_index]
            offset = plog.log_end_offset if p.offset == HIGH_WATERMARK else p.offset
            if not 0 <= offset <= plog.log_end_offset:
                res["error_code"] = ErrorCode.offset_out_of_range
                continue
            try:
                res["low_watermark"] = plog.delete_records(offset)
            except OffsetOutOfRangeError:
                res["error_code"] = ErrorCode.offset_out_of_range
            log.info("deleted records of %s-%d below offset %d", t.name, p.partition_index, offset)
        topics.append({"name": t.name, "partitions": parts})
    return encode_response_body(21, ctx.api_version, {"throttle_time": 0, "topics": topics})


def _apply_topic_changes(
    apis: KafkaApis, name: str, new_overrides: dict[str, str], validate_only: bool
) -> tuple[int, str | None]:
    info = apis.logs.get(name)
    if info is None:
        return ErrorCode.unknown_topic_or_partition, f"topic {name} does not exist"
    try:
        LogConfig.from_overrides(apis.config.log_defaults, new_overrides)
        if not validate_only:
            deleted = [k for k in info.overrides if k not in new_overrides]
            apis.logs.alter_configs(name, new_overrides, deleted)
            log.info("altered configs of topic %s: %s", name, new_overrides)
    except LogError as exc:
        return exc.error_code, str(exc)
    return 0, None


@api(33, "AlterConfigs", 0, 2)
def handle_alter_configs(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    responses = []
    for r in req.resources:
        code: int
        msg: str | None
        if r.resource_type != RESOURCE_TOPIC:
            code, msg = ErrorCode.invalid_request, "only topic configs can be altered at run time"
        else:  # AlterConfigs replaces the whole set of overrides
            new = {c.name: c.value for c in r.configs if c.value is not None}
            code, msg = _apply_topic_changes(apis, r.resource_name, new, bool(req.validate_only))
        responses.append(
            {
                "error_code": code,
                "error_message": msg,
                "resource_type": r.resource_type,
                "resource_name": r.resource_name,
            }
        )
    return encode_response_body(33, ctx.api_version, {"throttle_time": 0, "responses": responses})


@api(44, "IncrementalAlterConfigs", 0, 1)
def handle_incremental_alter_configs(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    responses = []
    for r in req.resources:
        code: int = 0
        msg: str | None = None
        info = apis.logs.get(r.resource_name) if r.resource_type == RESOURCE_TOPIC else None
        if r.resource_type != RESOURCE_TOPIC:
            code, msg = ErrorCode.invalid_request, "only topic configs can be altered at run time"
        elif info is None:
            code, msg = ErrorCode.unknown_topic_or_partition, f"topic {r.resource_name} does not exist"
        else:
            new = dict(info.overrides)
            effective = info.config.describe()
            for c in r.configs:
                current = [v for v in (new.get(c.name, effective.get(c.name, "")) or "").split(",") if v]
                if c.config_operation == OP_SET:
                    new[c.name] = c.value or ""
                elif c.config_operation == OP_DELETE:
                    new.pop(c.name, None)
                elif c.config_operation == OP_APPEND:
                    new[c.name] = ",".join(
                        current + [v for v in (c.value or "").split(",") if v not in current]
                    )
                elif c.config_operation == OP_SUBTRACT:
                    drop = set((c.value or "").split(","))
                    new[c.name] = ",".join(v for v in current if v not in drop)
                else:
                    code, msg = ErrorCode.invalid_request, f"unknown config operation {c.config_operation}"
                    break
            if code == 0:
                code, msg = _apply_topic_changes(apis, r.resource_name, new, bool(req.validate_only))
        responses.append(
            {
                "error_code": code,
                "error_message": msg,
                "resource_type": r.resource_type,
                "resource_name": r.resource_name,
            }
        )
    return encode_response_body(44, ctx.api_version, {"throttle_time": 0, "responses": responses})
