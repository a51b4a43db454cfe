"""Retry policy: which failures to retry, and how long to wait (pure, no I/O)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = ["IDEMPOTENT_METHODS", "NO_RETRIES", "RetryPolicy", "parse_retry_after"]

#: Methods whose repetition has no further effect (RFC 9110), so they may be retried.
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    Only idempotent calls are retried, and only after a connection failure before any
    response or on the statuses in *retry_statuses*. The wait before retry *n* (1-based) is
    ``min(backoff_max, backoff_base * 2 ** (n - 1))`` scaled by a random factor in
    ``[1 - jitter, 1]``, so that many clients do not retry in step; a ``Retry-After`` header
    on 429 or 503 takes precedence, capped at *retry_after_max*.
    """

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    jitter: float = 0.5
    retry_after_max: float = 60.0
    retry_statuses: frozenset[int] = field(default=frozenset({429, 502, 503, 504}))

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number *retry* (1 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        backoff = min(self.backoff_max, self.backoff_base * 2.0 ** (retry - 1))
        return backoff * (1 - self.jitter * random.random())  # jitter, not cryptography


#: A policy that never retries.
NO_RETRIES: Final = RetryPolicy(max_retries=0)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse ``Retry-After`` (delay seconds or an HTTP date) into seconds from *now*."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
