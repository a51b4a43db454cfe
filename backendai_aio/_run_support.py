"""What the run loop (`Sessions.run`) decides, and its bounded clean-up (no client state)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from ._errors import BadRequestError, InvalidArgumentError, RunInProgressError

__all__ = [
    "DEFAULT_MAX_STEPS",
    "InflightStep",
    "STOP_LIMIT",
    "check_run_bounds",
    "in_progress_error",
    "stop_bounded",
]

_log = logging.getLogger("backendai_aio")

_T = TypeVar("_T")

#: The most ``execute`` steps one run takes unless told otherwise: a bound for a server that
#: answers ``continued`` for ever (a real step waits for output, so this is many hours).
DEFAULT_MAX_STEPS: Final = 100_000
#: How long interrupting a cancelled or abandoned run may take (seconds).
STOP_LIMIT: Final = 5.0

# Clean-ups still going after their caller was cancelled again: kept referenced until done.
_background: set[asyncio.Task[Any]] = set()


def check_run_bounds(deadline: float | None, max_steps: int) -> None:
    """Refuse a *deadline* that is not a positive number of seconds, or a *max_steps* < 1."""
    if deadline is not None and (
        isinstance(deadline, bool)
        or not isinstance(deadline, int | float)
        or not math.isfinite(deadline)
        or deadline <= 0
    ):
        raise InvalidArgumentError(
            f"deadline must be a positive number of seconds, not {deadline!r}"
        )
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise InvalidArgumentError(f"max_steps must be a positive integer, not {max_steps!r}")


def in_progress_error(error: BadRequestError, session_id: str) -> RunInProgressError | None:
    """The `RunInProgressError` that *error* means, if it says a run is still going."""
    text = " ".join(str(part) for part in (error.message, error.title, error.msg) if part)
    if "another run" not in text.lower():
        return None
    return RunInProgressError(
        f"{error.message}; the session {session_id!r} is still running earlier code (an "
        "interrupted or cancelled call, or another caller): wait for it to end, or stop it "
        f"with client.interrupt({session_id!r})",
        status=error.status,
        problem_type=error.problem_type,
        title=error.title,
        msg=error.msg,
        data=error.data,
        body=error.body,
        method=error.method,
        url=error.url,
    )


def _forget(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        _log.info("stopping an abandoned run failed: %s", task.exception())


async def stop_bounded(stop: Callable[[], Awaitable[None]], limit: float = STOP_LIMIT) -> None:
    """Run *stop* to its end, or for *limit* seconds, even if the caller is cancelled.

    Failures are logged, not raised: the clean-up is best effort, and the caller's own
    outcome (its cancellation, its error) is what must reach the user. A caller cancelled
    again stops waiting; the clean-up then goes on alone, still bounded.
    """

    async def bounded() -> None:
        await asyncio.wait_for(stop(), limit)

    task = asyncio.ensure_future(bounded())
    _background.add(task)
    task.add_done_callback(_forget)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        raise
    except Exception:
        # Already logged when the task ended (_forget).
        return


class InflightStep:
    """The steps of one run, each run as a task of its own.

    Cancelling the caller then does not cut a request the server may already be acting on:
    the clean-up waits for its answer (`settle`) and only then interrupts, so that a
    run that started late is stopped too.
    """

    def __init__(self) -> None:
        self._task: asyncio.Future[Any] | None = None

    async def run(self, step: Awaitable[_T]) -> _T:
        """Await *step*; a cancellation reaches the caller, not the step."""
        task = asyncio.ensure_future(step)
        self._task = task
        return await asyncio.shield(task)

    async def settle(self) -> None:
        """Wait for the step in flight, if any, to end; its outcome does not matter."""
        task = self._task
        if task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
