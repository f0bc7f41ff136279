"""Produce (key 0): validate and append opaque record batches; acks 0, 1 and all (-1).

Single node: acks=1 and acks=all are both answered once the batch is in the log (page cache),
which survives a SIGKILL of the broker. When a topic's flush policy (``flush.messages`` /
``flush.ms``) makes a flush due, the answer waits for the group-commit fsync.
"""

from __future__ import annotations

import logging
import time

from kio.schema.errors import ErrorCode

from broker.apis.kafka_apis import KafkaApis, RequestContext
from broker.apis.registry import Body, Result, api
from broker.log.errors import InvalidRecordError, KafkaStorageError
from broker.log.partition_log import PartitionLog
from broker.protocol import produce as codec

log = logging.getLogger("broker.apis")


@api(0, "Produce", codec.MIN_VERSION, codec.MAX_VERSION, decode="raw")
def handle_produce(apis: KafkaApis, ctx: RequestContext, raw: tuple[memoryview, int]) -> Result:
    req = codec.decode_produce(raw[0], raw[1], ctx.api_version)
    now_ms = int(time.time() * 1000)
    results: list[tuple[str, list[codec.PartitionResult]]] = []
    to_flush: list[PartitionLog] = []
    acks_ok = req.acks in (0, 1, -1)
    for topic in req.topics:
        info = apis.logs.get(topic.name)
        parts: list[codec.PartitionResult] = []
        for p in topic.partitions:
            res = codec.PartitionResult(p.index)
            parts.append(res)
            plog = (
                info.partitions[p.index] if info is not None and 0 <= p.index < len(info.partitions) else None
            )
            if not acks_ok:
                res.error_code = ErrorCode.invalid_required_acks
            elif req.transactional_id is not None:
                res.error_code = ErrorCode.transactional_id_authorization_failed
            elif plog is None:
                res.error_code = ErrorCode.unknown_topic_or_partition
            elif p.records is None:
                res.error_code = ErrorCode.corrupt_message
            else:
                try:
                    appended = plog.append(p.records, now_ms=now_ms)
                except (InvalidRecordError, KafkaStorageError) as exc:
                    res.error_code = exc.error_code
                    res.error_message = str(exc)
                    log.warning("rejected produce to %s-%d from %s: %s", topic.name, p.index, ctx.peer, exc)
                    continue
                res.base_offset = appended.base_offset
                res.log_append_time_ms = appended.log_append_time_ms
                res.log_start_offset = appended.log_start_offset
                apis.watch.notify(plog)
                if plog.needs_flush(now_ms):
                    to_flush.append(plog)
        results.append((topic.name, parts))
    flushed = apis.flusher.flush(to_flush) if to_flush else None  # type: ignore[arg-type]
    if req.acks == 0:
        return None
    body = codec.encode_produce_response(ctx.api_version, results)
    if flushed is None:
        return body

    async def after_flush() -> Body:
        await flushed
        return body

    return after_flush()
