"""The Elasticsearch side: the official client built from the settings, the connection check used by
``validate``, and :func:`send_bulk` — one batch of actions with per-item outcomes and retries.

Per-item outcomes of a bulk response:

* 2xx, and 404 for a delete (already gone): done;
* 409 for a versioned write (``external_gte``): the index holds a newer version — stale, skipped;
* 429, 5xx, and 409 of an upsert (concurrent updates, after ``retry_on_conflict``): retried;
* any other 4xx: malformed (mapping conflicts, unparsable values, illegal field names): reported back.

A whole request failing with a connection error, a timeout, 429 or 5xx is retried; 4xx (401, 403,
413, …) fails the task. Retries wait ``retry.backoff.ms * 2^attempt`` at most, jittered ("equal
jitter": half fixed, half random), capped at 1 minute, ``max.retries`` times; then the batch fails.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
    TransportError,
)

from connect.api import ConnectException
from connectors.elasticsearch.config import EsSettings
from connectors.elasticsearch.convert import Action

__all__ = ["BulkResult", "MalformedDocument", "backoff_ms", "check_connection", "make_client", "send_bulk"]

log = logging.getLogger("connectors.elasticsearch")
_MAX_BACKOFF_MS = 60_000


class MalformedDocument(ConnectException):
    """Elasticsearch rejected a document: the message is the server's status, error type and reason
    (and lands in the dead-letter queue's ``__connect.errors.exception.message`` header)."""


def make_client(s: EsSettings, timeout_ms: int | None = None) -> Elasticsearch:
    kwargs: dict[str, Any] = {
        "request_timeout": (timeout_ms if timeout_ms is not None else s.read_timeout_ms) / 1000 or None,
        "max_retries": 0,  # retries are ours (per item, with backoff)
        "retry_on_timeout": False,
        "http_compress": s.compression,
        "connections_per_node": max(2, s.max_in_flight + 1),
    }
    if s.username and s.password:
        kwargs["basic_auth"] = (s.username, s.password)
    if s.api_key:
        kwargs["api_key"] = s.api_key
    if s.ssl:
        kwargs["verify_certs"] = True
        if s.ca_certs:
            kwargs["ca_certs"] = s.ca_certs
        if s.client_cert:
            kwargs["client_cert"] = s.client_cert
        if s.client_key:
            kwargs["client_key"] = s.client_key
        if not s.verify_hostname:
            kwargs["ssl_assert_hostname"] = False
    return Elasticsearch(list(s.urls), **kwargs)


def check_connection(s: EsSettings) -> str | None:
    """None if the cluster answers with these credentials, else why not (one line)."""
    try:
        client = make_client(s, timeout_ms=max(1000, min(s.read_timeout_ms, 5000)))
    except (ValueError, TypeError, OSError) as exc:
        return f"cannot configure the client: {exc}"
    try:
        info = client.info()
        version = str(info.get("version", {}).get("number", "?"))
        log.debug("connected to Elasticsearch %s at %s", version, ", ".join(s.urls))
        return None
    except AuthenticationException:
        return (
            "Elasticsearch rejected the credentials (401): check connection.username/password or the API key"
        )
    except AuthorizationException as exc:
        return f"the user may not read the cluster info (403): {exc.message}"
    except ApiError as exc:
        return f"Elasticsearch answered {exc.status_code}: {exc.message}"
    except TransportError as exc:
        return f"cannot reach Elasticsearch at {', '.join(s.urls)}: {exc.message}"
    except Exception as exc:  # the client raises a few things of its own (e.g. unsupported product)
        return f"cannot use Elasticsearch at {', '.join(s.urls)}: {exc}"
    finally:
        client.close()


def backoff_ms(base_ms: int, attempt: int) -> float:
    """The wait before retry ``attempt`` (0-based): up to base * 2^attempt, jittered, at most 1 min."""
    cap = min(_MAX_BACKOFF_MS, base_ms * (2 ** min(attempt, 30)))
    return float(cap / 2 + random.uniform(0, cap / 2))


@dataclass
class BulkResult:
    malformed: list[tuple[Action, str]] = field(default_factory=list)
    stale: int = 0
    written: int = 0
    retries: int = 0


def _is_retriable_item(status: int, action: Action) -> bool:
    return status == 429 or status >= 500 or (status == 409 and action.op == "update")


def send_bulk(
    client: Elasticsearch, actions: list[Action], s: EsSettings, stopping: threading.Event
) -> BulkResult:
    """Send ``actions`` until each one is done, stale or malformed; raises ConnectException when the
    retries are exhausted, the whole request is rejected, or the task is stopping."""
    result = BulkResult()
    todo = actions
    attempt = 0
    while True:
        if stopping.is_set():
            raise ConnectException("task stopping: bulk request abandoned (its records are not committed)")
        retry: list[Action] = []
        reason = ""
        try:
            resp = client.bulk(body=b"".join(a.body for a in todo))  # type: ignore[arg-type]
        except ApiError as exc:
            status = exc.status_code
            if status == 429 or status >= 500:
                retry, reason = todo, f"bulk request failed with {status}: {exc.message}"
            else:
                raise ConnectException(f"Elasticsearch rejected the bulk request ({status}): {exc}") from exc
        except TransportError as exc:  # connection refused/reset, timeouts
            retry, reason = todo, f"bulk request failed: {exc.message}"
        else:
            body = resp.body
            if not body.get("errors"):
                result.written += len(todo)
            else:
                for action, item in zip(todo, body["items"], strict=True):
                    (outcome,) = item.values()
                    status = int(outcome.get("status", 500))
                    if status < 300 or (status == 404 and action.op == "delete"):
                        result.written += 1
                    elif status == 409 and action.op != "update":
                        result.stale += 1
                    elif _is_retriable_item(status, action):
                        retry.append(action)
                        reason = f"{status} {_error_text(outcome)}"
                    else:
                        result.malformed.append((action, f"{status} {_error_text(outcome)}"))
        if not retry:
            return result
        if attempt >= s.max_retries:
            raise ConnectException(
                f"{len(retry)} of {len(actions)} documents still failing after {s.max_retries} retries: "
                f"{reason}"
            )
        wait = backoff_ms(s.retry_backoff_ms, attempt)
        log.warning(
            "Retrying %d documents in %.0f ms (attempt %d of %d): %s",
            len(retry),
            wait,
            attempt + 1,
            s.max_retries,
            reason,
        )
        attempt += 1
        result.retries += 1
        todo = retry
        if stopping.wait(wait / 1000):
            raise ConnectException("task stopping: bulk request abandoned (its records are not committed)")


def _error_text(outcome: dict[str, Any]) -> str:
    error = outcome.get("error")
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            text += f" (caused by {cause.get('type', '')}: {cause.get('reason', '')})"
        return text
    return str(error)
