"""``GET /``: the worker's version, commit and Kafka cluster id (Kafka's ``ServerInfo``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.responses import Response

from rest.models import ServerInfoModel
from rest.routing import HerderDep, HerderRoute, errors

router = APIRouter(route_class=HerderRoute)


@router.get("/", response_model=ServerInfoModel, responses=errors(500), summary="Worker version")
def server_info(request: Request, herder: HerderDep) -> Response:
    state = request.app.state
    return JSONResponse(
        {"version": state.version, "commit": state.commit, "kafka_cluster_id": herder.kafka_cluster_id()}
    )
