"""Live streams: execution over a websocket, and server-sent events."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from yarl import URL

from ._base import TRANSPORT_ERRORS, BaseClient, Params
from ._errors import (
    ClientClosedError,
    InvalidArgumentError,
    RequestError,
    ResponseError,
    ServerError,
    error_from_response,
)
from ._results import TERMINAL_STATUSES, RunResult
from ._sse import SSEParser
from ._timeouts import NOT_GIVEN, Timeout, TimeoutArg, resolve_timeout

__all__ = ["Event", "EventStream", "ExecutionStream", "LiveAPI"]

_log = logging.getLogger("backendai_aio")

# Backoff between reconnections when the server suggests no ``retry:`` (seconds).
_RECONNECT_BASE: Final = 0.5
_RECONNECT_MAX: Final = 10.0


class ExecutionStream:
    """A running execution over a websocket: iterate its result frames, send it input.

    ``async for frame in stream`` yields each frame (``status``, ``console``, ``exitCode``,
    ``options``, ``files``) until the run ends; :attr:`result` accumulates them into a
    :class:`~backendai_aio.RunResult`. When a frame says ``waiting-input``, answer with
    :meth:`send_input`.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, url: URL) -> None:
        self._ws = ws
        self._url = url
        self._finished = False
        #: Everything received so far, as a typed result.
        self.result = RunResult(run_id="")

    async def send_input(self, line: str) -> None:
        """Send a line of user input to the running code."""
        if not isinstance(line, str):
            raise InvalidArgumentError("input must be a string")
        try:
            await self._ws.send_str(line)
        except TRANSPORT_ERRORS as exc:
            raise RequestError(f"sending input to {self._url} failed: {exc}") from exc

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[dict[str, Any]]:
        while not self._finished:
            try:
                message = await self._ws.receive()
            except TRANSPORT_ERRORS as exc:
                raise ResponseError(f"the execution stream {self._url} failed: {exc}") from exc
            if message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                raise ResponseError(
                    f"the execution stream {self._url} closed before the run finished"
                )
            if message.type is aiohttp.WSMsgType.ERROR:
                raise ResponseError(f"the execution stream {self._url} failed: {message.data}")
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(message.data)
            except ValueError as exc:
                raise ResponseError(f"a frame that is not JSON: {message.data!r:.100}") from exc
            if not isinstance(frame, dict):
                raise ResponseError(f"a frame that is not an object: {frame!r:.100}")
            if frame.get("status") == "error":
                raise ServerError(
                    f"the execution failed: {frame.get('msg')}",
                    msg=None if frame.get("msg") is None else str(frame.get("msg")),
                    body=frame,
                    url=str(self._url),
                )
            self.result.add_step(frame)
            if frame.get("status") in TERMINAL_STATUSES:
                self._finished = True
            yield frame


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


