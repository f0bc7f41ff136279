"""What a task may report as its progress (:meth:`connect.api.task.TaskContext.report_progress`).

A progress value is a small JSON object: string keys; values that are strings, finite numbers,
booleans, None, or lists and objects of those; at most :data:`MAX_PROGRESS_BYTES` as compact JSON.
:func:`check_progress` enforces this and returns an independent copy, so the runtime (and the
``connect.testing`` fakes) hold a value the task can no longer mutate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["MAX_PROGRESS_BYTES", "check_progress"]

MAX_PROGRESS_BYTES: Final = 4096


def check_progress(progress: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-safe deep copy of ``progress`` (None stays None).

    Raises :class:`TypeError` if ``progress`` is not a mapping with string keys and :class:`ValueError`
    if it is not JSON-serialisable (including NaN and infinities) or larger than
    :data:`MAX_PROGRESS_BYTES` — a bug in the reporting task, reported where it happens.
    """
    if progress is None:
        return None
    if not isinstance(progress, Mapping):
        raise TypeError(f"progress must be a mapping or None, not {type(progress).__name__}")
    bad = [k for k in progress if not isinstance(k, str)]
    if bad:
        raise TypeError(f"progress keys must be strings; got {bad[:3]!r}")
    try:
        text = json.dumps(progress, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"progress is not JSON-serialisable: {exc}") from None
    if len(text) > MAX_PROGRESS_BYTES:
        raise ValueError(
            f"progress is {len(text)} bytes as JSON; at most {MAX_PROGRESS_BYTES} are allowed "
            "(report counts and rates, not data)"
        )
    copy: dict[str, Any] = json.loads(text)
    return copy
