"""Server-sent event streams: sessions' lifecycles and background tasks' progress."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from yarl import URL

from ._backoff import ReconnectBudget, jittered_backoff
from ._errors import (
    ClientClosedError,
    InvalidArgumentError,
    NotFoundError,
    RequestError,
    ResponseError,
)
from ._failures import TRANSPORT_ERRORS
from ._sse import DEFAULT_MAX_EVENT_SIZE, SSELimitError, SSEParser
from ._timeouts import Timeout
from ._transport import Params, Transport

__all__ = ["DEFAULT_RECONNECT_WINDOW", "Event", "EventStream", "reconnect_delay"]

_log = logging.getLogger("backendai_aio")

#: The window over which ``max_reconnects`` bounds reconnections (seconds).
DEFAULT_RECONNECT_WINDOW: Final = 60.0
# Backoff between reconnections (seconds): the base when the server suggests no ``retry:``,
# the floor under a suggested one (``retry: 0`` would reconnect at full speed), the cap.
_RECONNECT_BASE: Final = 0.5
_RECONNECT_FLOOR: Final = 0.05
_RECONNECT_MAX: Final = 10.0


def reconnect_delay(retry_ms: int | None, attempt: int, unit: float) -> float:
    """The wait before reconnection number *attempt* of the current window, in seconds.

    The server's ``retry:`` (*retry_ms*, already capped by the parser) is the base of a
    jittered exponential backoff, never below a small floor; without one the base is half a
    second. *unit* is the random draw in ``[0, 1)``.
    """
    base = _RECONNECT_BASE if retry_ms is None else max(retry_ms / 1000, _RECONNECT_FLOOR)
    return jittered_backoff(attempt, base=base, cap=max(_RECONNECT_MAX, base), unit=unit)


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event, its data decoded from JSON when it is JSON."""

    #: The event name, e.g. ``session_started`` or ``bgtask_done``.
    name: str
    #: The data: a dict for the manager's events, else the raw text.
    data: Any
    #: The event id, if the server gave one.
    id: str | None = None
    #: The reconnection delay the server asked for, in milliseconds.
    retry: int | None = None


