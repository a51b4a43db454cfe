"""A session's pseudo-terminal over a websocket: ``GET /stream/session/{name}/pty``.

The manager's protocol: the client sends JSON text frames, ``{"type": "stdin", "chars":
base64}`` for keystrokes, ``{"type": "resize", "rows": r, "cols": c}``, ``{"type": "ping"}``
and ``{"type": "restart"}``; the server sends the terminal's output as frames holding JSON
``{"type": "out", "data": base64}`` (binary frames on the real manager; text ones are read
alike).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from yarl import URL

from ._errors import InvalidArgumentError, ReadTimeoutError, RequestError, ResponseError
from ._failures import TRANSPORT_ERRORS
from ._websockets import close_websocket, public_url, receive_message

__all__ = ["Terminal"]

#: The largest terminal a resize may ask for (the kernel's window size is 16-bit).
_MAX_SIZE = 65535


class Terminal:
    r"""A session's pseudo-terminal: what [`Sessions.pty`][backendai_aio.Sessions.pty] yields.

    `write` types into it, `resize` sets its window size, `restart` asks the session to
    restart its terminal; `read` (or ``async for chunk in terminal``) takes what it printed,
    as bytes, and `read_until` waits for a given text:

    ```python
    async with client.sessions.pty("my-session") as terminal:
        await terminal.write("echo hello\n")
        print(await terminal.read_until(b"hello"))
    ```
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, url: URL) -> None:
        self._ws = ws
        self._url = url
        # Output read past what read_until returned, handed out first.
        self._pending = b""
        self._ended = False

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Terminal {public_url(self._url)} state={state}>"

    @property
    def closed(self) -> bool:
        """Whether the terminal's websocket is closed (by either side)."""
        return self._ended or self._ws.closed

    async def write(self, data: str | bytes) -> None:
        """Send *data* (text is encoded as UTF-8) to the terminal's input."""
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, bytes | bytearray):
            raise InvalidArgumentError("terminal input must be str or bytes")
        await self._send({"type": "stdin", "chars": base64.b64encode(data).decode("ascii")})

    async def resize(self, rows: int, cols: int) -> None:
        """Set the terminal's window size to *rows* lines of *cols* columns."""
        for label, value in (("rows", rows), ("cols", cols)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_SIZE:
                raise InvalidArgumentError(f"{label} must be an int from 1 to {_MAX_SIZE}")
        await self._send({"type": "resize", "rows": rows, "cols": cols})

    async def ping(self) -> None:
        """Tell the session the terminal is still in use."""
        await self._send({"type": "ping"})

    async def restart(self) -> None:
        """Ask the session to restart the program behind the terminal."""
        await self._send({"type": "restart"})

    async def read(self) -> bytes:
        """The next piece of the terminal's output; ``b""`` once the terminal has closed."""
        if self._pending:
            chunk, self._pending = self._pending, b""
            return chunk
        while not self._ended:
            chunk = await self._receive()
            if chunk:
                return chunk
        return b""

    async def read_until(self, marker: str | bytes, *, timeout: float = 30.0) -> bytes:
        """Read until *marker* appears; answer the output up to and including it.

        What came after the marker is kept for the next read. Raises
        [`ReadTimeoutError`][backendai_aio.ReadTimeoutError] when the marker has not come
        within *timeout* seconds, and [`ResponseError`][backendai_aio.ResponseError] when the
        terminal closes first; the output read so far is then kept for the next read.
        """
        wanted = marker.encode() if isinstance(marker, str) else bytes(marker)
        if not wanted:
            raise InvalidArgumentError("the marker must not be empty")
        if not timeout > 0:
            raise InvalidArgumentError("timeout must be a positive number of seconds")
        seen = b""
        try:
            async with asyncio.timeout(timeout):
                while (found := seen.find(wanted)) < 0:
                    chunk = await self.read()
                    if not chunk:
                        raise ResponseError(
                            f"the terminal {public_url(self._url)} closed before {wanted!r} came"
                        )
                    seen += chunk
        except TimeoutError as exc:
            self._pending = seen + self._pending
            raise ReadTimeoutError(
                f"{wanted!r} did not come from the terminal within {timeout:g} s"
            ) from exc
        except ResponseError:
            self._pending = seen + self._pending
            raise
        end = found + len(wanted)
        self._pending = seen[end:] + self._pending
        return seen[:end]

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read():
            yield chunk

    async def close(self) -> None:
        """Close the terminal's websocket (the session's terminal program keeps running)."""
        self._ended = True
        await close_websocket(self._ws)

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.closed:
            raise RequestError(f"the terminal {public_url(self._url)} is closed")
        try:
            await self._ws.send_str(json.dumps(frame))
        except TRANSPORT_ERRORS as exc:
            raise RequestError(
                f"sending to the terminal {public_url(self._url)} failed: {exc}"
            ) from exc

    async def _receive(self) -> bytes:
        """One frame's output (``b""`` for a frame without any); marks the end when closed."""
        message = await receive_message(self._ws, f"the terminal {public_url(self._url)}", "output")
        if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return _output(message.data)
        if message.type is aiohttp.WSMsgType.ERROR:
            self._ended = True
            raise ResponseError(f"the terminal {public_url(self._url)} failed: {message.data}")
        if message.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        ):
            self._ended = True
        return b""


def _output(data: str | bytes) -> bytes:
    """The output an ``{"type": "out", "data": base64}`` frame carries (other frames: none)."""
    try:
        frame = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ResponseError(f"a terminal frame that is not JSON: {data!r:.100}") from exc
    if not isinstance(frame, dict) or frame.get("type") != "out":
        return b""
    payload = frame.get("data")
    if not isinstance(payload, str):
        raise ResponseError(f"a terminal frame without output data: {frame!r:.100}")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ResponseError(f"a terminal frame whose data is not base64: {payload!r:.100}") from exc
