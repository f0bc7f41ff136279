"""InitProducerId (22): producer ids for idempotent producers (transactions are not supported yet:
a transactional id is refused, see :mod:`broker.transactions`)."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from broker.apis.kafka_apis import KafkaApis, RequestContext
from broker.apis.registry import api
from kafka_common.codec import encode_response_body


@api(22, "InitProducerId", 0, 4)
def handle_init_producer_id(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    if req.transactional_id is not None:
        apis.transactions.refuse(req.transactional_id, "InitProducerId", ctx.client_id, ctx.peer)
        return encode_response_body(
            22,
            ctx.api_version,
            {
                "throttle_time": 0,
                "error_code": ErrorCode.transactional_id_authorization_failed,
                "producer_id": -1,
                "producer_epoch": -1,
            },
        )
    pid = getattr(req, "producer_id", -1)
    epoch = getattr(req, "producer_epoch", -1)
    if pid >= 0 and 0 <= epoch < 32766:  # KIP-360: an existing producer bumps its epoch
        new_pid, new_epoch = pid, epoch + 1
    else:
        new_pid, new_epoch = apis.producer_ids.allocate(), 0
    return encode_response_body(
        22,
        ctx.api_version,
        {
            "throttle_time": 0,
            "error_code": ErrorCode.none,
            "producer_id": new_pid,
            "producer_epoch": new_epoch,
        },
    )
