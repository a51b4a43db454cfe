"""The official SDK's environment variables, applied for real against servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from backendai_aio import (
    BadRequestError,
    Client,
    ClientConfig,
    InsecureTLSWarning,
    InvalidArgumentError,
    RequestError,
    ResponseError,
)
from backendai_aio.emulator import Emulator

from ..app_servers import app_server, root_app

KEYS = {"BACKEND_ACCESS_KEY": "AKIAIOSFODNN7EXAMPLE", "BACKEND_SECRET_KEY": "s" * 40}


def _env(emulator: Emulator, **settings: str) -> dict[str, str]:
    return {
        "BACKEND_ACCESS_KEY": emulator.access_key,
        "BACKEND_SECRET_KEY": emulator.config.secret_key,
        "BACKEND_ENDPOINT": emulator.endpoint,
        **{f"BACKEND_{name.upper()}": value for name, value in settings.items()},
    }


@pytest.fixture
async def recording_manager() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A manager that records the bodies of ``POST /session``."""
    bodies: list[dict[str, Any]] = []
    app = root_app()

    async def create(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.json_response({"sessionId": "x", "status": "RUNNING", "created": True})

    app.router.add_post("/session", create)
    async with app_server(app) as url:
        yield url, bodies


async def test_group_domain_and_mounts_go_into_session_creation(
    recording_manager: tuple[str, list[dict[str, Any]]],
) -> None:
    url, bodies = recording_manager
    env = {
        **KEYS,
        "BACKEND_ENDPOINT": url,
        "BACKEND_GROUP": "myproject",
        "BACKEND_DOMAIN": "research",
        "BACKEND_VFOLDER_MOUNTS": "data, models",
    }
    async with Client(ClientConfig.from_env(env)) as client:
        await client.create_if_not_exists("python", "s-one")
        await client.create_if_not_exists(
            "python", "s-two", group="other", domain="d2", mounts=["models", "extra"]
        )
    assert bodies[0]["group"] == "myproject"
    assert bodies[0]["domain"] == "research"
    assert bodies[0]["config"]["mounts"] == ["data", "models"]
    # A call's own choice wins; the configured mounts are added to the call's.
    assert (bodies[1]["group"], bodies[1]["domain"]) == ("other", "d2")
    assert bodies[1]["config"]["mounts"] == ["models", "extra", "data"]


async def test_without_settings_the_server_chooses(
    recording_manager: tuple[str, list[dict[str, Any]]],
) -> None:
    url, bodies = recording_manager
    async with Client(ClientConfig.from_env({**KEYS, "BACKEND_ENDPOINT": url})) as client:
        await client.create_if_not_exists("python", "s-one")
    assert "group" not in bodies[0] and "domain" not in bodies[0]
    assert "config" not in bodies[0]


async def test_backend_group_reaches_the_emulated_manager(emulator: Emulator) -> None:
    # The emulator has one project, "default": another one is refused as the manager does,
    # which shows the setting is sent rather than silently dropped.
    config = ClientConfig.from_env(_env(emulator, group="myproject"))
    async with Client(config) as client:
        with pytest.raises(BadRequestError, match="Invalid group"):
            await client.create_if_not_exists("python", "in-myproject")
    async with Client(ClientConfig.from_env(_env(emulator, group="default"))) as client:
        created = await client.create_if_not_exists("python", "in-default")
        assert created["created"] is True
        await client.destroy("in-default")


async def test_read_timeout_becomes_the_client_default() -> None:
    app = root_app()
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    app.router.add_get("/session/{name}", stall)
    async with app_server(app) as url:
        env = {**KEYS, "BACKEND_ENDPOINT": url, "BACKEND_READ_TIMEOUT": "0.3"}
        async with Client(ClientConfig.from_env(env), retry=None) as client:
            started = time.monotonic()
            with pytest.raises(ResponseError, match=r"timed out .*read limit 0\.3 s"):
                await client.get_info("abcd")
            assert time.monotonic() - started < 5
            # A call's own timeout still wins over the configured default.
            with pytest.raises(ResponseError, match=r"limit 0\.1 s"):
                await client.get_info("abcd", timeout=0.1)
        release.set()


def test_timeouts_from_the_environment() -> None:
    env = {**KEYS, "BACKEND_CONNECTION_TIMEOUT": "5", "BACKEND_READ_TIMEOUT": "0"}
    config = ClientConfig.from_env(env)
    assert (config.timeout.connect, config.timeout.read) == (5.0, None)
    assert (
        ClientConfig.from_env(KEYS).timeout
        == Client(ClientConfig.from_env(KEYS))._transport.default_timeout
    )
    explicit = Client(config, timeout=7)
    assert (
        explicit._transport.default_timeout.connect,
        explicit._transport.default_timeout.read,
    ) == (7.0, 7.0)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def https_url(ca: trustme.CA) -> AsyncIterator[str]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    runner = web.AppRunner(root_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    try:
        yield f"https://localhost:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_skip_sslcert_validation(https_url: str, ca: trustme.CA) -> None:
    env = {**KEYS, "BACKEND_ENDPOINT": https_url}
    async with Client(ClientConfig.from_env(env)) as client:
        with pytest.raises(RequestError, match="TLS failed"):
            await client.get_server_version()
    skipping = ClientConfig.from_env({**env, "BACKEND_SKIP_SSLCERT_VALIDATION": "yes"})
    with pytest.warns(InsecureTLSWarning, match="verification is off"):
        async with Client(skipping) as client:
            assert (await client.get_server_version())["version"] == "v9.20250722"
    # An SSL context given by the caller says how to verify, whatever the environment says.
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with Client(skipping, ssl=context) as client:
        assert (await client.get_server_version())["version"] == "v9.20250722"


@contextlib.asynccontextmanager
async def _forwarder(target: list[int]) -> AsyncIterator[tuple[int, list[int]]]:
    """A TCP forwarder on 127.0.0.1 to the port in *target* (set once known).

    Yields its port and a connection count.
    """
    connections: list[int] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target[0])
        writers.extend((writer, up_writer))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], connections
    finally:
        server.close()
        for writer in writers:
            writer.close()
        # Newer Pythons wait here for the connections to end: bounded, whatever they do.
        await asyncio.wait_for(server.wait_closed(), timeout=10)


async def test_storage_proxy_override_is_where_the_bytes_go(
    emulator: Emulator, tmp_path: Path
) -> None:
    target: list[int] = []
    async with _forwarder(target) as (port, connections):
        # The emulator answers a Host naming another port (the forwarder's) only when told to.
        async with Emulator(allowed_hosts=[f"localhost:{port}"]) as forwarded:
            emulated_port = int(forwarded.endpoint.rsplit(":", 1)[1])
            target.append(emulated_port)
            override = f"http://127.0.0.1:{emulated_port}=localhost:{port}"
            config = ClientConfig.from_env(_env(forwarded, override_storage_proxy=override))
            async with Client(config) as client:
                await client.vfolders.create("data")
                manager_connections = len(connections)
                assert (
                    await client.vfolders.get("data").upload(b"through the override", "f.txt") == 20
                )
                await client.vfolders.get("data").download("f.txt", tmp_path / "f.txt")
            assert (tmp_path / "f.txt").read_bytes() == b"through the override"
            assert len(connections) > manager_connections
    elsewhere = ClientConfig.from_env(_env(emulator, override_storage_proxy="other:1=h:2"))
    async with Client(elsewhere) as client:
        await client.vfolders.create("data2")
        with pytest.raises(InvalidArgumentError, match="none matches"):
            await client.vfolders.get("data2").upload(b"x", "f.txt")
