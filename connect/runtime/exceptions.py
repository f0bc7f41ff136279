"""Errors the herder raises to the REST layer; each carries the HTTP status Kafka Connect uses.

Part of the Herder contract, with the plugin API's ``NotFoundException`` (404) and
``AlreadyExistsException`` (409), re-exported here so that the REST layer needs nothing else.
The REST answer to any of them is Kafka's ``{"error_code": status, "message": message}``: whatever a
caller must read goes into the message.
"""

from __future__ import annotations

from typing import Any

from connect.api.errors import AlreadyExistsException, ConnectException, NotFoundException

__all__ = [
    "AlreadyExistsError",
    "AlreadyExistsException",
    "BadRequestError",
    "HerderError",
    "NotFoundError",
    "NotFoundException",
    "NotLeaderError",
    "RebalanceInProgressError",
]


class HerderError(ConnectException):
    """Base: ``status`` is the HTTP status, ``message`` the text sent with it.

    ``details`` (keyword arguments, e.g. the errors per field of an invalid config) are for in-process
    callers and logs only; they are never sent (Kafka's error body has no room for them)."""

    status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(HerderError):
    status = 404


class AlreadyExistsError(HerderError):
    status = 409


class RebalanceInProgressError(HerderError):
    """Distributed mode: the cluster is rebalancing; the request should be retried (409 as in Kafka)."""

    status = 409


class BadRequestError(HerderError):
    status = 400


class NotLeaderError(HerderError):
    """Distributed mode: the write must go to ``leader_url``; the REST layer forwards it."""

    status = 409

    def __init__(self, message: str, leader_url: str | None) -> None:
        super().__init__(message)
        self.leader_url = leader_url
