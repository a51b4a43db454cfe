"""The transport's own rules: user middlewares before the signer, one block, one event loop."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
import pytest
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse

from backendai_aio import Client, ClientClosedError, InvalidArgumentError, UsageError
from backendai_aio.emulator import Emulator


class Tracing:
    """A user middleware: tags each call and notes whether it was signed yet."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        request.headers["X-Trace-Id"] = "t-1"
        self.seen.append((request.url.path, request.headers.get("Authorization")))
        return await handler(request)


async def test_user_middlewares_run_before_the_signer(emulator: Emulator) -> None:
    tracing = Tracing()
    async with Client(emulator.config, middlewares=(tracing,)) as client:
        await client.get_server_version()
        info = await client.request("GET", "/auth/role")
    assert info["global_role"] == "superadmin"
    # GET / (unsigned) and the signed call both passed through it, before any signature.
    assert tracing.seen == [("/", None), ("/auth/role", None)]


async def test_user_middlewares_run_on_an_injected_session(emulator: Emulator) -> None:
    tracing = Tracing()
    async with aiohttp.ClientSession() as session:
        async with Client(emulator.config, session=session, middlewares=(tracing,)) as client:
            answer = await client.request("POST", "/auth/test", json={"echo": "hi"})
            assert client.http_session is session
        assert not session.closed
    assert answer["echo"] == "hi"
    assert [path for path, _ in tracing.seen] == ["/", "/auth/test"]
    assert all(authorization is None for _, authorization in tracing.seen)


@pytest.mark.parametrize("middlewares", ["abc", (1,)])
def test_middlewares_must_be_middlewares(emulator: Emulator, middlewares: object) -> None:
    with pytest.raises(InvalidArgumentError, match="aiohttp client middlewares"):
        Client(emulator.config, middlewares=middlewares)  # type: ignore[arg-type]


async def test_a_client_is_entered_once(emulator: Emulator) -> None:
    client = Client(emulator.config)
    async with client:
        with pytest.raises(UsageError, match="already in an 'async with' block"):
            async with client:
                pass
        # The refused entry left the client open for the outer block.
        assert (await client.get_server_version())["version"]
    assert client.closed
    with pytest.raises(ClientClosedError):
        async with client:
            pass


async def test_another_event_loop_is_refused_with_a_message(emulator: Emulator) -> None:
    errors: list[BaseException] = []
    async with Client(emulator.config) as client:
        await client.get_server_version()

        def elsewhere() -> None:
            try:
                asyncio.run(client.get_server_version())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        await asyncio.to_thread(thread.join)
        # The client still works on its own loop.
        assert (await client.get_server_version())["version"]
    assert len(errors) == 1
    assert isinstance(errors[0], UsageError)
    assert "another event loop" in str(errors[0])
