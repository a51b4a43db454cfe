"""Files of compute sessions: upload, download, single-file download, listing."""

from __future__ import annotations

import asyncio
import errno
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, TypeAlias, cast

import aiohttp
from aiohttp import hdrs
from aiohttp.http_exceptions import HttpProcessingError

from ._apiversion import ApiVersion
from ._errors import BackendError, InvalidArgumentError, LocalIOError, ResponseError
from ._namespace import Namespace
from ._results import FileEntry, session_entries
from ._session_types import SessionFileListing
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transfer.destination import local_error, resolve_destination
from ._transfer.progress import ProgressCallback, TransferProgress
from ._transfer.protocol import folder_path
from ._transfer.sizes import CHUNK_SIZE
from ._transfer.streams import ByteStream
from ._transfer.tarsafe import UnsafeArchiveError, extract_safely

__all__ = ["FileSource", "SessionFileCalls", "UploadFiles"]

#: What can be uploaded: a local path, bytes, or an async iterator of bytes.
FileSource: TypeAlias = str | os.PathLike[str] | bytes | AsyncIterable[bytes]
#: Files to upload: local paths (named relative to *basedir*), or destination names
#: mapped to sources.
UploadFiles: TypeAlias = Sequence[str | os.PathLike[str]] | Mapping[str, FileSource]

# The manager takes at most this many files per upload or download request.
_UPLOAD_BATCH: Final = 20
_DOWNLOAD_BATCH: Final = 5
# Managers before 24.09 serve downloads on GET (with a JSON body); from 24.09 (API
# v8.20240915) on, GET answers 400 "This API is deprecated" and POST serves them.
_DOWNLOAD_BY_POST: Final = ApiVersion(8, "20240915")


def _plan_uploads(
    files: UploadFiles, basedir: str | os.PathLike[str] | None
) -> list[tuple[str, FileSource, int | None]]:
    """Resolve (destination name, source, size or None) for each file, before sending."""
    planned: list[tuple[str, FileSource, int | None]] = []
    if isinstance(files, Mapping):
        items: Iterable[tuple[str, FileSource]] = files.items()
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
        if isinstance(source, bytes):
            planned.append((target, source, len(source)))
        elif isinstance(source, str | os.PathLike):
            path = Path(source)
            if not path.is_file():
                raise LocalIOError(
                    f"no such file to upload: {path}", errno=errno.ENOENT, filename=str(path)
                )
            planned.append((target, path, path.stat().st_size))
        elif isinstance(source, AsyncIterable):
            planned.append((target, source, None))
        else:
            raise InvalidArgumentError(f"cannot upload {type(source).__name__} as {name!r}")
    if not planned:
        raise InvalidArgumentError("no files to upload")
    return planned


async def _chunks_of(
    source: FileSource, size: int | None, progress: TransferProgress
) -> AsyncIterator[bytes]:
    """Stream a source in chunks, counting them: a file is never read whole."""
    if isinstance(source, bytes):
        for start in range(0, len(source), CHUNK_SIZE):
            chunk = source[start : start + CHUNK_SIZE]
            await progress.add(len(chunk))
            yield chunk
    elif isinstance(source, str | os.PathLike):
        # Exactly the size announced in Content-Length, even if the file changes meanwhile.
        left = size or 0
        try:
            file = Path(source).open("rb")  # noqa: ASYNC230, SIM115 (chunked page-cache reads)
        except OSError as exc:
            # Gone or unreadable since the upload was planned: a local error, not the network's.
            progress.error = local_error(f"cannot read {source}", exc)
            raise progress.error from exc
        with file:
            while left:
                chunk = file.read(min(CHUNK_SIZE, left))
                if not chunk:
                    progress.error = LocalIOError(
                        f"{source} shrank while it was being uploaded", filename=str(source)
                    )
                    raise progress.error
                left -= len(chunk)
                await progress.add(len(chunk))
                yield chunk
    else:
        async for chunk in source:
            await progress.add(len(chunk))
            yield chunk


class _StreamPayload(aiohttp.payload.AsyncIterablePayload):
    """A streamed part whose size may be known in advance.

    With every part's size known, the request carries a ``Content-Length`` instead of being
    sent in chunked encoding, which costs a copy of every chunk on the way out.
    """

    def __init__(self, chunks: AsyncIterator[bytes], size: int | None, **kwargs: Any) -> None:
        super().__init__(chunks, **kwargs)
        self._size = size


