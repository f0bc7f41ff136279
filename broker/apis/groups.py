"""Group coordination APIs: FindCoordinator (10), JoinGroup (11), Heartbeat (12), LeaveGroup (13),
SyncGroup (14), DescribeGroups (15), ListGroups (16), DeleteGroups (42), OffsetCommit (8),
OffsetFetch (9). Thin adapters between kio messages and :class:`GroupCoordinator`."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from broker.apis.kafka_apis import KafkaApis, RequestContext
from broker.apis.registry import Body, Result, api
from broker.groups.state import OffsetAndMetadata
from kafka_common.codec import encode_response_body

KEY_TYPE_GROUP = 0
KEY_TYPE_TRANSACTION = 1  # refused: see broker.transactions


def _ms(td: Any) -> int:
    return int(td.total_seconds() * 1000) if hasattr(td, "total_seconds") else int(td)


def _coordinator(apis: KafkaApis, ctx: RequestContext, key_type: int, key: str) -> dict[str, Any]:
    """This broker for a group; for a transactional id (key type 1) the refusal of transactions."""
    if key_type == KEY_TYPE_GROUP:
        host, port = apis.config.advertised
        return {
            "error_code": ErrorCode.none,
            "error_message": None,
            "node_id": apis.config.node_id,
            "host": host,
            "port": port,
        }
    if key_type == KEY_TYPE_TRANSACTION:
        code = ErrorCode.transactional_id_authorization_failed
        message = apis.transactions.refuse(key, "FindCoordinator", ctx.client_id, ctx.peer)
    else:
        code, message = ErrorCode.invalid_request, f"unknown coordinator key type {key_type}"
    return {"error_code": code, "error_message": message, "node_id": -1, "host": "", "port": -1}


@api(10, "FindCoordinator", 0, 4)
def handle_find_coordinator(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    key_type = getattr(req, "key_type", KEY_TYPE_GROUP)
    if ctx.api_version >= 4:
        coords = [{"key": k, **_coordinator(apis, ctx, key_type, k)} for k in req.coordinator_keys]
        return encode_response_body(10, ctx.api_version, {"throttle_time": 0, "coordinators": coords})
    return encode_response_body(
        10, ctx.api_version, {"throttle_time": 0, **_coordinator(apis, ctx, key_type, req.key)}
    )


@api(11, "JoinGroup", 0, 9)
def handle_join_group(apis: KafkaApis, ctx: RequestContext, req: Any) -> Result:
    session_ms = _ms(req.session_timeout)
    rebalance_ms = _ms(req.rebalance_timeout) if hasattr(req, "rebalance_timeout") else session_ms
    pending = apis.groups.join(
        req.group_id,
        req.member_id,
        getattr(req, "group_instance_id", None),
        ctx.client_id or "",
        ctx.peer.rsplit(":", 1)[0],
        session_ms,
        rebalance_ms,
        req.protocol_type,
        [(p.name, bytes(p.metadata)) for p in req.protocols],
        require_known_member_id=ctx.api_version >= 4,
    )

    async def answer() -> Body:
        res = await pending
        res.setdefault("generation_id", -1)
        res.setdefault("protocol_name", None)
        res.setdefault("protocol_type", None)
        res.setdefault("leader", "")
        res.setdefault("members", [])
        res.setdefault("member_id", req.member_id)
        if ctx.api_version < 7 and res["protocol_name"] is None:
            res["protocol_name"] = ""
        return encode_response_body(11, ctx.api_version, {"throttle_time": 0, **res})

    return answer()


@api(14, "SyncGroup", 0, 5)
def handle_sync_group(apis: KafkaApis, ctx: RequestContext, req: Any) -> Result:
    pending = apis.groups.sync(
        req.group_id,
        req.generation_id,
        req.member_id,
        getattr(req, "protocol_type", None),
        getattr(req, "protocol_name", None),
        {a.member_id: bytes(a.assignment) for a in req.assignments},
        getattr(req, "group_instance_id", None),
    )

    async def answer() -> Body:
        res = await pending
        res.setdefault("assignment", b"")
        return encode_response_body(14, ctx.api_version, {"throttle_time": 0, **res})

    return answer()


@api(12, "Heartbeat", 0, 4)
def handle_heartbeat(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    code = apis.groups.heartbeat(
        req.group_id, req.generation_id, req.member_id, getattr(req, "group_instance_id", None)
    )
    return encode_response_body(12, ctx.api_version, {"throttle_time": 0, "error_code": code})


@api(13, "LeaveGroup", 0, 5)
def handle_leave_group(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    if ctx.api_version >= 3:
        ids = [m.member_id for m in req.members]
        results = apis.groups.leave(req.group_id, ids, [m.group_instance_id for m in req.members])
        members = [
            {"member_id": mid, "group_instance_id": m.group_instance_id, "error_code": code}
            for (mid, code), m in zip(results, req.members, strict=True)
        ]
        return encode_response_body(
            13, ctx.api_version, {"throttle_time": 0, "error_code": ErrorCode.none, "members": members}
        )
    ((_, code),) = apis.groups.leave(req.group_id, [req.member_id])
    return encode_response_body(13, ctx.api_version, {"throttle_time": 0, "error_code": code})


@api(8, "OffsetCommit", 2, 8)
def handle_offset_commit(apis: KafkaApis, ctx: RequestContext, req: Any) -> Result:
    offsets = {
        (t.name, p.partition_index): OffsetAndMetadata(
            p.committed_offset, getattr(p, "committed_leader_epoch", -1), p.committed_metadata or ""
        )
        for t in req.topics
        for p in t.partitions
    }
    generation = getattr(req, "generation_id_or_member_epoch", None)
    if generation is None:
        generation = req.generation_id
    codes, durable = apis.groups.commit_offsets(
        req.group_id, generation, req.member_id, offsets, getattr(req, "group_instance_id", None)
    )
    topics: dict[str, list[dict[str, int]]] = {}
    for (topic, part), code in codes.items():
        topics.setdefault(topic, []).append({"partition_index": part, "error_code": code})
    body = encode_response_body(
        8,
        ctx.api_version,
        {"throttle_time": 0, "topics": [{"name": n, "partitions": ps} for n, ps in topics.items()]},
    )
    if durable is None:
        return body

    async def after() -> Body:
        await durable
        return body

    return after()


def _fetch_group(apis: KafkaApis, group_id: str, topics: Any) -> list[dict[str, Any]]:
    wanted = None if topics is None else [(t.name, p) for t in topics for p in t.partition_indexes]
    found = apis.groups.fetch_offsets(group_id, wanted)
    out: dict[str, list[dict[str, Any]]] = {}
    for (topic, part), om in found.items():
        out.setdefault(topic, []).append(
            {
                "partition_index": part,
                "committed_offset": om.offset if om else -1,
                "committed_leader_epoch": om.leader_epoch if om else -1,
                "metadata": om.metadata if om else "",
                "error_code": ErrorCode.none,
            }
        )
    return [{"name": n, "partitions": ps} for n, ps in out.items()]


@api(9, "OffsetFetch", 1, 8)
def handle_offset_fetch(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    if ctx.api_version >= 8:
        groups = [
            {
                "group_id": g.group_id,
                "topics": _fetch_group(apis, g.group_id, g.topics),
                "error_code": ErrorCode.none,
            }
            for g in req.groups
        ]
        return encode_response_body(9, ctx.api_version, {"throttle_time": 0, "groups": groups})
    return encode_response_body(
        9,
        ctx.api_version,
        {
            "throttle_time": 0,
            "topics": _fetch_group(apis, req.group_id, req.topics),
            "error_code": ErrorCode.none,
        },
    )


@api(15, "DescribeGroups", 0, 5)
def handle_describe_groups(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    return encode_response_body(
        15, ctx.api_version, {"throttle_time": 0, "groups": [apis.groups.describe(g) for g in req.groups]}
    )


@api(16, "ListGroups", 0, 4)
def handle_list_groups(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    states = set(getattr(req, "states_filter", ()) or ())
    return encode_response_body(
        16,
        ctx.api_version,
        {"throttle_time": 0, "error_code": ErrorCode.none, "groups": apis.groups.list_groups(states or None)},
    )


@api(42, "DeleteGroups", 0, 2)
def handle_delete_groups(apis: KafkaApis, ctx: RequestContext, req: Any) -> bytes:
    results = [{"group_id": g, "error_code": apis.groups.delete_group(g)} for g in req.groups_names]
    return encode_response_body(42, ctx.api_version, {"throttle_time": 0, "results": results})
