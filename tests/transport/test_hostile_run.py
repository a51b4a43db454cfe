"""The run loop against servers that never finish or answer odd shapes, and cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from backendai_aio import (
    BackendError,
    Client,
    ClientConfig,
    InputRequiredError,
    InvalidArgumentError,
    ResponseError,
    RunDeadlineError,
    RunInProgressError,
)

from ..app_servers import app_server, root_app


class EndlessKernel:
    """A manager whose runs answer ``continued`` for ever (or *result* when given)."""

    def __init__(self, result: Any = None) -> None:
        self.steps = 0
        self.interrupts = 0
        self.result = result
        self.app = root_app()
        self.app.router.add_post("/session/{name}", self.execute)
        self.app.router.add_post("/session/{name}/interrupt", self.interrupt)

    async def execute(self, request: web.Request) -> web.Response:
        self.steps += 1
        if self.result is not None:
            return web.json_response(self.result)
        return web.json_response({"result": {"status": "continued", "console": []}})

    async def interrupt(self, request: web.Request) -> web.Response:
        self.interrupts += 1
        return web.Response(status=204)


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[Client]:
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        yield client


async def test_a_run_that_never_finishes_ends_at_its_deadline() -> None:
    kernel = EndlessKernel()
    async with serving(kernel.app) as client:
        started = time.monotonic()
        with pytest.raises(RunDeadlineError, match=r"0\.5 s deadline"):
            async with asyncio.timeout(10):
                await client.sessions.run("s", "print(1)", deadline=0.5)
        assert time.monotonic() - started < 4
    assert kernel.interrupts == 1


async def test_a_run_is_bounded_in_steps_by_default() -> None:
    kernel = EndlessKernel()
    async with serving(kernel.app) as client:
        with pytest.raises(RunDeadlineError, match="within 50 steps"):
            async with asyncio.timeout(10):
                await client.sessions.run("s", "print(1)", max_steps=50)
    assert kernel.interrupts == 1
    assert kernel.steps == 50 + 10  # then ten steps to collect the interrupted run's end


@pytest.mark.parametrize("deadline", [0, -1.0, float("nan"), float("inf"), True, "5"])
async def test_a_bad_deadline_is_refused(deadline: Any) -> None:
    kernel = EndlessKernel()
    async with serving(kernel.app) as client:
        with pytest.raises(InvalidArgumentError, match="deadline"):
            await client.sessions.run("s", "print(1)", deadline=deadline)
    assert kernel.steps == 0


@pytest.mark.parametrize(
    "answer",
    [
        {"result": {"status": "finished", "console": 5}},
        {"result": {"status": "finished", "console": "text"}},
        {"result": 7},
        [1, 2],
    ],
)
async def test_odd_execute_answers_are_response_errors(answer: Any) -> None:
    kernel = EndlessKernel(result=answer)
    async with serving(kernel.app) as client:
        with pytest.raises(ResponseError, match="execut") as caught:
            await client.sessions.run("s", "print(1)")
    assert not isinstance(caught.value, InvalidArgumentError)


async def test_a_deeply_nested_body_is_a_response_error_naming_the_call() -> None:
    app = root_app()

    async def deep(request: web.Request) -> web.Response:
        return web.Response(body=b"[" * 100_000 + b"]" * 100_000, content_type="application/json")

    app.router.add_get("/session/{name}", deep)
    async with serving(app) as client:
        with pytest.raises(ResponseError, match=r"GET .*/session/deep: .*nested too deeply"):
            await client.get_info("deep")


async def test_a_costly_body_is_refused_before_it_is_decoded() -> None:
    app = root_app()
    body = b"[" + b"{}," * (4 * 1024 * 1024) + b"{}]"  # 12 MiB, 25 times that once decoded

    async def costly(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app.router.add_get("/session/{name}", costly)
    async with serving(app) as client:
        with pytest.raises(ResponseError, match=r"GET .*/session/many: .*MiB of memory"):
            await client.get_info("many")


# -- against the emulator ----------------------------------------------------------------------


async def test_cancelling_a_run_interrupts_it_in_the_session(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "run-cancel")
    task = asyncio.create_task(
        admin_client.sessions.run("run-cancel", "import time\ntime.sleep(60)")
    )
    await asyncio.sleep(0.5)
    task.cancel()
    started = time.monotonic()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 6
    assert task.cancelled()
    # The session takes new code at once.
    result = await admin_client.sessions.run("run-cancel", "print('free')")
    assert result.stdout == "free\n"


async def test_a_run_ended_by_asyncio_timeout_is_interrupted(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "run-timeout")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await admin_client.sessions.run("run-timeout", "import time\ntime.sleep(60)")
    result = await admin_client.sessions.run("run-timeout", "print('free')")
    assert result.stdout == "free\n"


async def test_another_run_in_progress_has_its_own_error(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "run-busy")
    first = await admin_client.execute("run-busy", None, "query", "import time\ntime.sleep(60)")
    assert first["result"]["status"] == "continued"
    with pytest.raises(RunInProgressError, match=r"client\.interrupt\('run-busy'\)") as caught:
        await admin_client.sessions.run("run-busy", "print(1)")
    assert caught.value.status == 400
    await admin_client.interrupt("run-busy")


async def test_input_without_a_callback_carries_the_prompt(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "run-prompt")
    with pytest.raises(InputRequiredError, match="on_input") as caught:
        await admin_client.sessions.run("run-prompt", "input('Name? ')")
    assert caught.value.prompt == "Name? "
    assert isinstance(caught.value, BackendError)
    assert not isinstance(caught.value, InvalidArgumentError)
    result = await admin_client.sessions.run("run-prompt", "print('free')")
    assert result.stdout == "free\n"


def test_the_prompt_survives_pickling() -> None:
    import pickle

    error = InputRequiredError("waiting", prompt="? ")
    copy = pickle.loads(pickle.dumps(error))
    assert copy.prompt == "? "
    assert json.dumps(copy.message) == '"waiting"'


@pytest.mark.parametrize(
    "listing",
    [{"items": 5}, {"items": "abc"}, {"items": {"a": 1}}],
)
async def test_a_folder_listing_whose_items_is_not_a_list(listing: Any) -> None:
    app = root_app()

    async def files(request: web.Request) -> web.Response:
        return web.json_response(listing)

    app.router.add_get("/folders/{name}/files", files)
    async with serving(app) as client:
        with pytest.raises(ResponseError, match="list_files"):
            await client.vfolders.get("data").entries()


@pytest.mark.parametrize(
    ("listing", "sizes"),
    [
        ({"files": 5}, None),
        ({"files": "[" * 100_000}, None),
        ({"files": '[{"filename": "f", "size": Infinity, "mode": "-rw"}]'}, [0]),
    ],
)
async def test_a_session_listing_of_odd_shape(listing: Any, sizes: list[int] | None) -> None:
    app = root_app()

    async def files(request: web.Request) -> web.Response:
        return web.json_response(listing)

    app.router.add_get("/session/{name}/files", files)
    async with serving(app) as client:
        if sizes is None:
            with pytest.raises(ResponseError, match="list_files"):
                await client.sessions.list_entries("s")
        else:
            assert [entry.size for entry in await client.sessions.list_entries("s")] == sizes


async def test_a_frame_whose_console_is_not_a_list() -> None:
    app = root_app()

    async def odd(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        await ws.send_str('{"status": "finished", "console": 5}')
        await ws.close()
        return ws

    app.router.add_get("/stream/session/{name}/execute", odd)
    async with serving(app) as client:
        with pytest.raises(ResponseError, match="console is not a list"):
            async with (
                asyncio.timeout(10),
                client.sessions.stream_execute("s", "print(1)") as stream,
            ):
                async for _ in stream:
                    pass
