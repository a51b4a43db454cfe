"""TLS verification, cancellation without leaks, a soak run, secrets kept out of sight."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import random
import ssl
from collections.abc import AsyncIterator, Iterator

import pytest
import trustme
from aiohttp import web

from backendai_aio import (
    BackendError,
    Client,
    ClientConfig,
    InsecureTLSWarning,
    NotFoundError,
    RequestError,
)
from backendai_aio.emulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Emulator
from backendai_aio.emulator.pytest_plugin import EmulatorThread

from ..app_servers import root_app


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def https_url(ca: trustme.CA) -> AsyncIterator[str]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    app = root_app()

    async def info(request: web.Request) -> web.Response:
        return web.json_response({"status": "RUNNING"})

    app.router.add_get("/session/{name}", info)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    try:
        yield f"https://localhost:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_tls_is_verified_by_default(https_url: str) -> None:
    async with Client(ClientConfig("AK", "SK", https_url)) as client:
        with pytest.raises(RequestError, match="TLS failed") as caught:
            await client.get_info("abcd")
    assert "certificate" in caught.value.message.lower()


async def test_tls_with_a_trusted_context(https_url: str, ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with Client(ClientConfig("AK", "SK", https_url), ssl=context) as client:
        assert dict(await client.get_info("abcd")) == {"status": "RUNNING"}


async def test_tls_verification_off_warns_once(https_url: str) -> None:
    with pytest.warns(InsecureTLSWarning, match="verification is off") as record:  # noqa: PT031
        async with Client(ClientConfig("AK", "SK", https_url), ssl=False) as client:
            assert dict(await client.get_info("abcd")) == {"status": "RUNNING"}
            assert dict(await client.get_info("abcd")) == {"status": "RUNNING"}
    assert len(record) == 1


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def threaded_emulator() -> Iterator[EmulatorThread]:
    # The emulator runs in its own thread and loop, so every task left in the test's loop
    # belongs to the client.
    emulator = EmulatorThread()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


async def test_cancellation_at_random_points_leaks_nothing(
    threaded_emulator: EmulatorThread,
) -> None:
    rng = random.Random(20261126)
    async with Client(threaded_emulator.config) as setup:
        await setup.create_if_not_exists("python", "cancel-target")
    await asyncio.sleep(0.2)
    fds_before = _open_fds()
    async with Client(threaded_emulator.config) as client:
        session = client.http_session
        assert session is not None

        async def call() -> None:
            with contextlib.suppress(BackendError):
                await client.get_info("cancel-target")

        tasks = []
        for _ in range(1000):
            task = asyncio.create_task(call())
            tasks.append(task)
            asyncio.get_running_loop().call_later(rng.uniform(0, 0.05), task.cancel)
        await asyncio.gather(*tasks, return_exceptions=True)
        assert all(t.done() for t in tasks)
        assert sum(t.cancelled() for t in tasks) > 100  # many were cut somewhere mid-call
        # Every connection still held is idle in the pool: none was leaked by a cancel.
        assert (await client.get_info("cancel-target"))["status"] == "RUNNING"
        connector = session.connector
        assert connector is not None
    await asyncio.sleep(0)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert pending == []
    assert connector.closed
    # Both ends of every connection are gone: nothing was left open by a cancelled call.
    await asyncio.sleep(0.2)
    assert _open_fds() == fds_before


@pytest.mark.slow
async def test_soak_20000_calls_at_concurrency_64(threaded_emulator: EmulatorThread) -> None:
    async with Client(threaded_emulator.config) as warmup:
        await warmup.create_if_not_exists("python", "soak-target")
    await asyncio.sleep(0.2)  # let the closed connections' sockets go
    before = _open_fds()
    errors: list[BaseException] = []
    calls = 0
    async with Client(threaded_emulator.config) as client:

        async def worker() -> None:
            nonlocal calls
            while calls < 20_000:
                calls += 1
                try:
                    await client.get_info("soak-target")
                except BackendError as error:
                    errors.append(error)

        await asyncio.gather(*(worker() for _ in range(64)))
    await asyncio.sleep(0.2)
    assert errors == []
    assert calls >= 20_000
    assert _open_fds() == before


async def test_secrets_never_shown(emulator: Emulator) -> None:
    wrong_secret = "definitely-wrong-secret-key-XYZ123"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("backendai_aio")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    texts: list[str] = []
    try:
        config = emulator.config
        texts += [repr(config), str(config)]
        async with Client(config) as client:
            texts += [repr(client), str(client), repr(client._transport.auth.signer)]
            await client.create_if_not_exists("python", "secret-run")
            await client.execute("secret-run", None, "query", "print(1)")
            with pytest.raises(NotFoundError) as missing:
                await client.get_info("no-such-session")
            texts += [str(missing.value), repr(missing.value)]
            await client.destroy("secret-run")
        bad = ClientConfig(DEFAULT_ACCESS_KEY, wrong_secret, emulator.endpoint)
        async with Client(bad) as client:
            with pytest.raises(BackendError) as refused:
                await client.get_info("abcd")
            texts += [repr(bad), repr(client), str(refused.value), repr(refused.value)]
            texts += [str(refused.value.body), str(refused.value.__dict__)]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    log_text = stream.getvalue()
    assert "GET /session/no-such-session -> 404" in log_text  # the log did record the run
    for text in [*texts, log_text]:
        assert DEFAULT_SECRET_KEY not in text
        assert wrong_secret not in text
        assert "signMethod" not in text and "credential=" not in text
