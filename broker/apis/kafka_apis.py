"""Request dispatch: parses request headers, routes to the registered handler, frames responses.

``KafkaApis`` is created once per broker and used only on the event-loop thread.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from broker.apis.registry import API_TABLE, Body, Result
from broker.config import BrokerConfig
from broker.flusher import GroupCommitFlusher
from broker.groups.coordinator import CoordinatorConfig, GroupCoordinator
from broker.log.manager import LogManager
from broker.producer_ids import ProducerIdAllocator
from broker.protocol.wire import Reader, pack_i32
from broker.transactions import TransactionRefusals
from broker.watch import AppendWatch
from kafka_common.codec import ProtocolError, decode_request_body, request_class

log = logging.getLogger("broker.apis")

API_VERSIONS_KEY = 18


@dataclass(slots=True)
class RequestContext:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    peer: str


def is_flexible(api_key: int, version: int) -> bool:
    """Whether the request (and so its header) of this version uses Kafka's flexible encoding."""
    spec = API_TABLE.get(api_key)
    if spec is not None and spec.decode == "raw":
        return False  # hand-written codecs only cover non-flexible versions
    cls = request_class(api_key, version)
    return bool(cls is not None and cls.__flexible__)


class UnsupportedRequest(ProtocolError):
    """An unknown API key or version: Kafka closes the connection."""


class KafkaApis:
    """Owns the broker's state (logs, watches, flusher) and answers requests."""

    def __init__(
        self,
        config: BrokerConfig,
        logs: LogManager,
        flusher: GroupCommitFlusher,
        cluster_id: str,
        groups: GroupCoordinator | None = None,
    ) -> None:
        self.config = config
        self.groups = groups if groups is not None else GroupCoordinator(CoordinatorConfig())
        self.logs = logs
        self.flusher = flusher
        self.watch = AppendWatch()
        self.producer_ids = ProducerIdAllocator(config.data_dir)
        self.transactions = TransactionRefusals()
        self.cluster_id = cluster_id
        self.started_ms = int(time.time() * 1000)

    def handle(
        self, frame: bytes | bytearray | memoryview, peer: str
    ) -> list[bytes] | Awaitable[list[bytes] | None] | None:
        """Answer one request frame (without its size prefix).

        Returns the response buffers (size prefix included), None when no response is due, or an
        awaitable of those. Raises ProtocolError when the connection must be closed. Hand-written
        (``decode="raw"``) handlers get the frame itself, writable when the frame is (Produce patches
        base offsets in place); everything else sees it read-only.
        """
        raw = memoryview(frame)
        buf = raw.toreadonly()
        r = Reader(buf)
        api_key = r.int16()
        version = r.int16()
        correlation_id = r.int32()
        client_id = r.string()
        ctx = RequestContext(api_key, version, correlation_id, client_id, peer)
        spec = API_TABLE.get(api_key)
        if spec is None:
            raise UnsupportedRequest(f"unknown API key {api_key} from {peer} ({client_id})")
        if not spec.min_version <= version <= spec.max_version:
            if api_key == API_VERSIONS_KEY:  # Kafka answers with a v0 body listing what it supports
                from broker.apis.api_versions import unsupported_version_response

                return self._frame(ctx, unsupported_version_response(), flexible=False)
            raise UnsupportedRequest(
                f"unsupported version {version} of {spec.name} (supported {spec.min_version}-"
                f"{spec.max_version}) from {peer} ({client_id})"
            )
        flexible = is_flexible(api_key, version)
        if flexible:
            r.skip_tagged_fields()
        request: Any
        if spec.decode == "kio":
            request = decode_request_body(api_key, version, buf, r.pos)
        else:
            request = (raw, r.pos)
        result: Result = spec.handler(self, ctx, request)
        resp_flexible = flexible and api_key != API_VERSIONS_KEY
        if inspect.isawaitable(result):
            return self._frame_later(ctx, result, resp_flexible)
        return self._frame(ctx, result, resp_flexible)

    async def _frame_later(
        self, ctx: RequestContext, result: Awaitable[Body], flexible: bool
    ) -> list[bytes] | None:
        return self._frame(ctx, await result, flexible)

    @staticmethod
    def _frame(ctx: RequestContext, body: Body, flexible: bool) -> list[bytes] | None:
        if body is None:
            return None
        header = pack_i32(ctx.correlation_id) + (b"\x00" if flexible else b"")
        if isinstance(body, bytes):
            return [pack_i32(len(header) + len(body)) + header, body]
        size = len(header) + sum(len(b) for b in body)
        return [pack_i32(size) + header, *body]


def new_cluster_id() -> str:
    """A Kafka-style cluster id: 16 random bytes, URL-safe base64 without padding (22 chars)."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
