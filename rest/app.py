"""The REST API: Apache Kafka Connect's REST interface as thin FastAPI routes over a :class:`Herder`.

Every route is a plain ``def`` (FastAPI runs it on its worker threads, since herder calls block).
Response bodies are the ``to_json()`` of :mod:`connect.runtime.models`, so the JSON is exactly the shape
Kafka Connect sends; the pydantic models of :mod:`rest.models` describe them in ``/openapi.json``.

Errors are always ``{"error_code": <status>, "message": "..."}`` (plus a ``HerderError``'s ``body_extra``),
never FastAPI's 422 shape nor a stack trace. Request bodies are never logged.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from connect.api.errors import AlreadyExistsException, NotFoundException
from connect.runtime.exceptions import BadRequestError, HerderError, NotFoundError, NotLeaderError
from connect.runtime.herder import Herder
from rest.forward import Forwarder, ForwardError
from rest.loggers import InvalidLevelError, LoggerLevels, parse_level
from rest.models import (
    ActiveTopicsModel,
    ConfigInfosModel,
    ConfigKeyInfoModel,
    ConnectorConfigBody,
    ConnectorConfigPatch,
    ConnectorExpansionModel,
    ConnectorInfoModel,
    ConnectorOffsetsModel,
    ConnectorStateInfoModel,
    CreateConnectorRequest,
    ErrorMessage,
    HealthModel,
    LoggerLevelModel,
    LoggerLevelRequest,
    MessageModel,
    PluginInfoModel,
    ServerInfoModel,
    TaskInfoModel,
    TaskStateModel,
)

__all__ = ["create_app"]

log = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "Internal server error; the worker log has the details."
_NAME_CONFIG = "name"

# --- error bodies -------------------------------------------------------------------------------------


def error_response(status: int, message: str, extra: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error_code": status, "message": message}
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    return JSONResponse(body, status_code=status)


async def _herder_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HerderError)
    return error_response(exc.status, exc.message, exc.body_extra)


async def _api_error(request: Request, exc: Exception) -> Response:
    status = 409 if isinstance(exc, AlreadyExistsException) else 404
    return error_response(status, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if exc.detail and exc.detail != phrase else f"HTTP {exc.status_code} {phrase}"
    response = error_response(exc.status_code, str(detail))
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
        return error_response(
            415, "HTTP 415 Unsupported Media Type: send JSON with 'Content-Type: application/json'"
        )
    if any(err.get("loc", ("",))[0] == "path" for err in errors):
        # A path segment of the wrong type (a task id that is not a number) names no resource: JAX-RS
        # answers 404 there, and so does Kafka Connect.
        return error_response(404, "HTTP 404 Not Found")
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


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return _internal_error(request, exc)


def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("Unexpected error serving %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, INTERNAL_ERROR_MESSAGE)


# --- routes: NotLeaderError forwarding and the last-resort 500 --------------------------------------


class _HerderRoute(APIRoute):
    """Answers NotLeaderError by forwarding to the leader, and turns any unexpected exception into a
    generic 500 (traceback logged here, never sent)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotLeaderError as exc:
                return await _forward_to_leader(request, exc)
            except (
                HerderError,
                StarletteHTTPException,
                RequestValidationError,
                NotFoundException,
                AlreadyExistsException,
            ):
                raise
            except Exception as exc:
                return _internal_error(request, exc)

        return route_handler


async def _forward_to_leader(request: Request, exc: NotLeaderError) -> Response:
    forwarder: Forwarder | None = request.app.state.forwarder
    if forwarder is None:
        return error_response(exc.status, exc.message, exc.body_extra)
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
        response.headers["Location"] = _location(payload["name"])
    return response


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


# --- helpers ------------------------------------------------------------------------------------------

_DESCRIPTIONS = {
    400: "Invalid request (body, parameters or connector configuration)",
    404: "Unknown connector, task, plugin or logger",
    409: "Conflict: the connector exists already, or a rebalance is in progress",
    415: "The request body is not declared as JSON (Content-Type: application/json)",
    500: "Unexpected error (the worker log has the details)",
    503: "The worker is not healthy",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorMessage, "description": _DESCRIPTIONS[code]} for code in codes}


_READ = _errors(400, 404, 409, 500)
_WRITE = _errors(400, 404, 409, 500)
_WRITE_BODY = _errors(400, 404, 409, 415, 500)


def _location(name: str) -> str:
    return "/connectors/" + urllib.parse.quote(name, safe="")


