r"""Server-sent events: ``GET /events/session`` and ``GET /events/background-task``.

As the manager sends them (``src/ai/backend/manager/api/events.py``, written with aiohttp-sse):
a ``text/event-stream`` response (with ``Cache-Control: no-cache``, ``Connection: keep-alive``
and ``X-Accel-Buffering: no``, chunked) whose events read:

```python
event: session_started\r\n
data: {"reason":"unknown","sessionName":"demo","ownerAccessKey":"AKIA...",...}\r\n
\r\n
```

with compact JSON data, a ``retry: 5`` line on ``bgtask_updated`` events only, and a
``: ping`` comment every 15 seconds to keep idle connections open.

``GET /events/session`` (query ``name``/``sessionName``, default ``*``; ``sessionId``, which
overrides the name; ``ownerAccessKey``; ``group``/``groupName``, default ``*``; ``scope`` =
``*`` | ``session`` | ``kernel``, default ``*``) streams lifecycle events until the server
stops. The data is ``{reason, sessionName, ownerAccessKey, sessionId, exitCode}``, and kernel
events add ``kernelId``, ``clusterRole`` and ``clusterIdx``. Each key pair watches the sessions
it owns, as a plain user does; asking for another owner's is 403 ``generic-forbidden``.

``GET /events/background-task`` (query ``task_id``/``taskId``) streams one task's
``bgtask_updated`` events, then its final ``bgtask_done``, ``bgtask_failed`` or
``bgtask_cancelled``, then ``server_close`` with data ``{}``, and ends. A task that has already
ended gives its final event at once. An unknown id is 404 ``bgtask-not-found`` (the manager
only notices it after it has started the stream).

A stream ends cleanly when the client goes away (noticed within a fraction of a second) and
when the emulator shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any, Final, TypeVar

from aiohttp import web

from ._auth import ACCESS_KEY
from ._bgtasks import BGTASKS_KEY
from ._eventhub import LifecycleEvent
from ._params import read_checked_params
from ._problems import (
    BackgroundTaskNotFound,
    GenericForbidden,
    GroupNotFound,
)
from ._releases import RELEASE_KEY
from ._sessions import REGISTRY_KEY
from ._validation import Key, choice, null_or, string, uuid_string, validate

__all__ = [
    "DEFAULT_PING_INTERVAL",
    "SSE_PING_INTERVAL_KEY",
    "ClientGone",
    "EventStream",
    "add_event_routes",
]

#: The ``/events`` routes.
routes = web.RouteTableDef()

#: aiohttp-sse's ping interval, in seconds.
DEFAULT_PING_INTERVAL: Final = 15.0
#: The ping interval of the app's streams (tests shorten it).
SSE_PING_INTERVAL_KEY: Final = web.AppKey("sse_ping_interval", float)

_SEP: Final = "\r\n"
# How often a waiting stream checks that its client is still connected. aiohttp does not
# cancel handlers when a client disconnects, so an idle stream has to look for itself.
_LIVENESS_POLL: Final = 0.2
# Emulated sessions all belong to the keypair's default project.
_GROUPS: Final = frozenset({"*", "default"})

_T = TypeVar("_T")


class ClientGone(Exception):
    """The client of an event stream disconnected."""


def _compact(data: Any) -> str:
    # The manager serialises event data with orjson: no spaces.
    return json.dumps(data, separators=(",", ":"))


class EventStream:
    """A ``text/event-stream`` response, written the way aiohttp-sse writes it."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._ping_interval = request.app.get(SSE_PING_INTERVAL_KEY, DEFAULT_PING_INTERVAL)
        self.response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "Connection": "keep-alive",
                "X-Accel-Buffering": "no",
            },
        )
        self._next_ping = 0.0

    async def open(self) -> None:
        """Send the response headers."""
        self.response.enable_chunked_encoding()
        await self.response.prepare(self._request)
        self._next_ping = asyncio.get_running_loop().time() + self._ping_interval

    async def _write(self, text: str) -> None:
        try:
            await self.response.write(text.encode("utf-8"))
        except ConnectionError:
            raise ClientGone from None

    async def send(self, data: str, *, event: str, retry: int | None = None) -> None:
        """Send one event; raise `ClientGone` if the client has left."""
        lines = [f"event: {event}"]
        lines += [f"data: {line}" for line in data.splitlines() or [""]]
        if retry is not None:
            lines.append(f"retry: {retry}")
        await self._write(_SEP.join(lines) + _SEP + _SEP)

    def _connected(self) -> bool:
        transport = self._request.transport
        return transport is not None and not transport.is_closing()

    async def next(self, queue: asyncio.Queue[_T]) -> _T:
        """Wait for the next item of *queue*, sending the periodic ping when it is due.

        Raises `ClientGone` as soon as the client is seen to have left.
        """
        loop = asyncio.get_running_loop()
        while True:
            # aiohttp-sse pings on a timer of its own, whether events flow or not.
            if loop.time() >= self._next_ping:
                await self._write(f": ping{_SEP}{_SEP}")
                self._next_ping = loop.time() + self._ping_interval
            if not queue.empty():
                return queue.get_nowait()
            if not self._connected():
                raise ClientGone
            wait = min(_LIVENESS_POLL, max(self._next_ping - loop.time(), 0.0))
            try:
                async with asyncio.timeout(wait):
                    return await queue.get()
            except TimeoutError:
                continue

    async def close(self) -> None:
        """End the response, unless the client has already left."""
        if self._connected():
            with contextlib.suppress(ConnectionError):
                await self.response.write_eof()


