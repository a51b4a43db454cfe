"""The request loop's reading of failed attempts and of ``GET /``, as tables (no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from backendai_aio import BadRequestError, ResponseError, UnsupportedServerError
from backendai_aio._apiversion import parse_api_version
from backendai_aio._errors import error_from_response
from backendai_aio._responses import (
    failure_outcome,
    read_server_version,
    replayable,
    transport_outcome,
)

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
SKEW = (
    b'{"type": "https://api.backend.ai/probs/invalid-auth-params", '
    b'"title": "Missing or invalid authorization parameters.", "msg": "Date/time sync error"}'
)


def _error(status: int, body: bytes = b"") -> Any:
    return error_from_response(status, None, "application/problem+json", body)


@pytest.mark.parametrize(
    ("status", "headers", "body", "may_correct", "expected"),
    [
        # The server's clock is 10 minutes ahead of ours: sign 600 s later.
        (400, {"Date": "Wed, 02 Dec 2026 12:10:00 GMT"}, SKEW, True, (None, 600.0)),
        # The same refusal on a call that may not be re-signed (a stream body).
        (400, {"Date": "Wed, 02 Dec 2026 12:10:00 GMT"}, SKEW, False, (None, None)),
        # A skew refusal without a usable Date cannot be measured.
        (400, {"Date": "yesterday"}, SKEW, True, (None, None)),
        # Another 400 is no clock problem.
        (400, {"Date": "Wed, 02 Dec 2026 12:10:00 GMT"}, b"{}", True, (None, None)),
        (429, {"Retry-After": "7"}, b"", True, (7.0, None)),
        (503, {"Retry-After": "2"}, b"", True, (2.0, None)),
        # Retry-After is honoured on 429 and 503 only.
        (500, {"Retry-After": "2"}, b"", True, (None, None)),
        (429, {}, b"", True, (None, None)),
    ],
)
def test_failure_outcome(
    status: int,
    headers: dict[str, str],
    body: bytes,
    may_correct: bool,
    expected: tuple[float | None, float | None],
) -> None:
    outcome = failure_outcome(status, headers, _error(status, body), 0.0, may_correct, now=NOW)
    assert outcome.status == status
    assert (outcome.retry_after, outcome.clock_offset) == expected


def test_a_skew_error_is_what_the_outcome_reads() -> None:
    assert isinstance(_error(400, SKEW), BadRequestError)


@pytest.mark.parametrize(
    ("exc", "nothing_sent", "retriable"),
    [
        (aiohttp.ConnectionTimeoutError(), True, True),
        (aiohttp.ServerDisconnectedError(), False, True),
        (aiohttp.SocketTimeoutError(), False, False),
        (TimeoutError(), False, False),
    ],
)
def test_transport_outcome(exc: BaseException, nothing_sent: bool, retriable: bool) -> None:
    outcome = transport_outcome(exc)
    assert outcome.status is None
    assert (outcome.nothing_sent, outcome.retriable) == (nothing_sent, retriable)


@pytest.mark.parametrize(
    ("data", "expected"),
    [(None, True), (b"x", True), (bytearray(b"x"), True), ("x", True), (iter([b"x"]), False)],
)
def test_replayable(data: object, expected: bool) -> None:
    assert replayable(data) is expected


@pytest.mark.parametrize(
    ("server", "spoken"),
    [("v9.20250722", "v9.20250722"), ("v7.20230615", "v7.20230615"), ("v99.20990101", None)],
)
def test_read_server_version(server: str, spoken: str | None) -> None:
    chosen, version = read_server_version({"version": server, "manager": "x"}, "http://m/")
    if spoken is not None:
        assert chosen == spoken
    assert version == parse_api_version(chosen)


@pytest.mark.parametrize("body", [None, [], {}, {"version": 9}, "v9.20250722"])
def test_an_answer_without_a_version_is_a_response_error(body: object) -> None:
    with pytest.raises(ResponseError, match="carries no API version"):
        read_server_version(body, "http://m/")


def test_a_server_too_old_is_unsupported() -> None:
    with pytest.raises(UnsupportedServerError, match="unsupported server at http://m/"):
        read_server_version({"version": "v4.20190615"}, "http://m/")
