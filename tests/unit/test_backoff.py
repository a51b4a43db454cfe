"""Reconnection pacing: jittered backoff, the per-window budget, the event-stream delay."""

from __future__ import annotations

import pytest

from backendai_aio._backoff import ReconnectBudget, jittered_backoff
from backendai_aio._event_stream import reconnect_delay


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "unit", "expected"),
    [
        (1, 0.5, 10.0, 0.0, 0.25),
        (1, 0.5, 10.0, 1.0, 0.5),
        (2, 0.5, 10.0, 0.5, 0.75),
        (3, 0.5, 10.0, 0.0, 1.0),
        (5, 0.5, 10.0, 1.0, 8.0),
        (6, 0.5, 10.0, 1.0, 10.0),
        (6, 0.5, 10.0, 0.0, 5.0),
        (10_000, 0.5, 10.0, 0.5, 7.5),  # no overflow however many attempts
        (3, 0.0, 10.0, 0.7, 0.0),
    ],
)
def test_jittered_backoff(
    attempt: int, base: float, cap: float, unit: float, expected: float
) -> None:
    assert jittered_backoff(attempt, base=base, cap=cap, unit=unit) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("attempt", "jitter", "unit", "expected"),
    [
        (1, 0.0, 0.9, 1.0),  # no jitter: the ceiling exactly
        (3, 0.0, 0.1, 4.0),
        (2, 1.0, 0.0, 0.0),  # full jitter: anywhere from nothing to the ceiling
        (2, 1.0, 1.0, 2.0),
        (2, 0.25, 0.0, 1.5),  # a quarter of the ceiling is random
        (9, 0.25, 1.0, 5.0),  # capped
    ],
)
def test_jittered_backoff_with_a_jitter(
    attempt: int, jitter: float, unit: float, expected: float
) -> None:
    delay = jittered_backoff(attempt, base=1.0, cap=5.0, unit=unit, jitter=jitter)
    assert delay == pytest.approx(expected)


@pytest.mark.parametrize("jitter", [-0.1, 1.5, float("nan")])
def test_jittered_backoff_refuses_a_jitter_outside_0_1(jitter: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        jittered_backoff(1, base=1.0, cap=5.0, unit=0.5, jitter=jitter)


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "unit"),
    [(0, 0.5, 10.0, 0.5), (1, -1.0, 10.0, 0.5), (1, 0.5, 10.0, 1.5), (1, float("nan"), 1, 0)],
)
def test_jittered_backoff_refuses_nonsense(
    attempt: int, base: float, cap: float, unit: float
) -> None:
    with pytest.raises(ValueError, match=r"attempt|base"):
        jittered_backoff(attempt, base=base, cap=cap, unit=unit)


def test_budget_counts_within_the_window() -> None:
    budget = ReconnectBudget(limit=3, window=60.0)
    assert [budget.spend(t) for t in (0.0, 1.0, 2.0, 3.0, 59.9)] == [True, True, True, False, False]
    assert budget.recent == 3
    assert budget.spend(60.0)  # the first one left the window
    assert budget.recent == 3
    assert not budget.spend(60.5)
    assert budget.spend(200.0)
    assert budget.recent == 1


def test_a_zero_budget_never_reconnects() -> None:
    assert not ReconnectBudget(limit=0, window=60.0).spend(0.0)


@pytest.mark.parametrize(
    ("retry_ms", "attempt", "unit", "expected"),
    [
        (None, 1, 1.0, 0.5),  # no retry: half a second, doubling
        (None, 2, 1.0, 1.0),
        (None, 20, 1.0, 10.0),  # capped
        (0, 1, 1.0, 0.05),  # retry: 0 still waits a little
        (0, 3, 1.0, 0.2),  # and grows
        (2000, 1, 0.0, 1.0),  # the server's retry is the base, jittered down to half
        (2000, 1, 1.0, 2.0),
        (60_000, 5, 1.0, 60.0),  # the parser's cap is the ceiling
        (60_000, 1, 0.0, 30.0),
    ],
)
def test_reconnect_delay(retry_ms: int | None, attempt: int, unit: float, expected: float) -> None:
    assert reconnect_delay(retry_ms, attempt, unit) == pytest.approx(expected)
