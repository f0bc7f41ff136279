"""The table of Kafka APIs this broker serves: key -> (min version, max version, handler).

Handler modules register with :func:`api`. A handler is called on the event-loop thread as
``handler(apis, ctx, request)`` where ``request`` is the kio-decoded body (``decode="kio"``) or
``(frame, body_offset)`` for hand-written codecs (``decode="raw"``). It returns the response body
as ``bytes`` or a list of buffers, ``None`` for no response (acks=0), or an awaitable of those.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from broker.apis.kafka_apis import KafkaApis, RequestContext

Body: TypeAlias = bytes | list[bytes] | None
Result: TypeAlias = Body | Awaitable[Body]
Handler: TypeAlias = Callable[["KafkaApis", "RequestContext", Any], Result]


@dataclass(frozen=True, slots=True)
class ApiSpec:
    key: int
    name: str
    min_version: int
    max_version: int
    handler: Handler
    decode: Literal["kio", "raw"]


API_TABLE: dict[int, ApiSpec] = {}


def api(
    key: int, name: str, min_version: int, max_version: int, decode: Literal["kio", "raw"] = "kio"
) -> Callable[[Handler], Handler]:
    """Register ``handler`` for API ``key`` in versions ``min_version..max_version``."""

    def register(handler: Handler) -> Handler:
        if key in API_TABLE:
            raise RuntimeError(f"API {key} registered twice")
        API_TABLE[key] = ApiSpec(key, name, min_version, max_version, handler, decode)
        return handler

    return register
