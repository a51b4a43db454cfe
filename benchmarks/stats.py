"""Medians with their spread, and the rotation of the order in which contenders run."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def summary(values: Sequence[float]) -> dict[str, float] | None:
    """Median, min, max and count of *values* (``None`` for none)."""
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def rotated(items: Sequence[str], rep: int) -> list[str]:
    """*items* rotated by *rep* places, so that no contender always runs first."""
    shift = rep % len(items) if items else 0
    return list(items[shift:]) + list(items[:shift])