def _check_name(name: str) -> None:
    if not name:
        raise BadRequestError("Connector name must not be empty")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
        raise BadRequestError("Connector name must not contain ISO control characters")


def _check_and_put_name(name: str, config: dict[str, str]) -> None:
    included = config.get(_NAME_CONFIG)
    if included is not None:
        if included != name:
            raise BadRequestError(
                f"Connector name configuration ({included}) doesn't match connector name in the URL ({name})"
            )
    else:
        config[_NAME_CONFIG] = name


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


# --- the app ------------------------------------------------------------------------------------------


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
    version = version or _default_version()
    levels = loggers if loggers is not None else LoggerLevels()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.debug("REST API ready for worker %s", herder.worker_id)
        yield

    app = FastAPI(
        title="Headrace Connect REST API",
        version=version,
        description="Apache Kafka Connect's REST API, served by a Headrace worker.",
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
        exception_handlers={
            HerderError: _herder_error,
            NotFoundException: _api_error,
            AlreadyExistsException: _api_error,
            StarletteHTTPException: _http_error,
            RequestValidationError: _validation_error,
            Exception: _unexpected_error,
        },
    )
    app.state.forwarder = forward
    app.add_middleware(_StripTrailingSlash)
    app.openapi = _openapi_without_422(app)  # type: ignore[method-assign]

    router = APIRouter(route_class=_HerderRoute)

    # -- root, health, metrics -----------------------------------------------------------------------

    @router.get("/", response_model=ServerInfoModel, responses=_errors(500), summary="Worker version")
    def server_info() -> Response:
        return JSONResponse(
            {"version": version, "commit": commit, "kafka_cluster_id": herder.kafka_cluster_id()}
        )

    @router.get(
        "/health",
        response_model=HealthModel,
        responses={503: {"model": HealthModel, "description": _DESCRIPTIONS[503]}},
        summary="Worker health",
    )
    def health() -> Response:
        try:
            healthy, message = herder.health()
        except Exception:
            log.exception("Health check failed")
            return JSONResponse(
                {"status": "unhealthy", "message": "The health check failed; see the worker log."},
                status_code=503,
            )
        if healthy:
            return JSONResponse({"status": "healthy", "message": message})
        return JSONResponse({"status": "unhealthy", "message": message}, status_code=503)

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **_errors(500),
        },
        summary="Prometheus metrics",
    )
    def metrics() -> Response:
        return PlainTextResponse(herder.metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- connectors ----------------------------------------------------------------------------------

    @router.get(
        "/connectors",
        response_model=list[str] | dict[str, ConnectorExpansionModel],
        responses=_errors(400, 409, 500),
        summary="List connectors (names, or with expand=status / expand=info details by name)",
    )
    def list_connectors(
        expand: Annotated[
            list[str] | None,
            Query(description="'status' and/or 'info' (repeatable): details to return by connector name"),
        ] = None,
    ) -> Response:
        names = herder.connectors()
        if expand is None:
            return JSONResponse(names)
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            entry: dict[str, Any] = {}
            try:
                for what in expand:
                    if what == "status":
                        entry["status"] = herder.connector_status(name).to_json()
                    elif what == "info":
                        entry["info"] = herder.connector_info(name).to_json()
                    else:
                        log.debug("Ignoring unknown expansion type %r", what)
            except NotFoundError:
                continue  # deleted while we looked: leave it out, as Kafka Connect does
            out[name] = entry
        return JSONResponse(out)

    @router.post(
        "/connectors",
        status_code=201,
        response_model=ConnectorInfoModel,
        responses=_errors(400, 409, 415, 500),
        summary="Create a connector",
    )
    def create_connector(body: CreateConnectorRequest) -> Response:
        name = body.name.strip()
        _check_name(name)
        config = dict(body.config)
        _check_and_put_name(name, config)
        _created, info = herder.put_connector_config(
            name, config, allow_replace=False, initial_state=body.initial_state
        )
        return JSONResponse(info.to_json(), status_code=201, headers={"Location": _location(name)})

    @router.get(
        "/connectors/{name}", response_model=ConnectorInfoModel, responses=_READ, summary="Connector info"
    )
    def get_connector(name: str) -> Response:
        return JSONResponse(herder.connector_info(name).to_json())

    @router.delete("/connectors/{name}", status_code=204, responses=_WRITE, summary="Delete a connector")
    def delete_connector(name: str) -> Response:
        herder.delete_connector(name)
        return Response(status_code=204)

    @router.get(
        "/connectors/{name}/config",
        response_model=dict[str, str],
        responses=_READ,
        summary="Connector configuration (secrets masked)",
    )
    def get_connector_config(name: str) -> Response:
        return JSONResponse(dict(herder.connector_config(name)))

    @router.put(
        "/connectors/{name}/config",
        response_model=ConnectorInfoModel,
        responses={201: {"model": ConnectorInfoModel, "description": "Connector created"}, **_WRITE_BODY},
        summary="Create or update a connector",
    )
    def put_connector_config(name: str, body: ConnectorConfigBody) -> Response:
        _check_name(name)
        config = dict(body.root)
        _check_and_put_name(name, config)
        created, info = herder.put_connector_config(name, config, allow_replace=True)
        if created:
            return JSONResponse(info.to_json(), status_code=201, headers={"Location": _location(name)})
        return JSONResponse(info.to_json())

    @router.patch(
        "/connectors/{name}/config",
        response_model=ConnectorInfoModel,
        responses=_WRITE_BODY,
        summary="Patch a connector's configuration (KIP-477): set keys, null removes a key",
    )
    def patch_connector_config(name: str, body: ConnectorConfigPatch) -> Response:
        _check_name(name)
        patch = dict(body.root)
        if patch.get("name") not in (None, name):
            raise BadRequestError(
                f"Connector name configuration ({patch['name']}) doesn't match connector name "
                f"in the URL ({name})"
            )
        return JSONResponse(herder.patch_connector_config(name, patch).to_json())

    @router.get(
        "/connectors/{name}/status",
        response_model=ConnectorStateInfoModel,
        responses=_READ,
        summary="Connector and task states",
    )
    def get_connector_status(name: str) -> Response:
        return JSONResponse(herder.connector_status(name).to_json())

    @router.get(
        "/connectors/{name}/tasks",
        response_model=list[TaskInfoModel],
        responses=_READ,
        summary="Task configurations",
    )
    def get_tasks(name: str) -> Response:
        return JSONResponse([t.to_json() for t in herder.task_configs(name)])

    @router.get(
        "/connectors/{name}/tasks/{task}/status",
        response_model=TaskStateModel,
        responses=_READ,
        summary="State of one task",
    )
    def get_task_status(name: str, task: int) -> Response:
        return JSONResponse(herder.task_status(name, task).to_json())

    @router.post(
        "/connectors/{name}/tasks/{task}/restart",
        status_code=204,
        responses=_WRITE,
        summary="Restart one task",
    )
    def restart_task(name: str, task: int) -> Response:
        herder.restart_task(name, task)
        return Response(status_code=204)

    @router.put(
        "/connectors/{name}/pause",
        status_code=202,
        response_class=Response,
        responses=_WRITE,
        summary="Pause a connector and its tasks",
    )
    def pause_connector(name: str) -> Response:
        herder.pause_connector(name)
        return Response(status_code=202)

    @router.put(
        "/connectors/{name}/resume",
        status_code=202,
        response_class=Response,
        responses=_WRITE,
        summary="Resume a paused or stopped connector",
    )
    def resume_connector(name: str) -> Response:
        herder.resume_connector(name)
        return Response(status_code=202)

    @router.put(
        "/connectors/{name}/stop",
        status_code=204,
        responses=_WRITE,
        summary="Stop a connector and its tasks, keeping its configuration (KIP-875)",
    )
    def stop_connector(name: str) -> Response:
        herder.stop_connector(name)
        return Response(status_code=204)

    @router.post(
        "/connectors/{name}/restart",
        status_code=202,
        response_model=ConnectorStateInfoModel,
        responses={204: {"description": "Connector restarted (plain restart)"}, **_WRITE},
        summary="Restart a connector (and with includeTasks/onlyFailed, its tasks)",
    )
    def restart_connector(
        name: str,
        include_tasks: Annotated[bool, Query(alias="includeTasks")] = False,
        only_failed: Annotated[bool, Query(alias="onlyFailed")] = False,
    ) -> Response:
        state = herder.restart_connector(name, include_tasks, only_failed)
        if state is None:
            return Response(status_code=204)
        return JSONResponse(state.to_json(), status_code=202)

    @router.get(
        "/connectors/{name}/topics",
        response_model=ActiveTopicsModel,
        responses=_READ,
        summary="Topics the connector has used",
    )
    def get_active_topics(name: str) -> Response:
        return JSONResponse({name: {"topics": list(herder.connector_active_topics(name))}})

    @router.put(
        "/connectors/{name}/topics/reset",
        status_code=202,
        response_class=Response,
        responses=_WRITE,
        summary="Forget the topics the connector has used",
    )
    def reset_active_topics(name: str) -> Response:
        herder.reset_connector_active_topics(name)
        return Response(status_code=202)

    @router.get(
        "/connectors/{name}/offsets",
        response_model=ConnectorOffsetsModel,
        responses=_READ,
        summary="Committed offsets (KIP-875)",
    )
    def get_offsets(name: str) -> Response:
        return JSONResponse(herder.connector_offsets(name).to_json())

    @router.patch(
        "/connectors/{name}/offsets",
        response_model=MessageModel,
        responses=_WRITE_BODY,
        summary="Alter the offsets of a STOPPED connector (KIP-875)",
    )
    def alter_offsets(name: str, body: ConnectorOffsetsModel) -> Response:
        if not body.offsets:
            raise BadRequestError("Partitions / offsets need to be provided for an alter offsets request")
        offsets = [{"partition": o.partition, "offset": o.offset} for o in body.offsets]
        return JSONResponse({"message": herder.alter_connector_offsets(name, offsets)})

    @router.delete(
        "/connectors/{name}/offsets",
        response_model=MessageModel,
        responses=_WRITE,
        summary="Reset the offsets of a STOPPED connector (KIP-875)",
    )
    def reset_offsets(name: str) -> Response:
        return JSONResponse({"message": herder.reset_connector_offsets(name)})

    # -- plugins -------------------------------------------------------------------------------------

    @router.get(
        "/connector-plugins",
        response_model=list[PluginInfoModel],
        responses=_errors(400, 500),
        summary="Installed plugins (connectors only unless connectorsOnly=false)",
    )
    def list_plugins(
        connectors_only: Annotated[bool, Query(alias="connectorsOnly")] = True,
    ) -> Response:
        return JSONResponse([p.to_json() for p in herder.connector_plugins(connectors_only)])

    @router.get(
        "/connector-plugins/{plugin}/config",
        response_model=list[ConfigKeyInfoModel],
        responses=_errors(400, 404, 500),
        summary="Configuration keys of a plugin",
    )
    def plugin_config(plugin: str) -> Response:
        return JSONResponse([k.to_json() for k in herder.connector_plugin_config(plugin)])

    @router.put(
        "/connector-plugins/{plugin}/config/validate",
        response_model=ConfigInfosModel,
        responses=_errors(400, 404, 415, 500),
        summary="Validate a connector configuration",
    )
    def validate_config(plugin: str, body: ConnectorConfigBody) -> Response:
        return JSONResponse(herder.validate_connector_config(plugin, dict(body.root)).to_json())

    # -- loggers -------------------------------------------------------------------------------------

    @router.get(
        "/admin/loggers",
        response_model=dict[str, LoggerLevelModel],
        responses=_errors(500),
        summary="Loggers with a level set, and root",
    )
    def list_loggers() -> Response:
        return JSONResponse(levels.all_levels())

    @router.get(
        "/admin/loggers/{logger}",
        response_model=LoggerLevelModel,
        responses=_errors(404, 500),
        summary="Effective level of a logger",
    )
    def get_logger(logger: str) -> Response:
        level = levels.level(logger)
        if level is None:
            return error_response(404, f"Logger {logger} not found.")
        return JSONResponse(level)

    @router.put(
        "/admin/loggers/{logger}",
        response_model=list[str],
        responses=_errors(400, 415, 500),
        summary="Set the level of a logger and the loggers below it",
    )
    def set_logger_level(
        logger: str,
        body: LoggerLevelRequest,
        scope: Annotated[
            str, Query(description="'worker' (default): this worker only. 'cluster' is not supported yet.")
        ] = "worker",
    ) -> Response:
        try:
            level = parse_level(body.level)
        except InvalidLevelError as e:
            return error_response(400, str(e))
        if scope.lower() == "cluster":
            return error_response(
                400, "scope=cluster is not supported by this worker; set the level on each worker instead"
            )
        if scope.lower() != "worker":
            log.warning("Unknown logger scope %r; using 'worker'", scope)
        return JSONResponse(levels.set_level(logger, level))

    app.include_router(router)
    return app
