"""The signing middleware on the wire, with a fixed clock: the exact headers of known vectors.

The vectors are those of the signature's own tests (tests/unit/test_signing.py), here produced
by :class:`SigningMiddleware` itself on a real request to a server on 127.0.0.1, so that the
middleware's choices (the ``Host`` it signs, the raw path, the default content type, the date
format and the clock offset) are pinned, not only the pure function's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from backendai_aio._middleware import SigningMiddleware

from ..app_servers import app_server

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
FIXED_NOW = datetime(2024, 3, 15, 12, 34, 56, tzinfo=UTC)
# The host of the vectors, sent as the Host header to a server on 127.0.0.1.
VECTOR_HOST = "api.example.com:8443"
CREDENTIAL = "BackendAI signMethod=HMAC-SHA256, credential=AKIAIOSFODNN7EXAMPLE:"


@pytest.fixture
async def seen() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A server that records the headers of every request it gets; yields (url, records)."""
    records: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        records.append({**request.headers, "path_qs": request.raw_path})
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with app_server(app) as url:
        yield url, records


def fixed_clock() -> datetime:
    return FIXED_NOW


async def test_post_session_gives_the_known_vector(
    seen: tuple[str, list[dict[str, str]]],
) -> None:
    url, records = seen
    signer = SigningMiddleware(ACCESS_KEY, SECRET_KEY, "v9.20250722", clock=fixed_clock)
    async with aiohttp.ClientSession(middlewares=(signer,)) as http:
        headers = {"Host": VECTOR_HOST, "Content-Type": "application/json"}
        async with http.post(url + "/session", data=b"{}", headers=headers) as response:
            assert response.status == 200
    (got,) = records
    assert got["Date"] == "2024-03-15T12:34:56+00:00"
    assert got["X-BackendAI-Version"] == "v9.20250722"
    assert got["Authorization"] == (
        CREDENTIAL + "646ea453d8b3769711d8f704fd2cc9ddceb7b05aabe8d7617f725aeb270eccf7"
    )


async def test_a_bodiless_get_is_signed_as_json_with_the_raw_path(
    seen: tuple[str, list[dict[str, str]]],
) -> None:
    url, records = seen
    signer = SigningMiddleware(ACCESS_KEY, SECRET_KEY, "v7.20230615", clock=fixed_clock)
    async with aiohttp.ClientSession(middlewares=(signer,)) as http:
        target = url + "/folders/a%20b?path=%2Bx"
        async with http.get(target, headers={"Host": VECTOR_HOST}) as response:
            assert response.status == 200
    (got,) = records
    assert got["path_qs"] == "/folders/a%20b?path=%2Bx"
    assert got["Content-Type"] == "application/json"
    assert got["Date"] == "2024-03-15T12:34:56+00:00"
    assert got["Authorization"] == (
        CREDENTIAL + "ce60563f859cc9481168cadd43897bbf63eb61bae3e9b43e2fbf4f77d317587d"
    )


async def test_the_clock_offset_shifts_the_date_and_the_signature(
    seen: tuple[str, list[dict[str, str]]],
) -> None:
    url, records = seen
    signer = SigningMiddleware(ACCESS_KEY, SECRET_KEY, "v9.20250722", clock=fixed_clock)
    signer.clock_offset = timedelta(hours=-1, seconds=-4)
    async with aiohttp.ClientSession(middlewares=(signer,)) as http:
        headers = {"Host": VECTOR_HOST, "Content-Type": "application/json"}
        async with http.post(url + "/session", data=b"{}", headers=headers) as response:
            assert response.status == 200
    (got,) = records
    assert got["Date"] == "2024-03-15T11:34:52+00:00"
    assert (
        got["Authorization"]
        == CREDENTIAL + "2505cabfbcc6d46ac769b77e8611230e55601a48b4a3837afc5b8482a457c2de"
    )
