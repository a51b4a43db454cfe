"""The run loop's pure decisions: its bounds, and which 400 means a busy session."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from backendai_aio import BadRequestError, InvalidArgumentError, RunInProgressError
from backendai_aio._run_support import (
    InflightStep,
    check_run_bounds,
    in_progress_error,
    stop_bounded,
)


@pytest.mark.parametrize(
    ("deadline", "max_steps"), [(None, 1), (0.001, 1), (3600, 100_000), (1e9, 5)]
)
def test_accepted_bounds(deadline: Any, max_steps: Any) -> None:
    check_run_bounds(deadline, max_steps)


@pytest.mark.parametrize(
    ("deadline", "max_steps", "named"),
    [
        (0, 1, "deadline"),
        (-1, 1, "deadline"),
        (float("nan"), 1, "deadline"),
        (float("inf"), 1, "deadline"),
        (True, 1, "deadline"),
        ("10", 1, "deadline"),
        (None, 0, "max_steps"),
        (None, 1.5, "max_steps"),
        (None, False, "max_steps"),
    ],
)
def test_refused_bounds(deadline: Any, max_steps: Any, named: str) -> None:
    with pytest.raises(InvalidArgumentError, match=named):
        check_run_bounds(deadline, max_steps)


@pytest.mark.parametrize(
    ("message", "title", "msg", "busy"),
    [
        ("400 Bad Request: Bad request.", "Bad request.", "Another run is still going.", True),
        ("400: another run is in progress", None, None, True),
        ("400: Invalid API parameters.", "Invalid API parameters.", "runId is missing!", False),
        ("400 Bad Request", None, None, False),
    ],
)
def test_which_400_means_a_busy_session(
    message: str, title: str | None, msg: str | None, busy: bool
) -> None:
    error = BadRequestError(message, status=400, title=title, msg=msg, url="http://h/session/s")
    mapped = in_progress_error(error, "s")
    assert (mapped is not None) == busy
    if mapped is not None:
        assert isinstance(mapped, RunInProgressError)
        assert isinstance(mapped, BadRequestError)
        assert mapped.status == 400
        assert mapped.url == "http://h/session/s"
        assert "client.interrupt('s')" in mapped.message


async def test_a_clean_up_survives_a_second_cancellation_and_stays_bounded() -> None:
    finished = asyncio.Event()

    async def slow_stop() -> None:
        await asyncio.sleep(0.2)
        finished.set()

    task = asyncio.create_task(stop_bounded(slow_stop, limit=2))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(2):
        await finished.wait()  # it went on alone

    async def endless_stop() -> None:
        await asyncio.sleep(60)

    async with asyncio.timeout(2):
        await stop_bounded(endless_stop, limit=0.1)  # bounded, and its timeout not raised


async def test_a_step_is_not_cut_by_its_callers_cancellation() -> None:
    answered = asyncio.Event()
    step = InflightStep()

    async def request() -> str:
        await asyncio.sleep(0.2)
        answered.set()
        return "answer"

    caller = asyncio.create_task(step.run(request()))
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert not answered.is_set()
    async with asyncio.timeout(2):
        await step.settle()
    assert answered.is_set()
