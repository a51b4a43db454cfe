"""The pure transport policies: timeouts, retry timing, rate limits, clock skew."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from backendai_aio import (
    NOT_GIVEN,
    BackendError,
    InvalidArgumentError,
    RateLimit,
    RetryPolicy,
    Timeout,
)
from backendai_aio._clock import MAX_CLOCK_OFFSET, is_clock_skew_error, measure_offset
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
        (2, False, Timeout(connect=2.0, read=2.0, total=2.0)),
        (0.5, True, Timeout(connect=0.5, read=0.5)),
        (Timeout(1.0, None), False, Timeout(1.0, None)),
    ],
)
def test_resolve_timeout(arg: object, streaming: bool, expected: Timeout) -> None:
    assert resolve_timeout(arg, DEFAULT, streaming=streaming) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("arg", [0, -1, True, "5", math.nan, math.inf])
def test_resolve_timeout_refuses(arg: object) -> None:
    with pytest.raises(InvalidArgumentError, match="positive number"):
        resolve_timeout(arg, DEFAULT)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["connect", "read", "total"])
@pytest.mark.parametrize("value", [0, 0.0, -1, -0.5, math.nan, math.inf, -math.inf, True, "5"])
def test_timeout_refuses_what_is_no_limit(field: str, value: object) -> None:
    # None is the one spelling of "no limit": 0, NaN and infinity are refused, not guessed at.
    with pytest.raises(InvalidArgumentError, match=f"Timeout.{field}"):
        Timeout(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("max_retries", True),
        ("backoff_base", 0),
        ("backoff_base", -1.0),
        ("backoff_base", math.nan),
        ("backoff_max", math.inf),
        ("backoff_max", 0),
        ("retry_after_max", math.nan),
        ("retry_after_max", -3),
        ("jitter", math.nan),
        ("jitter", -0.1),
        ("jitter", 1.5),
        ("retry_statuses", frozenset({200})),
        ("retry_statuses", frozenset({"503"})),
    ],
)
def test_retry_policy_refuses_bad_values(field: str, value: object) -> None:
    with pytest.raises(InvalidArgumentError, match=field):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]


def test_retry_after_of_many_digits_does_not_overflow() -> None:
    assert parse_retry_after("9" * 400) == pytest.approx(1e9)
    assert RetryPolicy(retry_after_max=30).delay(1, parse_retry_after("9" * 400)) == 30


@pytest.mark.parametrize(
    "date",
    [
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Sat, 01 Jan 2000 00:00:00 GMT",
    ],
)
def test_measure_offset_ignores_implausible_dates(date: str) -> None:
    sent = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert measure_offset(date, sent, sent + timedelta(seconds=1)) is None


def test_measure_offset_is_bounded() -> None:
    sent = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    near = format_datetime(sent + MAX_CLOCK_OFFSET - timedelta(minutes=1), usegmt=True)
    far = format_datetime(sent + MAX_CLOCK_OFFSET + timedelta(minutes=1), usegmt=True)
    assert measure_offset(near, sent, sent) is not None
    assert measure_offset(far, sent, sent) is None


def test_timeout_to_aiohttp_has_no_total() -> None:
    converted = Timeout(3.0, 7.0).to_aiohttp()
    assert (converted.total, converted.sock_connect, converted.sock_read) == (None, 3.0, 7.0)


def test_timeout_to_aiohttp_is_cut_to_what_is_left() -> None:
    cut = Timeout(3.0, 7.0, total=10.0).to_aiohttp(remaining=5.0)
    assert (cut.total, cut.sock_connect, cut.sock_read) == (5.0, 3.0, 5.0)
    unlimited = Timeout(None, None).to_aiohttp(remaining=2.0)
    assert (unlimited.total, unlimited.sock_connect, unlimited.sock_read) == (2.0, 2.0, 2.0)


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


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"timeout": -1.0},
        {"timeout": math.nan},
        {"retry": 3},
        {"max_response_size": 0},
        {"max_response_size": -5},
        {"max_response_size": 1.5},
    ],
)
def test_the_client_refuses_bad_policies_at_construction(kwargs: dict[str, object]) -> None:
    from backendai_aio import Client, ClientConfig

    with pytest.raises(InvalidArgumentError):
        Client(ClientConfig("AK", "SK", "http://127.0.0.1:1"), **kwargs)  # type: ignore[arg-type]
