"""Topic administration: CreateTopics (19), DeleteTopics (20), CreatePartitions (37), DescribeConfigs (32)."""

from __future__ import annotations

import logging
from typing import Any

from kio.schema.errors import ErrorCode

from broker.apis.kafka_apis import KafkaApis, RequestContext
from broker.apis.registry import api
from broker.log.config import LogConfig
from broker.log.errors import LogError, UnknownTopicError
from kafka_common.codec import encode_response_body

log = logging.getLogger("broker.apis")

RESOURCE_TOPIC, RESOURCE_BROKER = 2, 4
SOURCE_DYNAMIC_TOPIC, SOURCE_STATIC_BROKER, SOURCE_DEFAULT = 1, 4, 5


def _error(exc: LogError) -> tuple[int, str]:
    return exc.error_code, str(exc)


def _config_entries(config: LogConfig, overrides: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "name": k,
            "value": v,
            "read_only": False,
            "is_default": k not in overrides,
            "config_source": SOURCE_DYNAMIC_TOPIC if k in overrides else SOURCE_DEFAULT,
            "is_sensitive": False,
            "synonyms": [],
            "config_type": 0,
            "documentation": None,
        }
        for k, v in sorted(config.describe().items())
    ]


@api(19, "CreateTopics", 2, 7)
def handle_create_topics(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    results = []
    for t in req.topics:
        res: dict[str, Any] = {
            "name": t.name,
            "topic_id": None,
            "error_code": ErrorCode.none,
            "error_message": None,
            "num_partitions": -1,
            "replication_factor": -1,
            "configs": [],
        }
        results.append(res)
        num = t.num_partitions if t.num_partitions != -1 else apis.config.num_partitions
        if t.assignments:
            num = len(t.assignments)
        if t.replication_factor not in (-1, 1) and not t.assignments:
            res["error_code"] = ErrorCode.invalid_replication_factor
            res["error_message"] = (
                f"Replication factor: {t.replication_factor} larger than available brokers: 1."
            )
            continue
        configs = {c.name: c.value for c in t.configs if c.value is not None}
        try:
            info = apis.logs.create_topic(t.name, num, configs, validate_only=bool(req.validate_only))
        except LogError as exc:
            res["error_code"], res["error_message"] = _error(exc)
            continue
        res.update(
            topic_id=info.topic_id,
            num_partitions=len(info.partitions) or num,
            replication_factor=1,
            configs=_config_entries(info.config, info.overrides),
        )
        if not req.validate_only:
            log.info("created topic %s (%d partitions) for %s", t.name, num, ctx.client_id)
    return encode_response_body(19, ctx.api_version, {"throttle_time": 0, "topics": results})


@api(20, "DeleteTopics", 1, 6)
def handle_delete_topics(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    if ctx.api_version >= 6:
        wanted = [(t.name, t.topic_id) for t in req.topics]
    else:
        wanted = [(n, None) for n in req.topic_names]
    responses = []
    for name, topic_id in wanted:
        if name is None and topic_id is not None:
            name = next((i.name for i in apis.logs.topics().values() if i.topic_id == topic_id), None)
        res: dict[str, Any] = {
            "name": name,
            "topic_id": topic_id,
            "error_code": ErrorCode.none,
            "error_message": None,
        }
        responses.append(res)
        try:
            if name is None:
                raise UnknownTopicError(f"unknown topic id {topic_id}")
            info = apis.logs.get(name)
            if info is not None:
                res["topic_id"] = info.topic_id
                for plog in info.partitions:
                    apis.watch.notify(plog)
            apis.logs.delete_topic(name)
            log.info("deleted topic %s for %s", name, ctx.client_id)
        except LogError as exc:
            res["error_code"], res["error_message"] = _error(exc)
    return encode_response_body(20, ctx.api_version, {"throttle_time": 0, "responses": responses})


@api(37, "CreatePartitions", 0, 3)
def handle_create_partitions(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    results = []
    for t in req.topics:
        res: dict[str, Any] = {"name": t.name, "error_code": ErrorCode.none, "error_message": None}
        results.append(res)
        try:
            if req.validate_only:
                info = apis.logs.get(t.name)
                if info is None:
                    raise UnknownTopicError(f"topic {t.name} does not exist")
            else:
                apis.logs.create_partitions(t.name, t.count)
        except LogError as exc:
            res["error_code"], res["error_message"] = _error(exc)
    return encode_response_body(37, ctx.api_version, {"throttle_time": 0, "results": results})


@api(32, "DescribeConfigs", 1, 4)
def handle_describe_configs(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    results = []
    for r in req.resources:
        res: dict[str, Any] = {
            "error_code": ErrorCode.none,
            "error_message": None,
            "resource_type": r.resource_type,
            "resource_name": r.resource_name,
            "configs": [],
        }
        results.append(res)
        if r.resource_type == RESOURCE_TOPIC:
            info = apis.logs.get(r.resource_name)
            if info is None:
                res["error_code"] = ErrorCode.unknown_topic_or_partition
                res["error_message"] = f"topic {r.resource_name} does not exist"
                continue
            entries = _config_entries(info.config, info.overrides)
        elif r.resource_type == RESOURCE_BROKER:
            entries = [
                {
                    "name": k,
                    "value": v,
                    "read_only": True,
                    "is_default": False,
                    "config_source": SOURCE_STATIC_BROKER,
                    "is_sensitive": False,
                    "synonyms": [],
                    "config_type": 0,
                    "documentation": None,
                }
                for k, v in sorted(apis.config.properties.items())
            ]
        else:
            res["error_code"] = ErrorCode.invalid_request
            res["error_message"] = f"unsupported resource type {r.resource_type}"
            continue
        if r.configuration_keys is not None:
            keys = set(r.configuration_keys)
            entries = [e for e in entries if e["name"] in keys]
        res["configs"] = entries
    return encode_response_body(32, ctx.api_version, {"throttle_time": 0, "results": results})
