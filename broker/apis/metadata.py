"""Metadata (key 3): one broker that leads every partition; topic auto-creation."""

from __future__ import annotations

import logging
from typing import Any

from kio.schema.errors import ErrorCode

from broker.apis.kafka_apis import KafkaApis, RequestContext
from broker.apis.registry import api
from broker.log.errors import InvalidTopicError, TopicExistsError
from broker.log.manager import TopicInfo
from kafka_common.codec import encode_response_body

log = logging.getLogger("broker.apis")


def topic_metadata(apis: KafkaApis, info: TopicInfo) -> dict[str, Any]:
    node = apis.config.node_id
    return {
        "error_code": ErrorCode.none,
        "name": info.name,
        "topic_id": info.topic_id,
        "is_internal": info.name.startswith("__"),
        "partitions": [
            {
                "error_code": ErrorCode.none,
                "partition_index": p,
                "leader_id": node,
                "leader_epoch": 0,
                "replica_nodes": [node],
                "isr_nodes": [node],
                "offline_replicas": [],
            }
            for p in range(len(info.partitions))
        ],
    }


def _error_topic(name: str | None, code: int) -> dict[str, Any]:
    return {"error_code": code, "name": name, "topic_id": None, "is_internal": False, "partitions": []}


def auto_create(apis: KafkaApis, name: str) -> TopicInfo | None:
    """Create ``name`` with the broker's defaults if auto-creation is on; None if not allowed."""
    if not apis.config.auto_create_topics:
        return None
    try:
        info = apis.logs.create_topic(name, apis.config.num_partitions, {})
        log.info("auto-created topic %s with %d partition(s)", name, apis.config.num_partitions)
        return info
    except TopicExistsError:
        return apis.logs.get(name)


@api(3, "Metadata", 0, 12)
def handle_metadata(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    host, port = apis.config.advertised
    requested = req.topics
    if requested is None or (ctx.api_version == 0 and not requested):
        topics = [topic_metadata(apis, t) for t in apis.logs.topics().values()]
    else:
        allow_auto = getattr(req, "allow_auto_topic_creation", True)
        topics = []
        for t in requested:
            name = t.name
            info = apis.logs.get(name) if name is not None else None
            if info is None and name is not None and allow_auto:
                try:
                    info = auto_create(apis, name)
                except InvalidTopicError:
                    topics.append(_error_topic(name, ErrorCode.invalid_topic_exception))
                    continue
            if info is None:
                topics.append(_error_topic(name, ErrorCode.unknown_topic_or_partition))
            else:
                topics.append(topic_metadata(apis, info))
    return encode_response_body(
        3,
        ctx.api_version,
        {
            "throttle_time": 0,
            "brokers": [{"node_id": apis.config.node_id, "host": host, "port": port, "rack": None}],
            "cluster_id": apis.cluster_id,
            "controller_id": apis.config.node_id,
            "topics": topics,
        },
    )
