"""Skip-or-fail for tests whose external server is unavailable.

A missing server is a reason to skip on a laptop, but in CI a skip would silently stop testing
something, so CI sets ``HEADRACE_REQUIRE_SERVERS=1`` and the same call fails the test instead.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_ENV = "HEADRACE_REQUIRE_SERVERS"


def servers_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes"}


def require_or_skip(reason: str) -> NoReturn:
    """Skip the current test with ``reason``, or fail it when ``HEADRACE_REQUIRE_SERVERS=1``."""
    if servers_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 turns this skip into a failure)", pytrace=False)
    pytest.skip(reason)
