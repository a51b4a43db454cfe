"""Streaming execution over a websocket, session and background-task events."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from backendai_aio import (
    BackendError,
    Client,
    ClientClosedError,
    ClientConfig,
    NotFoundError,
    ResponseError,
)
from backendai_aio.emulator import Emulator
from backendai_aio.emulator.pytest_plugin import EmulatorThread

from ..app_servers import app_server, root_app


async def test_stream_execute_with_input(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "stream-1")
    code = "name = input('who? ')\nfor i in range(3):\n    print(name, i)\n"
    statuses = []
    async with admin_client.sessions.stream_execute("stream-1", code) as stream:
        async for frame in stream:
            statuses.append(frame["status"])
            if frame["status"] == "waiting-input":
                await stream.send_input("Grace")
    assert statuses[-1] == "finished"
    assert "waiting-input" in statuses
    assert stream.result.exit_code == 0
    assert "Grace 2" in stream.result.stdout


async def test_stream_execute_error_and_unknown_session(admin_client: Client) -> None:
    with pytest.raises(NotFoundError):
        async with admin_client.sessions.stream_execute("no-such-stream", "print(1)"):
            pass
    await admin_client.create_if_not_exists("python", "stream-err")
    async with admin_client.sessions.stream_execute(
        "stream-err", "raise ValueError('boom')"
    ) as stream:
        frames = [frame async for frame in stream]
    assert frames[-1]["exitCode"] == 1
    assert "ValueError" in stream.result.stderr


async def test_stream_execute_on_an_injected_session(emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with Client(emulator.config, session=session) as client:
            await client.create_if_not_exists("python", "stream-injected")
            async with client.sessions.stream_execute("stream-injected", "print(7 * 6)") as stream:
                async for _ in stream:
                    pass
            assert stream.result.stdout == "42\n"


async def test_session_events_for_create_and_destroy(admin_client: Client) -> None:
    async with admin_client.events.session() as events:
        await admin_client.create_if_not_exists("python", "evented-1")
        await admin_client.destroy("evented-1")
        names = []
        async with asyncio.timeout(10):
            async for event in events:
                assert event.data["sessionName"] == "evented-1"
                names.append(event.name)
                if event.name == "session_terminated":
                    break
    assert names[0] == "session_enqueued"
    assert "session_started" in names
    assert names.index("session_started") < names.index("session_terminated")


async def test_session_events_filtered_by_id_on_the_client(admin_client: Client) -> None:
    first = await admin_client.create_if_not_exists("python", "evented-a")
    async with admin_client.events.session(session_id=first["sessionId"]) as events:
        await admin_client.create_if_not_exists("python", "evented-b")
        await admin_client.destroy("evented-b")
        await admin_client.destroy("evented-a")
        async with asyncio.timeout(10):
            async for event in events:
                assert event.data["sessionId"] == first["sessionId"]
                if event.name == "session_terminated":
                    break


async def test_background_task_events_to_the_end(admin_client: Client) -> None:
    await admin_client.get_server_version()
    started = await admin_client._transport.call(
        "POST",
        admin_client._transport.url("emulator", "bgtask"),
        json={"steps": 3, "interval": 0.05},
    )
    async with admin_client.events.background_task(started["task_id"]) as events:
        names = [event.name async for event in events]
    assert names[-1] == "bgtask_done"
    assert names.count("bgtask_updated") >= 1
    assert "server_close" not in names


async def test_event_stream_reconnects_and_is_bounded() -> None:
    connections = 0
    app = root_app()

    async def events(request: web.Request) -> web.StreamResponse:
        nonlocal connections
        connections += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if connections <= 2:
            seen = request.headers.get("Last-Event-ID", "-")
            await response.write(
                f"retry: 50\nid: {connections}\nevent: tick\ndata: {seen}\n\n".encode()
            )
        return response  # the connection ends: the client must reconnect

    app.router.add_get("/events/session", events)
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        got = []
        with pytest.raises(ResponseError, match="dropped"):
            async with client.events.session(max_reconnects=3) as stream:
                async for event in stream:
                    got.append(event.data)
        assert got == ["-", 1]  # the second connection sent the last id back
        # The first, one more after which an event came, then two with none: the third
        # reconnection used up the window's budget of three.
        assert connections == 4
        assert stream.reconnects >= 1  # pyright: ignore[reportPossiblyUnboundVariable]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def threaded_emulator() -> Iterator[EmulatorThread]:
    emulator = EmulatorThread(flush_window=0.2)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


async def test_cancelling_streams_leaves_no_connection(
    threaded_emulator: EmulatorThread, tmp_path: Path
) -> None:
    async with Client(threaded_emulator.config) as setup:
        await setup.create_if_not_exists("python", "cancel-streams")
        await setup.sessions.upload("cancel-streams", {"big.bin": os.urandom(8 * 1024 * 1024)})
    await asyncio.sleep(0.2)
    before = _open_fds()
    async with Client(threaded_emulator.config) as client:

        async def read_slowly() -> None:
            async with client.sessions.download_single("cancel-streams", "big.bin") as stream:
                async for _ in stream:
                    await asyncio.sleep(0.2)

        async def stream_forever() -> None:
            async with client.sessions.stream_execute(
                "cancel-streams", "while True: pass"
            ) as stream:
                async for _ in stream:
                    pass

        async def follow_events() -> None:
            async with client.events.session() as events:
                async for _ in events:
                    pass

        async def upload_slowly() -> None:
            async def trickle() -> AsyncIterator[bytes]:
                while True:
                    yield b"x" * 65536
                    await asyncio.sleep(0.05)

            await client.sessions.upload("cancel-streams", {"endless.bin": trickle()})

        async def download_slowly() -> None:
            def slow_progress(done: int, total: int | None) -> Awaitable[None]:
                return asyncio.sleep(0.2)

            await client.sessions.download(
                "cancel-streams", ["big.bin"], tmp_path / "dest", progress=slow_progress
            )

        jobs = (read_slowly, stream_forever, follow_events, upload_slowly, download_slowly)
        for job in jobs:
            task = asyncio.create_task(job())
            await asyncio.sleep(0.3)
            assert not task.done()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await client.interrupt("cancel-streams")
    await asyncio.sleep(0.3)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    assert _open_fds() == before


async def test_unknown_background_task(admin_client: Client) -> None:
    with pytest.raises(BackendError) as caught:
        async with admin_client.events.background_task("00000000-0000-0000-0000-000000000000"):
            pass
    assert caught.value.status == 404


async def test_reconnection_drops_a_half_received_event() -> None:
    connections = 0
    app = root_app()

    async def events(request: web.Request) -> web.StreamResponse:
        nonlocal connections
        connections += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if connections == 1:
            await response.write(b'retry: 10\nid: 1\nevent: first\ndata: {"a": 1}\n\n')
            await response.write(b'event: broken\ndata: {"b"')  # cut mid-event
        else:
            await response.write(
                b'event: second\ndata: {"c": 3}\n\nevent: server_close\ndata: {}\n\n'
            )
        return response

    app.router.add_get("/events/background-task", events)
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        async with client.events.background_task("task-1") as stream:
            got = [(event.name, event.data) async for event in stream]
    assert got == [("first", {"a": 1}), ("second", {"c": 3})]


async def test_closing_the_client_ends_an_open_event_stream(admin_client: Client) -> None:
    async def follow() -> None:
        async with admin_client.events.session() as events:
            async for _ in events:
                pass

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.3)
    await admin_client.close()
    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(task, timeout=5)
