"""The one progress type of transfers: a caller's ``progress(done, total)`` callback, fed."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeAlias

__all__ = ["ProgressCallback", "TransferProgress"]

#: ``progress(done, total)``: bytes transferred so far, and the total when known.
ProgressCallback: TypeAlias = Callable[[int, int | None], object]


class TransferProgress:
    """Reports a transfer's progress to the caller's callback.

    It counts the bytes (`add`) or takes a position (`__call__`), never reports a
    count twice or backwards (a resumed transfer sends some bytes again), and keeps what the
    callback raised: called while aiohttp sends a body, its exception would otherwise reach
    the caller disguised as a connection failure.
    """

    def __init__(self, callback: ProgressCallback | None, total: int | None) -> None:
        self._callback = callback
        #: The total in bytes, when known.
        self.total = total
        #: The bytes counted by `add`.
        self.done = 0
        self._reported = -1
        #: What the callback (or a source, on its behalf) raised.
        self.error: BaseException | None = None

    async def add(self, count: int) -> None:
        """Count *count* more bytes and report the new total."""
        self.done += count
        await self(self.done)

    async def __call__(self, done: int) -> None:
        """Report that *done* bytes are through."""
        if self._callback is None or done <= self._reported:
            return
        self._reported = done
        try:
            result = self._callback(done, self.total)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            self.error = exc
            raise