class EventStream:
    """Events of a ``text/event-stream``, with bounded reconnection.

    A dropped connection is reopened (sending ``Last-Event-ID``) after the server's
    ``retry:`` delay or an exponential backoff, at most *max_reconnects* times in a row; the
    stream ends at a ``server_close`` event. A failure status raises the mapped
    :class:`~backendai_aio.BackendError` at once.
    """

    def __init__(
        self,
        client: BaseClient,
        url: URL,
        params: Params,
        *,
        session_id: str | None,
        max_reconnects: int,
        timeout: Timeout,
    ) -> None:
        self._client = client
        self._url = url
        self._params = params
        self._session_id = session_id
        self._max_reconnects = max_reconnects
        self._timeout = timeout
        self._parser = SSEParser()
        self._response: aiohttp.ClientResponse | None = None
        self._pending: deque[Event] = deque()
        self._failures = 0
        self._done = False
        self._last_error: BaseException | None = None
        #: How many times the stream was reopened.
        self.reconnects = 0

    async def open(self) -> None:
        """Open the stream (the first connection is not retried)."""
        await self._connect()

    async def _connect(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self._parser.last_event_id is not None:
            headers["Last-Event-ID"] = self._parser.last_event_id
        self._response = await self._client._send_with_policies(
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
        self._client._live.add(self._response)

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
            for sse in self._parser.feed(chunk):
                if sse.event == "server_close":
                    self.close()
                    break
                event = Event(sse.event, _decode(sse.data), sse.id, sse.retry)
                if self._wanted(event):
                    self._pending.append(event)
            if self._pending:
                self._failures = 0

    def _wanted(self, event: Event) -> bool:
        # Some servers ignore the sessionId filter: apply it here as well.
        if self._session_id is None or not isinstance(event.data, Mapping):
            return True
        return bool(event.data.get("sessionId", self._session_id) == self._session_id)

    def _drop(self, exc: BaseException | None) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()
        # What arrived of an unfinished event is lost with the connection.
        self._parser.reset()
        self._last_error = exc

    async def _reconnect(self) -> None:
        if self._client.closed:
            self._done = True
            raise ClientClosedError("the client was closed while the event stream was open")
        self._failures += 1
        if self._failures > self._max_reconnects:
            self._done = True
            raise ResponseError(
                f"the event stream {self._url} dropped {self._failures} times in a row"
            ) from self._last_error
        retry = self._parser.retry
        delay = (
            retry / 1000
            if retry is not None
            else min(_RECONNECT_MAX, _RECONNECT_BASE * 2 ** (self._failures - 1))
        )
        _log.info("event stream dropped; reconnecting in %.1f s", delay)
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


def _ws_timeout(receive: float | None) -> aiohttp.ClientWSTimeout:
    # aiohttp builds this dataclass dynamically, out of pyright's sight.
    return aiohttp.ClientWSTimeout(ws_receive=receive, ws_close=10.0)  # pyright: ignore[reportCallIssue]


def _decode(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data


class LiveAPI(BaseClient):
    """Streaming execution and event streams."""

    @asynccontextmanager
    async def stream_execute(
        self,
        session_id: str,
        code: str,
        *,
        mode: str = "query",
        opts: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> AsyncIterator[ExecutionStream]:
        """Run *code* over a websocket: ``async with`` yields an :class:`ExecutionStream`.

        The socket closes when the block ends, on an error, and on cancellation. *timeout*
        bounds connecting and, if its read limit is set, each wait for a frame (none by
        default).
        """
        if mode not in ("query", "batch"):
            raise InvalidArgumentError(f"stream_execute takes 'query' or 'batch', not {mode!r}")
        session = self._open()
        limits = resolve_timeout(timeout, self._timeout, streaming=True)
        await self._negotiate(timeout)
        url = self._absolute(self._url("stream", "session", session_id, "execute"))
        headers = dict(self._headers)
        if self._session_mode:
            headers["X-BackendAI-Version"] = self._signer.api_version
        elif self._signed is not None:
            # A session we did not create has no signer installed, and ws_connect takes no
            # per-request middleware: sign the upgrade by hand.
            headers.update(self._signer.headers_for("GET", url))
        try:
            # ws_connect takes no per-call connect limit: bound the whole handshake instead.
            async with asyncio.timeout(limits.connect):
                ws = await session.ws_connect(
                    url,
                    headers=headers,
                    ssl=self._ssl,
                    timeout=_ws_timeout(limits.read),
                )
        except aiohttp.WSServerHandshakeError as exc:
            raise error_from_response(
                exc.status, exc.message, None, b"", method="GET", url=str(url)
            ) from exc
        except TRANSPORT_ERRORS as exc:
            reason = (
                f"timed out (connect limit {limits.connect:g} s)"
                if isinstance(exc, TimeoutError) and limits.connect is not None
                else f"{type(exc).__name__}: {exc}"
            )
            raise RequestError(
                f"GET {url}: opening the execution stream failed: {reason}",
                method="GET",
                url=str(url),
            ) from exc
        self._live.add(ws)
        try:
            try:
                await ws.send_json({"mode": mode, "code": code, "options": dict(opts or {})})
            except TRANSPORT_ERRORS as exc:
                raise RequestError(
                    f"GET {url}: sending the code failed: {type(exc).__name__}: {exc}",
                    method="GET",
                    url=str(url),
                ) from exc
            yield ExecutionStream(ws, url)
        finally:
            await ws.close()

    @asynccontextmanager
    async def session_events(
        self,
        *,
        name: str = "*",
        session_id: str | None = None,
        scope: str = "*",
        max_reconnects: int = 5,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> AsyncIterator[EventStream]:
        """Follow compute-session events: ``async with`` yields an :class:`EventStream`.

        *name* selects sessions by name (``*``: all of yours), *session_id* by id (also
        filtered here, since some servers ignore it), *scope* is ``session``, ``kernel`` or
        ``*``.
        """
        params: list[tuple[str, str]] = [("name", name), ("scope", scope)]
        if session_id is not None:
            params.append(("sessionId", session_id))
        async with self._event_stream(
            self._url("events", "session"), params, session_id, max_reconnects, timeout
        ) as stream:
            yield stream

    @asynccontextmanager
    async def background_task_events(
        self, task_id: str, *, max_reconnects: int = 5, timeout: TimeoutArg = NOT_GIVEN
    ) -> AsyncIterator[EventStream]:
        """Follow a background task: ``async with`` yields an :class:`EventStream`.

        Events are ``bgtask_updated`` (progress), then ``bgtask_done``, ``bgtask_failed`` or
        ``bgtask_cancelled``; the stream ends at the server's ``server_close``.
        """
        if not task_id:
            raise InvalidArgumentError("a task id is required")
        async with self._event_stream(
            self._url("events", "background-task"),
            [("task_id", task_id)],
            None,
            max_reconnects,
            timeout,
        ) as stream:
            yield stream

    @asynccontextmanager
    async def _event_stream(
        self,
        url: URL,
        params: Params,
        session_id: str | None,
        max_reconnects: int,
        timeout: TimeoutArg,
    ) -> AsyncIterator[EventStream]:
        limits = resolve_timeout(timeout, self._timeout, streaming=True)
        stream = EventStream(
            self,
            url,
            params,
            session_id=session_id,
            max_reconnects=max_reconnects,
            timeout=limits,
        )
        await stream.open()
        try:
            yield stream
        finally:
            stream.close()
