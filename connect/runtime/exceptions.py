"""Errors the herder raises to the REST layer; each carries the HTTP status Kafka Connect uses."""

from __future__ import annotations

from typing import Any

from connect.api.errors import ConnectException


class HerderError(ConnectException):
    """Base: ``status`` is the HTTP status; ``body_extra`` is merged into the JSON error body."""

    status = 500

    def __init__(self, message: str, **body_extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.body_extra = body_extra


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
