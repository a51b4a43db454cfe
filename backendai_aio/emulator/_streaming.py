"""Streaming execution over a websocket: ``GET /stream/session/{name}/execute``.

As the manager's ``stream_execute`` (``src/ai/backend/manager/api/stream.py``) does it: the
connection is one run (the server picks its run id). The client's first frame is JSON
``{"mode": "query" | "batch", "code": "...", "options": {...}}``; the server then sends one JSON
frame per step of the run, ``{"status", "console", "exitCode", "options", "files"}``, and keeps
the run going itself (``continue``) until the status is ``finished``. When a frame says
``waiting-input``, the client's next text frame is the line to feed to the program. Parameter
errors end the run with ``{"status": "error", "msg": "Invalid API parameters: ..."}``; when the
server shuts down a run in progress gets ``{"status": "server-restarting", "msg": "..."}``.
A client that disconnects interrupts its run.

The upgrade request is signed like any other call; an unknown session is a plain 404 before any
upgrade. Runs also end on ``exec-timeout``, which the manager does not answer in this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import Any, Final

import aiohttp
from aiohttp import web

from ._kernel import FINAL_STATES, KernelBusyError
from ._sessions import EmulatedSession, ensure_running, request_session
from ._validation import Invalid, choice, mapping, string

__all__ = ["STREAMS_KEY", "StreamTracker", "add_streaming_routes"]

#: The websocket route of streaming execution.
routes = web.RouteTableDef()

_log = logging.getLogger("backendai_aio.emulator")

_MODE: Final = choice("query", "batch")
_CODE: Final = string(allow_blank=True)
_OPTIONS: Final = mapping()
_RESTARTING: Final = (
    "The API server is going to restart for maintenance. Please connect again with the same run ID."
)
# How long shutdown waits for the streams it cancelled to say goodbye.
_GOODBYE_TIMEOUT: Final = 5.0
# The manager's default for its websockets (the max-wsmsg-size setting).
_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024
# How long closing a websocket waits for the client's reply.
_CLOSE_TIMEOUT: Final = 2.0


class StreamTracker:
    """The streaming handlers in progress, so that shutdown can stop them."""

    def __init__(self) -> None:
        self._handlers: dict[asyncio.Task[Any], asyncio.Event] = {}

    def add(self, task: asyncio.Task[Any]) -> asyncio.Event:
        """Track *task*; set the returned event when it is done."""
        done = asyncio.Event()
        self._handlers[task] = done
        return done

    def discard(self, task: asyncio.Task[Any]) -> None:
        """Stop tracking *task*."""
        self._handlers.pop(task, None)

    async def cancel_all(self) -> None:
        """Cancel every tracked handler (as the manager does) and wait for them to finish."""
        waiting = list(self._handlers.values())
        for task in list(self._handlers):
            task.cancel()
        if not waiting:
            return
        waiters = [asyncio.create_task(done.wait()) for done in waiting]
        _, pending = await asyncio.wait(waiters, timeout=_GOODBYE_TIMEOUT)
        for waiter in pending:
            waiter.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


STREAMS_KEY: Final = web.AppKey("streams", StreamTracker)


class _InvalidParameters(Exception):
    """The first frame is not a valid execution request."""


def _frame(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": result["status"],
        "console": result.get("console"),
        "exitCode": result.get("exitCode"),
        "options": result.get("options"),
        "files": result.get("files"),
    }


def _parse_request(message: aiohttp.WSMessage) -> tuple[str, str, dict[str, Any]]:
    """Read the first frame: (mode, code, options)."""
    if message.type == aiohttp.WSMsgType.BINARY:
        raw: Any = message.data.decode("utf-8", "replace")
    else:
        raw = message.data
    try:
        params = json.loads(raw)
    except ValueError as exc:
        raise _InvalidParameters(repr(exc)) from None
    # The manager checks these with asserts, so its messages quote an AssertionError.
    if not isinstance(params, dict) or not params.get("mode"):
        raise _InvalidParameters(repr(AssertionError("mode is missing or empty!")))
    try:
        mode = _MODE(params["mode"])
    except Invalid:
        raise _InvalidParameters(repr(AssertionError("mode has an invalid value."))) from None
    try:
        code = _CODE(params.get("code") or "")
        options = _OPTIONS(params.get("options") or {})
    except Invalid:
        raise _InvalidParameters(
            repr(AssertionError("code or options has an invalid type."))
        ) from None
    return mode, code, options


async def _read_client(ws: web.WebSocketResponse, inbox: asyncio.Queue[str | None]) -> None:
    """Queue the client's text frames; queue None and stop once the client has gone."""
    while True:
        message = await ws.receive()
        if message.type == aiohttp.WSMsgType.TEXT:
            inbox.put_nowait(str(message.data))
        elif message.type == aiohttp.WSMsgType.BINARY:
            inbox.put_nowait(bytes(message.data).decode("utf-8", "replace"))
        elif message.type not in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
            inbox.put_nowait(None)
            return


