"""The body of a streamed response, read in chunks and written to a file atomically."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from .._errors import InvalidArgumentError, ResponseError
from .._failures import TRANSPORT_ERRORS
from .destination import AtomicFile, local_error
from .progress import ProgressCallback, TransferProgress
from .sizes import CHUNK_SIZE

__all__ = ["ByteStream"]


class ByteStream:
    """The body of a streamed response, read in chunks, never whole.

    ``async for chunk in stream`` yields the bytes as they arrive; `to_file` writes
    them to a path. A transport failure while reading raises
    [`ResponseError`][backendai_aio.ResponseError]. Valid only inside the ``async with`` block that
    produced it.
    """

    def __init__(self, response: aiohttp.ClientResponse, method: str) -> None:
        self._response = response
        self._method = method
        #: The bytes read so far.
        self.bytes_read = 0

    def __repr__(self) -> str:
        # The URL without its query: a query may carry a token.
        url = self._response.url.with_query(None).with_fragment(None)
        total = "?" if self.total is None else self.total
        return (
            f"<ByteStream {self._method} {url} status={self._response.status} "
            f"read={self.bytes_read}/{total}>"
        )

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
        """Write the rest of the body to the file *path*; return the number of bytes written.

        The bytes go to a temporary file beside *path*, moved over it once complete (a
        replaced file keeps its mode). Local failures (a folder in the way, a missing
        folder, a full disk) raise [`LocalIOError`][backendai_aio.LocalIOError].
        """
        raw = os.fspath(path) if isinstance(path, str | os.PathLike) else None
        if not isinstance(raw, str) or not raw:
            raise InvalidArgumentError(f"the destination is a path, not {path!r}")
        target = Path(raw)
        if not await asyncio.to_thread(target.parent.is_dir):
            raise local_error(
                f"cannot write {target}", FileNotFoundError(2, "the folder does not exist")
            )
        sink = await asyncio.to_thread(AtomicFile, target)
        reporter = TransferProgress(progress, self.total)
        try:
            async for chunk in self:
                try:
                    # Straight to the page cache: a thread hop per megabyte would cost more
                    # than the write itself.
                    sink.file.write(chunk)
                except OSError as exc:
                    raise local_error(f"writing {target} failed", exc) from exc
                await reporter.add(len(chunk))
            await asyncio.to_thread(sink.commit)
        except BaseException:
            sink.abort()
            raise
        return reporter.done
