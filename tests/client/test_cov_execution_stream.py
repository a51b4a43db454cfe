"""Streaming execution against servers that answer badly: odd frames, broken sockets, stalls."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from backendai_aio import (
    Client,
    ClientConfig,
    InvalidArgumentError,
    RequestError,
    ResponseError,
    ServerError,
    Timeout,
)
from tests.app_servers import app_server, root_app
from tests.fault_server import FaultServer, until_client_closes

SECRET = "SECRET-KEY-NEVER-SHOWN"
FINISHED = '{"status": "finished", "exitCode": 0, "console": [["stdout", "done"]]}'

Script = Callable[[web.WebSocketResponse], Awaitable[None]]


@asynccontextmanager
async def scripted(script: Script, **client_options: Any) -> AsyncIterator[Client]:
    """A manager whose execution socket reads the code, then plays *script*."""
    app = root_app()

    async def execute(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()  # the code
        await script(ws)
        return ws

    app.router.add_get("/stream/session/{name}/execute", execute)
    async with (
        app_server(app) as url,
        Client(ClientConfig("AK", SECRET, url), **client_options) as client,
    ):
        yield client


async def frames_of(client: Client, **options: Any) -> list[dict[str, Any]]:
    async with (
        asyncio.timeout(5),
        client.sessions.stream_execute("s-1", "print(1)", **options) as stream,
    ):
        return [frame async for frame in stream]


async def test_frames_that_are_not_text_are_skipped() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_bytes(b"\x00binary")
        await ws.send_str(FINISHED)

    async with scripted(script) as client:
        assert [frame["status"] for frame in await frames_of(client)] == ["finished"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("{not json", "a frame that is not JSON: '{not json'"),
        ("[1, 2]", r"a frame that is not an object: \[1, 2\]"),
    ],
)
async def test_a_frame_that_is_no_json_object_is_a_response_error(frame: str, message: str) -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str(frame)
        await ws.receive()

    async with scripted(script) as client:
        with pytest.raises(ResponseError, match=message):
            await frames_of(client)


async def test_an_error_frame_is_a_server_error_with_its_message() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str('{"status": "error", "msg": "kernel gone"}')
        await ws.receive()

    async with scripted(script) as client:
        with pytest.raises(ServerError, match="the execution failed: kernel gone") as caught:
            await frames_of(client)
    assert caught.value.msg == "kernel gone"
    assert caught.value.body == {"status": "error", "msg": "kernel gone"}


async def test_an_error_frame_without_a_message() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str('{"status": "error"}')
        await ws.receive()

    async with scripted(script) as client:
        with pytest.raises(ServerError, match="the execution failed: None") as caught:
            await frames_of(client)
    assert caught.value.msg is None


async def test_a_socket_closed_before_the_end_is_a_response_error() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str('{"status": "continued", "console": [["stdout", "half"]]}')
        await ws.close()

    async with scripted(script) as client:
        async with asyncio.timeout(5), client.sessions.stream_execute("s-1", "print(1)") as stream:
            with pytest.raises(ResponseError, match="closed before the run finished"):
                async for _ in stream:
                    pass
            assert stream.result.stdout == "half"
            # The socket is gone: input cannot be sent any more.
            with pytest.raises(RequestError, match=r"sending input to \S+ failed"):
                await stream.send_input("late")


async def test_an_invalid_frame_is_a_response_error() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        # A text frame whose payload is not UTF-8, written below the server's checks.
        assert ws._writer is not None
        ws._writer.transport.write(b"\x81\x02\xff\xfe")
        await asyncio.sleep(1)

    async with scripted(script) as client:
        with pytest.raises(ResponseError, match="failed: Invalid UTF-8 text message"):
            await frames_of(client)


async def test_a_read_limit_bounds_each_wait_for_a_frame() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await asyncio.sleep(2)

    async with scripted(script) as client:
        with pytest.raises(ResponseError, match="no frame came within the read limit"):
            await frames_of(client, timeout=Timeout(read=0.2))


async def test_input_must_be_text_and_the_mode_known() -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str(FINISHED)

    async with scripted(script) as client:
        with pytest.raises(InvalidArgumentError, match="takes 'query' or 'batch', not 'shell'"):
            async with client.sessions.stream_execute("s-1", "ls", mode="shell"):
                pass
        async with asyncio.timeout(5), client.sessions.stream_execute("s-1", "print(1)") as stream:
            with pytest.raises(InvalidArgumentError, match="input must be a string"):
                await stream.send_input(b"bytes")  # type: ignore[arg-type]
            assert [frame["status"] async for frame in stream] == ["finished"]


async def test_a_webserver_upgrade_carries_the_version_and_no_signature() -> None:
    app = web.Application()
    seen: list[dict[str, str]] = []

    async def root(request: web.Request) -> web.Response:
        return web.json_response({"version": "v9.20250722", "manager": "x"})

    async def execute(request: web.Request) -> web.WebSocketResponse:
        seen.append(dict(request.headers))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        await ws.send_str(FINISHED)
        return ws

    app.router.add_get("/func/", root)
    app.router.add_get("/func/stream/session/{name}/execute", execute)
    async with (
        app_server(app) as url,
        Client(ClientConfig(endpoint=url, endpoint_type="session")) as client,
    ):
        assert [frame["status"] for frame in await frames_of(client)] == ["finished"]
    assert seen[0]["X-BackendAI-Version"] == "v9.20250722"
    assert "Authorization" not in seen[0]


async def stall(server: FaultServer, reader: asyncio.StreamReader, writer: Any) -> None:
    await until_client_closes(reader)


async def hang_up(server: FaultServer, reader: asyncio.StreamReader, writer: Any) -> None:
    writer.transport.abort()


def _accept(head: bytes) -> str:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    digest = hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    return base64.b64encode(digest).decode()


async def upgrade_then_hang_up(
    server: FaultServer, reader: asyncio.StreamReader, writer: Any
) -> None:
    writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {_accept(server.heads[-1])}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    # Read nothing of the code, then reset: the client is still writing it.
    await asyncio.sleep(0.3)
    writer.transport.abort()


async def test_a_handshake_past_the_connect_limit_is_a_request_error() -> None:
    async with (
        FaultServer(stall) as server,
        Client(ClientConfig("AK", SECRET, server.url), timeout=Timeout(connect=0.3)) as client,
    ):
        with pytest.raises(RequestError, match=r"timed out \(connect limit 0.3 s\)") as caught:
            await frames_of(client)
    assert caught.value.method == "GET"
    assert SECRET not in str(caught.value)


async def test_a_handshake_cut_short_is_a_request_error() -> None:
    async with (
        FaultServer(hang_up) as server,
        Client(ClientConfig("AK", SECRET, server.url)) as client,
    ):
        with pytest.raises(RequestError, match="opening the execution stream failed: Server"):
            await frames_of(client)


async def test_a_socket_gone_before_the_code_is_sent_is_a_request_error() -> None:
    async with (
        FaultServer(upgrade_then_hang_up) as server,
        Client(ClientConfig("AK", SECRET, server.url)) as client,
    ):
        # Too large for the socket buffers: sending it waits on the server, which resets.
        code = "x" * (64 << 20)
        with pytest.raises(RequestError, match="sending the code failed") as caught:
            async with asyncio.timeout(10), client.sessions.stream_execute("s-1", code):
                pass
    assert caught.value.method == "GET"
