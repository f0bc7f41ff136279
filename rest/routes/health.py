"""``GET /health`` (Kafka's ``WorkerStatus`` shape) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.responses import Response

from rest.models import HealthModel
from rest.routing import HerderDep, HerderRoute, description, errors

router = APIRouter(route_class=HerderRoute)

log = logging.getLogger(__name__)


@router.get(
    "/health",
    response_model=HealthModel,
    responses={503: {"model": HealthModel, "description": description(503)}},
    summary="Worker health",
)
def health(herder: HerderDep) -> Response:
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
        **errors(500),
    },
    summary="Prometheus metrics",
)
def metrics(herder: HerderDep) -> Response:
    return PlainTextResponse(herder.metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8")
