"""Failures before any response, described by phase; a run step with nothing in flight."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from yarl import URL

from backendai_aio import (
    ERR_REQUEST,
    ERR_RESPONSE,
    BackendError,
    ConnectTimeoutError,
    ReadTimeoutError,
    RequestError,
    Timeout,
)
from backendai_aio._failures import (
    MAYBE_APPLIED,
    NOTHING_SENT,
    deadline_passed,
    nothing_sent,
    transport_error,
)
from backendai_aio._run_support import InflightStep

TARGET = URL("http://127.0.0.1:8081/folders")


def test_an_unusable_url_is_an_invalid_url_and_nothing_was_sent() -> None:
    exc = aiohttp.InvalidURL("ftp://proxy/upload")
    assert nothing_sent(exc)
    error = transport_error(exc, "PUT", TARGET, Timeout())
    assert isinstance(error, RequestError)
    assert str(error) == (
        f"PUT {TARGET}: invalid URL: InvalidURL: ftp://proxy/upload; {NOTHING_SENT}"
    )
    assert not error.maybe_applied
    assert (error.method, error.url) == ("PUT", str(TARGET))


async def test_settling_with_no_step_in_flight_returns_at_once() -> None:
    step = InflightStep()
    async with asyncio.timeout(1):
        await step.settle()
    assert await step.run(asyncio.sleep(0, "next")) == "next"


LIMITS = Timeout(connect=2, read=3, total=5)


@pytest.mark.parametrize(
    ("exc", "out_of_time", "cls", "phase", "maybe_applied"),
    [
        # Connecting timed out: nothing was answered, nothing was sent.
        (
            aiohttp.ConnectionTimeoutError(),
            False,
            ConnectTimeoutError,
            f"timed out connecting (connect limit 2 s); {NOTHING_SENT}",
            False,
        ),
        (
            aiohttp.ConnectionTimeoutError(),
            True,
            ConnectTimeoutError,
            f"the call's deadline (total limit 5 s) passed while connecting; {NOTHING_SENT}",
            False,
        ),
        # Reading timed out: the request went out, the server may have acted on it.
        (
            aiohttp.SocketTimeoutError(),
            False,
            ReadTimeoutError,
            f"timed out waiting for the response (read limit 3 s); {MAYBE_APPLIED}",
            True,
        ),
        (
            aiohttp.SocketTimeoutError(),
            True,
            ReadTimeoutError,
            f"timed out: the call's deadline (total limit 5 s) passed before the response; "
            f"{MAYBE_APPLIED}",
            True,
        ),
        (
            TimeoutError(),
            False,
            ReadTimeoutError,
            f"timed out: the call's deadline (total limit 5 s) passed before the response; "
            f"{MAYBE_APPLIED}",
            True,
        ),
        # Not a timeout: a plain RequestError, never one of the timeout classes.
        (
            aiohttp.ServerDisconnectedError(),
            False,
            RequestError,
            "the connection failed before a response: ServerDisconnectedError: Server "
            f"disconnected; {MAYBE_APPLIED}",
            True,
        ),
    ],
)
def test_each_timeout_gets_its_class_and_keeps_its_message(
    exc: BaseException,
    out_of_time: bool,
    cls: type[BackendError],
    phase: str,
    maybe_applied: bool,
) -> None:
    error = transport_error(exc, "GET", TARGET, LIMITS, out_of_time=out_of_time)
    assert type(error) is cls
    assert error.message == f"GET {TARGET}: {phase}"
    assert error.maybe_applied is maybe_applied
    assert (error.method, error.url) == ("GET", str(TARGET))
    # A connect timeout answered nothing (ERR_REQUEST); a read timeout is a lost answer.
    assert error.type == (ERR_REQUEST if isinstance(error, RequestError) else ERR_RESPONSE)


@pytest.mark.parametrize(
    ("attempts", "unanswered", "cls", "tail", "maybe_applied"),
    [
        (0, False, ConnectTimeoutError, f"passed before the request; {NOTHING_SENT}", False),
        (2, False, ConnectTimeoutError, "passed before another attempt", False),
        (1, True, ReadTimeoutError, f"passed; {MAYBE_APPLIED}", True),
    ],
)
def test_a_passed_deadline_is_a_connect_or_read_timeout(
    attempts: int, unanswered: bool, cls: type[BackendError], tail: str, maybe_applied: bool
) -> None:
    error = deadline_passed("POST", TARGET, LIMITS, attempts, unanswered)
    assert type(error) is cls
    assert error.message == (
        f"POST {TARGET}: timed out: the call's deadline (total limit 5 s) {tail}"
    )
    assert error.maybe_applied is maybe_applied
    assert (error.method, error.url) == ("POST", str(TARGET))
