"""Virtual folders: the manager's ``/folders`` calls, and transfers through the storage proxy.

Folder management goes to the manager, signed like every call. File contents do not: the
manager hands out a storage-proxy URL and a token (``POST /folders/{name}/request-upload``
or ``request-download``, answering ``{"url", "token"}``), and the bytes then travel between
the client and the storage proxy, unsigned, the token in the query string (``?token=``):

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
import inspect
import os
import stat
import tempfile
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import IO, Any, Final, Protocol, TypeAlias

import aiohttp
from yarl import URL

from ._base import BaseClient
from ._errors import (
    BackendError,
    ClientClosedError,
    InvalidArgumentError,
    NotFoundError,
    RequestError,
    ResponseError,
    ServerError,
)
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transfers import (
    file_name,
    folder_name,
    folder_path,
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
    "ProgressCallback",
    "UploadSource",
    "VFolder",
    "VFolderAPI",
]

#: ``progress(done, total)``: bytes transferred so far and the total (``None`` if unknown).
ProgressCallback: TypeAlias = Callable[[int, int | None], Awaitable[None] | None]
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

    The storage token is masked wherever it could have slipped into the text.
    """
    phased = copy.copy(error)
    message = f"{phase}: {error.message}".replace(secret, _REDACTED)
    phased.message = message
    phased.args = (message,)
    if isinstance(phased.url, str):
        phased.url = phased.url.replace(secret, _REDACTED)
    return phased