class SessionFileCalls(Namespace):
    """Transfers to and from a compute session's work folder (``/home/work``)."""

    async def upload(
        self,
        session_id: str,
        files: UploadFiles,
        *,
        basedir: str | os.PathLike[str] | None = None,
        progress: ProgressCallback | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> None:
        """Upload files into the session's work folder, streamed.

        *files* is a list of local paths, named in the session by their path relative to
        *basedir* (default: the current folder), or a mapping from destination names to
        sources: a path, ``bytes``, or an async iterator of ``bytes``. Nothing is held in
        memory whole. ``progress(done, total)`` follows the bytes sent (``total`` is
        ``None`` when a source has no known size). Uploads are never retried: a stream
        cannot be sent twice.
        """
        planned = _plan_uploads(files, basedir)
        sizes = [size for _, _, size in planned]
        total = None if None in sizes else sum(size or 0 for size in sizes)
        counter = TransferProgress(progress, total)
        url = self._transport.url("session", session_id, "upload")
        for start in range(0, len(planned), _UPLOAD_BATCH):
            writer = aiohttp.MultipartWriter("form-data")
            for name, source, size in planned[start : start + _UPLOAD_BATCH]:
                part = writer.append_payload(
                    _StreamPayload(
                        _chunks_of(source, size, counter),
                        size,
                        content_type="application/octet-stream",
                    )
                )
                # The manager stores the file name as sent: percent-encoding would turn
                # "sub/a.txt" into a file literally named "sub%2Fa.txt".
                part.set_content_disposition(
                    "form-data", quote_fields=False, name="src", filename=name
                )
                if size is not None:
                    part.headers[hdrs.CONTENT_LENGTH] = str(size)
            try:
                await self._transport.call(
                    "POST", url, data=writer, timeout=timeout, streaming=True
                )
            except BackendError:
                if counter.error is not None:
                    raise counter.error from None
                raise

    def _download_method(self) -> str:
        version = self._transport.version
        return "POST" if version is not None and version >= _DOWNLOAD_BY_POST else "GET"

    async def download(
        self,
        session_id: str,
        files: Sequence[str],
        dest: str | os.PathLike[str] = ".",
        *,
        progress: ProgressCallback | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> list[str]:
        """Download files or folders of the session into *dest*; return the names written.

        The manager answers a multipart body of tar archives; each is streamed to a
        temporary file and extracted safely: a member with an absolute path, a ``..``
        escape or a link out of *dest* makes the whole archive refused (a
        [`ResponseError`][backendai_aio.ResponseError]) with nothing written outside *dest*.
        Links are kept only where they point inside *dest*, and nothing is ever written
        through one. ``progress(done, total)`` follows the bytes received; with at most
        five files (one request) ``total`` is the answer's size and ``done`` reaches it.
        """
        if isinstance(files, str) or not files:
            raise InvalidArgumentError("files must be a non-empty list of paths")
        destination = Path(dest)
        counter = TransferProgress(progress, None)
        # Content-Length tells a batch's size; with several batches the total is unknown.
        single_batch = len(files) <= _DOWNLOAD_BATCH
        names: list[str] = []
        await self._transport.negotiate(timeout)
        url = self._transport.url("session", session_id, "download")
        for start in range(0, len(files), _DOWNLOAD_BATCH):
            batch = [str(file) for file in files[start : start + _DOWNLOAD_BATCH]]
            # Older managers read the JSON body, newer ones the query string: send both.
            method = self._download_method()
            async with self._transport.stream(
                method,
                url,
                params=[("files", file) for file in batch],
                json={"files": batch},
                timeout=timeout,
                streaming=True,
                idempotent=True,
            ) as response:
                if single_batch:
                    counter.total = response.content_length
                call = f"{method} {response.url.with_query(None)}"
                names += await self._receive_archives(response, call, destination, counter)
                if single_batch and counter.total is not None:
                    # The total counts the multipart framing, which no part holds.
                    await counter(counter.total)
        return names

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
            raise ResponseError(
                f"{call}: the download answer is not multipart: {response.content_type}",
                status=response.status,
                url=str(response.url),
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
                        raise ResponseError(
                            f"{call}: a nested multipart part in the download answer"
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
                    raise ResponseError(
                        f"{call}: reading the download answer failed: {type(exc).__name__}: {exc}",
                        status=response.status,
                        url=str(response.url),
                    ) from exc
                except OSError as exc:
                    raise local_error("cannot write the download to a temporary file", exc) from exc
                try:
                    names += await asyncio.to_thread(extract_safely, archive, dest)
                except UnsafeArchiveError as exc:
                    raise ResponseError(
                        f"{call}: the server sent an unsafe archive: {exc}",
                        status=response.status,
                        url=str(response.url),
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
