"""The pure decisions of resumable transfers, table by table."""

from __future__ import annotations

import pytest

from backendai_aio import BackendError, BadRequestError, InternalServerError, RequestError
from backendai_aio._transfer.policy import (
    BodyPlan,
    ProtocolViolation,
    RangeAction,
    Stalls,
    after_416,
    backoff,
    next_upload_offset,
    range_plan,
    token_refused,
)
from backendai_aio._transfer.protocol import ContentRange, parse_content_range, parse_upload_offset


@pytest.mark.parametrize(
    ("max_attempts", "events", "outcome"),
    [
        # (position reached before the failure, ...): whether each failure is tried again.
        (1, [0], [False]),
        (1, [500], [False]),
        (3, [0, 0, 0], [True, True, False]),
        # Progress before every failure: never given up.
        (2, [100, 200, 300, 400, 500], [True] * 5),
        # A server that loses everything and takes the same bytes again: no progress.
        (3, [1000, 1000, 1000], [True, True, False]),
        # Progress, then a stall, then progress again: the count starts anew.
        (3, [100, 100, 200, 200, 200], [True, True, True, True, False]),
    ],
)
def test_stalls(max_attempts: int, events: list[int], outcome: list[bool]) -> None:
    stalls = Stalls(max_attempts)
    decisions = []
    for position in events:
        stalls.advanced(position)
        decisions.append(stalls.failed())
    assert decisions == outcome


def test_stalls_keep_the_furthest_position() -> None:
    stalls = Stalls(5)
    stalls.advanced(1000)
    stalls.advanced(0)  # the server went back: no progress is undone or added
    assert stalls.best == 1000


@pytest.mark.parametrize(
    ("offset", "length", "total", "answered", "expected"),
    [
        (0, 10, 10, None, 10),
        (0, 10, 10, 10, 10),
        (0, 10, 20, 4, 4),  # took part of the body
        (0, 0, 0, None, 0),  # the empty file's one PATCH
        (5, 10, 20, 4, None),  # backwards
        (5, 10, 20, 21, None),  # past the total
        (5, 10, 20, 5, None),  # no progress although bytes were sent
    ],
)
def test_next_upload_offset(
    offset: int, length: int, total: int, answered: int | None, expected: int | None
) -> None:
    assert next_upload_offset(offset, length, total, answered) == expected


@pytest.mark.parametrize(
    ("status", "content_range", "content_length", "written", "expected"),
    [
        (200, None, 100, 0, BodyPlan(RangeAction.APPEND, 0, 100, 100)),
        (200, None, None, 0, BodyPlan(RangeAction.APPEND, 0, None, None)),
        # The range was ignored or the file changed: start again.
        (200, None, 100, 40, BodyPlan(RangeAction.RESTART, 0, 100, 100)),
        (206, "bytes 40-99/100", 60, 40, BodyPlan(RangeAction.APPEND, 40, 60, 100)),
        (206, "bytes 40-99/100", None, 40, BodyPlan(RangeAction.APPEND, 40, 60, 100)),
        (206, "bytes 40-59/*", None, 40, BodyPlan(RangeAction.APPEND, 40, 20, None)),
    ],
)
def test_range_plan(
    status: int,
    content_range: str | None,
    content_length: int | None,
    written: int,
    expected: BodyPlan,
) -> None:
    span = parse_content_range(content_range)
    assert range_plan(status, span, content_length, written) == expected


@pytest.mark.parametrize(
    ("content_range", "content_length", "written"),
    [
        (None, 60, 40),  # a 206 without a range
        (ContentRange(0, 99, 100), 100, 40),  # not the range asked for
        (ContentRange(40, 99, 100), 900, 40),  # a body longer than its range
        (ContentRange(40, 99, 100), 10, 40),  # or shorter
    ],
)
def test_range_plan_violations(
    content_range: ContentRange | None, content_length: int | None, written: int
) -> None:
    with pytest.raises(ProtocolViolation):
        range_plan(206, content_range, content_length, written)


@pytest.mark.parametrize(
    ("written", "total", "complete"),
    [(100, 100, True), (0, 0, False), (50, 100, False), (100, None, False)],
)
def test_after_416(written: int, total: int | None, complete: bool) -> None:
    assert after_416(written, total) is complete


def test_bounded_numbers() -> None:
    assert parse_upload_offset("9" * 19) == 10**19 - 1
    assert parse_upload_offset("9" * 20) is None
    assert parse_upload_offset("9" * 5000) is None
    assert parse_content_range(f"bytes 0-{'9' * 5000}/1") is None


@pytest.mark.parametrize(
    ("unit", "delays"),
    [
        # The ceiling doubles from 0.1 s up to the 2 s cap; the draw picks within its
        # upper half.
        (1.0, [0.1, 0.1, 0.2, 0.4, 2.0]),
        (0.0, [0.05, 0.05, 0.1, 0.2, 1.0]),
        (0.5, [0.075, 0.075, 0.15, 0.3, 1.5]),
    ],
)
def test_backoff_is_jittered_and_capped(unit: float, delays: list[float]) -> None:
    assert [backoff(n, unit) for n in (0, 1, 2, 3, 10)] == pytest.approx(delays)


_TOKEN_URL = "http://m/folders/f/request-upload"


@pytest.mark.parametrize(
    ("error", "retries", "again"),
    [
        (InternalServerError("x", status=500, method="POST", url=_TOKEN_URL), 0, True),
        (InternalServerError("x", status=503, method="POST", url=_TOKEN_URL), 2, True),
        # Three restarts already: the error stands.
        (InternalServerError("x", status=500, method="POST", url=_TOKEN_URL), 3, False),
        # A failure of the upload itself, or of another call: not a refused token.
        (InternalServerError("x", status=500, method="PATCH", url="http://s/upload"), 0, False),
        (InternalServerError("x", status=500, method="POST", url="http://m/folders"), 0, False),
        (InternalServerError("x", status=500, method="POST"), 0, False),
        # The manager refused the request itself, or nothing was answered.
        (BadRequestError("x", status=400, method="POST", url=_TOKEN_URL), 0, False),
        (RequestError("x", method="POST", url=_TOKEN_URL), 0, False),
    ],
)
def test_token_refused(error: BackendError, retries: int, again: bool) -> None:
    assert token_refused(error, retries) is again
