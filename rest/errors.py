"""The one place where failures become HTTP answers, in Kafka Connect's shape.

Every error body is exactly ``{"error_code": <status>, "message": "..."}`` (Kafka's ``ErrorMessage``, as
its ``ConnectExceptionMapper`` writes it), never FastAPI's 422 shape, never a stack trace, never extra
fields:

===============================================  =====================================================
failure                                          status and message
===============================================  =====================================================
``HerderError`` subclass                         its ``status``, its message (per-field reasons of an
                                                 invalid config are in the message, as Kafka writes it)
``NotFoundException`` / ``AlreadyExistsException``  404 / 409, the exception's message
unknown path, wrong method                       404 ``HTTP 404 Not Found``, 405 ``HTTP 405 Method Not
                                                 Allowed`` (Jersey's texts)
body not declared as JSON                        415 ``HTTP 415 Unsupported Media Type``
path parameter of the wrong type (task ``x``)    404 ``HTTP 404 Not Found`` (JAX-RS matches no resource)
malformed JSON, body of the wrong shape          400 ``Invalid request: ...`` (one line per problem)
anything else                                    500 with a generic message; the traceback is logged
===============================================  =====================================================

Kafka answers malformed JSON with a 500 carrying Jackson's parser message; Headrace answers 400 (the
request is at fault) in the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from connect.runtime.exceptions import AlreadyExistsException, HerderError, NotFoundException

__all__ = [
    "EXCEPTION_HANDLERS",
    "HANDLED",
    "INTERNAL_ERROR_MESSAGE",
    "error_response",
    "internal_error",
]

log = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "Internal server error; the worker log has the details."


def error_response(status: int, message: str) -> JSONResponse:
    """Kafka's ``ErrorMessage``: ``{"error_code": status, "message": message}``, nothing else."""
    return JSONResponse({"error_code": status, "message": message}, status_code=status)


def _jersey(status: int) -> JSONResponse:
    """The body Jersey gives a ``WebApplicationException`` without a message: ``HTTP 404 Not Found``."""
    return error_response(status, f"HTTP {status} {HTTPStatus(status).phrase}")


async def _herder_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HerderError)
    return error_response(exc.status, exc.message)


async def _api_error(request: Request, exc: Exception) -> Response:
    status = 409 if isinstance(exc, AlreadyExistsException) else 404
    return error_response(status, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    if exc.detail and exc.detail != phrase:
        response = error_response(exc.status_code, str(exc.detail))
    else:
        response = _jersey(exc.status_code)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    body_unread = any(tuple(e.get("loc", ())) == ("body",) and e.get("type") != "missing" for e in errors)
    if body_unread and not _is_json(request.headers.get("content-type")):
        # Bodies are read as JSON only when declared so (no guessing: that would open the API to
        # cross-site form posts). Jersey answers 415 here too.
        return _jersey(415)
    if any(err.get("loc", ("",))[0] == "path" for err in errors):
        # A path segment of the wrong type (a task id that is not a number) names no resource: JAX-RS
        # answers 404 there, and so does Kafka Connect.
        return _jersey(404)
    return error_response(400, _validation_message(errors))


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _validation_message(errors: list[Any]) -> str:
    """One line per problem, naming where it is and what is wrong, never repeating the value sent."""
    parts: list[str] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        kind = err.get("type", "")
        if kind == "json_invalid":
            parts.append("Request body is not valid JSON")
            continue
        where = loc[0] if loc else "request"
        if where == "body":
            if len(loc) == 1:
                if kind == "missing":
                    parts.append("Request body is required")
                    continue
                field = "request body"
            else:
                field = ".".join(loc[1:])
        else:
            field = f"{where} parameter '{'.'.join(loc[1:])}'"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "Invalid request: " + "; ".join(dict.fromkeys(parts))


def internal_error(request: Request, exc: BaseException) -> Response:
    """The last resort: log the traceback here, answer a generic 500 (an exception's text may hold
    anything, secrets included, so unlike Kafka it is not sent)."""
    log.error("Unexpected error serving %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, INTERNAL_ERROR_MESSAGE)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return internal_error(request, exc)


EXCEPTION_HANDLERS: dict[int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]] = {
    HerderError: _herder_error,
    NotFoundException: _api_error,
    AlreadyExistsException: _api_error,
    StarletteHTTPException: _http_error,
    RequestValidationError: _validation_error,
    Exception: _unexpected_error,
}
"""For ``FastAPI(exception_handlers=...)``."""

HANDLED: tuple[type[Exception], ...] = (
    HerderError,
    StarletteHTTPException,
    RequestValidationError,
    NotFoundException,
    AlreadyExistsException,
)
"""Exceptions a route lets through to :data:`EXCEPTION_HANDLERS` (anything else is a 500 at once)."""
