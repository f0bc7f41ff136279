"""What every resource router shares: the route class (leader forwarding, last-resort 500), access to
the app's herder, and the error responses documented in ``/openapi.json``."""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from connect.runtime.exceptions import NotLeaderError
from connect.runtime.herder import Herder
from rest.errors import HANDLED, error_response, internal_error
from rest.forward import Forwarder, ForwardError
from rest.models import ErrorMessage

__all__ = ["HerderDep", "HerderRoute", "description", "errors", "location"]

log = logging.getLogger(__name__)


class HerderRoute(APIRoute):
    """Answers NotLeaderError by forwarding to the leader, and turns any unexpected exception into a
    generic 500 (traceback logged, never sent)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotLeaderError as exc:
                return await _forward_to_leader(request, exc)
            except HANDLED:
                raise
            except Exception as exc:
                return internal_error(request, exc)

        return route_handler


async def _herder(request: Request) -> Herder:
    herder: Herder = request.app.state.herder
    return herder


HerderDep = Annotated[Herder, Depends(_herder)]
"""A route parameter receiving the app's herder."""


def location(name: str) -> str:
    """The ``Location`` of a connector."""
    return "/connectors/" + urllib.parse.quote(name, safe="")


async def _forward_to_leader(request: Request, exc: NotLeaderError) -> Response:
    forwarder: Forwarder | None = request.app.state.forwarder
    if forwarder is None:
        return error_response(exc.status, exc.message)
    flag = request.query_params.get("forward")
    if flag is not None and flag.lower() == "false":
        # Two hops did not reach the leader: the leadership moved (a rebalance) meanwhile.
        return error_response(
            409, "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
        )
    if not exc.leader_url:
        return error_response(
            409,
            "Cannot complete request momentarily due to no known leader URL, "
            "likely because a rebalance was underway.",
        )
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "forward"]
    # Only the first worker may forward to a worker that may forward once more (Kafka's rule).
    query.append(("forward", "true" if flag is None else "false"))
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    path = urllib.parse.quote(request.scope["path"], safe="/")
    log.debug("Forwarding %s %s to the leader at %s", request.method, path, exc.leader_url)
    try:
        status, payload = await run_in_threadpool(
            forwarder, exc.leader_url, request.method, path, query, body
        )
    except ForwardError as err:
        log.warning("Could not forward %s %s to %s: %s", request.method, path, exc.leader_url, err)
        return error_response(500, f"Could not forward the request to the leader at {exc.leader_url}: {err}")
    if payload is None:
        return Response(status_code=status)
    response = JSONResponse(payload, status_code=status)
    if status == 201 and isinstance(payload, dict) and isinstance(payload.get("name"), str):
        response.headers["Location"] = location(payload["name"])
    return response


_DESCRIPTIONS = {
    400: "Invalid request (body, parameters or connector configuration)",
    404: "Unknown connector, task, plugin or logger",
    409: "Conflict: the connector exists already, or a rebalance is in progress",
    415: "The request body is not declared as JSON (Content-Type: application/json)",
    500: "Unexpected error (the worker log has the details)",
    503: "The worker is not healthy",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route answering errors with these statuses."""
    return {code: {"model": ErrorMessage, "description": _DESCRIPTIONS[code]} for code in codes}


def description(code: int) -> str:
    return _DESCRIPTIONS[code]
