"""The fault-injection suite: hostile servers on 127.0.0.1 and what the client makes of them.

Each case checks the error's type and fields, that it comes within the configured time plus
a small margin, and that the client leaves no connection open behind it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from backendai_aio import (
    ERR_REQUEST,
    ERR_RESPONSE,
    ERR_SERVER,
    NO_RETRIES,
    Client,
    ClientConfig,
    InternalServerError,
    RateLimit,
    RateLimitError,
    RequestError,
    ResponseError,
    RetryPolicy,
    Timeout,
)

from ..fault_server import FaultServer, response, until_client_closes

MARGIN = 1.5  # seconds of slack on a noisy 2-core machine
FAST_RETRY = RetryPolicy(max_retries=2, backoff_base=0.05, backoff_max=0.2)


def client_for(server: FaultServer, **kwargs: object) -> Client:
    return Client(ClientConfig("AK", "SK", server.url), **kwargs)  # type: ignore[arg-type]


async def stall(
    server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await until_client_closes(reader)


async def test_refused_connection(unused_port: int) -> None:
    started = time.monotonic()
    async with Client(
        ClientConfig("AK", "SK", f"http://127.0.0.1:{unused_port}"), retry=FAST_RETRY
    ) as client:
        with pytest.raises(RequestError, match="cannot connect") as caught:
            await client.get_info("abcd")
    assert caught.value.type == ERR_REQUEST
    assert time.monotonic() - started < 2 + MARGIN


async def test_accepts_and_never_answers() -> None:
    async with FaultServer(stall) as server, client_for(server, timeout=Timeout(5, 0.5)) as client:
        started = time.monotonic()
        with pytest.raises(ResponseError, match="timed out waiting for the response") as caught:
            await client.get_info("abcd")
        elapsed = time.monotonic() - started
        assert caught.value.type == ERR_RESPONSE
        assert "read limit 0.5 s" in caught.value.message
        assert 0.4 < elapsed < 0.5 + MARGIN
        assert server.requests == 1  # a read timeout is not retried: the server may be busy
        assert await server.wait_for_no_connections() == 0


async def test_per_call_timeout_overrides_and_none_means_no_limit() -> None:
    async with FaultServer(stall) as server, client_for(server, timeout=Timeout(5, 60)) as client:
        started = time.monotonic()
        with pytest.raises(ResponseError, match="timed out"):
            await client.get_info("abcd", timeout=0.3)
        assert time.monotonic() - started < 0.3 + MARGIN
        # timeout=None: no limit at all; the caller bounds it instead.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await client.get_info("abcd", timeout=None)
        assert await server.wait_for_no_connections() == 0


async def stall_body(
    server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":'
    )
    await writer.drain()
    await until_client_closes(reader)


async def test_headers_then_stalled_body() -> None:
    async with (
        FaultServer(stall_body) as server,
        client_for(server, timeout=Timeout(5, 0.5)) as client,
    ):
        started = time.monotonic()
        with pytest.raises(ResponseError, match="timed out reading the response body") as caught:
            await client.get_info("abcd")
        assert caught.value.status == 200
        assert time.monotonic() - started < 0.5 + MARGIN
        assert await server.wait_for_no_connections() == 0


async def reset_mid_body(
    server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[1,2,"
    )
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.transport.abort()


async def test_reset_mid_body() -> None:
    async with FaultServer(reset_mid_body) as server, client_for(server) as client:
        with pytest.raises(ResponseError, match="reading the response body failed") as caught:
            await client.get_info("abcd")
        assert caught.value.type == ERR_RESPONSE
        assert server.requests == 1  # the response had begun: not retried
        assert await server.wait_for_no_connections() == 0


async def truncated(
    server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"x": 1'
    )
    await writer.drain()
    writer.close()


async def test_truncated_json_body() -> None:
    async with FaultServer(truncated) as server, client_for(server) as client:
        with pytest.raises(ResponseError) as caught:
            await client.get_info("abcd")
        assert (caught.value.type, caught.value.status) == (ERR_RESPONSE, 200)
        assert await server.wait_for_no_connections() == 0


async def invalid_json(
    server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(response("200 OK", b"<html>not json</html>", {"Content-Type": "application/json"}))
    await writer.drain()


async def test_invalid_json_under_application_json() -> None:
    async with FaultServer(invalid_json) as server, client_for(server) as client:
        with pytest.raises(ResponseError, match="invalid JSON") as caught:
            await client.get_info("abcd")
        assert caught.value.status == 200
    assert await server.wait_for_no_connections() == 0


@pytest.mark.parametrize("status", ["502 Bad Gateway", "504 Gateway Timeout"])
async def test_html_gateway_pages_are_retried_then_raised(status: str) -> None:
    page = f"<html><body><h1>{status}</h1></body></html>".encode()

    async def gateway(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(response(status, page, {"Content-Type": "text/html"}))
        await writer.drain()

    async with FaultServer(gateway) as server, client_for(server, retry=FAST_RETRY) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.get_info("abcd")
        assert caught.value.type == ERR_SERVER
        assert caught.value.status == int(status[:3])
        assert status in caught.value.message
        assert server.requests == 3  # the first try and two retries
        # POST (not idempotent) is never retried.
        with pytest.raises(InternalServerError):
            await client.interrupt("abcd")
        assert server.requests == 4
    assert await server.wait_for_no_connections() == 0


async def test_429_honours_retry_after_then_raises_with_rate_limits() -> None:
    async def limited(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        body = json.dumps(
            {
                "type": "https://api.backend.ai/probs/rate-limit-exceeded",
                "title": "You have reached your API query rate limit.",
            }
        ).encode()
        writer.write(
            response(
                "429 Too Many Requests",
                body,
                {
                    "Content-Type": "application/problem+json",
                    "Retry-After": "1",
                    "X-RateLimit-Limit": "100",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Window": "60",
                },
            )
        )
        await writer.drain()

    policy = RetryPolicy(max_retries=1, backoff_base=0.01)
    async with FaultServer(limited) as server, client_for(server, retry=policy) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            await client.get_info("abcd")
        elapsed = time.monotonic() - started
        assert 1.0 <= elapsed < 1.0 + MARGIN  # waited Retry-After, not the tiny backoff
        assert server.requests == 2
        assert caught.value.status == 429
        assert caught.value.rate_limit == RateLimit(100, 0, 60)
        assert caught.value.retry_after == 1.0
        assert caught.value.title == "You have reached your API query rate limit."
        assert client.rate_limit == RateLimit(100, 0, 60)
    assert await server.wait_for_no_connections() == 0


async def test_503_twice_then_200() -> None:
    async def flaky(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if server.requests <= 2:
            writer.write(
                response("503 Service Unavailable", b"busy", {"Content-Type": "text/plain"})
            )
        else:
            writer.write(
                response(
                    "200 OK",
                    b'{"status": "RUNNING"}',
                    {"Content-Type": "application/json", "X-RateLimit-Remaining": "41"},
                )
            )
        await writer.drain()

    async with FaultServer(flaky) as server:
        async with client_for(server, retry=FAST_RETRY) as client:
            assert dict(await client.get_info("abcd")) == {"status": "RUNNING"}
            assert server.requests == 3
            assert client.rate_limit == RateLimit(None, 41, None)
        assert await server.wait_for_no_connections() == 0


async def test_retries_can_be_switched_off() -> None:
    async def unavailable(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(response("503 Service Unavailable", b"", {"Retry-After": "30"}))
        await writer.drain()

    for retry in (None, NO_RETRIES):
        async with FaultServer(unavailable) as server, client_for(server, retry=retry) as client:
            started = time.monotonic()
            with pytest.raises(InternalServerError):
                await client.get_info("abcd")
            assert server.requests == 1
            assert time.monotonic() - started < MARGIN


async def test_clock_skew_is_measured_corrected_and_kept(caplog: pytest.LogCaptureFixture) -> None:
    server_offset = timedelta(minutes=20)

    async def skewed(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = server.heads[-1].decode()
        sent_date = next(
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("date:")
        )
        server_now = datetime.now(UTC) + server_offset
        date_ok = abs(datetime.fromisoformat(sent_date) - server_now) < timedelta(minutes=1)
        if date_ok:
            writer.write(response("200 OK", b"{}", {"Content-Type": "application/json"}))
        else:
            body = json.dumps(
                {
                    "type": "https://api.backend.ai/probs/invalid-auth-params",
                    "title": "Missing or invalid authorization parameters.",
                    "msg": "Date/time sync error",
                }
            ).encode()
            writer.write(
                response(
                    "400 Bad Request",
                    body,
                    {
                        "Content-Type": "application/problem+json",
                        "Date": format_datetime(server_now, usegmt=True),
                    },
                )
            )
        await writer.drain()

    with caplog.at_level(logging.WARNING, logger="backendai_aio"):
        async with FaultServer(skewed) as server, client_for(server) as client:
            assert (
                await client.request("POST", "/session/abcd/interrupt") == {}
            )  # POST: the skew retry is always safe
            assert server.requests == 2
            assert abs(client.clock_offset - server_offset.total_seconds()) < 5
            assert dict(await client.get_info("abcd")) == {}
            assert server.requests == 3  # the offset was kept: no second refusal
    warnings = [r for r in caplog.records if "clock" in r.getMessage()]
    assert len(warnings) == 1


async def test_endless_body_is_bounded() -> None:
    async def endless(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"[" + b"1," * 32768
        for _ in range(10_000):  # bounded: 640 MB at most
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()

    async with (
        FaultServer(endless) as server,
        client_for(server, max_response_size=1 << 20) as client,
    ):
        started = time.monotonic()
        with pytest.raises(ResponseError, match="exceeds the 1048576-byte limit") as caught:
            await client.get_info("abcd")
        assert caught.value.type == ERR_RESPONSE
        assert time.monotonic() - started < MARGIN * 2
        assert await server.wait_for_no_connections() == 0


async def test_declared_oversized_body_is_refused_before_reading() -> None:
    async def huge(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\n\r\n["
        )
        await writer.drain()
        await until_client_closes(reader)

    async with FaultServer(huge) as server, client_for(server, max_response_size=1000) as client:
        with pytest.raises(ResponseError, match="exceeds"):
            await client.get_info("abcd")
        assert await server.wait_for_no_connections() == 0


async def test_next_endpoint_after_a_refused_connection(unused_port: int) -> None:
    async def ok(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(response("200 OK", b'{"ok": true}', {"Content-Type": "application/json"}))
        await writer.drain()

    async with FaultServer(ok) as server:
        endpoints = f"http://127.0.0.1:{unused_port},{server.url}"
        async with Client(ClientConfig("AK", "SK", endpoints), retry=None) as client:
            # Even a POST moves on: nothing was sent to the endpoint that refused.
            assert await client.request("POST", "/session/abcd/interrupt") == {"ok": True}
            assert str(client.endpoint) == server.url + "/"
            assert dict(await client.get_info("abcd")) == {"ok": True}


async def test_compressed_body_is_bounded_by_its_decoded_size() -> None:
    import zlib

    body = zlib.compress(b"[" + b"1," * 1_000_000 + b"1]")  # ~2 MB decoded, a few KB sent

    async def deflated(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(
            response(
                "200 OK", body, {"Content-Type": "application/json", "Content-Encoding": "deflate"}
            )
        )
        await writer.drain()

    async with (
        FaultServer(deflated) as server,
        client_for(server, max_response_size=1 << 20) as client,
    ):
        with pytest.raises(ResponseError, match="exceeds"):
            await client.get_info("abcd")


async def test_concurrent_failures_move_to_the_next_endpoint_once(unused_port: int) -> None:
    async def ok(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(response("200 OK", b"{}", {"Content-Type": "application/json"}))
        await writer.drain()

    async with FaultServer(ok) as server:
        endpoints = f"http://127.0.0.1:{unused_port},{server.url}"
        async with Client(ClientConfig("AK", "SK", endpoints), retry=None) as client:
            results = await asyncio.gather(
                *(client.request("POST", "/session/abcd/interrupt") for _ in range(8))
            )
            assert results == [{}] * 8
            assert str(client.endpoint) == server.url + "/"
