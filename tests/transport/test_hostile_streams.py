"""Event streams and execution streams against servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from backendai_aio import Client, ClientConfig, NotFoundError, ResponseError
from backendai_aio.emulator import Emulator

from ..app_servers import app_server, root_app

SECRET = "SECRET-KEY-NEVER-SHOWN"


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[Client]:
    async with app_server(app) as url, Client(ClientConfig("AK", SECRET, url)) as client:
        yield client


async def _sse(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    return response


async def test_a_line_without_end_is_refused_at_its_bound() -> None:
    sent = 0
    app = root_app()

    async def endless_line(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = await _sse(request)
        chunk = b"data: " + b"x" * (256 * 1024 - 6)
        # Up to 200 MiB without a newline, as long as the client keeps reading.
        while sent < 200 * 1024 * 1024:
            await response.write(chunk)
            sent += len(chunk)
            chunk = b"x" * (256 * 1024)
        return response

    app.router.add_get("/events/session", endless_line)
    async with serving(app) as client:
        started = time.monotonic()
        with pytest.raises(ResponseError, match="line longer than"):
            async with asyncio.timeout(10), client.events.session() as stream:
                async for _ in stream:
                    pass
        assert time.monotonic() - started < 5
    assert sent < 20 * 1024 * 1024  # it stopped reading soon after the bound


async def test_an_event_past_a_configured_bound_is_refused() -> None:
    app = root_app()

    async def many_lines(request: web.Request) -> web.StreamResponse:
        response = await _sse(request)
        await response.write(b"event: ok\ndata: small\n\n")
        await response.write(b"data: 0123456789\n" * 200 + b"\n")
        return response

    app.router.add_get("/events/background-task", many_lines)
    async with serving(app) as client:
        got = []
        with pytest.raises(ResponseError, match="event larger than 1000"):
            async with (
                asyncio.timeout(5),
                client.events.background_task("t", max_event_size=1000) as stream,
            ):
                async for event in stream:
                    got.append(event.data)
        assert got == ["small"]


async def test_one_event_per_connection_is_bounded_within_a_window() -> None:
    connections = 0
    app = root_app()

    async def one_event(request: web.Request) -> web.StreamResponse:
        nonlocal connections
        connections += 1
        response = await _sse(request)
        await response.write(f"retry: 0\nid: {connections}\ndata: {connections}\n\n".encode())
        return response

    app.router.add_get("/events/session", one_event)
    async with serving(app) as client:
        got = []
        with pytest.raises(ResponseError, match="3 reconnections within 60 s"):
            async with asyncio.timeout(5), client.events.session(max_reconnects=3) as stream:
                async for event in stream:
                    got.append(event.data)
        assert got == [1, 2, 3, 4]
        assert connections == 4
        assert stream.reconnects == 3  # pyright: ignore[reportPossiblyUnboundVariable]


@pytest.mark.parametrize("retry", ["3600000", "1" + "0" * 400, "9" * 5000])
async def test_a_huge_retry_is_capped(retry: str) -> None:
    app = root_app()

    async def once(request: web.Request) -> web.StreamResponse:
        response = await _sse(request)
        await response.write(f"retry: {retry}\ndata: x\n\n".encode())
        return response

    app.router.add_get("/events/session", once)
    async with serving(app) as client:
        events = []
        # The reconnection waits (capped at a minute, at least half of it with the jitter):
        # the loop times out, nothing else.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(3), client.events.session() as stream:
                async for event in stream:
                    events.append(event)
        assert [event.retry for event in events] == [60_000]


class Manager26:
    """A session-event endpoint that behaves as 26.9's: it reads only ``sessionName``,
    answers 404 at once for a session that does not exist, and otherwise streams every
    session's events unless the name filter was given."""

    def __init__(self) -> None:
        self.sessions = {"existing"}
        self.queries: list[dict[str, str]] = []
        self.listeners: list[asyncio.Queue[dict[str, Any] | None]] = []
        self._listening = asyncio.Event()
        self.app = root_app()
        self.app.router.add_get("/events/session", self.events)
        self.app.on_shutdown.append(self.stop)

    async def stop(self, app: web.Application) -> None:
        for queue in self.listeners:
            queue.put_nowait(None)

    async def events(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.queries.append(query)
        name = query.get("sessionName", "*")
        if name != "*" and name not in self.sessions:
            raise web.HTTPNotFound(
                text='{"type": "https://api.backend.ai/probs/entity-not-found", '
                '"title": "Entity not found."}',
                content_type="application/problem+json",
            )
        response = await _sse(request)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.listeners.append(queue)
        self._listening.set()
        while (data := await queue.get()) is not None:
            if name == "*" or data["sessionName"] == name:
                line = f'event: {data["event"]}\ndata: {{"sessionName": "{data["sessionName"]}"}}'
                await response.write(line.encode() + b"\n\n")
        return response

    def publish(self, event: str, session: str) -> None:
        for queue in self.listeners:
            queue.put_nowait({"event": event, "sessionName": session})

    async def listening(self) -> None:
        await self._listening.wait()


async def test_session_events_by_name_send_session_name_and_filter_locally() -> None:
    manager = Manager26()
    async with serving(manager.app) as client:
        async with asyncio.timeout(5), client.events.session(name="existing") as stream:
            await manager.listening()
            assert manager.queries == [{"sessionName": "existing", "scope": "*"}]
            assert not stream.filtered_locally
            manager.publish("session_started", "existing")
            async for event in stream:
                assert event.data["sessionName"] == "existing"
                break


async def test_subscribe_then_create_on_a_manager_that_refuses_unknown_names() -> None:
    manager = Manager26()
    async with serving(manager.app) as client:
        async with asyncio.timeout(5), client.events.session(name="later") as stream:
            await manager.listening()
            # The name was refused with 404: every session is followed, the client filters.
            assert manager.queries == [{"sessionName": "later", "scope": "*"}, {"scope": "*"}]
            assert stream.filtered_locally
            manager.sessions.add("later")
            manager.publish("session_enqueued", "other")
            manager.publish("session_enqueued", "later")
            manager.publish("session_started", "other")
            manager.publish("session_started", "later")
            names = []
            async for event in stream:
                assert event.data["sessionName"] == "later"
                names.append(event.name)
                if len(names) == 2:
                    break
        assert names == ["session_enqueued", "session_started"]


async def test_an_unknown_route_is_still_a_404() -> None:
    async with serving(root_app()) as client:
        with pytest.raises(NotFoundError):
            async with client.events.session(name="anything"):
                pass


async def test_session_events_by_name_on_the_emulator(admin_client: Client) -> None:
    async with admin_client.events.session(name="named-1", scope="session") as events:
        await admin_client.create_if_not_exists("python", "named-2")
        await admin_client.create_if_not_exists("python", "named-1")
        await admin_client.destroy("named-1")
        async with asyncio.timeout(10):
            async for event in events:
                assert event.data["sessionName"] == "named-1"
                if event.name == "session_terminated":
                    break


async def test_leaving_a_stream_against_a_flooding_server_is_bounded() -> None:
    app = root_app()

    async def flood(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoclose=False)
        await ws.prepare(request)
        await ws.receive()  # the code
        frame = '{"status": "continued", "console": [["stdout", "' + "y" * 1000 + '"]]}'
        # Frames for ever, and never an answer to the close.
        while not ws.closed:
            await ws.send_str(frame)
        return ws

    app.router.add_get("/stream/session/{name}/execute", flood)
    async with serving(app) as client:
        async with asyncio.timeout(15):
            async with client.sessions.stream_execute("s", "print(1)") as stream:
                async for _ in stream:
                    break
                started = time.monotonic()
        assert time.monotonic() - started < 5


async def test_stream_reprs_name_the_stream_and_no_secret(emulator: Emulator) -> None:
    async with Client(emulator.config) as client:
        await client.create_if_not_exists("python", "repr-1")
        async with client.events.session(name="repr-1") as events:
            text = repr(events)
            assert "EventStream" in text
            assert "repr-1" in text
            assert "state=open" in text
        assert "state=closed" in repr(events)
        async with client.sessions.stream_execute("repr-1", "print(1)") as stream:
            assert "state=running" in repr(stream)
            async for _ in stream:
                pass
            text = repr(stream)
        assert "state=finished" in text
        assert "status='finished'" in text
        for shown in (repr(events), text):
            assert emulator.config.secret_key not in shown
            assert "Authorization" not in shown
