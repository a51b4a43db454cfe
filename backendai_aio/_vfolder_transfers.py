"""Virtual-folder transfers through the storage proxy: the resumable upload and download.

The manager hands out a storage-proxy URL and a token (``request-upload`` or
``request-download``, answering ``{"url", "token"}``); the bytes then travel between the
client and the storage proxy, unsigned, the token in the query string (``?token=``):

- uploads speak tus 1.0.0 (``HEAD`` for the offset, ``PATCH`` to append; see
  :mod:`._transfers`) in windows of *chunk_size* bytes, each streamed from the source in
  small blocks, and resume after a dropped connection from the offset the server reports;
- downloads are one streamed ``GET`` written to disk block by block, resumed with ``Range:
  bytes=<written>-`` (and ``If-Range``) after a dropped connection.

Neither ever holds a whole file in memory. The token is a credential: it never appears in an
error message, a log line or a repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import stat
import tempfile
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Mapping,
)
from pathlib import Path
from typing import IO, Any, Final, Protocol, TypeAlias

import aiohttp
from yarl import URL

from ._base import BaseClient, describe_failure
from ._errors import (
    BackendError,
    ClientClosedError,
    InvalidArgumentError,
    NotFoundError,
    RequestError,
    ResponseError,
    ServerError,
)
from ._results import vfolder_entries
from ._streams import ProgressCallback, TransferProgress
from ._timeouts import TimeoutArg
from ._transfers import (
    parse_content_range,
    parse_upload_offset,
    range_headers,
    resume_validator,
    tus_head_headers,
    tus_patch_headers,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_ATTEMPTS",
    "Download",
    "FileSource",
    "TransferProgress",
    "Upload",
    "UploadSource",
    "finish_destination",
    "open_source",
    "prepare_destination",
    "read_ticket",
]

#: What :meth:`VFolderAPI.vfolder_upload` reads from: a file path, bytes, or an async
#: iterable of byte chunks (which needs ``size=``).
UploadSource: TypeAlias = (
    str | os.PathLike[str] | bytes | bytearray | memoryview | AsyncIterable[bytes]
)

#: Bytes sent by one tus ``PATCH``; a stream source keeps this much in memory to resend it.
DEFAULT_CHUNK_SIZE: Final = 8 * 1024 * 1024
#: Consecutive failed tries of a transfer (without progress in between) before giving up.
DEFAULT_MAX_ATTEMPTS: Final = 5

# Granularity of file reads and writes and of progress reports.
_BLOCK: Final = 256 * 1024
# Statuses of the storage proxy after which a transfer step is tried again: a busy or
# overloaded server (408, 423, 429, 502-504), or a tus offset conflict (409), which a HEAD
# resolves.
_RESUMABLE_STATUSES: Final = frozenset({408, 409, 423, 429, 502, 503, 504})
# After a failed PATCH, the storage proxy may still be writing what it had received; the
# client asks for the offset until two answers agree (at most this many extra times).
_SETTLE_CHECKS: Final = 5
_SETTLE_DELAY: Final = 0.05
_REDACTED: Final = "<token>"
# How long a failed PATCH waits for its body to stop being read (it is cancelled).
_BODY_END_WAIT: Final = 5.0


def _backoff(failures: int) -> float:
    """Seconds to wait before try *failures* + 1 of a transfer step."""
    return float(min(2.0, 0.1 * 2 ** (failures - 1)))


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _resumable(error: BackendError) -> bool:
    """Whether trying the transfer step again may succeed."""
    if isinstance(error, InvalidArgumentError | ClientClosedError):
        return False
    if isinstance(error, ServerError):
        return error.status in _RESUMABLE_STATUSES
    if isinstance(error.__cause__, aiohttp.ClientSSLError):
        return False
    return isinstance(error, RequestError | ResponseError)


def _in_phase(error: BackendError, phase: str, secret: str) -> BackendError:
    """A copy of *error* (same class and details) whose message starts with *phase*.

    The storage token is masked wherever it could have slipped into the text; the copy is
    raised ``from None`` because the original (and aiohttp's exception under it) names the
    URL with the token, and a traceback would print it.
    """
    phased = copy.copy(error)
    message = f"{phase}: {error.message}".replace(secret, _REDACTED)
    phased.message = message
    phased.args = (message,)
    if isinstance(phased.url, str):
        phased.url = phased.url.replace(secret, _REDACTED)
    return phased


def read_ticket(body: Any, call: str) -> tuple[URL, str]:
    """The storage-proxy URL and token of a ``request-upload``/``request-download`` answer."""
    url = body.get("url") if isinstance(body, Mapping) else None
    token = body.get("token") if isinstance(body, Mapping) else None
    if not isinstance(url, str) or not isinstance(token, str) or not token:
        keys = sorted(body) if isinstance(body, Mapping) else type(body).__name__
        raise ResponseError(f"{call}: the answer lacks a storage-proxy url and token ({keys})")
    target = URL(url)
    if target.scheme not in ("http", "https") or not target.host:
        raise ResponseError(f"{call}: the storage-proxy url {url!r} is not an http(s) URL")
    return target, token


# -- upload sources ------------------------------------------------------------------------


class _Source(Protocol):
    """Bytes to upload, readable again from an offset the server asks for.

    A ``PATCH`` body is sent by a task of aiohttp's, which aiohttp cancels (without waiting
    for it) when the request fails, so a body may still be winding down while the next one
    starts: :meth:`blocks` keeps no state that the next call depends on, and awaits nothing
    of the caller's (a stream source is read by :meth:`prepare`, before the request).
    """

    size: int
    default_name: str | None
    failure: BackendError | None

    def can_resume_at(self, offset: int) -> bool:
        """Whether the bytes from *offset* on can still be produced."""
        ...

    async def prepare(self, offset: int, length: int) -> None:
        """Make the *length* bytes from *offset* ready for :meth:`blocks`."""

    def blocks(self, offset: int, length: int) -> AsyncIterator[bytes]:
        """Yield exactly *length* bytes from *offset*, in blocks."""
        ...

    async def aclose(self) -> None:
        """Release the source."""


class FileSource:
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
                    self._read_at, handle, position, min(_BLOCK, end - position)
                )
                if not data:
                    # Sending less than the announced Content-Length would leave the server
                    # waiting; failing the body makes the PATCH fail at once.
                    self.failure = InvalidArgumentError(
                        f"the source file {self._path} shrank to {position} bytes during "
                        f"the upload (it had {self.size})"
                    )
                    raise self.failure
                position += len(data)
                yield data
        finally:
            if handle is not None:
                handle.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self._file.close)


class _BytesSource:
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
        for start in range(offset, offset + length, _BLOCK):
            yield bytes(self._view[start : min(start + _BLOCK, offset + length)])

    async def aclose(self) -> None:
        return None


class _StreamSource:
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
        for start in range(0, length, _BLOCK):
            yield window[start : start + _BLOCK]

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
        raise InvalidArgumentError(f"no such file to upload: {path}") from None
    except IsADirectoryError:
        raise InvalidArgumentError(f"not a regular file: {path}") from None
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path}: {exc.strerror or exc}") from None
    info = os.fstat(file.fileno())
    if not stat.S_ISREG(info.st_mode):
        file.close()
        raise InvalidArgumentError(f"not a regular file: {path}")
    return file, info.st_size


async def open_source(source: UploadSource, size: int | None) -> _Source:
    if isinstance(source, bytes | bytearray | memoryview):
        data = _BytesSource(source)
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
        return FileSource(file, file_size, path)
    if isinstance(source, AsyncIterable):
        if size is None:
            raise InvalidArgumentError("an async iterable source needs size= (the total bytes)")
        return _StreamSource(source, size)
    raise InvalidArgumentError(
        "the upload source is a path, bytes or an async iterable of bytes, "
        f"not {type(source).__name__}"
    )


# -- the transfers -------------------------------------------------------------------------


async def _end_body(stream: AsyncGenerator[bytes, None], finished: asyncio.Event) -> None:
    """Close a request body, waiting first for it to stop running.

    On a failed request aiohttp cancels the task sending the body without waiting for it, so
    the body may still be inside an await (a file read); it can only be closed once back at
    a ``yield``. A body left at a ``yield`` is closed at once.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _BODY_END_WAIT
    while not finished.is_set() and getattr(stream, "ag_running", False):
        if loop.time() >= deadline:
            return  # still running: closing it now would fail; it ends when cancelled
        await asyncio.sleep(0.01)
    await stream.aclose()


