"""What an upload reads from: a file path, bytes, or an async iterable of chunks.

Each source produces its bytes again from any offset the storage proxy asks for (a stream
source only within the window it keeps), never holding a whole file in memory.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import AsyncIterable, AsyncIterator
from typing import IO, Protocol, TypeAlias

from .._errors import BackendError, InvalidArgumentError, LocalIOError
from .sizes import BLOCK_SIZE

__all__ = ["BytesSource", "PathSource", "Source", "StreamSource", "UploadSource", "open_source"]

#: What an upload reads from: a file path, bytes, or an async iterable of byte chunks
#: (a folder upload then needs ``size=``).
UploadSource: TypeAlias = (
    str | os.PathLike[str] | bytes | bytearray | memoryview | AsyncIterable[bytes]
)


class Source(Protocol):
    """Bytes to upload, readable again from an offset the server asks for.

    A ``PATCH`` body is sent by a task of aiohttp's, which aiohttp cancels (without waiting
    for it) when the request fails, so a body may still be winding down while the next one
    starts: `blocks` keeps no state that the next call depends on, and awaits nothing
    of the caller's (a stream source is read by `prepare`, before the request).
    """

    size: int
    default_name: str | None
    failure: BackendError | None

    def can_resume_at(self, offset: int) -> bool:
        """Whether the bytes from *offset* on can still be produced."""
        ...

    async def prepare(self, offset: int, length: int) -> None:
        """Make the *length* bytes from *offset* ready for `blocks`."""

    def blocks(self, offset: int, length: int) -> AsyncIterator[bytes]:
        """Yield exactly *length* bytes from *offset*, in blocks."""
        ...

    async def aclose(self) -> None:
        """Release the source."""


class PathSource:
    """A regular file, read in blocks from any offset (in a worker thread).

    Reads are positional (``os.pread``, or a handle of their own where there is none): a
    read left running by a cancelled body must not move a shared file position.
    """

    def __init__(self, file: IO[bytes], size: int, path: str) -> None:
        self._file = file
        self.size = size
        self._path = path
        self.default_name: str | None = os.path.basename(path) or None
        self.failure: BackendError | None = None

    def can_resume_at(self, offset: int) -> bool:
        return True

    async def prepare(self, offset: int, length: int) -> None:
        return None

    def _read_at(self, handle: IO[bytes] | None, position: int, count: int) -> bytes:
        if handle is None:
            return os.pread(self._file.fileno(), count, position)
        handle.seek(position)
        return handle.read(count)

    async def blocks(self, offset: int, length: int) -> AsyncIterator[bytes]:
        handle = None
        if not hasattr(os, "pread"):
            handle = await asyncio.to_thread(open, self._path, "rb")
        try:
            position, end = offset, offset + length
            while position < end:
                data = await asyncio.to_thread(
                    self._read_at, handle, position, min(BLOCK_SIZE, end - position)
                )
                if not data:
                    # Sending less than the announced Content-Length would leave the server
                    # waiting; failing the body makes the PATCH fail at once.
                    self.failure = LocalIOError(
                        f"the source file {self._path} shrank to {position} bytes during "
                        f"the upload (it had {self.size})",
                        filename=self._path,
                    )
                    raise self.failure
                position += len(data)
                yield data
        finally:
            if handle is not None:
                handle.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self._file.close)


class BytesSource:
    """Bytes in memory."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = bytes(data) if isinstance(data, bytearray) else data
        self._view = memoryview(self._data).cast("B")
        self.size = len(self._view)
        self.default_name: str | None = None
        self.failure: BackendError | None = None

    def can_resume_at(self, offset: int) -> bool:
        return True

    async def prepare(self, offset: int, length: int) -> None:
        return None

    async def blocks(self, offset: int, length: int) -> AsyncIterator[bytes]:
        for start in range(offset, offset + length, BLOCK_SIZE):
            yield bytes(self._view[start : min(start + BLOCK_SIZE, offset + length)])

    async def aclose(self) -> None:
        return None


