"""Byte streams of responses, and progress reporting for transfers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Final, TypeAlias

import aiohttp

from ._base import TRANSPORT_ERRORS
from ._errors import ResponseError

__all__ = ["CHUNK_SIZE", "ByteStream", "ProgressCallback"]

#: The size of the chunks transfers read and write (1 MiB).
CHUNK_SIZE: Final = 1024 * 1024

#: ``progress(done, total)``: bytes transferred so far, and the total when known.
ProgressCallback: TypeAlias = Callable[[int, int | None], object]


class ByteStream:
    """The body of a streamed response, read in chunks, never whole.

    ``async for chunk in stream`` yields the bytes as they arrive; :meth:`to_file` writes
    them to a path. A transport failure while reading raises
    :class:`~backendai_aio.ResponseError`. Valid only inside the ``async with`` block that
    produced it.
    """

    def __init__(self, response: aiohttp.ClientResponse, method: str) -> None:
        self._response = response
        self._method = method
        #: The bytes read so far.
        self.bytes_read = 0

    @property
    def total(self) -> int | None:
        """The body's size from ``Content-Length``, if the server sent one."""
        return self._response.content_length

    @property
    def content_type(self) -> str:
        """The response's media type."""
        return self._response.content_type

    async def read(self, size: int = CHUNK_SIZE) -> bytes:
        """Read up to *size* bytes; ``b""`` at the end of the body."""
        try:
            chunk = await self._response.content.read(size)
        except TRANSPORT_ERRORS as exc:
            raise ResponseError(
                f"{self._method} {self._response.url}: reading the body failed after "
                f"{self.bytes_read} bytes: {type(exc).__name__}: {exc}",
                status=self._response.status,
                method=self._method,
                url=str(self._response.url),
            ) from exc
        self.bytes_read += len(chunk)
        return chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read():
            yield chunk

    async def to_file(
        self, path: str | os.PathLike[str], *, progress: ProgressCallback | None = None
    ) -> int:
        """Write the rest of the body to *path*; return the number of bytes written."""
        written = 0
        total = self.total
        # Chunks go straight to the page cache: a thread hop per megabyte would cost more
        # than the write itself.
        with Path(path).open("wb") as file:  # noqa: ASYNC230
            async for chunk in self:
                file.write(chunk)
                written += len(chunk)
                if progress is not None:
                    await report(progress, written, total)
        return written


async def report(progress: ProgressCallback, done: int, total: int | None) -> None:
    """Call a progress callback, awaiting it if it is a coroutine function."""
    result = progress(done, total)
    if isinstance(result, Awaitable):
        await result
