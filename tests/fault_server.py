"""A raw TCP server on 127.0.0.1 that misbehaves on purpose, and counts open connections."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

ROOT_BODY = b'{"version": "v9.20250722", "manager": "26.2.0"}'

Behaviour = Callable[["FaultServer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Read one request (Content-Length bodies only); return (request line, head)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return head.split(b"\r\n", 1)[0], head


def response(status: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """Encode a whole HTTP/1.1 response."""
    lines = [f"HTTP/1.1 {status}"]
    all_headers = {"Content-Length": str(len(body)), **(headers or {})}
    lines += [f"{k}: {v}" for k, v in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class FaultServer:
    """Serve *behaviour* for every request other than ``GET /`` (which answers properly).

    ``open_connections`` counts client connections the server still sees open; a client that
    leaks a connection keeps it above zero.
    """

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.open_connections = 0
        self.requests = 0
        self.heads: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    request_line, head = await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if request_line.startswith(b"GET / "):
                    writer.write(
                        response("200 OK", ROOT_BODY, {"Content-Type": "application/json"})
                    )
                    await writer.drain()
                    continue
                self.requests += 1
                self.heads.append(head)
                await self.behaviour(self, reader, writer)
                if writer.is_closing():
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._writers.discard(writer)
            self.open_connections -= 1

    async def wait_for_no_connections(self, timeout: float = 3.0) -> int:
        """Wait until the client closed every connection; return how many are still open."""
        deadline = time.monotonic() + timeout
        while self.open_connections and time.monotonic() < deadline:  # noqa: ASYNC110 (bounded poll)
            await asyncio.sleep(0.02)
        return self.open_connections


async def until_client_closes(reader: asyncio.StreamReader) -> None:
    """Stall: read and drop whatever comes until the client closes the connection."""
    while await reader.read(65536):
        pass