def _describe(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


def _ticket(body: Any, call: str) -> tuple[URL, str]:
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


class _Progress:
    """Reports progress to the caller's callback, never stepping back after a resumption."""

    def __init__(self, callback: ProgressCallback | None, total: int | None) -> None:
        self._callback = callback
        self.total = total
        self._reported = -1
        #: What the callback raised: called while aiohttp sends a body, its exception would
        #: otherwise reach the caller disguised as a connection failure.
        self.error: BaseException | None = None

    async def __call__(self, done: int) -> None:
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


class _FileSource:
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


async def _open_source(source: UploadSource, size: int | None) -> _Source:
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
        return _FileSource(file, file_size, path)
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


class _Upload:
    """One tus upload to the storage proxy, resumed after failures."""

    def __init__(
        self,
        client: VFolderAPI,
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
        self, source: _Source, offset: int, length: int, progress: _Progress
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
        listing = await self._client.vfolder_list_files(
            self._folder, parent or ".", timeout=self._timeout
        )
        items = listing.get("items") if isinstance(listing, Mapping) else None
        return any(
            isinstance(item, Mapping) and item.get("name") == base and item.get("size") == total
            for item in items or ()
        )

    async def run(
        self, source: _Source, progress: _Progress, chunk_size: int, max_attempts: int
    ) -> None:
        total = source.size
        try:
            offset = await self._offset(total)
        except BackendError as head_error:
            raise self._fail(head_error, "HEAD") from head_error
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
                    raise source.failure from exc
                failed = exc if isinstance(exc, BackendError) else RequestError(_describe(exc))
                if not (_resumable(failed) or isinstance(failed, NotFoundError)):
                    raise self._fail(failed, f"PATCH at byte {offset}") from exc
                offset_or_gone, failures = await self._resume(total, failures, max_attempts, failed)
                if offset_or_gone is None:
                    # The session is gone: the proxy completes and forgets it on the last
                    # byte, so it may have finished just as the connection broke.
                    if offset + length >= total and await self._landed(total):
                        await progress(total)
                        return
                    raise self._fail(
                        failed, f"PATCH at byte {offset}; the upload session is gone"
                    ) from exc
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
                raise self._fail(error, f"gave up after {_attempts(failures)}") from error
            await asyncio.sleep(_backoff(failures))
            try:
                return await self._settled_offset(total), failures
            except BackendError as head_error:
                if not _resumable(head_error):
                    raise self._fail(head_error, "HEAD after a failed PATCH") from head_error
                error = head_error


class _Download:
    """One streamed download from the storage proxy, resumed with ``Range`` after failures."""

    def __init__(
        self, client: VFolderAPI, folder: str, path: str, url: URL, token: str, timeout: TimeoutArg
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
        reporter = _Progress(progress, None)
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
                    raise self._fail(error, phase) from error
                last: BackendError = error
            except BackendError as error:
                if reporter.error is not None:
                    raise reporter.error from None
                if not _resumable(error):
                    raise self._fail(error, phase) from error
                last = error
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = (
                    "timed out reading the body"
                    if isinstance(exc, TimeoutError)
                    else f"the connection failed while reading the body: {_describe(exc)}"
                )
                last = ResponseError(reason, method="GET", url=str(self._url))
                last.__cause__ = exc
            written = await asyncio.to_thread(file.tell)
            failures += 1
            if failures >= max_attempts:
                raise self._fail(last, f"{phase}; gave up after {_attempts(failures)}") from last
            await asyncio.sleep(_backoff(failures))

    async def _attempt(
        self, file: IO[bytes], headers: dict[str, str], written: int, reporter: _Progress
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


def _prepare_destination(dest: str | os.PathLike[str], remote: str) -> tuple[Path, IO[bytes], str]:
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


def _finish_destination(file: IO[bytes], temp: str, target: Path | None) -> None:
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


# -- the API -------------------------------------------------------------------------------


class VFolderAPI(BaseClient):
    """The virtual-folder calls of :class:`~backendai_aio.Client` (``/folders``).

    A virtual folder is a named directory on a storage host that sessions mount. Each
    method takes the folder's name; :meth:`vfolder` gives a :class:`VFolder` handle that
    carries it. Paths inside a folder are POSIX and relative to it (``data/train.csv``); a
    path leaving the folder (``..``, ``/etc``) raises :class:`~backendai_aio.InvalidArgumentError`
    before anything is sent.
    """

    def vfolder(self, name: str) -> VFolder:
        """A handle on the virtual folder *name*: the same calls without the name."""
        return VFolder(self, folder_name(name))

    async def vfolder_create(
        self,
        name: str,
        *,
        host: str | None = None,
        usage_mode: str | None = None,
        permission: str | None = None,
        group: str | None = None,
        quota: int | str | None = None,
        cloneable: bool | None = None,
        unmanaged_path: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """``POST /folders``: create the virtual folder *name* (answers 201 and its details).

        *host* is a storage host from :meth:`vfolder_list_hosts` (default: the server's);
        *usage_mode* ``general``, ``model`` or ``data``; *permission* ``ro``, ``rw`` or
        ``wd`` (read-write-delete); *group* a project's id (or, on older managers, name) for
        a project folder; *quota* a size (``"10g"``); *unmanaged_path* (admins) a host path.
        Options left at ``None`` take the server's defaults. Answers ``{"id", "name",
        "host", "usage_mode", "permission", "ownership_type", "user", "group", ...}``.
        """
        body: dict[str, Any] = {"name": folder_name(name)}
        options = {
            "host": host,
            "usage_mode": usage_mode,
            "permission": permission,
            "group": group,
            "quota": quota,
            "cloneable": cloneable,
            "unmanaged_path": unmanaged_path,
        }
        body.update({key: value for key, value in options.items() if value is not None})
        return await self._request("POST", self._url("folders"), json=body, timeout=timeout)

    async def vfolder_list(
        self, *, group_id: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """``GET /folders``: the folders the keypair's user can access (own, shared, project).

        With *group_id*, project folders are limited to that project's. Answers a list of
        ``{"name", "id", "host", "status", "usage_mode", "permission", "is_owner", ...}``.
        """
        params = {"group_id": group_id} if group_id is not None else None
        return await self._request("GET", self._url("folders"), params=params, timeout=timeout)

    async def vfolder_info(self, name: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``GET /folders/{name}``: a folder's details, with ``num_files`` and ``used_bytes``."""
        return await self._request("GET", self._url("folders", folder_name(name)), timeout=timeout)

    async def vfolder_delete(self, name: str, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """``DELETE /folders/{name}``: delete a folder and its files (answers 204)."""
        await self._request("DELETE", self._url("folders", folder_name(name)), timeout=timeout)

    async def vfolder_list_hosts(
        self, *, group_id: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """``GET /folders/_/hosts``: the storage hosts the user may create folders on.

        Answers ``{"default": "local:volume1", "allowed": [...], "volume_info": {...}}``.
        """
        params = {"group_id": group_id} if group_id is not None else None
        return await self._request(
            "GET", self._url("folders", "_", "hosts"), params=params, timeout=timeout
        )

    async def vfolder_mkdir(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        parents: bool = False,
        exist_ok: bool = False,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """``POST /folders/{name}/mkdir``: create a directory inside the folder.

        *parents* creates missing parent directories; *exist_ok* accepts an existing one.
        """
        body = {
            "path": folder_path(path, what="directory path"),
            "parents": parents,
            "exist_ok": exist_ok,
        }
        return await self._request(
            "POST", self._url("folders", folder_name(name), "mkdir"), json=body, timeout=timeout
        )

    async def vfolder_list_files(
        self,
        name: str,
        path: str | os.PathLike[str] = ".",
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """``GET /folders/{name}/files?path=``: the entries of a directory in the folder.

        Answers ``{"items": [{"name", "type" (FILE, DIRECTORY, SYMLINK), "size", "mode",
        "created", "modified"}, ...]}`` (older managers add a legacy ``files`` text).
        """
        params = {"path": folder_path(path, what="directory path", allow_root=True)}
        return await self._request(
            "GET", self._url("folders", folder_name(name), "files"), params=params, timeout=timeout
        )

    async def vfolder_rename_file(
        self,
        name: str,
        target_path: str | os.PathLike[str],
        new_name: str,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """``POST /folders/{name}/rename-file``: rename a file or directory where it is.

        *new_name* is a bare name: ``rename_file("data", "a/b.txt", "c.txt")`` gives
        ``a/c.txt``.
        """
        body = {
            "target_path": folder_path(target_path, what="target path"),
            "new_name": file_name(new_name, what="new name"),
        }
        return await self._request(
            "POST",
            self._url("folders", folder_name(name), "rename-file"),
            json=body,
            timeout=timeout,
        )

    async def vfolder_delete_files(
        self,
        name: str,
        files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        recursive: bool = False,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """``DELETE /folders/{name}/delete-files``: delete files (and, *recursive*, directories).

        *files* is one path or a sequence of paths.
        """
        items = [files] if isinstance(files, str | os.PathLike) else list(files)
        if not items:
            raise InvalidArgumentError("no files to delete")
        body = {
            "files": [folder_path(item, what="file path") for item in items],
            "recursive": recursive,
        }
        return await self._request(
            "DELETE",
            self._url("folders", folder_name(name), "delete-files"),
            json=body,
            timeout=timeout,
        )

    # -- invitations ---------------------------------------------------------------------------

    async def vfolder_invite(
        self,
        name: str,
        emails: str | Sequence[str],
        perm: str = "rw",
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """``POST /folders/{name}/invite``: invite users (by email) to share a folder you own.

        *perm* is ``ro``, ``rw`` or ``wd``. Answers ``{"invited_ids": [emails]}``.
        """
        invitees = [emails] if isinstance(emails, str) else list(emails)
        if not invitees or not all(isinstance(email, str) and email for email in invitees):
            raise InvalidArgumentError(f"invite whom? emails={emails!r}")
        # ``user_ids`` is the name every manager release accepts (newer ones also ``emails``).
        body = {"perm": perm, "user_ids": invitees}
        return await self._request(
            "POST", self._url("folders", folder_name(name), "invite"), json=body, timeout=timeout
        )

    async def vfolder_invitations(self, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``GET /folders/invitations/list``: pending invitations to the user.

        Answers ``{"invitations": [{"id", "inviter", "invitee", "perm", "state",
        "vfolder_id", "vfolder_name", ...}]}``.
        """
        return await self._request(
            "GET", self._url("folders", "invitations", "list"), timeout=timeout
        )

    async def vfolder_sent_invitations(self, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``GET /folders/invitations/list-sent``: pending invitations the user sent."""
        return await self._request(
            "GET", self._url("folders", "invitations", "list-sent"), timeout=timeout
        )

    async def vfolder_accept_invitation(
        self, inv_id: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """``POST /folders/invitations/accept``: accept an invitation; the folder is shared."""
        return await self._request(
            "POST",
            self._url("folders", "invitations", "accept"),
            json={"inv_id": _invitation_id(inv_id)},
            timeout=timeout,
        )

    async def vfolder_delete_invitation(
        self, inv_id: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """``DELETE /folders/invitations/delete``: reject (invitee) or cancel (inviter) one."""
        return await self._request(
            "DELETE",
            self._url("folders", "invitations", "delete"),
            json={"inv_id": _invitation_id(inv_id)},
            timeout=timeout,
        )

    # -- transfers -----------------------------------------------------------------------------

    async def vfolder_upload(
        self,
        name: str,
        source: UploadSource,
        target_path: str | os.PathLike[str] | None = None,
        *,
        size: int | None = None,
        progress: ProgressCallback | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> int:
        """Upload *source* to *target_path* in the folder; return the bytes stored.

        *source* is a file path (streamed from disk), bytes, or an async iterable of byte
        chunks, which needs *size* (its total length). *target_path* defaults to the source
        file's name; one ending in ``/`` names a directory to put it in (created as needed).
        An existing file is replaced.

        The upload goes to the storage proxy over tus 1.0.0 in ``PATCH`` requests of
        *chunk_size* bytes, each read in blocks as it is sent (a stream source keeps the
        current chunk in memory to resend it). After a dropped connection the client asks
        the proxy how many bytes it holds and continues from there; *max_attempts* bounds
        the consecutive tries. ``progress(done, total)`` (a function or coroutine function)
        follows the bytes sent. *timeout* applies to each request (by default transfers
        have only a connect limit). Failures raise :class:`~backendai_aio.BackendError`
        naming the phase (``ERR_REQUEST`` or ``ERR_RESPONSE`` for the transfer itself).
        """
        folder = folder_name(name)
        if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
            raise InvalidArgumentError(f"chunk_size is a positive number of bytes: {chunk_size!r}")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidArgumentError(f"max_attempts is at least 1: {max_attempts!r}")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise InvalidArgumentError(f"size is a number of bytes: {size!r}")
        if target_path is None:
            base: str | None = ""
        else:
            raw = os.fspath(target_path) if isinstance(target_path, str | os.PathLike) else None
            if not isinstance(raw, str):
                raise InvalidArgumentError(f"the target path is a string, not {target_path!r}")
            # A trailing slash names a directory to put the source file in.
            base = raw if raw.endswith("/") else None
            folder_path(raw, what="target path", allow_root=base is not None)
        source_handle = await _open_source(source, size)
        try:
            if base is None:
                target = folder_path(target_path, what="target path")
            elif source_handle.default_name is None:
                raise InvalidArgumentError(
                    "target_path= (a file path in the folder) is needed for this source"
                )
            else:
                target = folder_path(base + source_handle.default_name, what="target path")
            ticket = await self._request(
                "POST",
                self._url("folders", folder, "request-upload"),
                json={"path": target, "size": source_handle.size},
                timeout=timeout,
            )
            url, token = _ticket(ticket, f"POST /folders/{folder}/request-upload")
            upload = _Upload(self, folder, target, url, token, timeout)
            await upload.run(
                source_handle, _Progress(progress, source_handle.size), chunk_size, max_attempts
            )
        finally:
            await source_handle.aclose()
        return source_handle.size

    async def vfolder_download(
        self,
        name: str,
        path: str | os.PathLike[str],
        dest: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Path:
        """Download the file *path* of the folder to *dest*; return the path written.

        *dest* is a file path, or an existing directory to write the file into under its
        own name; an existing file is replaced, and only once the download is complete. The
        body is streamed to disk block by block; after a dropped connection the client asks
        for the rest (``Range``) and continues, at most *max_attempts* consecutive tries.
        ``progress(done, total)`` follows the bytes received. *timeout* applies to each
        request (by default transfers have only a connect limit).
        """
        folder = folder_name(name)
        remote = folder_path(path, what="file path")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidArgumentError(f"max_attempts is at least 1: {max_attempts!r}")
        target, file, temp = await asyncio.to_thread(_prepare_destination, dest, remote)
        placed: Path | None = None
        try:
            ticket = await self._request(
                "POST",
                self._url("folders", folder, "request-download"),
                json={"path": remote},
                timeout=timeout,
            )
            url, token = _ticket(ticket, f"POST /folders/{folder}/request-download")
            await _Download(self, folder, remote, url, token, timeout).run(
                file, progress, max_attempts
            )
            placed = target
        finally:
            await asyncio.to_thread(_finish_destination, file, temp, placed)
        return target


def _invitation_id(inv_id: object) -> str:
    if not isinstance(inv_id, str) or not inv_id:
        raise InvalidArgumentError(f"an invitation id is a non-empty string, not {inv_id!r}")
    return inv_id


class VFolder:
    """A handle on one virtual folder: ``client.vfolder("data")``.

    It holds the client and the folder's name, and offers the folder calls without the name
    argument::

        data = client.vfolder("data")
        await data.create()
        await data.upload("train.csv")
        await data.download("train.csv", "/tmp/")

    Creating a handle sends nothing; the folder need not exist yet.
    """

    def __init__(self, client: VFolderAPI, name: str) -> None:
        #: The client the calls go through.
        self.client = client
        #: The folder's name.
        self.name = folder_name(name)

    def __repr__(self) -> str:
        return f"<VFolder {self.name!r}>"

    async def create(
        self,
        *,
        host: str | None = None,
        usage_mode: str | None = None,
        permission: str | None = None,
        group: str | None = None,
        quota: int | str | None = None,
        cloneable: bool | None = None,
        unmanaged_path: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Create this folder (see :meth:`VFolderAPI.vfolder_create`)."""
        return await self.client.vfolder_create(
            self.name,
            host=host,
            usage_mode=usage_mode,
            permission=permission,
            group=group,
            quota=quota,
            cloneable=cloneable,
            unmanaged_path=unmanaged_path,
            timeout=timeout,
        )

    async def info(self, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """Get this folder's details (see :meth:`VFolderAPI.vfolder_info`)."""
        return await self.client.vfolder_info(self.name, timeout=timeout)

    async def delete(self, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """Delete this folder (see :meth:`VFolderAPI.vfolder_delete`)."""
        await self.client.vfolder_delete(self.name, timeout=timeout)

    async def mkdir(
        self,
        path: str | os.PathLike[str],
        *,
        parents: bool = False,
        exist_ok: bool = False,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Create a directory (see :meth:`VFolderAPI.vfolder_mkdir`)."""
        return await self.client.vfolder_mkdir(
            self.name, path, parents=parents, exist_ok=exist_ok, timeout=timeout
        )

    async def list_files(
        self, path: str | os.PathLike[str] = ".", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """List a directory (see :meth:`VFolderAPI.vfolder_list_files`)."""
        return await self.client.vfolder_list_files(self.name, path, timeout=timeout)

    async def rename_file(
        self,
        target_path: str | os.PathLike[str],
        new_name: str,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Rename a file (see :meth:`VFolderAPI.vfolder_rename_file`)."""
        return await self.client.vfolder_rename_file(
            self.name, target_path, new_name, timeout=timeout
        )

    async def delete_files(
        self,
        files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        recursive: bool = False,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Delete files (see :meth:`VFolderAPI.vfolder_delete_files`)."""
        return await self.client.vfolder_delete_files(
            self.name, files, recursive=recursive, timeout=timeout
        )

    async def invite(
        self, emails: str | Sequence[str], perm: str = "rw", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """Invite users to share this folder (see :meth:`VFolderAPI.vfolder_invite`)."""
        return await self.client.vfolder_invite(self.name, emails, perm, timeout=timeout)

    async def upload(
        self,
        source: UploadSource,
        target_path: str | os.PathLike[str] | None = None,
        *,
        size: int | None = None,
        progress: ProgressCallback | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> int:
        """Upload a file into this folder (see :meth:`VFolderAPI.vfolder_upload`)."""
        return await self.client.vfolder_upload(
            self.name,
            source,
            target_path,
            size=size,
            progress=progress,
            chunk_size=chunk_size,
            max_attempts=max_attempts,
            timeout=timeout,
        )

    async def download(
        self,
        path: str | os.PathLike[str],
        dest: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Path:
        """Download a file of this folder (see :meth:`VFolderAPI.vfolder_download`)."""
        return await self.client.vfolder_download(
            self.name,
            path,
            dest,
            progress=progress,
            max_attempts=max_attempts,
            timeout=timeout,
        )