async def _drive(ws: web.WebSocketResponse, session: EmulatedSession) -> None:
    """Run the client's request to its end, one frame per step."""
    first = await ws.receive()
    if first.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
        return
    try:
        mode, code, options = _parse_request(first)
    except _InvalidParameters as exc:
        await ws.send_json({"status": "error", "msg": f"Invalid API parameters: {exc}"})
        return
    kernel = session.kernel
    run_id = secrets.token_hex(8)
    # The client is read by a task of its own for the whole run, so that a client leaving
    # mid-run is noticed between two steps, not only when the program asks for input.
    inbox: asyncio.Queue[str | None] = asyncio.Queue()
    reader = asyncio.create_task(_read_client(ws, inbox))
    try:
        while True:
            try:
                result = await kernel.execute(mode=mode, run_id=run_id, code=code, options=options)
            except KernelBusyError:
                msg = "Another run is still in progress in this session."
                await ws.send_json({"status": "error", "msg": msg})
                return
            except ValueError as exc:
                # The run vanished under us (e.g. the session was restarted meanwhile).
                await ws.send_json({"status": "error", "msg": str(exc)})
                return
            if reader.done():
                # The client went away mid-run: stop the run, as the manager does.
                await kernel.interrupt()
                return
            try:
                await ws.send_json(_frame(result))
            except ConnectionError:
                await kernel.interrupt()
                return
            status = result["status"]
            if status in FINAL_STATES:
                return
            if status == "waiting-input":
                line = await inbox.get()
                if line is None:
                    await kernel.interrupt()
                    return
                mode, code = "input", line
            else:
                mode, code, options = "continue", "", {}
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


@routes.get("/stream/session/{name}/execute")
async def _stream_execute(request: web.Request) -> web.WebSocketResponse:
    session = await ensure_running(request_session(request))
    tracker = request.app[STREAMS_KEY]
    me = asyncio.current_task()
    assert me is not None
    done = tracker.add(me)
    ws = web.WebSocketResponse(max_msg_size=_MAX_MESSAGE_SIZE, timeout=_CLOSE_TIMEOUT)
    try:
        await ws.prepare(request)
        await _drive(ws, session)
        await ws.close()
    except asyncio.CancelledError:
        # Cancelled by the emulator's shutdown (or by aiohttp giving up on the handler).
        if ws.prepared and not ws.closed:
            with contextlib.suppress(ConnectionError):
                await ws.send_json({"status": "server-restarting", "msg": _RESTARTING})
                await ws.close()
        raise
    except ConnectionError:
        # The client left while the run was being set up or answered.
        pass
    except Exception:
        if not ws.prepared:
            raise
        # The upgrade is done: an HTTP error can no longer be answered, an error frame can.
        _log.exception("unexpected error in the stream of %s", request.path)
        if not ws.closed:
            with contextlib.suppress(ConnectionError):
                await ws.send_json({"status": "error", "msg": "Internal server error."})
                await ws.close()
    finally:
        tracker.discard(me)
        done.set()
    return ws


def add_streaming_routes(app: web.Application) -> None:
    """Install the ``/stream/session/{name}/execute`` websocket route.

    Call it before anything that terminates sessions on shutdown: the streams are stopped
    first, so that each can tell its client the server is going away.
    """
    tracker = StreamTracker()
    app[STREAMS_KEY] = tracker

    async def stop_streams(app: web.Application) -> None:
        await tracker.cancel_all()

    app.on_shutdown.append(stop_streams)
    app.add_routes(routes)
