"""A local TCP listener relaying each connection over its own websocket to a session's app.

As the official CLI's ``backend.ai app``: every accepted connection opens one websocket to
``/stream/session/{name}/tcpproxy``; the bytes go both ways in binary frames until either
side ends. The server closes the websocket when the app's end of the connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import aiohttp

from ._errors import BackendError
from ._failures import TRANSPORT_ERRORS
from ._websockets import close_websocket

__all__ = ["TunnelRelays"]

_log = logging.getLogger("backendai_aio")

#: How much of a local connection is read at once (the manager relays in such chunks too).
_CHUNK: Final = 64 * 1024
#: How long closing the tunnel waits for its relays to end after cancelling them.
_STOP_LIMIT: Final = 5.0

OpenSocket = Callable[[], Awaitable[aiohttp.ClientWebSocketResponse]]


class TunnelRelays:
    """The relays of one tunnel: one task per accepted connection, all stopped by `stop`."""

    def __init__(self, open_socket: OpenSocket, label: str) -> None:
        self._open_socket = open_socket
        self._label = label
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Relay one accepted connection (asyncio's server calls this in a task of its own)."""
        task = asyncio.current_task()
        assert task is not None
        if self._stopping:
            writer.close()
            return
        self._tasks.add(task)
        try:
            await self._relay(reader, writer)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(*TRANSPORT_ERRORS):
                await writer.wait_closed()

    async def stop(self) -> None:
        """Cancel every relay and wait (bounded) for them to close their connections."""
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_LIMIT)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            ws = await self._open_socket()
        except BackendError as exc:
            # The connection is dropped: its client sees the app as unreachable.
            _log.warning("%s: a connection could not be relayed: %s", self._label, exc)
            return
        try:
            upstream = asyncio.create_task(_upstream(reader, ws))
            downstream = asyncio.create_task(_downstream(ws, writer))
            try:
                # Either side ending ends the relay, as in the official CLI.
                await asyncio.wait((upstream, downstream), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for side in (upstream, downstream):
                    side.cancel()
                await asyncio.gather(upstream, downstream, return_exceptions=True)
        finally:
            await close_websocket(ws)


async def _upstream(reader: asyncio.StreamReader, ws: aiohttp.ClientWebSocketResponse) -> None:
    """Local connection to websocket, until the local side ends or the websocket closes."""
    with contextlib.suppress(*TRANSPORT_ERRORS):
        while chunk := await reader.read(_CHUNK):
            await ws.send_bytes(chunk)


async def _downstream(ws: aiohttp.ClientWebSocketResponse, writer: asyncio.StreamWriter) -> None:
    """Websocket to local connection, until the server closes the websocket."""
    with contextlib.suppress(*TRANSPORT_ERRORS):
        while True:
            message = await ws.receive()
            if message.type is aiohttp.WSMsgType.BINARY:
                writer.write(message.data)
                await writer.drain()
            elif message.type is aiohttp.WSMsgType.TEXT:
                writer.write(message.data.encode())
                await writer.drain()
            elif message.type not in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                if message.type is aiohttp.WSMsgType.CLOSE and message.data not in (1000, 1001):
                    _log.warning("the app's websocket closed with code %s", message.data)
                return
