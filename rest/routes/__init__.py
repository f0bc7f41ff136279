"""One router per resource of Kafka Connect's REST API (plus Headrace's health and metrics).

Routes are plain ``def`` (FastAPI runs them on its worker threads, since herder calls block) that
receive the app's herder (:data:`rest.routing.HerderDep`) and answer the ``to_json()`` of
:mod:`connect.runtime.models`, so bodies are exactly what Kafka Connect sends; the pydantic models of
:mod:`rest.models` describe them in ``/openapi.json``. Errors are raised and mapped by :mod:`rest.errors`.
"""

from fastapi import APIRouter

from rest.routes import admin, connectors, health, plugins, root

ROUTERS: tuple[APIRouter, ...] = (
    root.router,
    health.router,
    connectors.router,
    plugins.router,
    admin.router,
)

__all__ = ["ROUTERS"]
