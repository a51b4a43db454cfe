"""The pure transport policies: timeouts, retry timing, rate limits, clock skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from backendai_aio import NOT_GIVEN, BackendError, RateLimit, RetryPolicy, Timeout
from backendai_aio._clock import is_clock_skew_error, measure_offset
from backendai_aio._ratelimits import parse_rate_limit
from backendai_aio._retries import parse_retry_after
from backendai_aio._timeouts import resolve_timeout

DEFAULT = Timeout(connect=5.0, read=20.0)


@pytest.mark.parametrize(
    ("arg", "streaming", "expected"),
    [
        (NOT_GIVEN, False, DEFAULT),
        (NOT_GIVEN, True, Timeout(connect=5.0, read=None)),
        (None, False, Timeout(connect=None, read=None)),
        (None, True, Timeout(connect=None, read=None)),
        (2, False, Timeout(connect=2.0, read=2.0)),
        (0.5, True, Timeout(connect=0.5, read=0.5)),
        (Timeout(1.0, None), False, Timeout(1.0, None)),
    ],
)
def test_resolve_timeout(arg: object, streaming: bool, expected: Timeout) -> None:
    assert resolve_timeout(arg, DEFAULT, streaming=streaming) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("arg", [0, -1, True, "5"])
def test_resolve_timeout_refuses(arg: object) -> None:
    with pytest.raises(ValueError, match="positive number"):
        resolve_timeout(arg, DEFAULT)  # type: ignore[arg-type]


def test_timeout_to_aiohttp_has_no_total() -> None:
    converted = Timeout(3.0, 7.0).to_aiohttp()
    assert (converted.total, converted.sock_connect, converted.sock_read) == (None, 3.0, 7.0)


def test_backoff_grows_is_capped_and_jittered() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=5.0, jitter=0.5)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)]:
        delays = [policy.delay(retry) for _ in range(200)]
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jitter spreads clients apart
    exact = RetryPolicy(backoff_base=1.0, jitter=0.0)
    assert [exact.delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(retry_after_max=30.0)
    assert policy.delay(1, retry_after=3.0) == 3.0
    assert policy.delay(1, retry_after=3600.0) == 30.0
    assert policy.delay(1, retry_after=-5.0) == 0.0


def test_retry_policy_validation() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=2.0)


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_parse_rate_limit() -> None:
    headers = {
        "X-RateLimit-Limit": "1000",
        "X-RateLimit-Remaining": "998",
        "X-RateLimit-Window": "900",
    }
    assert parse_rate_limit(headers) == RateLimit(1000, 998, 900)
    assert parse_rate_limit({"X-RateLimit-Remaining": "x"}) is None
    assert parse_rate_limit({}) is None
    assert parse_rate_limit({"X-RateLimit-Remaining": "0"}) == RateLimit(None, 0, None)


def test_clock_skew_detection() -> None:
    skew = BackendError(
        "m",
        status=400,
        problem_type="https://api.backend.ai/probs/invalid-auth-params",
        msg="Date/time sync error",
    )
    assert is_clock_skew_error(skew)
    other = BackendError(
        "m",
        status=400,
        problem_type="https://api.backend.ai/probs/invalid-auth-params",
        msg="Malformed authorization header",
    )
    assert not is_clock_skew_error(other)


def test_measure_offset_uses_the_midpoint() -> None:
    sent = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    received = sent + timedelta(seconds=2)
    server = format_datetime(sent + timedelta(minutes=20), usegmt=True)
    assert measure_offset(server, sent, received) == timedelta(minutes=20) - timedelta(seconds=1)
    assert measure_offset(None, sent, received) is None
    assert measure_offset("garbage", sent, received) is None
