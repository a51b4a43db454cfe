"""Many files in few requests: splitting a list into batches, and running batches bounded.

The manager takes a limited number of files per session-file request (20 per upload, 5 per
download); a longer list is split here, and at most *concurrency* batches are in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from .._errors import InvalidArgumentError

__all__ = ["check_concurrency", "in_batches", "run_bounded"]

_T = TypeVar("_T")
_R = TypeVar("_R")


def check_concurrency(concurrency: object) -> int:
    """*concurrency* as a positive whole number; `InvalidArgumentError` otherwise."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidArgumentError(
            f"concurrency must be a whole number from 1, not {concurrency!r}"
        )
    return concurrency


def in_batches(items: Sequence[_T], size: int) -> list[Sequence[_T]]:
    """*items* cut into consecutive batches of at most *size*, in order."""
    return [items[start : start + size] for start in range(0, len(items), size)]


async def run_bounded(jobs: Sequence[Callable[[], Awaitable[_R]]], concurrency: int) -> list[_R]:
    """Run *jobs* with at most *concurrency* at a time; their results, in the jobs' order.

    The first failure is raised as itself once the other jobs have been cancelled and have
    ended: nothing is left running behind the caller's back.
    """
    results: dict[int, _R] = {}
    pending = iter(enumerate(jobs))

    async def worker() -> None:
        # Workers share one iterator: each takes the next job as soon as it is free.
        for index, job in pending:
            results[index] = await job()

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(jobs)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return [results[index] for index in range(len(jobs))]
