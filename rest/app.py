"""The REST API: Apache Kafka Connect's REST interface as thin FastAPI routes over a :class:`Herder`.

``create_app`` assembles the app: one router per resource (:mod:`rest.routes`), the error mapping of
:mod:`rest.errors`, and what the routes read from ``app.state`` (``herder``, ``forwarder``, ``loggers``,
``version``, ``commit``). Request bodies are never logged.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Receive, Scope, Send

from connect.runtime.herder import Herder
from rest.errors import EXCEPTION_HANDLERS
from rest.forward import Forwarder
from rest.loggers import LoggerLevels
from rest.routes import ROUTERS

__all__ = ["create_app"]

log = logging.getLogger(__name__)


class _StripTrailingSlash:
    """``/connectors/`` is ``/connectors`` (Jersey serves both; curl users type either)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                raw = scope.get("raw_path")
                if isinstance(raw, bytes):
                    scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def _default_version() -> str:
    try:
        return importlib.metadata.version("headrace")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _openapi_without_422(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_app(
    herder: Herder,
    *,
    forward: Forwarder | None = None,
    loggers: LoggerLevels | None = None,
    version: str | None = None,
    commit: str = "unknown",
) -> FastAPI:
    """The REST app over ``herder``. ``forward`` sends requests the herder refuses with NotLeaderError to
    the leader (distributed mode; without it they are answered 409). ``loggers`` is the logging hierarchy
    ``/admin/loggers`` controls (the process's by default). ``version``/``commit`` are shown by ``GET /``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.debug("REST API ready for worker %s", herder.worker_id)
        yield

    version = version or _default_version()
    app = FastAPI(
        title="Headrace Connect REST API",
        version=version,
        description="Apache Kafka Connect's REST API, served by a Headrace worker.",
        docs_url="/docs",  # FastAPI's interactive page (Swagger UI) over /openapi.json
        redoc_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.herder = herder
    app.state.forwarder = forward
    app.state.loggers = loggers if loggers is not None else LoggerLevels()
    app.state.version = version
    app.state.commit = commit
    app.add_middleware(_StripTrailingSlash)
    app.openapi = _openapi_without_422(app)  # type: ignore[method-assign]
    for router in ROUTERS:
        app.include_router(router)
    return app
