"""Retry policy: which failures to retry, and how long to wait (pure, no I/O)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from ._backoff import jittered_backoff
from ._errors import InvalidArgumentError
from ._timeouts import check_seconds

__all__ = ["IDEMPOTENT_METHODS", "NO_RETRIES", "RetryPolicy", "parse_retry_after"]

#: Methods whose repetition has no further effect (RFC 9110), so they may be retried.
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    Only idempotent calls are retried, and only after a connection failure before any
    response or on the statuses in *retry_statuses*. The wait before retry *n* (1-based) is
    `min(backoff_max, backoff_base * 2 ** (n - 1))` scaled by a random factor in
    `[1 - jitter, 1]` (the jittered, capped backoff that event-stream reconnections use
    too), so that many clients do not retry in step; a `Retry-After` header on 429 or 503
    takes precedence, capped at *retry_after_max*.
    """

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    jitter: float = 0.5
    retry_after_max: float = 60.0
    retry_statuses: frozenset[int] = field(default=frozenset({429, 502, 503, 504}))

    def __post_init__(self) -> None:
        # Refused here, with the field named, rather than crashing (or never waiting) later.
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise InvalidArgumentError(f"max_retries must be an int, not {self.max_retries!r}")
        if self.max_retries < 0:
            raise InvalidArgumentError("max_retries must be 0 or more")
        check_seconds("RetryPolicy.backoff_base", self.backoff_base, optional=False)
        check_seconds("RetryPolicy.backoff_max", self.backoff_max, optional=False)
        check_seconds("RetryPolicy.retry_after_max", self.retry_after_max, optional=False)
        if (
            isinstance(self.jitter, bool)
            or not isinstance(self.jitter, int | float)
            or not math.isfinite(self.jitter)
            or not 0 <= self.jitter <= 1
        ):
            raise InvalidArgumentError(f"jitter is a fraction between 0 and 1, not {self.jitter!r}")
        statuses = self.retry_statuses
        if not isinstance(statuses, frozenset | set | tuple | list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 400 <= s <= 599 for s in statuses
        ):
            raise InvalidArgumentError(
                f"retry_statuses must be failure statuses (400-599), not {statuses!r}"
            )

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number *retry* (1 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        return jittered_backoff(
            retry,
            base=self.backoff_base,
            cap=self.backoff_max,
            unit=random.random(),  # jitter, not cryptography
            jitter=self.jitter,
        )


#: A policy that never retries.
NO_RETRIES: Final = RetryPolicy(max_retries=0)


# A wait beyond any deadline or cap, standing for a Retry-After too large to represent.
_FAR: Final = 1e9


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse ``Retry-After`` (delay seconds or an HTTP date) into seconds from *now*."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # A 400-digit value must not overflow: anything past a day is "too long" anyway.
        return float(value) if len(value) <= 9 else _FAR
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # Aware datetimes a few thousand years apart subtract without overflow.
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
