"""A client's lifecycle: unopened, opened, closed; one ``async with`` block; one event loop."""

from __future__ import annotations

import asyncio
import enum

from ._errors import ClientClosedError, UsageError

__all__ = ["Lifecycle"]


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class Lifecycle:
    """Where a client is in its life, and the checks that keep misuse from going unseen.

    Closing is final (httpx's rule): a closed client is not reopened. A client is entered
    with ``async with`` at most once, since the inner block's exit would close it for the
    outer one. Its session belongs to the event loop it was opened on; another loop's use
    would fail deep in aiohttp, so it is refused here with a message that says why.
    """

    def __init__(self) -> None:
        self._state = _State.UNOPENED
        self._entered = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def closed(self) -> bool:
        """Whether the client was closed."""
        return self._state is _State.CLOSED

    @property
    def state(self) -> str:
        """``"unopened"``, ``"opened"`` or ``"closed"``."""
        return self._state.value

    def check_usable(self) -> None:
        """Refuse a closed client, and use from another event loop than its own."""
        if self._state is _State.CLOSED:
            raise ClientClosedError("this client is closed; create a new one")
        if self._loop is not None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not None and running is not self._loop:
                raise UsageError(
                    "this client was opened on another event loop; its connections belong "
                    "to that loop: create one client per event loop"
                )

    def opened(self) -> None:
        """Record the first use, and the event loop it happened on."""
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                self._loop = None
        self._state = _State.OPENED

    def enter(self) -> None:
        """Start the ``async with`` block; refuse a second, nested or later one."""
        self.check_usable()
        if self._entered:
            raise UsageError(
                "this client is already in an 'async with' block; leaving the inner block "
                "would close it for the outer one"
            )
        self._entered = True

    def close(self) -> bool:
        """Mark the client closed; whether it was open (a second close does nothing)."""
        if self._state is _State.CLOSED:
            return False
        self._state = _State.CLOSED
        return True
