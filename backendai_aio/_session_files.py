"""Files of compute sessions: upload, download, single-file download, listing."""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final, NamedTuple, TypeAlias, cast

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError

from ._apiversion import ApiVersion
from ._errors import BackendError, InvalidArgumentError, LocalIOError, ResponseError
from ._namespace import Namespace
from ._results import FileEntry, session_entries
from ._session_types import SessionFileListing
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transfer.batches import check_concurrency, in_batches, run_bounded
from ._transfer.destination import local_error, resolve_destination
from ._transfer.multipart import add_part
from ._transfer.progress import ProgressCallback, TransferProgress
from ._transfer.protocol import folder_path
from ._transfer.sizes import CHUNK_SIZE
from ._transfer.sources import Source, UploadSource, open_source
from ._transfer.streams import ByteStream

__all__ = ["FileSource", "SessionFileCalls", "UploadFiles"]

#: What can be uploaded: a local path, bytes, or an async iterator of bytes (the
#: transfers' one `UploadSource`; kept under this name for existing annotations).
FileSource: TypeAlias = UploadSource
#: Files to upload: local paths (named relative to *basedir*), or destination names
#: mapped to sources.
UploadFiles: TypeAlias = Sequence[str | os.PathLike[str]] | Mapping[str, UploadSource]

# The manager takes at most this many files per upload or download request (both 23.09 and
# 26.9: the 21st upload part is refused with 400, a sixth download path with 400 or 500).
_UPLOAD_BATCH: Final = 20
_DOWNLOAD_BATCH: Final = 5
#: How many batches are in flight at once by default.
DEFAULT_CONCURRENCY: Final = 4
# Managers before 24.09 serve downloads on GET (with a JSON body); from 24.09 (API
# v8.20240915) on, GET answers 400 "This API is deprecated" and POST serves them.
_DOWNLOAD_BY_POST: Final = ApiVersion(8, "20240915")


class _Planned(NamedTuple):
    """One file to upload, checked before anything is sent."""

    name: str
    source: UploadSource
    #: The size in bytes; ``None`` for an async iterable.
    size: int | None


def _plan_uploads(files: UploadFiles, basedir: str | os.PathLike[str] | None) -> list[_Planned]:
    """Resolve (destination name, source, size or None) for each file, before sending."""
    planned: list[_Planned] = []
    if isinstance(files, Mapping):
        items: Iterable[tuple[str, UploadSource]] = files.items()
    else:
        if isinstance(files, str | bytes | os.PathLike):
            raise InvalidArgumentError("files must be a list of paths or a mapping")
        base = Path.cwd() if basedir is None else Path(basedir).resolve()
        items = []
        for file in files:
            path = Path(file).resolve()
            try:
                name = path.relative_to(base).as_posix()
            except ValueError:
                raise InvalidArgumentError(
                    f"{path} is outside the base folder {base}; pass basedir= or a mapping"
                ) from None
            items.append((name, path))
    for name, source in items:
        # The same rule as inside a virtual folder: relative, and never above the work folder.
        target = folder_path(name, what="upload destination")
        if isinstance(source, bytes | bytearray | memoryview):
            planned.append(_Planned(target, source, memoryview(source).nbytes))
        elif isinstance(source, str | os.PathLike):
            path = Path(source)
            if not path.is_file():
                raise LocalIOError(
                    f"no such file to upload: {path}", errno=errno.ENOENT, filename=str(path)
                )
            planned.append(_Planned(target, path, path.stat().st_size))
        elif isinstance(source, AsyncIterable):
            planned.append(_Planned(target, source, None))
        else:
            raise InvalidArgumentError(f"cannot upload {type(source).__name__} as {name!r}")
    if not planned:
        raise InvalidArgumentError("no files to upload")
    return planned


async def _open(file: _Planned) -> Source | AsyncIterable[bytes]:
    """Open a planned file's source, when its part is sent (never all files at once)."""
    if file.size is None:
        return cast(AsyncIterable[bytes], file.source)
    if not isinstance(file.source, str | os.PathLike):
        return await open_source(file.source, None)  # bytes
    path = os.fspath(file.source)
    try:
        source = await open_source(file.source, None)
    except LocalIOError as exc:
        # Gone or unreadable since the upload was planned: a local error, not the network's.
        raise LocalIOError(
            f"cannot read {path} since the upload was planned: {exc.strerror or exc}",
            errno=exc.errno,
            filename=path,
        ) from None
    if source.size != file.size:
        await source.aclose()
        raise LocalIOError(
            f"{path} changed size from {file.size} to {source.size} bytes before it was uploaded",
            filename=path,
        )
    return source


