"""Small hostile servers on 127.0.0.1 for error-path tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

ROOT_BODY = b'{"version": "v9.20250722", "manager": "26.2.0"}'


@asynccontextmanager
async def raw_server(
    respond: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """Serve *respond* for each connection; yield the base URL."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await respond(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read one request's head and body (Content-Length bodies only); return the request line."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return head.split(b"\r\n", 1)[0]


def answering_root_then(
    status_line: bytes, headers: bytes, body: bytes
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """Answer ``GET /`` properly, then every other request with the given raw response."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request_line = await read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if request_line.startswith(b"GET / "):
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(ROOT_BODY), ROOT_BODY)
                )
                await writer.drain()
                continue
            writer.write(status_line + b"\r\n" + headers + b"\r\n" + body)
            await writer.drain()
            return

    return respond


@asynccontextmanager
async def app_server(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp application on 127.0.0.1; yield the base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def root_app(version: str = "v9.20250722") -> web.Application:
    """An application that answers ``GET /`` with *version*."""
    app = web.Application()

    async def root(request: web.Request) -> web.Response:
        return web.json_response({"version": version, "manager": "x"})

    app.router.add_get("/", root)
    return app