class Upload:
    """One tus upload to the storage proxy, resumed after failures."""

    def __init__(
        self,
        client: BaseClient,
        folder: str,
        target: str,
        url: URL,
        token: str,
        timeout: TimeoutArg,
    ) -> None:
        self._client = client
        self._folder = folder
        self._target = target
        self._url = url
        self._token = token
        self._timeout = timeout
        self._what = f"uploading {target!r} to virtual folder {folder!r}"

    def _fail(self, error: BackendError, phase: str) -> BackendError:
        return _in_phase(error, f"{self._what} ({phase})", self._token)

    async def _offset(self, total: int) -> int | None:
        """The server's offset (``HEAD``); ``None`` when the upload session is gone."""
        try:
            async with self._client._send(
                "HEAD",
                self._url,
                params={"token": self._token},
                headers=tus_head_headers(),
                timeout=self._timeout,
                signed=False,
            ) as response:
                offset = parse_upload_offset(response.headers.get("Upload-Offset"))
        except NotFoundError:
            return None
        if offset is None or offset > total:
            raise ResponseError(
                "the storage proxy answered no valid Upload-Offset "
                f"({response.headers.get('Upload-Offset')!r} for {total} bytes)",
                status=response.status,
                method="HEAD",
                url=str(self._url),
            )
        return offset

    async def _settled_offset(self, total: int) -> int | None:
        """Ask for the offset until two answers agree: a dropped PATCH may still be draining."""
        previous = await self._offset(total)
        for _ in range(_SETTLE_CHECKS):
            if previous is None:
                return None
            await asyncio.sleep(_SETTLE_DELAY)
            current = await self._offset(total)
            if current == previous:
                return current
            previous = current
        return previous

    async def _patch(
        self, source: _Source, offset: int, length: int, progress: TransferProgress
    ) -> int | None:
        """Send *length* bytes from *offset*; return the server's new offset if it said."""
        await source.prepare(offset, length)
        finished = asyncio.Event()

        async def body() -> AsyncGenerator[bytes, None]:
            try:
                sent = offset
                async for block in source.blocks(offset, length):
                    yield block
                    sent += len(block)
                    await progress(sent)
            finally:
                finished.set()

        stream = body()
        try:
            async with self._client._send(
                "PATCH",
                self._url,
                params={"token": self._token},
                data=stream,
                headers=tus_patch_headers(offset, length),
                timeout=self._timeout,
                signed=False,
                streaming=True,
            ) as response:
                return parse_upload_offset(response.headers.get("Upload-Offset"))
        finally:
            await _end_body(stream, finished)

    async def _landed(self, total: int) -> bool:
        """Whether the target holds *total* bytes: the upload ended as the connection broke."""
        parent, _, base = self._target.rpartition("/")
        listing = await self._client._request(
            "GET",
            self._client._url("folders", self._folder, "files"),
            params={"path": parent or "."},
            timeout=self._timeout,
        )
        return any(entry.name == base and entry.size == total for entry in vfolder_entries(listing))

    async def run(
        self, source: _Source, progress: TransferProgress, chunk_size: int, max_attempts: int
    ) -> None:
        total = source.size
        try:
            offset = await self._offset(total)
        except BackendError as head_error:
            raise self._fail(head_error, "HEAD") from None
        if offset is None:
            unknown = ResponseError(
                "the storage proxy does not know the upload session",
                status=404,
                method="HEAD",
                url=str(self._url),
            )
            raise self._fail(unknown, "HEAD")
        await progress(offset)
        failures = 0
        patched = False
        # An empty file still takes one (empty) PATCH: it is what makes the proxy create it.
        while offset < total or not patched:
            length = min(chunk_size, total - offset)
            try:
                if not source.can_resume_at(offset):
                    raise InvalidArgumentError(
                        f"cannot resume from byte {offset}: the stream source has already "
                        "moved past it (use a larger chunk_size or a file source)"
                    )
                new_offset = await self._patch(source, offset, length, progress)
            except (BackendError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                if progress.error is not None:
                    raise progress.error from None
                if source.failure is not None:
                    raise source.failure from None
                failed = (
                    exc if isinstance(exc, BackendError) else RequestError(describe_failure(exc))
                )
                if not (_resumable(failed) or isinstance(failed, NotFoundError)):
                    raise self._fail(failed, f"PATCH at byte {offset}") from None
                offset_or_gone, failures = await self._resume(total, failures, max_attempts, failed)
                if offset_or_gone is None:
                    # The session is gone: the proxy completes and forgets it on the last
                    # byte, so it may have finished just as the connection broke.
                    if offset + length >= total and await self._landed(total):
                        await progress(total)
                        return
                    raise self._fail(
                        failed, f"PATCH at byte {offset}; the upload session is gone"
                    ) from None
                offset = offset_or_gone
                continue
            patched = True
            if new_offset is None:
                new_offset = offset + length
            if not offset <= new_offset <= total or (new_offset == offset and length):
                bad = ResponseError(
                    f"the storage proxy answered Upload-Offset {new_offset} after {length} "
                    f"bytes of {total}",
                    method="PATCH",
                    url=str(self._url),
                )
                raise self._fail(bad, f"PATCH at byte {offset}")
            offset = new_offset
            failures = 0
        if isinstance(source, _StreamSource):
            await source.check_exhausted()
        await progress(total)

    async def _resume(
        self, total: int, failures: int, max_attempts: int, error: BackendError
    ) -> tuple[int | None, int]:
        """After a failed PATCH: wait, then learn the server's offset (``None``: gone)."""
        while True:
            failures += 1
            if failures >= max_attempts:
                raise self._fail(error, f"gave up after {_attempts(failures)}") from None
            await asyncio.sleep(_backoff(failures))
            try:
                return await self._settled_offset(total), failures
            except BackendError as head_error:
                if not _resumable(head_error):
                    raise self._fail(head_error, "HEAD after a failed PATCH") from None
                error = head_error


class Download:
    """One streamed download from the storage proxy, resumed with ``Range`` after failures."""

    def __init__(
        self, client: BaseClient, folder: str, path: str, url: URL, token: str, timeout: TimeoutArg
    ) -> None:
        self._client = client
        self._url = url
        self._token = token
        self._timeout = timeout
        self._what = f"downloading {path!r} from virtual folder {folder!r}"
        #: What ``If-Range`` carries when resuming (the first answer's date or ETag).
        self.validator: str | None = None

    def _fail(self, error: BackendError, phase: str) -> BackendError:
        return _in_phase(error, f"{self._what} ({phase})", self._token)

    async def run(
        self, file: IO[bytes], progress: ProgressCallback | None, max_attempts: int
    ) -> int:
        """Write the file's bytes to *file*; return how many."""
        written = 0
        reporter = TransferProgress(progress, None)
        failures = 0
        while True:
            # identity: an aiohttp server would otherwise serve a pre-compressed sibling
            # (``name.gz``), whose ranges are not the file's.
            headers = {"Accept-Encoding": "identity"}
            if written:
                headers.update(range_headers(written, self.validator))
            phase = f"GET from byte {written}" if written else "GET"
            try:
                written = await self._attempt(file, headers, written, reporter)
                return written
            except _LocalWriteError:
                raise
            except ServerError as error:
                if error.status == 416 and written and written == reporter.total:
                    # Everything had arrived before the connection broke.
                    await reporter(written)
                    return written
                if error.status == 416:
                    await asyncio.to_thread(_truncate, file)
                    written = 0
                elif not _resumable(error):
                    raise self._fail(error, phase) from None
                last: BackendError = error
            except BackendError as error:
                if reporter.error is not None:
                    raise reporter.error from None
                if not _resumable(error):
                    raise self._fail(error, phase) from None
                last = error
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = (
                    "timed out reading the body"
                    if isinstance(exc, TimeoutError)
                    else f"the connection failed while reading the body: {describe_failure(exc)}"
                )
                last = ResponseError(reason, method="GET", url=str(self._url))
                last.__cause__ = exc
            written = await asyncio.to_thread(file.tell)
            failures += 1
            if failures >= max_attempts:
                raise self._fail(last, f"{phase}; gave up after {_attempts(failures)}") from None
            await asyncio.sleep(_backoff(failures))

    async def _attempt(
        self, file: IO[bytes], headers: dict[str, str], written: int, reporter: TransferProgress
    ) -> int:
        """One GET: write its body after the *written* bytes; return the new total."""
        async with self._client._send(
            "GET",
            self._url,
            params={"token": self._token},
            headers=headers,
            timeout=self._timeout,
            signed=False,
            streaming=True,
            idempotent=False,  # resumed here, from where it stopped
        ) as response:
            if response.status == 206:
                span = parse_content_range(response.headers.get("Content-Range"))
                if span is None or span.first != written:
                    raise ResponseError(
                        "the storage proxy answered the range "
                        f"{response.headers.get('Content-Range')!r} to bytes={written}-",
                        status=206,
                        method="GET",
                        url=str(self._url),
                    )
                reporter.total = span.length
            else:
                # A full answer: the server ignored the range, or the file changed since.
                if written:
                    await asyncio.to_thread(_truncate, file)
                    written = 0
                reporter.total = response.content_length
            self.validator = resume_validator(response.headers) or self.validator
            await reporter(written)
            async for chunk in response.content.iter_chunked(_BLOCK):
                await _write(file, chunk)
                written += len(chunk)
                await reporter(written)
        if reporter.total is not None and written < reporter.total:
            raise ResponseError(
                f"the body ended after {written} of {reporter.total} bytes",
                method="GET",
                url=str(self._url),
            )
        await reporter(written)
        return written


class _LocalWriteError(InvalidArgumentError):
    """Writing the destination file failed (a local problem: disk full, permissions)."""


def _truncate(file: IO[bytes]) -> None:
    file.seek(0)
    file.truncate()


async def _write(file: IO[bytes], chunk: bytes) -> None:
    try:
        await asyncio.to_thread(file.write, chunk)
    except OSError as exc:
        raise _LocalWriteError(
            f"writing the download to {getattr(file, 'name', '?')} failed: {exc.strerror or exc}"
        ) from exc


def prepare_destination(dest: str | os.PathLike[str], remote: str) -> tuple[Path, IO[bytes], str]:
    """Resolve *dest* (a file, or a folder to put the file in) and open a temporary file.

    The bytes go to a hidden file beside the destination, renamed over it once complete, so
    that a failed download never leaves a truncated file under the destination's name.
    """
    raw = os.fspath(dest) if isinstance(dest, str | os.PathLike) else None
    if not isinstance(raw, str) or not raw:
        raise InvalidArgumentError(f"the destination is a path, not {dest!r}")
    target = Path(raw)
    if target.is_dir():
        target = target / remote.rpartition("/")[2]
    if not target.parent.is_dir():
        raise InvalidArgumentError(f"the destination folder {target.parent} does not exist")
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise InvalidArgumentError(
            f"cannot write to {target.parent}: {exc.strerror or exc}"
        ) from None
    return target, os.fdopen(fd, "wb"), temp


def finish_destination(file: IO[bytes], temp: str, target: Path | None) -> None:
    """Close the temporary file; move it into place (*target*) or remove it (``None``)."""
    try:
        file.close()
        if target is not None:
            os.replace(temp, target)
            return
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise _LocalWriteError(
            f"cannot store the download as {target}: {exc.strerror or exc}"
        ) from exc
    with contextlib.suppress(OSError):
        os.unlink(temp)
