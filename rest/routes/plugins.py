"""``/connector-plugins``: installed plugins, their configuration keys, and config validation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.responses import Response

from rest.models import ConfigInfosModel, ConfigKeyInfoModel, ConnectorConfigBody, PluginInfoModel
from rest.routing import HerderDep, HerderRoute, errors

router = APIRouter(route_class=HerderRoute)


@router.get(
    "/connector-plugins",
    response_model=list[PluginInfoModel],
    responses=errors(400, 500),
    summary="Installed plugins (connectors only unless connectorsOnly=false)",
)
def list_plugins(
    herder: HerderDep,
    connectors_only: Annotated[bool, Query(alias="connectorsOnly")] = True,
) -> Response:
    return JSONResponse([p.to_json() for p in herder.connector_plugins(connectors_only)])


@router.get(
    "/connector-plugins/{plugin}/config",
    response_model=list[ConfigKeyInfoModel],
    responses=errors(400, 404, 500),
    summary="Configuration keys of a plugin (for a connector: its own, then the framework's)",
)
def plugin_config(herder: HerderDep, plugin: str) -> Response:
    return JSONResponse([k.to_json() for k in herder.connector_plugin_config(plugin)])


@router.put(
    "/connector-plugins/{plugin}/config/validate",
    response_model=ConfigInfosModel,
    responses=errors(400, 404, 415, 500),
    summary="Validate a connector configuration",
)
def validate_config(herder: HerderDep, plugin: str, body: ConnectorConfigBody) -> Response:
    return JSONResponse(herder.validate_connector_config(plugin, dict(body.root)).to_json())
