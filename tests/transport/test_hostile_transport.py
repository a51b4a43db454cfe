"""Hostile servers against the transport: redirects, deadlines, clock skew, lost answers.

Every server listens on 127.0.0.1; every case is bounded in time and checks what the client
sends where, how long the call takes and what it raises.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import trustme
from aiohttp import web

from backendai_aio import (
    BackendError,
    BadRequestError,
    Client,
    ClientConfig,
    InternalServerError,
    RequestError,
    ResponseError,
    RetryPolicy,
    Timeout,
)

from ..app_servers import root_app
from ..fault_server import FaultServer, response, until_client_closes

MARGIN = 1.5  # seconds of slack on a noisy 2-core machine
SKEW_BODY = json.dumps(
    {
        "type": "https://api.backend.ai/probs/invalid-auth-params",
        "title": "Missing or invalid authorization parameters.",
        "msg": "Date/time sync error",
    }
).encode()


def client_for(url: str, **kwargs: object) -> Client:
    return Client(ClientConfig("AK", "SK", url), **kwargs)  # type: ignore[arg-type]


async def ok(
    server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(response("200 OK", b'{"ok": true}', {"Content-Type": "application/json"}))
    await writer.drain()


def redirecting(location: str, status: str = "307 Temporary Redirect") -> object:
    async def behave(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(response(status, b"", {"Location": location}))
        await writer.drain()

    return behave


def signed_heads(server: FaultServer) -> list[bytes]:
    return [head for head in server.heads if b"authorization:" in head.lower()]


# -- redirects: credentials only for the configured endpoint ---------------------------------


@pytest.mark.parametrize(
    "status", ["302 Found", "307 Temporary Redirect", "308 Permanent Redirect"]
)
async def test_redirect_to_another_origin_is_refused_unsigned(status: str) -> None:
    async with FaultServer(ok) as other:
        target = f"{other.url}/session/victim"
        async with (
            FaultServer(redirecting(target, status)) as server,  # type: ignore[arg-type]
            client_for(server.url) as client,
        ):
            with pytest.raises(ResponseError, match="redirect") as caught:
                await client.get_info("abcd")
            assert caught.value.status == int(status[:3])
            assert other.url in caught.value.message
            assert signed_heads(other) == []
            assert other.requests == 0  # not followed at all


async def test_redirect_within_the_endpoint_is_followed_and_signed() -> None:
    async def moved(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if server.heads[-1].startswith(b"GET /session/old "):
            writer.write(response("301 Moved Permanently", b"", {"Location": "/session/new"}))
        else:
            await ok(server, reader, writer)
        await writer.drain()

    async with FaultServer(moved) as server, client_for(server.url) as client:
        assert dict(await client.get_info("old")) == {"ok": True}
        assert [head.split(b" ")[1] for head in server.heads] == [b"/session/old", b"/session/new"]
        assert len(signed_heads(server)) == 2


async def test_endless_same_origin_redirects_are_bounded() -> None:
    async with (
        FaultServer(redirecting("/session/again")) as server,  # type: ignore[arg-type]
        client_for(server.url) as client,
    ):
        with pytest.raises(ResponseError, match="redirects"):
            await client.get_info("abcd")
        assert server.requests <= 10


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def plain_server() -> AsyncIterator[FaultServer]:
    async with FaultServer(ok) as server:
        yield server


@pytest.fixture
async def https_redirecting(ca: trustme.CA, plain_server: FaultServer) -> AsyncIterator[str]:
    """An https endpoint whose sessions redirect to the same host over plain http."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    app = root_app()

    async def downgrade(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"{plain_server.url}{request.path}")

    app.router.add_route("*", "/session/{tail:.*}", downgrade)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_https_to_http_downgrade_is_refused(
    https_redirecting: str, plain_server: FaultServer, ca: trustme.CA
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with client_for(https_redirecting, ssl=context) as client:
        with pytest.raises(ResponseError, match="redirect"):
            await client.get_info("abcd")
        with pytest.raises(ResponseError, match="redirect"):
            await client.interrupt("abcd")  # a POST: 307 would resend its body in clear
    assert plain_server.requests == 0


@pytest.mark.parametrize("injected", [False, True])
async def test_websocket_handshake_redirect_is_not_signed_for_another_host(injected: bool) -> None:
    async with FaultServer(until_closed) as other:
        target = f"{other.url}/stream/session/victim/execute"
        async with (
            FaultServer(redirecting(target)) as server,  # type: ignore[arg-type]
            aiohttp.ClientSession() as session,
            client_for(server.url, session=session if injected else None) as client,
        ):
            with pytest.raises(BackendError, match=None if injected else "not signed"):
                async with asyncio.timeout(5):
                    async with client.sessions.stream_execute("abcd", "print(1)"):
                        pass
        # An injected session signs by hand, and aiohttp drops the header for another host.
        assert signed_heads(other) == []


async def until_closed(
    server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(response("400 Bad Request", b""))
    await writer.drain()


# -- a call's timeout is a deadline for the whole call -------------------------------------


async def test_a_trickled_head_is_cut_at_the_deadline() -> None:
    async def trickle(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(80):  # 8 s at most, one header byte each 0.1 s
            writer.write(b"X")
            await writer.drain()
            await asyncio.sleep(0.1)
        writer.write(b": y\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()

    async with FaultServer(trickle) as server, client_for(server.url) as client:
        started = time.monotonic()
        with pytest.raises(ResponseError, match="deadline") as caught:
            await client.get_info("abcd", timeout=1)
        assert time.monotonic() - started < 1 + MARGIN
        assert caught.value.maybe_applied is True
        assert await server.wait_for_no_connections() == 0


async def test_a_trickled_body_is_cut_at_the_deadline() -> None:
    async def trickle(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: 100\r\n\r\n[")
        for _ in range(80):  # 8 s at most
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.1)

    async with FaultServer(trickle) as server, client_for(server.url) as client:
        started = time.monotonic()
        with pytest.raises(ResponseError, match="deadline") as caught:
            await client.get_info("abcd", timeout=1)
        assert time.monotonic() - started < 1 + MARGIN
        assert caught.value.status == 200
        assert await server.wait_for_no_connections() == 0


async def test_a_storm_of_100_continue_is_cut_at_the_deadline() -> None:
    async def storm(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        for _ in range(160):  # 8 s at most
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with FaultServer(storm) as server, client_for(server.url) as client:
        started = time.monotonic()
        with pytest.raises(BackendError, match="deadline"):
            await client.get_info("abcd", timeout=1)
        assert time.monotonic() - started < 1 + MARGIN


async def test_a_retry_after_past_the_deadline_ends_the_call_with_the_503() -> None:
    async def busy(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(response("503 Service Unavailable", b"busy", {"Retry-After": "5"}))
        await writer.drain()

    async with FaultServer(busy) as server, client_for(server.url) as client:
        started = time.monotonic()
        with pytest.raises(InternalServerError) as caught:
            await client.get_info("abcd", timeout=2)
        assert time.monotonic() - started < MARGIN
        assert caught.value.status == 503
        assert "would pass the call's deadline" in caught.value.message
        assert server.requests == 1


async def test_retries_and_backoff_stay_within_the_deadline() -> None:
    async def busy(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await asyncio.sleep(0.3)
        writer.write(response("502 Bad Gateway", b"down"))
        await writer.drain()

    policy = RetryPolicy(max_retries=50, backoff_base=0.2, backoff_max=0.2, jitter=0.0)
    async with FaultServer(busy) as server, client_for(server.url, retry=policy) as client:
        started = time.monotonic()
        with pytest.raises(BackendError):
            await client.get_info("abcd", timeout=Timeout(5, 5, total=1.5))
        assert time.monotonic() - started < 1.5 + MARGIN
        assert 1 < server.requests < 6


# -- clock skew: implausible dates are ignored ---------------------------------------------


@pytest.mark.parametrize(
    "date",
    [
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Tue, 01 Jan 2200 00:00:00 GMT",
    ],
)
async def test_an_implausible_date_is_not_taken_as_the_servers_clock(date: str) -> None:
    async def skewed(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(
            response(
                "400 Bad Request",
                SKEW_BODY,
                {"Content-Type": "application/problem+json", "Date": date},
            )
        )
        await writer.drain()

    async with FaultServer(skewed) as server, client_for(server.url) as client:
        for _ in range(2):
            with pytest.raises(BadRequestError, match="Date/time sync error"):
                await client.get_info("abcd")
        assert client.clock_offset == 0.0
        assert server.requests == 2  # no correction, no resend


# -- "nothing was sent" against "sent, no answer" -------------------------------------------


async def test_a_request_received_then_dropped_may_have_been_applied() -> None:
    async def swallow(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.transport.abort()  # the whole request was read: the server may have acted on it

    async with FaultServer(swallow) as server, client_for(server.url, retry=None) as client:
        with pytest.raises(BackendError) as caught:
            await client.interrupt("abcd")
        assert server.requests == 1
    assert caught.value.maybe_applied is True
    assert "may have" in caught.value.message
    assert "nothing was sent" not in caught.value.message


async def test_a_refused_connection_sent_nothing(unused_port: int) -> None:
    async with client_for(f"http://127.0.0.1:{unused_port}", retry=None) as client:
        with pytest.raises(RequestError) as caught:
            await client.interrupt("abcd")
    assert caught.value.maybe_applied is False
    assert "nothing was sent" in caught.value.message


async def test_a_read_timeout_may_have_been_applied() -> None:
    async def stall(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await until_client_closes(reader)

    async with FaultServer(stall) as server, client_for(server.url) as client:
        with pytest.raises(ResponseError) as caught:
            await client.interrupt("abcd", timeout=Timeout(5, 0.3))
    assert caught.value.maybe_applied is True


# -- server-controlled shapes: a decoding failure names the call ---------------------------


async def test_a_deeply_nested_json_body_is_a_response_error() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000

    async def nested(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        status = "500 Internal Server Error" if b"POST" in server.heads[-1][:5] else "200 OK"
        writer.write(response(status, deep, {"Content-Type": "application/json"}))
        await writer.drain()

    async with FaultServer(nested) as server, client_for(server.url, retry=None) as client:
        with pytest.raises(ResponseError) as caught:
            await client.get_info("abcd")
        assert caught.value.message.startswith(f"GET {server.url}/session/abcd")
        assert caught.value.status == 200
        with pytest.raises(InternalServerError) as failed:
            await client.interrupt("abcd")
        assert failed.value.status == 500
        assert len(failed.value.message) < 300
