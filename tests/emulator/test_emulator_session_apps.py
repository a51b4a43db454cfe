"""The emulator's app-service routes on the wire: service ports, tcpproxy and pty frames."""

from __future__ import annotations

import asyncio
import base64
import json
import socket

import aiohttp

from .wire import PROBS, Wire


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def create(wire: Wire, name: str, preopen: list[int]) -> None:
    body = {"image": "python", "name": name, "config": {"preopen_ports": preopen}}
    status, answer = await wire.call("POST", "/session", body=body)
    assert status == 201, answer


async def test_apps_answers_the_service_ports(admin_wire: Wire) -> None:
    port = free_port()
    await create(admin_wire, "wire-apps", [port])
    status, body = await admin_wire.call("GET", "/stream/session/wire-apps/apps")
    assert status == 200
    assert body == [
        {"name": "fileserver", "protocol": "http", "ports": [8000]},
        {"name": str(port), "protocol": "preopen", "ports": [port]},
    ]


async def test_tcpproxy_relays_binary_frames_to_the_preopen_port(admin_wire: Wire) -> None:
    port = free_port()
    await create(admin_wire, "wire-tcp", [port])

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write((await reader.readline()).upper())
        await writer.drain()
        writer.close()

    # What the session's code would listen on: a local process at the port's number.
    server = await asyncio.start_server(answer, "127.0.0.1", port)
    async with server:
        path = f"/stream/session/wire-tcp/tcpproxy?app={port}&port={port}"
        async with admin_wire.websocket(path) as ws:
            await ws.send_bytes(b"ping over tcp\n")
            message = await ws.receive(timeout=10)
            assert message.type is aiohttp.WSMsgType.BINARY
            assert message.data == b"PING OVER TCP\n"
            # The app closed its end: the websocket closes with 1001.
            closing = await ws.receive(timeout=10)
            assert closing.type is aiohttp.WSMsgType.CLOSE
            assert closing.data == 1001


async def test_tcpproxy_to_a_closed_port_closes_with_try_again_later(admin_wire: Wire) -> None:
    port = free_port()
    await create(admin_wire, "wire-closed", [port])
    async with admin_wire.websocket(f"/stream/session/wire-closed/tcpproxy?app={port}") as ws:
        message = await ws.receive(timeout=10)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert message.data == 1013


async def test_unknown_apps_and_ports_are_refused(admin_wire: Wire) -> None:
    await admin_wire.create_session("wire-refused")
    status, body = await admin_wire.call(
        "POST", "/session/wire-refused/start-service", body={"app": "jupyter"}
    )
    assert (status, body["type"], body["msg"]) == (
        404,
        PROBS + "object-not-found",
        "wire-refused:jupyter",
    )
    status, body = await admin_wire.call(
        "POST", "/session/wire-refused/start-service", body={"app": "fileserver", "port": 8001}
    )
    assert status == 400
    assert body["msg"] == "Service fileserver does not open the port number 8001."
    status, body = await admin_wire.call(
        "POST", "/session/wire-refused/start-service", body={"app": "fileserver", "envs": "{"}
    )
    assert (status, body["msg"]) == (400, "envs is not valid JSON")
    status, body = await admin_wire.call(
        "POST", "/session/wire-refused/start-service", body={"port": 80}
    )
    assert status == 400
    assert set(body["data"]) == {"app", "port"}
    status, body = await admin_wire.call("POST", "/session/wire-refused/shutdown-service")
    assert (status, body["data"]) == (400, {"service_name": "is required"})
    async with admin_wire.request(
        "GET", "/stream/session/wire-refused/tcpproxy?app=jupyter"
    ) as response:
        assert response.status == 404
    status, _ = await admin_wire.call("GET", "/stream/session/nobody-here/apps")
    assert status == 404


async def test_start_service_accepts_the_service_alias(admin_wire: Wire) -> None:
    await admin_wire.create_session("wire-alias")
    status, body = await admin_wire.call(
        "POST", "/session/wire-alias/start-service", body={"service": "fileserver"}
    )
    assert status == 200
    assert set(body) == {"token", "wsproxy_addr"}
    async with admin_wire.request(
        "POST", "/session/wire-alias/shutdown-service?service_name=fileserver"
    ) as response:
        assert response.status == 204


async def test_pty_frames_are_the_managers(admin_wire: Wire) -> None:
    await admin_wire.create_session("wire-pty")
    async with admin_wire.websocket("/stream/session/wire-pty/pty") as ws:
        # What the manager ignores: not JSON, no type, bad base64, bad sizes, a ping.
        for junk in ("not json", "{}", '{"type": "stdin", "chars": "!!"}', '{"type": "ping"}'):
            await ws.send_str(junk)
        await ws.send_str(json.dumps({"type": "resize", "rows": 0, "cols": 80}))
        await ws.send_str(json.dumps({"type": "resize", "rows": 12, "cols": 34}))
        chars = base64.b64encode(b"stty size; echo en''d\n").decode()
        await ws.send_str(json.dumps({"type": "stdin", "chars": chars}))
        seen = b""
        while b"\nend\r" not in seen:
            message = await ws.receive(timeout=15)
            # Output comes as binary frames holding JSON, as the manager sends them.
            assert message.type is aiohttp.WSMsgType.BINARY, message
            frame = json.loads(message.data)
            assert frame["type"] == "out"
            seen += base64.b64decode(frame["data"])
        assert b"12 34" in seen
