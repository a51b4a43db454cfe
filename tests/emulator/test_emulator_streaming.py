"""Streaming execution over a signed websocket."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from backendai_aio.emulator import Emulator

from .wire import Wire

FRAME_KEYS = {"status", "console", "exitCode", "options", "files"}


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    # The 26.9 profile (the default).
    return {"flush_window": 0.2}


async def frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    data: dict[str, Any] = json.loads(message.data)
    return data


def stdout(frames: list[dict[str, Any]]) -> str:
    return "".join(
        payload for f in frames for kind, payload in f.get("console") or [] if kind == "stdout"
    )


async def test_streaming_execute_with_input(admin_wire: Wire) -> None:
    await admin_wire.create_session("stream-input")
    code = "name = input('Name? ')\nage = input('Age? ')\nprint(f'hello {name}, {age}')"
    frames: list[dict[str, Any]] = []
    async with admin_wire.websocket("/stream/session/stream-input/execute") as ws:
        await ws.send_json({"mode": "query", "code": code, "options": {}})
        answers = iter(["world", "42"])
        while True:
            current = await frame(ws)
            assert set(current) == FRAME_KEYS
            frames.append(current)
            if current["status"] == "waiting-input":
                assert current["options"] == {"is_password": False}
                await ws.send_str(next(answers))
            elif current["status"] == "finished":
                break
            else:
                assert current["status"] == "continued"
        # The server closes the connection once the run has finished.
        assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
    assert [f["status"] for f in frames if f["status"] != "continued"] == [
        "waiting-input",
        "waiting-input",
        "finished",
    ]
    assert frames[-1]["exitCode"] == 0
    assert stdout(frames) == "Name? Age? hello world, 42\n"
    # The variables live on in the session, like after any run.
    assert await admin_wire.run("stream-input", "print(name, age)") == "world 42\n"


async def test_streaming_execute_sends_output_as_it_comes(admin_wire: Wire) -> None:
    await admin_wire.create_session("stream-steps")
    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.3)"
    frames = []
    async with admin_wire.websocket("/stream/session/stream-steps/execute") as ws:
        await ws.send_json({"mode": "query", "code": code})
        while (current := await frame(ws))["status"] != "finished":
            frames.append(current)
        frames.append(current)
    assert len(frames) >= 3
    assert {f["status"] for f in frames[:-1]} == {"continued"}
    assert all(f["exitCode"] is None for f in frames[:-1])
    assert stdout(frames) == "0\n1\n2\n"


async def test_streaming_batch_mode(admin_wire: Wire) -> None:
    await admin_wire.create_session("stream-batch")
    await admin_wire.run("stream-batch", "open('main.py', 'w').write('print(\"from main\")')")
    async with admin_wire.websocket("/stream/session/stream-batch/execute") as ws:
        await ws.send_json(
            {"mode": "batch", "code": "", "options": {"build": "echo building", "exec": "*"}}
        )
        frames = []
        while (current := await frame(ws))["status"] != "finished":
            frames.append(current)
        frames.append(current)
    assert "build-finished" in [f["status"] for f in frames]
    assert stdout(frames) == "building\nfrom main\n"
    assert frames[-1]["exitCode"] == 0


@pytest.mark.parametrize(
    ("first", "msg"),
    [
        (
            {"mode": "execute", "code": "1"},
            "Invalid API parameters: AssertionError('mode has an invalid value.')",
        ),
        (
            {"code": "1"},
            "Invalid API parameters: AssertionError('mode is missing or empty!')",
        ),
        (
            "{not json",
            "Invalid API parameters: JSONDecodeError('Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1)')",
        ),
        # Lists and objects are refused like any other wrong value.
        (
            {"mode": ["query"], "code": "1"},
            "Invalid API parameters: AssertionError('mode has an invalid value.')",
        ),
        (
            {"mode": {"query": 1}, "code": "1"},
            "Invalid API parameters: AssertionError('mode has an invalid value.')",
        ),
        (
            {"mode": "query", "code": ["1"]},
            "Invalid API parameters: AssertionError('code or options has an invalid type.')",
        ),
        (
            {"mode": "query", "code": "1", "options": [1]},
            "Invalid API parameters: AssertionError('code or options has an invalid type.')",
        ),
    ],
)
async def test_streaming_execute_parameter_errors(admin_wire: Wire, first: Any, msg: str) -> None:
    await admin_wire.create_session("stream-bad")
    async with admin_wire.websocket("/stream/session/stream-bad/execute") as ws:
        if isinstance(first, str):
            await ws.send_str(first)
        else:
            await ws.send_json(first)
        assert await frame(ws) == {"status": "error", "msg": msg}


async def test_streaming_execute_refuses_unknown_sessions_before_upgrading(
    admin_wire: Wire,
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        async with admin_wire.websocket("/stream/session/stream-ghost/execute"):
            pass
    assert caught.value.status == 404


async def test_unsigned_websocket_is_refused(emulator: Emulator) -> None:
    headers = {"Date": datetime.now(UTC).isoformat()}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            async with session.ws_connect(
                emulator.endpoint + "/stream/session/x/execute", headers=headers
            ):
                pass
    assert caught.value.status == 401


async def test_client_leaving_interrupts_the_run(admin_wire: Wire) -> None:
    await admin_wire.create_session("stream-leave")
    async with admin_wire.websocket("/stream/session/stream-leave/execute") as ws:
        await ws.send_json({"mode": "query", "code": "import time\nwhile True: time.sleep(0.05)"})
        assert (await frame(ws))["status"] == "continued"
    # The run was interrupted: the session takes a new one soon.
    request = {"mode": "query", "code": "print('next')", "runId": "after-leave"}
    for _ in range(50):
        status, body = await admin_wire.call("POST", "/session/stream-leave", body=request)
        if status == 200:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the session took no new run after the client left")
    assert body["result"]["console"] == [["stdout", "next\n"]]


async def test_shutdown_tells_streaming_clients() -> None:
    emulator = Emulator(flush_window=0.2)
    await emulator.start()
    try:
        async with aiohttp.ClientSession() as session:
            wire = Wire(emulator, session)
            await wire.create_session("stream-shutdown")
            async with wire.websocket("/stream/session/stream-shutdown/execute") as ws:
                await ws.send_json({"mode": "query", "code": "import time; time.sleep(30)"})
                assert (await frame(ws))["status"] == "continued"
                stopping = asyncio.create_task(emulator.stop())
                while (current := await frame(ws))["status"] == "continued":
                    pass
                assert current == {
                    "status": "server-restarting",
                    "msg": "The API server is going to restart for maintenance. "
                    "Please connect again with the same run ID.",
                }
                assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
            await asyncio.wait_for(stopping, timeout=10)
    finally:
        await emulator.stop()