def _answer_error(response: aiohttp.ClientResponse, call: str, problem: str) -> ResponseError:
    """A `ResponseError` about the download answer of *call*."""
    return ResponseError(f"{call}: {problem}", status=response.status, url=str(response.url))


class SessionFileCalls(Namespace):
    """Transfers to and from a compute session's work folder (``/home/work``)."""

    async def upload(
        self,
        session_id: str,
        files: UploadFiles,
        *,
        basedir: str | os.PathLike[str] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: ProgressCallback | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> None:
        """Upload files into the session's work folder, streamed.

        *files* is a list of local paths, named in the session by their path relative to
        *basedir* (default: the current folder), or a mapping from destination names to
        sources: a path, ``bytes``, or an async iterator of ``bytes``. Nothing is held in
        memory whole. The manager takes 20 files per request: a longer list is sent in
        batches of 20, at most *concurrency* of them at once. ``progress(done, total)``
        follows the bytes sent (``total`` is ``None`` when a source has no known size).
        Uploads are never retried: a stream cannot be sent twice.
        """
        concurrency = check_concurrency(concurrency)
        planned = _plan_uploads(files, basedir)
        sizes = [file.size for file in planned]
        total = None if None in sizes else sum(size or 0 for size in sizes)
        counter = TransferProgress(progress, total)
        url = self._transport.url("session", session_id, "upload")

        async def send(batch: Sequence[_Planned]) -> None:
            writer = aiohttp.MultipartWriter("form-data")
            for file in batch:
                add_part(writer, file.name, file.size, functools.partial(_open, file), counter)
            try:
                await self._transport.call(
                    "POST", url, data=writer, timeout=timeout, streaming=True
                )
            except BackendError:
                if counter.error is not None:
                    raise counter.error from None
                raise

        batches = in_batches(planned, _UPLOAD_BATCH)
        await run_bounded([functools.partial(send, batch) for batch in batches], concurrency)

    def _download_method(self) -> str:
        version = self._transport.version
        return "POST" if version is not None and version >= _DOWNLOAD_BY_POST else "GET"

    async def download(
        self,
        session_id: str,
        files: Sequence[str],
        dest: str | os.PathLike[str] = ".",
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: ProgressCallback | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> list[str]:
        """Download files or folders of the session into the folder *dest*; return the names.

        *dest* is always a folder (created with its parents as needed). The manager answers
        a multipart body of tar archives; each is streamed to a temporary file and
        extracted safely: a member with an absolute path, a ``..`` escape or a link out of
        *dest* makes the whole archive refused (a
        [`ResponseError`][backendai_aio.ResponseError]) with nothing written outside *dest*.
        Links are kept only where they point inside *dest*, and nothing is ever written
        through one; each file is written beside its name and moved into place once
        complete. The manager takes five paths per request: a longer list is asked for in
        batches of five, at most *concurrency* at once; the names come back in the order
        of *files*. ``progress(done, total)`` follows the bytes received; with at most
        five files (one request) ``total`` is the answer's size and ``done`` reaches it.
        """
        if isinstance(files, str) or not files:
            raise InvalidArgumentError("files must be a non-empty list of paths")
        concurrency = check_concurrency(concurrency)
        destination = Path(dest)
        counter = TransferProgress(progress, None)
        # Content-Length tells a batch's size; with several batches the total is unknown.
        single_batch = len(files) <= _DOWNLOAD_BATCH
        await self._transport.negotiate(timeout)
        url = self._transport.url("session", session_id, "download")
        method = self._download_method()

        async def fetch(batch: Sequence[str]) -> list[str]:
            # Older managers read the JSON body, newer ones the query string: send both.
            async with self._transport.stream(
                method,
                url,
                params=[("files", file) for file in batch],
                json={"files": list(batch)},
                timeout=timeout,
                streaming=True,
                idempotent=True,
            ) as response:
                if single_batch:
                    counter.total = response.content_length
                call = f"{method} {response.url.with_query(None)}"
                names = await self._receive_archives(response, call, destination, counter)
                if single_batch and counter.total is not None:
                    # The total counts the multipart framing, which no part holds.
                    await counter(counter.total)
                return names

        batches = in_batches([str(file) for file in files], _DOWNLOAD_BATCH)
        done = await run_bounded(
            [functools.partial(fetch, batch) for batch in batches], concurrency
        )
        return [name for names in done for name in names]

    async def _receive_archives(
        self,
        response: aiohttp.ClientResponse,
        call: str,
        dest: Path,
        counter: TransferProgress,
    ) -> list[str]:
        try:
            reader = aiohttp.MultipartReader(response.headers, response.content)
        except (AssertionError, ValueError, KeyError) as exc:
            raise _answer_error(
                response, call, f"the download answer is not multipart: {response.content_type}"
            ) from exc
        names: list[str] = []
        with tempfile.TemporaryDirectory(prefix="backendai-download-") as scratch:
            index = 0
            while True:
                try:
                    part = await reader.next()
                    if part is None:
                        break
                    if not isinstance(part, aiohttp.BodyPartReader):
                        raise _answer_error(
                            response, call, "a nested multipart part in the download answer"
                        )
                    archive = Path(scratch) / f"part-{index}.tar"
                    index += 1
                    with archive.open("wb") as file:
                        while chunk := await part.read_chunk(CHUNK_SIZE):
                            file.write(chunk)
                            await counter.add(len(chunk))
                except (
                    TimeoutError,
                    aiohttp.ClientError,
                    HttpProcessingError,
                    ValueError,
                    AssertionError,
                ) as exc:
                    if counter.error is not None:
                        raise counter.error from None  # the caller's callback, as itself
                    # aiohttp's multipart reader says a malformed body with ValueError, an
                    # assertion, or an HTTP parser error (LineTooLong for an endless header).
                    raise _answer_error(
                        response,
                        call,
                        f"reading the download answer failed: {type(exc).__name__}: {exc}",
                    ) from exc
                except OSError as exc:
                    raise local_error("cannot write the download to a temporary file", exc) from exc
                # Imported on first use: tarfile is a fair part of the package's import time.
                from ._transfer.tarsafe import UnsafeArchiveError, extract_safely

                try:
                    names += await asyncio.to_thread(extract_safely, archive, dest)
                except UnsafeArchiveError as exc:
                    raise _answer_error(
                        response, call, f"the server sent an unsafe archive: {exc}"
                    ) from exc
                except OSError as exc:
                    raise local_error(f"cannot extract into {dest}", exc) from exc
                archive.unlink()
        return names

    @asynccontextmanager
    async def download_single(
        self, session_id: str, file: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> AsyncIterator[ByteStream]:
        """Stream one file of the session: ``async with`` yields a `ByteStream`.

        Memory stays constant whatever the file's size; the connection is released when
        the block ends, read or not.
        """
        if not isinstance(file, str) or not file:
            raise InvalidArgumentError("download_single needs a file path")
        await self._transport.negotiate(timeout)
        async with self._transport.stream(
            self._download_method(),
            self._transport.url("session", session_id, "download_single"),
            params={"file": file},
            json={"file": file},
            timeout=timeout,
            streaming=True,
            idempotent=True,
        ) as response:
            yield ByteStream(response, self._download_method())

    async def download_single_to(
        self,
        session_id: str,
        file: str,
        path: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> int:
        """Download one file of the session to *path*; return the number of bytes.

        *path* is a file path, or a folder (existing, or any path ending in ``/``, created
        as needed) to put the file in under its own name. The file is written beside its
        destination and moved into place once complete; local failures raise
        [`LocalIOError`][backendai_aio.LocalIOError].
        """
        if not isinstance(file, str) or not file:
            raise InvalidArgumentError("download_single needs a file path")
        target = await asyncio.to_thread(resolve_destination, path, file)
        async with self.download_single(session_id, file, timeout=timeout) as stream:
            return await stream.to_file(target, progress=progress)

    async def list_files(
        self, session_id: str, path: str = ".", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> SessionFileListing:
        """List a folder of the session: ``{"files": "<JSON list>", "errors", "abspath"}``.

        ``files`` is the manager's JSON-encoded list of entries (``filename``, ``size``,
        ``mode``, ``ctime``, ``mtime``, ``atime``).
        """
        answer = await self._transport.call(
            "GET",
            self._transport.url("session", session_id, "files"),
            params={"path": path},
            json={"path": path},
            timeout=timeout,
        )
        return cast(SessionFileListing, answer)

    async def list_entries(
        self, session_id: str, path: str = ".", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> list[FileEntry]:
        """`list_files` as typed [`FileEntry`][backendai_aio.FileEntry] objects."""
        return session_entries(await self.list_files(session_id, path, timeout=timeout))