class StreamSource:
    """An async iterable of chunks, read once: the current window is kept to resend it."""

    def __init__(self, iterable: AsyncIterable[bytes], size: int) -> None:
        self._iterator = aiter(iterable)
        self.size = size
        self.default_name: str | None = None
        self.failure: BackendError | None = None
        self._buffer = bytearray()
        self._start = 0  # the offset of self._buffer[0]
        self._ended = False

    def can_resume_at(self, offset: int) -> bool:
        return offset >= self._start

    async def _fill(self, end: int) -> None:
        while self._start + len(self._buffer) < end and not self._ended:
            try:
                chunk = await anext(self._iterator)
            except StopAsyncIteration:
                self._ended = True
                break
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise InvalidArgumentError(
                    f"the upload source yielded {type(chunk).__name__}, not bytes"
                )
            self._buffer += chunk

    async def prepare(self, offset: int, length: int) -> None:
        # What lies before *offset* the server has: it is never needed again.
        del self._buffer[: offset - self._start]
        self._start = offset
        await self._fill(offset + length)
        if self._start + len(self._buffer) < offset + length:
            raise InvalidArgumentError(
                f"the upload source ended after {self._start + len(self._buffer)} bytes; "
                f"size= said {self.size}"
            )

    async def blocks(self, offset: int, length: int) -> AsyncIterator[bytes]:
        # A copy of the window: the buffer may be trimmed by the next prepare() while a
        # cancelled body is still winding down.
        window = bytes(self._buffer[offset - self._start : offset - self._start + length])
        for start in range(0, length, BLOCK_SIZE):
            yield window[start : start + BLOCK_SIZE]

    async def check_exhausted(self) -> None:
        """Refuse a source that has more than ``size`` bytes."""
        await self._fill(self.size + 1)
        if self._start + len(self._buffer) > self.size:
            raise InvalidArgumentError(
                f"the upload source yields more than size={self.size} bytes "
                "(the first size bytes were stored)"
            )

    async def aclose(self) -> None:
        self._buffer.clear()
        closer = getattr(self._iterator, "aclose", None)
        if closer is not None:
            await closer()


def _open_regular_file(path: str) -> tuple[IO[bytes], int]:
    """Open a regular file for reading and return it with its size (blocking)."""
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed by the source's aclose)
    except FileNotFoundError:
        raise LocalIOError(
            f"no such file to upload: {path}", errno=errno.ENOENT, filename=path
        ) from None
    except IsADirectoryError:
        raise LocalIOError(
            f"not a regular file: {path}", errno=errno.EISDIR, filename=path
        ) from None
    except OSError as exc:
        raise LocalIOError(
            f"cannot read {path}: {exc.strerror or exc}", errno=exc.errno, filename=path
        ) from None
    info = os.fstat(file.fileno())
    if not stat.S_ISREG(info.st_mode):
        file.close()
        raise LocalIOError(f"not a regular file: {path}", filename=path)
    return file, info.st_size


async def open_source(source: UploadSource, size: int | None) -> Source:
    """Check *source* against *size* and open it."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = BytesSource(source)
        if size is not None and size != data.size:
            raise InvalidArgumentError(f"size={size} but the source holds {data.size} bytes")
        return data
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        if not isinstance(path, str) or not path:
            raise InvalidArgumentError(f"invalid source path {source!r}")
        file, file_size = await asyncio.to_thread(_open_regular_file, path)
        if size is not None and size != file_size:
            file.close()
            raise InvalidArgumentError(f"size={size} but {path} holds {file_size} bytes")
        return PathSource(file, file_size, path)
    if isinstance(source, AsyncIterable):
        if size is None:
            raise InvalidArgumentError("an async iterable source needs size= (the total bytes)")
        return StreamSource(source, size)
    raise InvalidArgumentError(
        "the upload source is a path, bytes or an async iterable of bytes, "
        f"not {type(source).__name__}"
    )
