"""Event streams: refused arguments, the client's own filter, reconnections that fail."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from backendai_aio import (
    Client,
    ClientClosedError,
    ClientConfig,
    InvalidArgumentError,
    RequestError,
    ResponseError,
)
from tests.app_servers import app_server, root_app
from tests.fault_server import ROOT_BODY, read_request, response

SECRET = "SECRET-KEY-NEVER-SHOWN"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": ""}, "name must be a session name or '\\*'"),
        ({"max_reconnects": -1}, "max_reconnects must not be negative"),
        ({"reconnect_window": 0}, "reconnect_window must be a positive number of seconds"),
        ({"max_event_size": 0}, "max_event_size must be a positive number of characters"),
    ],
)
async def test_session_events_refuse_bad_arguments_before_connecting(
    options: dict[str, Any], message: str
) -> None:
    # Nothing listens there: a check made after connecting would fail otherwise.
    async with Client(ClientConfig("AK", SECRET, "http://127.0.0.1:9")) as client:
        with pytest.raises(InvalidArgumentError, match=message):
            async with client.events.session(**options):
                pass


async def test_background_task_events_need_a_task_id() -> None:
    async with Client(ClientConfig("AK", SECRET, "http://127.0.0.1:9")) as client:
        with pytest.raises(InvalidArgumentError, match="a task id is required"):
            async with client.events.background_task(""):
                pass


def _sse(name: str, data: dict[str, str]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


async def test_events_of_other_sessions_are_filtered_out_by_id() -> None:
    app = root_app()
    seen: list[str] = []

    async def events(request: web.Request) -> web.StreamResponse:
        seen.append(request.query_string)
        reply = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await reply.prepare(request)
        # A server that ignores the filter: every session's events.
        await reply.write(_sse("session_started", {"sessionId": "other", "sessionName": "o"}))
        await reply.write(_sse("session_started", {"sessionId": "mine", "sessionName": "m"}))
        await reply.write(b"event: server_close\ndata: \n\n")
        return reply

    app.router.add_get("/events/session", events)
    async with (
        app_server(app) as url,
        Client(ClientConfig("AK", SECRET, url)) as client,
        asyncio.timeout(5),
        client.events.session(session_id="mine") as stream,
    ):
        names = [(event.name, event.data["sessionId"]) async for event in stream]
    assert names == [("session_started", "mine")]
    assert "sessionId=mine" in seen[0]


class OnceServer:
    """Answers ``GET /``; the first event stream says ``retry:`` and hangs up, then the
    server stops listening, so that every reconnection is refused."""

    def __init__(self, retry_ms: int) -> None:
        self.retry_ms = retry_ms
        self.url = ""
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line, _ = await read_request(reader)
                if request_line.startswith(b"GET / "):
                    writer.write(
                        response("200 OK", ROOT_BODY, {"Content-Type": "application/json"})
                    )
                    await writer.drain()
                    continue
                assert self._server is not None
                self._server.close()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    + b"Connection: close\r\n\r\n"
                    + f"retry: {self.retry_ms}\n\n".encode()
                )
                await writer.drain()
                return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            self._server.close()


async def test_reconnections_that_cannot_connect_end_with_the_last_failure() -> None:
    server = OnceServer(retry_ms=50)
    async with (
        server.serving() as url,
        Client(ClientConfig("AK", SECRET, url), retry=None) as client,
    ):
        async with asyncio.timeout(5), client.events.session(max_reconnects=2) as stream:
            with pytest.raises(ResponseError, match="dropped 3 times in a row") as caught:
                async for _ in stream:
                    pass
    assert isinstance(caught.value.__cause__, RequestError)
    assert stream.reconnects == 0
    assert SECRET not in str(caught.value)


async def test_closing_the_client_while_a_stream_waits_to_reconnect() -> None:
    server = OnceServer(retry_ms=2000)  # a reconnection waits at least a second
    async with server.serving() as url:
        client = Client(ClientConfig("AK", SECRET, url), retry=None)
        async with client, asyncio.timeout(5), client.events.session() as stream:

            async def follow() -> None:
                async for _ in stream:
                    pass

            task = asyncio.create_task(follow())
            await asyncio.sleep(0.3)
            await client.close()
            with pytest.raises(ClientClosedError, match="this client is closed"):
                await task
