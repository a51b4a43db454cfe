"""The app-service routes of a session: service ports, their TCP relay, and the terminal.

As the manager's ``stream.py`` and ``session.py`` serve them:

- ``GET /stream/session/{name}/apps`` lists the kernel's service ports as ``{"name",
  "protocol", "ports"}`` items;
- ``POST /session/{name}/start-service`` (body ``app``, ``port``, ``arguments``, ``envs``)
  starts the app and answers ``{"token", "wsproxy_addr"}``; the emulator has no app proxy,
  so the token is a fresh random one and the address is the emulator's own;
- ``POST /session/{name}/shutdown-service?service_name=...`` stops it (204);
- ``GET /stream/session/{name}/tcpproxy?app=...&port=...`` starts the app, then relays the
  websocket's binary frames to one TCP connection to it and back; a refused connection
  closes the websocket with 1013 (try again later), the app closing its end with 1001;
- ``GET /stream/session/{name}/pty`` relays the session's terminal (see `_pty`): the client
  sends ``{"type": "stdin", "chars": base64}``, ``resize``, ``ping`` and ``restart`` as JSON
  text, the server sends ``{"type": "out", "data": base64}`` as binary frames.

The services are in `_session_services`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any, Final

import aiohttp
from aiohttp import WSCloseCode, web

from ._params import read_json_body
from ._problems import InvalidAPIParameters
from ._pty import PtyShell
from ._session_services import services_of
from ._sessions import EmulatedSession, ensure_running, request_session
from ._streaming import STREAMS_KEY
from ._validation import Invalid, Key, integer, null_or, string, validate

__all__ = ["add_session_app_routes"]

routes = web.RouteTableDef()

# The manager's default for its websockets (the max-wsmsg-size setting).
_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024
_CHUNK: Final = 64 * 1024
# How long closing a websocket waits for the client's reply.
_CLOSE_TIMEOUT: Final = 2.0
_SERVICE_KEYS: Final = (
    Key.of(["app", "service"], string(), to="app"),
    Key.of("port", null_or(integer(gte=1024, lte=65535, convert=True)), None),
    Key.of("envs", null_or(string(allow_blank=True)), None),
    Key.of("arguments", null_or(string(allow_blank=True)), None),
    Key.of("login_session_token", null_or(string(allow_blank=True)), None),
)


def _checked(params: dict[str, Any]) -> dict[str, Any]:
    checked = validate(params, _SERVICE_KEYS, allow_extra=True)
    for key in ("envs", "arguments"):
        if checked[key] is not None:
            try:
                json.loads(checked[key])
            except ValueError:
                raise InvalidAPIParameters(f"{key} is not valid JSON") from None
    return checked


async def _start(session: EmulatedSession, params: dict[str, Any]) -> int:
    """Start the app *params* name; the loopback port reaching the port asked for."""
    services = services_of(session)
    sport = services.find(params["app"])
    if params["port"] is not None and params["port"] not in sport["container_ports"]:
        raise InvalidAPIParameters(
            f"Service {params['app']} does not open the port number {params['port']}."
        )
    return await services.start(params["app"], params["port"])


@routes.get("/stream/session/{name}/apps")
async def _apps(request: web.Request) -> web.Response:
    session = request_session(request)
    listed = [
        {"name": sport["name"], "protocol": sport["protocol"], "ports": sport["container_ports"]}
        for sport in services_of(session).service_ports()
    ]
    return web.json_response(listed)


@routes.post("/session/{name}/start-service")
async def _start_service(request: web.Request) -> web.Response:
    params = _checked(await read_json_body(request))
    session = await ensure_running(request_session(request))
    await _start(session, params)
    origin = f"{request.scheme}://{request.host}"
    return web.json_response({"token": secrets.token_urlsafe(24), "wsproxy_addr": origin})


@routes.post("/session/{name}/shutdown-service")
async def _shutdown_service(request: web.Request) -> web.Response:
    params = validate(dict(request.query), (Key.of("service_name", string()),), allow_extra=True)
    session = await ensure_running(request_session(request))
    await services_of(session).shutdown(params["service_name"])
    return web.Response(status=204)


@contextlib.asynccontextmanager
async def _tracked(request: web.Request, ws: web.WebSocketResponse) -> AsyncIterator[None]:
    """Track the handler so that the emulator's shutdown stops it; close *ws* at the end."""
    tracker = request.app[STREAMS_KEY]
    me = asyncio.current_task()
    assert me is not None
    done = tracker.add(me)
    try:
        yield
    except ConnectionError:
        # The client left: nothing to tell it.
        pass
    finally:
        tracker.discard(me)
        if not ws.closed:
            with contextlib.suppress(ConnectionError):
                await ws.close(code=WSCloseCode.GOING_AWAY)
        done.set()


@routes.get("/stream/session/{name}/tcpproxy")
async def _tcpproxy(request: web.Request) -> web.WebSocketResponse:
    session = await ensure_running(request_session(request))
    params = _checked(dict(request.query))
    port = await _start(session, params)
    ws = web.WebSocketResponse(
        autoping=False, max_msg_size=_MAX_MESSAGE_SIZE, timeout=_CLOSE_TIMEOUT
    )
    await ws.prepare(request)
    async with _tracked(request, ws):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER)
            return ws
        try:
            await _relay(ws, reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    return ws


async def _relay(
    ws: web.WebSocketResponse, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    async def downstream() -> None:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(_CHUNK):
                await ws.send_bytes(chunk)
        # The app closed its end: so does the websocket, as the manager's TCPProxy does.
        await ws.close(code=WSCloseCode.GOING_AWAY)

    down = asyncio.create_task(downstream())
    try:
        async for message in ws:
            if message.type is aiohttp.WSMsgType.BINARY:
                writer.write(message.data)
                await writer.drain()
            elif message.type is aiohttp.WSMsgType.PING:
                await ws.pong(message.data)
    finally:
        down.cancel()
        await asyncio.gather(down, return_exceptions=True)


@routes.get("/stream/session/{name}/pty")
async def _pty(request: web.Request) -> web.WebSocketResponse:
    session = await ensure_running(request_session(request))
    shell = await services_of(session).terminal()
    ws = web.WebSocketResponse(max_msg_size=_MAX_MESSAGE_SIZE, timeout=_CLOSE_TIMEOUT)
    await ws.prepare(request)
    output = shell.subscribe()

    async def stdout() -> None:
        while (chunk := await output.get()) is not None:
            frame = {"type": "out", "data": base64.b64encode(chunk).decode("ascii")}
            await ws.send_bytes(json.dumps(frame).encode())
        await ws.close(code=WSCloseCode.GOING_AWAY)

    sender = asyncio.create_task(stdout())
    async with _tracked(request, ws):
        try:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    await _pty_command(shell, message.data)
        finally:
            shell.unsubscribe(output)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
    return ws


async def _pty_command(shell: PtyShell, text: str) -> None:
    """Act on one client frame; the manager ignores what it cannot read, so does this."""
    try:
        data = json.loads(text)
        kind = data["type"]
        if kind == "stdin":
            await shell.write(base64.b64decode(data["chars"].encode("ascii"), validate=True))
        elif kind == "resize":
            rows = integer(gte=1, lte=65535)(data["rows"])
            cols = integer(gte=1, lte=65535)(data["cols"])
            shell.resize(rows, cols)
        elif kind == "restart":
            await shell.restart()
        # "ping" only keeps the connection in use.
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, Invalid):
        return


def add_session_app_routes(app: web.Application) -> None:
    """Install the app-service routes (after `add_streaming_routes`, whose tracker they use)."""
    app.add_routes(routes)
