"""ApiVersions (key 18): what this broker supports, straight from the registry."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from broker.apis.kafka_apis import KafkaApis, RequestContext
from broker.apis.registry import API_TABLE, api
from kafka_common.codec import encode_response_body


def _api_keys() -> list[dict[str, int]]:
    return [
        {"api_key": s.key, "min_version": s.min_version, "max_version": s.max_version}
        for s in sorted(API_TABLE.values(), key=lambda s: s.key)
    ]


def unsupported_version_response() -> bytes:
    """The v0 body Kafka sends when a client asks for an ApiVersions version it does not know."""
    return encode_response_body(18, 0, {"error_code": ErrorCode.unsupported_version, "api_keys": _api_keys()})


@api(18, "ApiVersions", 0, 3)
def handle_api_versions(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    return encode_response_body(
        18, ctx.api_version, {"error_code": ErrorCode.none, "api_keys": _api_keys(), "throttle_time": 0}
    )
