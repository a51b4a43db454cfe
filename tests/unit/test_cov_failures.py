"""Failures before any response, described by phase; a run step with nothing in flight."""

from __future__ import annotations

import asyncio

import aiohttp
from yarl import URL

from backendai_aio import RequestError, Timeout
from backendai_aio._failures import NOTHING_SENT, nothing_sent, transport_error
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