def _matches(event: LifecycleEvent, *, owner: str, name: str, session_id: uuid.UUID | None) -> bool:
    """The manager's filter of one event for one listener (scope aside)."""
    if event.owner != owner:
        return False
    if session_id is not None:
        return event.session_id == session_id
    return name == "*" or event.session_name == name


# The parameters of GET /events/session, checked (and worded) as the manager checks them.
_SESSION_EVENT_KEYS: Final = (
    Key.of(["name", "sessionName"], string(), "*", to="name"),
    Key.of("ownerAccessKey", null_or(string()), None),
    Key.of("sessionId", null_or(uuid_string()), None),
    Key.of(["group", "groupName"], string(), "*", to="group"),
    Key.of("scope", choice("*", "session", "kernel"), "*"),
)


# The 26.9 manager reads ``sessionName`` (or ``session_name``) and ignores ``name``.
_SESSION_EVENT_KEYS_26: Final = (
    Key.of(["sessionName", "session_name"], string(), "*", to="name"),
    *_SESSION_EVENT_KEYS[1:],
)


@routes.get("/events/session")
async def _session_events(request: web.Request) -> web.StreamResponse:
    release = request.app[RELEASE_KEY]
    raw = await read_checked_params(request)
    if release.events_by_session_name:
        raw = {k: v for k, v in raw.items() if k != "name"}
        params = validate(raw, _SESSION_EVENT_KEYS_26)
    else:
        params = validate(raw, _SESSION_EVENT_KEYS)
    name, scope, group = params["name"], params["scope"], params["group"]
    session_id: uuid.UUID | None = params["sessionId"]
    owner = ACCESS_KEY.get()
    if release.events_by_session_name and name != "*" and session_id is None:
        # 26.9 resolves the name first: a session that does not exist (yet) is a 404 at once.
        request.app[REGISTRY_KEY].get(params["ownerAccessKey"] or owner, name)
    # A plain user may only watch its own sessions.
    if params["ownerAccessKey"] not in (None, owner):
        raise GenericForbidden
    if group not in _GROUPS:
        raise GroupNotFound
    hub = request.app[REGISTRY_KEY].events
    stream = EventStream(request)
    with hub.subscribe() as queue:
        await stream.open()
        try:
            while (event := await stream.next(queue)) is not None:
                if scope == "session" and event.is_kernel_event:
                    continue
                if scope == "kernel" and not event.is_kernel_event:
                    continue
                if _matches(event, owner=owner, name=name, session_id=session_id):
                    await stream.send(_compact(event.data()), event=event.name)
        except ClientGone:
            return stream.response
    await stream.close()
    return stream.response


@routes.get("/events/background-task")
async def _background_task_events(request: web.Request) -> web.StreamResponse:
    params = validate(
        await read_checked_params(request),
        [Key.of(["task_id", "taskId"], uuid_string(), to="task_id")],
    )
    task_id: uuid.UUID = params["task_id"]
    manager = request.app[BGTASKS_KEY]
    if not manager.exists(task_id):
        raise BackgroundTaskNotFound
    stream = EventStream(request)
    with manager.listen(task_id) as queue:
        await stream.open()
        try:
            while True:
                event = await stream.next(queue)
                await stream.send(_compact(event.data), event=event.name, retry=event.retry)
                if event.final:
                    break
            await stream.send(_compact({}), event="server_close")
        except ClientGone:
            return stream.response
    await stream.close()
    return stream.response


def add_event_routes(app: web.Application) -> None:
    """Install the ``/events`` routes (the app needs a session registry and a task manager)."""
    app.add_routes(routes)

    async def end_session_streams(app: web.Application) -> None:
        # The manager puts a sentinel in every listener's queue on shutdown, so that its
        # streams end before the server stops waiting for them.
        app[REGISTRY_KEY].events.close()

    app.on_shutdown.append(end_session_streams)
