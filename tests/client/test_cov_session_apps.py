"""Terminals and tunnels against servers that answer badly: odd frames, refusals, closes."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from backendai_aio import Client, ClientConfig, ResponseError
from tests.app_servers import app_server, root_app

SECRET = "SECRET-KEY-NEVER-SHOWN"

Script = Callable[[web.WebSocketResponse], Awaitable[None]]


def out(data: bytes) -> str:
    return json.dumps({"type": "out", "data": base64.b64encode(data).decode()})


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[Client]:
    """A manager whose terminal plays *script*, and whose tcpproxy refuses every upgrade."""
    app = root_app()

    async def pty(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await script(ws)
        return ws

    async def apps(request: web.Request) -> web.Response:
        return web.json_response([{"name": "web", "protocol": "http", "ports": [8080]}])

    async def tcpproxy(request: web.Request) -> web.Response:
        return web.json_response({"title": "No such app service."}, status=404)

    app.router.add_get("/stream/session/{name}/pty", pty)
    app.router.add_get("/stream/session/{name}/apps", apps)
    app.router.add_get("/stream/session/{name}/tcpproxy", tcpproxy)
    async with app_server(app) as url, Client(ClientConfig("AK", SECRET, url)) as client:
        yield client


async def test_frames_other_than_output_are_skipped() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str(json.dumps({"type": "status", "data": "x"}))
        await ws.send_bytes(out(b"one").encode())
        await ws.send_str(out(b"two"))
        await ws.close()

    async with scripted(script) as client, client.sessions.pty("s-1") as terminal:
        assert repr(terminal).startswith("<Terminal http://")
        assert [chunk async for chunk in terminal] == [b"one", b"two"]
        assert await terminal.read() == b""
        assert terminal.closed


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("{not json", "not JSON"),
        ('{"type": "out"}', "without output data"),
        ('{"type": "out", "data": "!!"}', "not base64"),
    ],
)
async def test_bad_output_frames_raise(frame: str, message: str) -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str(frame)
        await ws.receive()

    async with scripted(script) as client, client.sessions.pty("s-1") as terminal:
        with pytest.raises(ResponseError, match=message):
            await terminal.read()


async def test_a_terminal_closing_before_the_marker_keeps_the_output() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str(out(b"partial"))
        await ws.close()

    async with scripted(script) as client, client.sessions.pty("s-1") as terminal:
        with pytest.raises(ResponseError, match="closed before b'never'"):
            await terminal.read_until("never", timeout=5)
        assert await terminal.read() == b"partial"


async def test_a_read_limit_without_output_raises() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await asyncio.sleep(5)

    async with scripted(script) as client, client.sessions.pty("s-1", timeout=0.3) as terminal:
        with pytest.raises(ResponseError, match="no output came within the read limit"):
            await terminal.read()


async def test_a_refused_relay_drops_the_connection_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.close()

    caplog.set_level(logging.WARNING, "backendai_aio")
    async with scripted(script) as client:
        async with client.sessions.tunnel("s-1", app="web") as address:
            reader, writer = await asyncio.open_connection(*address)
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
    assert "the tunnel to s-1:web: a connection could not be relayed" in caplog.text
    assert SECRET not in caplog.text