def _decode(data: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return data


def _public(url: URL) -> str:
    # An endpoint may carry credentials in its authority: never show them.
    return str(url.with_user(None)) if url.is_absolute() else str(url)


class EventStream:
    """Events of a ``text/event-stream``, with bounded reconnection.

    A dropped connection is reopened (sending ``Last-Event-ID``) after a jittered backoff
    based on the server's ``retry:`` delay; the stream gives up after *max_reconnects*
    drops in a row, or *max_reconnects* reconnections within *reconnect_window* seconds,
    and ends at a ``server_close`` event. A failure status raises the mapped
    [`BackendError`][backendai_aio.BackendError] at once; a line or an event larger than
    *max_event_size* raises [`ResponseError`][backendai_aio.ResponseError].
    """

    def __init__(
        self,
        transport: Transport,
        url: URL,
        params: Params,
        *,
        session_id: str | None,
        max_reconnects: int,
        timeout: Timeout,
        session_name: str | None = None,
        fallback_params: Params = None,
        reconnect_window: float = DEFAULT_RECONNECT_WINDOW,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        if max_reconnects < 0:
            raise InvalidArgumentError("max_reconnects must not be negative")
        if not reconnect_window > 0:
            raise InvalidArgumentError("reconnect_window must be a positive number of seconds")
        if max_event_size < 1:
            raise InvalidArgumentError("max_event_size must be a positive number of characters")
        self._transport = transport
        self._url = url
        self._params = params
        # Asked instead when the server refuses the filter with 404 (see Events.session).
        self._fallback_params = fallback_params
        self._session_id = session_id
        self._session_name = session_name
        self._max_reconnects = max_reconnects
        self._budget = ReconnectBudget(max_reconnects, reconnect_window)
        self._timeout = timeout
        self._parser = SSEParser(max_event_size=max_event_size)
        self._response: aiohttp.ClientResponse | None = None
        self._pending: deque[Event] = deque()
        self._failures = 0
        self._done = False
        self._last_error: BaseException | None = None
        #: How many times the stream was reopened.
        self.reconnects = 0
        #: Whether the server's own filter was refused and the client filters alone.
        self.filtered_locally = False

    def __repr__(self) -> str:
        state = "closed" if self._done else "open" if self._response is not None else "idle"
        return (
            f"<EventStream {_public(self._url)!s} params={self._params!r} state={state} "
            f"reconnects={self.reconnects} last_event_id={self._parser.last_event_id!r}>"
        )

    async def open(self) -> None:
        """Open the stream (the first connection is not retried)."""
        await self._connect()

    async def _connect(self) -> None:
        try:
            response = await self._send()
        except NotFoundError:
            if self._fallback_params is None:
                raise
            # 26.9 resolves sessionName at once and answers 404 for a session that does not
            # exist yet; "subscribe, then create" must still work: follow every session
            # and keep the named one's events here.
            _log.info("the server refused the session filter; filtering events locally")
            self._params, self._fallback_params = self._fallback_params, None
            self.filtered_locally = True
            response = await self._send()
        self._response = response
        self._transport.track(response)

    async def _send(self) -> aiohttp.ClientResponse:
        headers = {"Accept": "text/event-stream"}
        if self._parser.last_event_id is not None:
            headers["Last-Event-ID"] = self._parser.last_event_id
        return await self._transport.send(
            "GET",
            self._url,
            params=self._params,
            json=None,
            data=None,
            headers=headers,
            timeout=self._timeout,
            idempotent=False,  # reconnection is this stream's own, with its own bound
            signed=True,
            streaming=True,
        )

    def close(self) -> None:
        """Close the connection; iteration ends."""
        self._done = True
        response, self._response = self._response, None
        if response is not None:
            response.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        while True:
            while self._pending:
                yield self._pending.popleft()
            if self._done:
                return
            if self._response is None:
                await self._reconnect()
                continue
            try:
                chunk = await self._response.content.readany()
            except TRANSPORT_ERRORS as exc:
                self._drop(exc)
                continue
            if not chunk:
                self._drop(None)
                continue
            failure: ResponseError | None = None
            try:
                events = self._parser.feed(chunk)
            except SSELimitError as exc:
                # What came before the oversized part is delivered, then the error.
                events = exc.events
                failure = ResponseError(
                    f"the event stream {_public(self._url)} sent {exc}", url=str(self._url)
                )
            for sse in events:
                if sse.event == "server_close":
                    self.close()
                    break
                event = Event(sse.event, _decode(sse.data), sse.id, sse.retry)
                if self._wanted(event):
                    self._pending.append(event)
            if failure is not None:
                self.close()
                while self._pending:
                    yield self._pending.popleft()
                raise failure
            if self._pending:
                self._failures = 0

    def _wanted(self, event: Event) -> bool:
        # Some servers ignore the filters (or were asked without them): apply them here too.
        if not isinstance(event.data, Mapping):
            return True
        if self._session_id is not None and (
            event.data.get("sessionId", self._session_id) != self._session_id
        ):
            return False
        return self._session_name is None or (
            event.data.get("sessionName", self._session_name) == self._session_name
        )

    def _drop(self, exc: BaseException | None) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()
        # What arrived of an unfinished event is lost with the connection.
        self._parser.reset()
        self._last_error = exc

    async def _reconnect(self) -> None:
        if self._transport.closed:
            self._done = True
            raise ClientClosedError("the client was closed while the event stream was open")
        self._failures += 1
        if self._failures > self._max_reconnects:
            self._done = True
            raise ResponseError(
                f"the event stream {_public(self._url)} dropped {self._failures} times in a row"
            ) from self._last_error
        if not self._budget.spend(time.monotonic()):
            self._done = True
            raise ResponseError(
                f"the event stream {_public(self._url)} dropped again after "
                f"{self._budget.limit} reconnections within {self._budget.window:g} s"
            ) from self._last_error
        delay = reconnect_delay(self._parser.retry, self._budget.recent, random.random())
        _log.info("event stream dropped; reconnecting in %.2f s", delay)
        await asyncio.sleep(delay)
        try:
            await self._connect()
        except (ClientClosedError, InvalidArgumentError):
            raise
        except RequestError as exc:
            # Unreachable for now: the next round waits longer, up to the bound.
            self._last_error = exc
        else:
            self.reconnects += 1
