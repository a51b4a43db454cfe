"""``client.events``: server-sent event streams of compute sessions and background tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from yarl import URL

from ._errors import InvalidArgumentError
from ._event_stream import DEFAULT_RECONNECT_WINDOW, EventStream
from ._namespace import Namespace
from ._sse import DEFAULT_MAX_EVENT_SIZE
from ._timeouts import NOT_GIVEN, TimeoutArg, resolve_timeout
from ._transport import Params

__all__ = ["Events"]


@dataclass(frozen=True, slots=True)
class _StreamOptions:
    """What an event stream filters and how it reconnects."""

    max_reconnects: int
    reconnect_window: float
    max_event_size: int
    session_id: str | None = None
    session_name: str | None = None
    fallback_params: Params = None


class Events(Namespace):
    """Event streams: `client.events`, on the client's transport.

    Both calls are async context managers that open the stream on entry and close it on
    exit; iterate the [`EventStream`][backendai_aio.EventStream] they give:

    ```python
    async with client.events.session(name="my-session") as events:
        async for event in events:
            print(event.name, event.data)
    ```
    """

    @asynccontextmanager
    async def session(
        self,
        *,
        name: str = "*",
        session_id: str | None = None,
        scope: str = "*",
        max_reconnects: int = 5,
        reconnect_window: float = DEFAULT_RECONNECT_WINDOW,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> AsyncIterator[EventStream]:
        """`async with client.events.session(...) as events`: follow compute-session events.

        An async context manager (not a coroutine): the block gets an open
        [`EventStream`][backendai_aio.EventStream], closed when the block ends. Both filters
        are also applied here, since some servers ignore them; a server that refuses the
        name of a session not created yet (404, as 26.9 does) is asked for every session
        instead, and the client filters.

        Args:
            name: The session name to follow; `"*"` follows all of yours.
            session_id: Follow the session with this id only.
            scope: `"session"`, `"kernel"` or `"*"`.
            max_reconnects: Give up after this many drops in a row, or this many
                reconnections within *reconnect_window* seconds.
            reconnect_window: The window (seconds) over which reconnections are counted.
            max_event_size: The largest line or event accepted (characters).
            timeout: The connect limit and the read limit between two chunks.

        Yields:
            The open stream of `session_*` and `kernel_*` events.

        Raises:
            InvalidArgumentError: *name* is empty or not a string.
            BackendError: The server refused the stream (raised on entry).
        """
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("name must be a session name or '*'")
        base: list[tuple[str, str]] = [("scope", scope)]
        if session_id is not None:
            base.append(("sessionId", session_id))
        named = name != "*"
        # "sessionName" is read by every release since 23.09 (26.9 reads no other key).
        params = [("sessionName", name), *base] if named else base
        async with self._stream(
            self._transport.url("events", "session"),
            params,
            _StreamOptions(
                session_id=session_id,
                session_name=name if named else None,
                fallback_params=base if named else None,
                max_reconnects=max_reconnects,
                reconnect_window=reconnect_window,
                max_event_size=max_event_size,
            ),
            timeout,
        ) as stream:
            yield stream

    @asynccontextmanager
    async def background_task(
        self,
        task_id: str,
        *,
        max_reconnects: int = 5,
        reconnect_window: float = DEFAULT_RECONNECT_WINDOW,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> AsyncIterator[EventStream]:
        """`async with client.events.background_task(task_id) as events`: follow a task.

        An async context manager (not a coroutine): the block gets an open
        [`EventStream`][backendai_aio.EventStream] of `bgtask_updated` (progress), then
        `bgtask_done`, `bgtask_failed` or `bgtask_cancelled`; the stream ends at the
        server's `server_close`.

        Args:
            task_id: The background task's id, as a call that started one answered it.
            max_reconnects: Give up after this many drops in a row, or this many
                reconnections within *reconnect_window* seconds.
            reconnect_window: The window (seconds) over which reconnections are counted.
            max_event_size: The largest line or event accepted (characters).
            timeout: The connect limit and the read limit between two chunks.

        Yields:
            The open stream of the task's events.

        Raises:
            InvalidArgumentError: *task_id* is empty.
            BackendError: The server refused the stream (raised on entry).
        """
        if not task_id:
            raise InvalidArgumentError("a task id is required")
        async with self._stream(
            self._transport.url("events", "background-task"),
            [("task_id", task_id)],
            _StreamOptions(
                max_reconnects=max_reconnects,
                reconnect_window=reconnect_window,
                max_event_size=max_event_size,
            ),
            timeout,
        ) as stream:
            yield stream

    @asynccontextmanager
    async def _stream(
        self, url: URL, params: Params, options: _StreamOptions, timeout: TimeoutArg
    ) -> AsyncIterator[EventStream]:
        limits = resolve_timeout(timeout, self._transport.default_timeout, streaming=True)
        stream = EventStream(
            self._transport,
            url,
            params,
            session_id=options.session_id,
            session_name=options.session_name,
            fallback_params=options.fallback_params,
            max_reconnects=options.max_reconnects,
            reconnect_window=options.reconnect_window,
            max_event_size=options.max_event_size,
            timeout=limits,
        )
        await stream.open()
        try:
            yield stream
        finally:
            stream.close()
