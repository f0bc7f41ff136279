"""``/admin/loggers``: runtime log levels (KIP-495, KIP-976), this worker only."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.responses import Response

from rest.errors import error_response
from rest.loggers import InvalidLevelError, LoggerLevels, parse_level
from rest.models import LoggerLevelModel, LoggerLevelRequest
from rest.routing import HerderRoute, errors

router = APIRouter(route_class=HerderRoute)

log = logging.getLogger(__name__)


def _levels(request: Request) -> LoggerLevels:
    levels: LoggerLevels = request.app.state.loggers
    return levels


@router.get(
    "/admin/loggers",
    response_model=dict[str, LoggerLevelModel],
    responses=errors(500),
    summary="Loggers with a level set, and root",
)
def list_loggers(request: Request) -> Response:
    return JSONResponse(_levels(request).all_levels())


@router.get(
    "/admin/loggers/{logger}",
    response_model=LoggerLevelModel,
    responses=errors(404, 500),
    summary="Effective level of a logger",
)
def get_logger(request: Request, logger: str) -> Response:
    level = _levels(request).level(logger)
    if level is None:
        return error_response(404, f"Logger {logger} not found.")
    return JSONResponse(level)


@router.put(
    "/admin/loggers/{logger}",
    response_model=list[str],
    responses=errors(400, 415, 500),
    summary="Set the level of a logger and the loggers below it",
)
def set_logger_level(
    request: Request,
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
    return JSONResponse(_levels(request).set_level(logger, level))
