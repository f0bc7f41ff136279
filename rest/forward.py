"""Forwarding of requests to the leader (distributed mode), as Kafka Connect's REST layer does.

When the herder raises :class:`~connect.runtime.exceptions.NotLeaderError`, the app sends the same
request to ``leader_url`` through a :class:`Forwarder` and answers with the leader's status and body.
Loops are prevented with Kafka's ``forward`` query parameter: the first worker forwards with
``forward=true``, a worker receiving ``forward=true`` may forward once more with ``forward=false``, and a
worker receiving ``forward=false`` answers 409 instead of forwarding again.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

__all__ = ["ForwardError", "Forwarder", "HttpForwarder"]


class ForwardError(Exception):
    """The leader could not be reached or did not answer with JSON."""


class Forwarder(Protocol):
    def __call__(
        self, leader_url: str, method: str, path: str, query: list[tuple[str, str]], body: Any
    ) -> tuple[int, Any]:
        """Send ``method path?query`` with JSON ``body`` (None: no body) to ``leader_url`` (e.g.
        ``http://host:8083``); return the leader's HTTP status and decoded JSON body (None when it sent
        none). Raise :class:`ForwardError` when the leader cannot be reached. Called on a worker thread;
        may block."""
        ...


class HttpForwarder:
    """A :class:`Forwarder` over plain HTTP(S) with the standard library (no extra dependency)."""

    def __init__(self, timeout: float = 90.0) -> None:
        # Kafka Connect waits up to 90 s for a forwarded request (ConnectorsResource.REQUEST_TIMEOUT_MS).
        self.timeout = timeout

    def __call__(
        self, leader_url: str, method: str, path: str, query: list[tuple[str, str]], body: Any
    ) -> tuple[int, Any]:
        url = leader_url.rstrip("/") + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as e:
            with e:
                return e.code, _decode(e.read())
        except (OSError, ValueError) as e:
            raise ForwardError(f"{e.__class__.__name__}: {e}") from e


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as e:
        raise ForwardError("the leader's response is not JSON") from e
