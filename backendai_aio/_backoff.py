"""Retry and reconnection pacing (pure): the jittered, capped backoff and a per-window budget.

Jitter spreads the reconnections of many clients that lost the same server at the same
moment; the budget bounds reconnections over time even when every connection succeeds
briefly (a server that sends one event and hangs up would otherwise be called again and
again at full speed).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

__all__ = ["ReconnectBudget", "jittered_backoff"]

# 2**62 is far past any cap, and small enough to stay a finite float.
_MAX_EXPONENT: Final = 62


def jittered_backoff(
    attempt: int, *, base: float, cap: float, unit: float, jitter: float = 0.5
) -> float:
    """The delay in seconds before retry number *attempt* (1 for the first).

    The ceiling doubles from *base* with each attempt up to *cap*; the delay is the ceiling
    less its *jitter* fraction, plus a random part of that fraction (*unit*, in ``[0, 1)``,
    is that random draw, passed in so that the function stays pure). The default jitter
    waits half the ceiling plus a random part of the other half; a jitter of 0 waits the
    ceiling exactly.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if not (base >= 0 and cap >= 0 and 0 <= unit <= 1 and 0 <= jitter <= 1):
        raise ValueError("base and cap must be non-negative, unit and jitter within [0, 1]")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
    spread = ceiling * jitter
    return ceiling - spread + spread * unit


@dataclass(slots=True)
class ReconnectBudget:
    """At most *limit* reconnections within any *window* seconds (times passed in)."""

    limit: int
    window: float
    _times: deque[float] = field(default_factory=deque)

    def spend(self, now: float) -> bool:
        """Take one reconnection at monotonic time *now*; ``False`` when none is left."""
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True

    @property
    def recent(self) -> int:
        """How many reconnections the current window holds (as of the last `spend`)."""
        return len(self._times)
