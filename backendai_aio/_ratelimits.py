"""The manager's rate-limit headers (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["RateLimit", "parse_rate_limit"]


class RateLimit(NamedTuple):
    """``X-RateLimit-Limit``, ``-Remaining`` and ``-Window`` of one response."""

    #: Calls allowed per window.
    limit: int | None
    #: Calls left in the current window.
    remaining: int | None
    #: The window's length in seconds.
    window: int | None


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value.strip())
    except ValueError:
        return None


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """Read the rate-limit headers; ``None`` when the response carries none."""
    limit = _int(headers.get("X-RateLimit-Limit"))
    remaining = _int(headers.get("X-RateLimit-Remaining"))
    window = _int(headers.get("X-RateLimit-Window"))
    if limit is None and remaining is None and window is None:
        return None
    return RateLimit(limit, remaining, window)
