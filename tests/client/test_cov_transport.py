"""The transport's corners against small servers: endpoint moves, redirects, clock skew,
oversized error pages, odd version answers, and the session calls' rarer options."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web

from backendai_aio import (
    Client,
    ClientConfig,
    InternalServerError,
    NotSupportedError,
    RequestError,
    ResponseError,
    Timeout,
)
from tests.app_servers import app_server, root_app

SECRET = "SECRET-KEY-NEVER-SHOWN"


def _refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was just free)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_concurrent_calls_that_cannot_connect_move_the_endpoint_once() -> None:
    async with app_server(root_app()) as second, app_server(root_app()) as third:
        config = ClientConfig("AK", SECRET, f"{_refused_url()},{second},{third}")
        async with Client(config, retry=None) as client:
            answers = await asyncio.wait_for(
                asyncio.gather(*(client.get_server_version() for _ in range(3))), 5
            )
            assert [answer["version"] for answer in answers] == ["v9.20250722"] * 3
            # Each call failed on the first endpoint; together they moved it by one.
            assert str(client.endpoint) == f"{second}/"


async def test_a_post_answered_303_is_followed_as_a_bodiless_get() -> None:
    app = root_app()
    seen: list[tuple[str, bytes]] = []

    async def things(request: web.Request) -> web.Response:
        seen.append((request.method, await request.read()))
        if request.method == "POST":
            raise web.HTTPSeeOther("/things/1")
        return web.json_response({"id": 1})

    app.router.add_route("*", "/things", things)
    app.router.add_route("*", "/things/1", things)
    async with app_server(app) as url, Client(ClientConfig("AK", SECRET, url)) as client:
        assert await client.request("POST", "/things", json={"name": "x"}) == {"id": 1}
    assert seen == [("POST", b'{"name": "x"}'), ("GET", b"")]


def _skew_app(ahead: timedelta) -> tuple[web.Application, list[str]]:
    """A manager whose clock is *ahead* of ours: the first call to each path is refused."""
    app = root_app()
    refused: list[str] = []

    async def call(request: web.Request) -> web.Response:
        if request.path not in refused:
            refused.append(request.path)
            return web.json_response(
                {
                    "type": "https://api.backend.ai/probs/invalid-auth-params",
                    "title": "Malformed authorization parameters",
                    "msg": "Date/time sync error",
                },
                status=400,
                content_type="application/problem+json",
                headers={"Date": format_datetime(datetime.now(UTC) + ahead, usegmt=True)},
            )
        return web.json_response({"path": request.path})

    app.router.add_get("/one", call)
    app.router.add_get("/two", call)
    return app, refused


async def test_a_skewed_clock_is_corrected_per_call_and_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, refused = _skew_app(timedelta(hours=1))
    caplog.set_level(logging.WARNING, logger="backendai_aio")
    async with app_server(app) as url, Client(ClientConfig("AK", SECRET, url)) as client:
        assert await client.request("GET", "/one") == {"path": "/one"}
        assert 3590 < client.clock_offset < 3610
        # The server refuses again (its rule, not ours): corrected again, reported once.
        assert await client.request("GET", "/two") == {"path": "/two"}
    assert refused == ["/one", "/two"]
    warnings = [r for r in caplog.records if "local clock is" in r.getMessage()]
    assert len(warnings) == 1


async def test_an_error_page_past_the_size_bound_gives_the_status_alone() -> None:
    app = root_app()

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="<html>" + "trace " * 10_000 + "</html>")

    app.router.add_get("/broken", broken)
    async with app_server(app) as url:
        config = ClientConfig("AK", SECRET, url)
        async with Client(config, retry=None, max_response_size=1000) as client:
            with pytest.raises(InternalServerError) as caught:
                await client.request("GET", "/broken")
    assert str(caught.value).startswith("GET /broken: 500 Internal Server Error")
    assert "trace" not in str(caught.value)
    assert caught.value.status == 500


@pytest.mark.parametrize("answer", [{"manager": "26.2.0"}, ["v9.20250722"], {"version": 9}])
async def test_a_version_answer_without_a_version_is_a_response_error(answer: Any) -> None:
    app = web.Application()

    async def root(request: web.Request) -> web.Response:
        return web.json_response(answer)

    app.router.add_get("/", root)
    async with app_server(app) as url, Client(ClientConfig("AK", SECRET, url)) as client:
        with pytest.raises(ResponseError, match="the answer carries no API version") as caught:
            await client.get_server_version()
        assert caught.value.body == answer
        assert client.api_version is None


async def test_destroy_recursive_and_restart_failures() -> None:
    app = root_app()
    queries: list[dict[str, str]] = []

    async def session(request: web.Request) -> web.Response:
        if request.method == "PATCH":
            return web.json_response({"title": "Internal error"}, status=500)
        queries.append(dict(request.query))
        return web.json_response({"stats": {}})

    app.router.add_route("*", "/session/{name}", session)
    async with (
        app_server(app) as url,
        Client(ClientConfig("AK", SECRET, url), retry=None) as client,
    ):
        assert await client.destroy("s-1", forced=True, recursive=True) == {"stats": {}}
        # A 500 that is not "no longer supported" (501) stays what it is.
        with pytest.raises(InternalServerError, match="500 Internal Server Error") as caught:
            await client.restart("s-1")
    assert not isinstance(caught.value, NotSupportedError)
    assert queries == [{"forced": "true", "recursive": "true"}]


class _SlowHandler(logging.Handler):
    """A logging handler that takes its time, as a remote one may."""

    def emit(self, record: logging.LogRecord) -> None:
        time.sleep(0.3)


async def test_a_deadline_that_passes_between_attempts_sends_nothing_more() -> None:
    app, refused = _skew_app(timedelta(hours=1))
    slow = _SlowHandler(logging.WARNING)
    logger = logging.getLogger("backendai_aio")
    async with app_server(app) as url, Client(ClientConfig("AK", SECRET, url)) as client:
        await client.get_server_version()
        logger.addHandler(slow)
        try:
            # The clock is corrected, and its warning logged, after the deadline's 0.2 s.
            with pytest.raises(RequestError, match="passed before another attempt") as caught:
                await client.request("GET", "/one", timeout=Timeout(total=0.2))
        finally:
            logger.removeHandler(slow)
    assert "timed out: the call's deadline (total limit 0.2 s)" in str(caught.value)
    assert refused == ["/one"]  # the first attempt only: none after the deadline
