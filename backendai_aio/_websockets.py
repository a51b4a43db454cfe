"""Opening and closing websockets within bounded time, with the client's errors."""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module
from collections.abc import Mapping
from typing import Final

import aiohttp
from yarl import URL

from ._errors import ConnectTimeoutError, RequestError, ResponseError, error_from_response
from ._failures import TRANSPORT_ERRORS
from ._timeouts import Timeout

__all__ = ["CLOSE_LIMIT", "close_websocket", "open_websocket", "public_url", "receive_message"]

#: How long leaving a stream waits for the server to answer the close (seconds); then the
#: connection is dropped. aiohttp's own close waits for each frame anew, so a server that
#: keeps sending frames would hold it forever.
CLOSE_LIMIT: Final = 3.0


def public_url(url: URL) -> str:
    """*url* as text without the credentials an endpoint may carry in its authority."""
    return str(url.with_user(None)) if url.is_absolute() else str(url)


async def open_websocket(
    session: aiohttp.ClientSession,
    url: URL,
    headers: Mapping[str, str],
    limits: Timeout,
    ssl: ssl_module.SSLContext | bool,
    purpose: str = "the websocket",
) -> aiohttp.ClientWebSocketResponse:
    """Upgrade to a websocket at *url* within *limits*' connect limit.

    A refused upgrade raises the error its status maps to; a failure to connect raises
    [`RequestError`][backendai_aio.RequestError] naming *purpose*. *limits*' read limit bounds each
    wait for a frame.
    """
    try:
        # ws_connect takes no per-call connect limit: bound the whole handshake instead.
        async with asyncio.timeout(limits.connect):
            return await session.ws_connect(
                url,
                headers=headers,
                ssl=ssl,
                # aiohttp builds this dataclass dynamically, out of pyright's sight.
                timeout=aiohttp.ClientWSTimeout(ws_receive=limits.read, ws_close=CLOSE_LIMIT),  # pyright: ignore[reportCallIssue]
            )
    except aiohttp.WSServerHandshakeError as exc:
        raise error_from_response(
            exc.status, exc.message, None, b"", method="GET", url=str(url)
        ) from exc
    except TRANSPORT_ERRORS as exc:
        reason = (
            f"timed out (connect limit {limits.connect:g} s)"
            if isinstance(exc, TimeoutError) and limits.connect is not None
            else f"{type(exc).__name__}: {exc}"
        )
        error_class = ConnectTimeoutError if isinstance(exc, TimeoutError) else RequestError
        raise error_class(
            f"GET {public_url(url)}: opening {purpose} failed: {reason}",
            method="GET",
            url=str(url),
        ) from exc


async def close_websocket(ws: aiohttp.ClientWebSocketResponse, limit: float = CLOSE_LIMIT) -> None:
    """Close *ws*, waiting at most *limit* seconds for the server's answer, then drop it."""
    # On timeout aiohttp's close() is cancelled, and drops the connection itself.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit):
            await ws.close()


async def receive_message(
    ws: aiohttp.ClientWebSocketResponse, what: str, unit: str
) -> aiohttp.WSMessage:
    """The next message of *ws*; a transport failure is a `ResponseError` naming *what*.

    *what* names the stream in the message (``"the terminal https://..."``), *unit* what a
    read limit was waiting for (``"frame"``, ``"output"``).
    """
    try:
        return await ws.receive()
    except TRANSPORT_ERRORS as exc:
        # A timeout's own text is empty: say which limit ended the wait.
        reason = (
            f"no {unit} came within the read limit"
            if isinstance(exc, TimeoutError)
            else f"{type(exc).__name__}: {exc}"
        )
        raise ResponseError(f"{what} failed: {reason}") from exc
