"""Byte streams of responses, and progress reporting for transfers."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Final, TypeAlias

import aiohttp

from ._destination import AtomicFile, local_error
from ._errors import InvalidArgumentError, ResponseError
from ._failures import TRANSPORT_ERRORS

__all__ = ["CHUNK_SIZE", "ByteStream", "ProgressCallback", "TransferProgress"]

#: The size of the chunks transfers read and write (1 MiB).
CHUNK_SIZE: Final = 1024 * 1024

#: ``progress(done, total)``: bytes transferred so far, and the total when known.
ProgressCallback: TypeAlias = Callable[[int, int | None], object]


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
                    raise local_error(f"writing {target} failed", exc) from None
                await reporter.add(len(chunk))
            await asyncio.to_thread(sink.commit)
        except BaseException:
            sink.abort()
            raise
        return reporter.done


class TransferProgress:
    """Reports a transfer's progress to the caller's callback.

    It counts the bytes (`add`) or takes a position (`__call__`), never reports a
    count twice or backwards (a resumed transfer sends some bytes again), and keeps what the
    callback raised: called while aiohttp sends a body, its exception would otherwise reach
    the caller disguised as a connection failure.
    """

    def __init__(self, callback: ProgressCallback | None, total: int | None) -> None:
        self._callback = callback
        #: The total in bytes, when known.
        self.total = total
        #: The bytes counted by `add`.
        self.done = 0
        self._reported = -1
        #: What the callback (or a source, on its behalf) raised.
        self.error: BaseException | None = None

    async def add(self, count: int) -> None:
        """Count *count* more bytes and report the new total."""
        self.done += count
        await self(self.done)

    async def __call__(self, done: int) -> None:
        """Report that *done* bytes are through."""
        if self._callback is None or done <= self._reported:
            return
        self._reported = done
        try:
            result = self._callback(done, self.total)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            self.error = exc
            raise
