"""``/connectors``: connectors, their configuration, status, tasks, topics and offsets (KIP-875)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.responses import Response

from connect.runtime.exceptions import BadRequestError, NotFoundError
from rest.models import (
    ActiveTopicsModel,
    ConnectorConfigBody,
    ConnectorConfigPatch,
    ConnectorExpansionModel,
    ConnectorInfoModel,
    ConnectorOffsetsModel,
    ConnectorStateInfoModel,
    CreateConnectorRequest,
    MessageModel,
    TaskInfoModel,
    TaskStateModel,
)
from rest.routing import HerderDep, HerderRoute, errors, location

router = APIRouter(route_class=HerderRoute)

log = logging.getLogger(__name__)

READ = errors(400, 404, 409, 500)
WRITE = errors(400, 404, 409, 500)
WRITE_BODY = errors(400, 404, 409, 415, 500)

_NAME_CONFIG = "name"


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


@router.get(
    "/connectors",
    response_model=list[str] | dict[str, ConnectorExpansionModel],
    responses=errors(400, 409, 500),
    summary="List connectors (names, or with expand=status / expand=info details by name)",
)
def list_connectors(
    herder: HerderDep,
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
    responses=errors(400, 409, 415, 500),
    summary="Create a connector",
)
def create_connector(herder: HerderDep, body: CreateConnectorRequest) -> Response:
    name = body.name.strip()
    _check_name(name)
    config = dict(body.config)
    _check_and_put_name(name, config)
    _created, info = herder.put_connector_config(
        name, config, allow_replace=False, initial_state=body.initial_state
    )
    return JSONResponse(info.to_json(), status_code=201, headers={"Location": location(name)})


@router.get("/connectors/{name}", response_model=ConnectorInfoModel, responses=READ, summary="Connector info")
def get_connector(herder: HerderDep, name: str) -> Response:
    return JSONResponse(herder.connector_info(name).to_json())


@router.delete("/connectors/{name}", status_code=204, responses=WRITE, summary="Delete a connector")
def delete_connector(herder: HerderDep, name: str) -> Response:
    herder.delete_connector(name)
    return Response(status_code=204)


@router.get(
    "/connectors/{name}/config",
    response_model=dict[str, str],
    responses=READ,
    summary="Connector configuration (secrets masked)",
)
def get_connector_config(herder: HerderDep, name: str) -> Response:
    return JSONResponse(dict(herder.connector_config(name)))


@router.put(
    "/connectors/{name}/config",
    response_model=ConnectorInfoModel,
    responses={201: {"model": ConnectorInfoModel, "description": "Connector created"}, **WRITE_BODY},
    summary="Create or update a connector",
)
def put_connector_config(herder: HerderDep, name: str, body: ConnectorConfigBody) -> Response:
    _check_name(name)
    config = dict(body.root)
    _check_and_put_name(name, config)
    created, info = herder.put_connector_config(name, config, allow_replace=True)
    if created:
        return JSONResponse(info.to_json(), status_code=201, headers={"Location": location(name)})
    return JSONResponse(info.to_json())


@router.patch(
    "/connectors/{name}/config",
    response_model=ConnectorInfoModel,
    responses=WRITE_BODY,
    summary="Patch a connector's configuration (KIP-477): set keys, null removes a key",
)
def patch_connector_config(herder: HerderDep, name: str, body: ConnectorConfigPatch) -> Response:
    _check_name(name)
    patch = dict(body.root)
    if patch.get("name") not in (None, name):
        raise BadRequestError(
            f"Connector name configuration ({patch['name']}) doesn't match connector name in the URL ({name})"
        )
    return JSONResponse(herder.patch_connector_config(name, patch).to_json())


@router.get(
    "/connectors/{name}/status",
    response_model=ConnectorStateInfoModel,
    responses=READ,
    summary="Connector and task states",
)
def get_connector_status(herder: HerderDep, name: str) -> Response:
    return JSONResponse(herder.connector_status(name).to_json())


@router.get(
    "/connectors/{name}/tasks",
    response_model=list[TaskInfoModel],
    responses=READ,
    summary="Task configurations",
)
def get_tasks(herder: HerderDep, name: str) -> Response:
    return JSONResponse([t.to_json() for t in herder.task_configs(name)])


@router.get(
    "/connectors/{name}/tasks/{task}/status",
    response_model=TaskStateModel,
    responses=READ,
    summary="State of one task",
)
def get_task_status(herder: HerderDep, name: str, task: int) -> Response:
    return JSONResponse(herder.task_status(name, task).to_json())


@router.post(
    "/connectors/{name}/tasks/{task}/restart",
    status_code=204,
    responses=WRITE,
    summary="Restart one task",
)
def restart_task(herder: HerderDep, name: str, task: int) -> Response:
    herder.restart_task(name, task)
    return Response(status_code=204)


@router.put(
    "/connectors/{name}/pause",
    status_code=202,
    response_class=Response,
    responses=WRITE,
    summary="Pause a connector and its tasks",
)
def pause_connector(herder: HerderDep, name: str) -> Response:
    herder.pause_connector(name)
    return Response(status_code=202)


@router.put(
    "/connectors/{name}/resume",
    status_code=202,
    response_class=Response,
    responses=WRITE,
    summary="Resume a paused or stopped connector",
)
def resume_connector(herder: HerderDep, name: str) -> Response:
    herder.resume_connector(name)
    return Response(status_code=202)


@router.put(
    "/connectors/{name}/stop",
    status_code=204,
    responses=WRITE,
    summary="Stop a connector and its tasks, keeping its configuration (KIP-875)",
)
def stop_connector(herder: HerderDep, name: str) -> Response:
    herder.stop_connector(name)
    return Response(status_code=204)


@router.post(
    "/connectors/{name}/restart",
    status_code=202,
    response_model=ConnectorStateInfoModel,
    responses={204: {"description": "Connector restarted (plain restart)"}, **WRITE},
    summary="Restart a connector (and with includeTasks/onlyFailed, its tasks)",
)
def restart_connector(
    herder: HerderDep,
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
    responses=READ,
    summary="Topics the connector has used",
)
def get_active_topics(herder: HerderDep, name: str) -> Response:
    return JSONResponse({name: {"topics": list(herder.connector_active_topics(name))}})


@router.put(
    "/connectors/{name}/topics/reset",
    status_code=202,
    response_class=Response,
    responses=WRITE,
    summary="Forget the topics the connector has used",
)
def reset_active_topics(herder: HerderDep, name: str) -> Response:
    herder.reset_connector_active_topics(name)
    return Response(status_code=202)


@router.get(
    "/connectors/{name}/offsets",
    response_model=ConnectorOffsetsModel,
    responses=READ,
    summary="Committed offsets (KIP-875)",
)
def get_offsets(herder: HerderDep, name: str) -> Response:
    return JSONResponse(herder.connector_offsets(name).to_json())


@router.patch(
    "/connectors/{name}/offsets",
    response_model=MessageModel,
    responses=WRITE_BODY,
    summary="Alter the offsets of a STOPPED connector (KIP-875)",
)
def alter_offsets(herder: HerderDep, name: str, body: ConnectorOffsetsModel) -> Response:
    if not body.offsets:
        raise BadRequestError("Partitions / offsets need to be provided for an alter offsets request")
    offsets = [{"partition": o.partition, "offset": o.offset} for o in body.offsets]
    return JSONResponse({"message": herder.alter_connector_offsets(name, offsets)})


@router.delete(
    "/connectors/{name}/offsets",
    response_model=MessageModel,
    responses=WRITE,
    summary="Reset the offsets of a STOPPED connector (KIP-875)",
)
def reset_offsets(herder: HerderDep, name: str) -> Response:
    return JSONResponse({"message": herder.reset_connector_offsets(name)})
