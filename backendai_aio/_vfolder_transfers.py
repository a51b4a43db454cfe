"""Virtual-folder transfers through the storage proxy: the resumable upload and download.

The manager hands out a storage-proxy URL and a token (``request-upload`` or
``request-download``, answering ``{"url", "token"}``); the bytes then travel between the
client and the storage proxy, unsigned, the token in the query string (``?token=``):

- uploads speak tus 1.0.0 (`_vfolder_upload`), resumed from the offset the server
  reports;
- downloads are one streamed ``GET`` (`_vfolder_download`), resumed with ``Range``,
  written beside the destination and moved into place once complete (`_destination`).

Neither ever holds a whole file in memory. The token is a credential: it never appears in an
error message, a log line or a repr, and it is never sent in clear text when the manager is
reached over https (unless the caller allows it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from yarl import URL

from ._destination import AtomicFile, resolve_destination
from ._errors import InvalidArgumentError, ResponseError
from ._namespace import Namespace
from ._streams import ProgressCallback, TransferProgress
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transfers import FolderRef, folder_name, folder_path
from ._upload_sources import FileSource, UploadSource, open_source
from ._vfolder_download import Download
from ._vfolder_upload import Upload

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_ATTEMPTS",
    "Download",
    "FileSource",
    "TransferProgress",
    "Upload",
    "UploadSource",
    "VFolderTransferAPI",
    "VFolderTransfers",
    "read_ticket",
]

#: Bytes sent by one tus ``PATCH``; a stream source keeps this much in memory to resend it.
DEFAULT_CHUNK_SIZE: Final = 8 * 1024 * 1024
#: Consecutive failed tries of a transfer (without progress in between) before giving up.
DEFAULT_MAX_ATTEMPTS: Final = 5


def _storage_url(text: str) -> URL | None:
    """*text* as an absolute http(s) URL with a host and a valid port; ``None`` if not."""
    try:
        url = URL(text)
        url.port  # noqa: B018 (a port out of range raises only when read)
    except (ValueError, TypeError):
        return None
    return url if url.scheme in ("http", "https") and url.host else None


def read_ticket(
    body: Any, call: str, manager: URL | None = None, *, allow_http: bool = False
) -> tuple[URL, str]:
    """The storage-proxy URL and token of a ``request-upload``/``request-download`` answer.

    Under an https *manager*, a plain http storage proxy is refused unless *allow_http*:
    the token would travel in clear text.
    """
    url = body.get("url") if isinstance(body, Mapping) else None
    token = body.get("token") if isinstance(body, Mapping) else None
    if not isinstance(url, str) or not isinstance(token, str) or not token:
        keys = sorted(map(str, body)) if isinstance(body, Mapping) else type(body).__name__
        raise ResponseError(f"{call}: the answer lacks a storage-proxy url and token ({keys})")
    target = _storage_url(url)
    if target is None:
        raise ResponseError(f"{call}: the storage-proxy url {url!r:.200} is not an http(s) URL")
    insecure = manager is not None and manager.scheme == "https" and target.scheme == "http"
    if insecure and not allow_http:
        raise ResponseError(
            f"{call}: the manager is reached over https but hands out the plain http "
            f"storage proxy {target.origin()}, which would carry the storage token in "
            "clear text; refused (set allow_http_storage_proxy = True on the client to "
            "allow it)"
        )
    return target, token


class VFolderTransferAPI(Namespace):
    """The transfer calls of [`Client`][backendai_aio.Client]'s virtual-folder API."""

    #: Whether a plain http storage proxy may be used when the manager is reached over
    #: https (the storage token then travels in clear text). Off by default.
    allow_http_storage_proxy: bool = False

    def _storage_ticket(self, body: Any, call: str) -> tuple[URL, str]:
        url, token = read_ticket(
            body, call, self._transport.endpoint, allow_http=self.allow_http_storage_proxy
        )
        # BACKEND_OVERRIDE_STORAGE_PROXY: the user's own mapping, so taken as given.
        return self._transport.config.storage_proxy_url(url), token

    async def vfolder_upload(
        self,
        name: FolderRef,
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
        the proxy how many bytes it holds and continues from there, giving up after
        *max_attempts* consecutive failures without progress. ``progress(done, total)`` (a
        function or coroutine function) follows the bytes sent. *timeout* applies to each
        request (by default transfers have only a connect limit). Failures raise
        [`BackendError`][backendai_aio.BackendError] naming the phase (``ERR_REQUEST`` or
        ``ERR_RESPONSE`` for the transfer itself); a plain http storage proxy under an
        https manager is refused (see `allow_http_storage_proxy`).
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
        source_handle = await open_source(source, size)
        try:
            if base is None:
                target = folder_path(target_path, what="target path")
            elif source_handle.default_name is None:
                raise InvalidArgumentError(
                    "target_path= (a file path in the folder) is needed for this source"
                )
            else:
                target = folder_path(base + source_handle.default_name, what="target path")
            ticket = await self._transport.call(
                "POST",
                self._transport.url("folders", folder, "request-upload"),
                json={"path": target, "size": source_handle.size},
                timeout=timeout,
            )
            url, token = self._storage_ticket(ticket, f"POST /folders/{folder}/request-upload")
            upload = Upload(self._transport, folder, target, url, token, timeout)
            await upload.run(
                source_handle,
                TransferProgress(progress, source_handle.size),
                chunk_size,
                max_attempts,
            )
        finally:
            await source_handle.aclose()
        return source_handle.size

    async def vfolder_download(
        self,
        name: FolderRef,
        path: str | os.PathLike[str],
        dest: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Path:
        """Download the file *path* of the folder to *dest*; return the path written.

        *dest* is a file path, or a directory to write the file into under its own name: an
        existing one, or any path ending in ``/`` (created as needed). An existing file is
        replaced, and only once the download is complete; a new file gets the mode the
        umask gives, a replaced one keeps its mode. The body is streamed to disk block by
        block; after a dropped connection the client asks for the rest (``Range``) and
        continues, giving up after *max_attempts* consecutive failures without progress.
        ``progress(done, total)`` follows the bytes received. *timeout* applies to each
        request (by default transfers have only a connect limit).
        """
        folder = folder_name(name)
        remote = folder_path(path, what="file path")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidArgumentError(f"max_attempts is at least 1: {max_attempts!r}")
        target = await asyncio.to_thread(resolve_destination, dest, remote)
        sink = await asyncio.to_thread(AtomicFile, target)
        try:
            ticket = await self._transport.call(
                "POST",
                self._transport.url("folders", folder, "request-download"),
                json={"path": remote},
                timeout=timeout,
            )
            url, token = self._storage_ticket(ticket, f"POST /folders/{folder}/request-download")
            await Download(self._transport, folder, remote, url, token, timeout).run(
                sink.file, progress, max_attempts
            )
            await asyncio.to_thread(sink.commit)
        except BaseException:
            sink.abort()
            raise
        return target


class VFolderTransfers:
    """The transfer calls of a [`VFolder`][backendai_aio.VFolder] handle."""

    #: The folder's name.
    name: str

    def _transfers(self) -> VFolderTransferAPI:
        raise NotImplementedError

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
        """Upload a file into this folder (see `VFolderAPI.vfolder_upload`)."""
        return await self._transfers().vfolder_upload(
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
        """Download a file of this folder (see `VFolderAPI.vfolder_download`)."""
        return await self._transfers().vfolder_download(
            self.name,
            path,
            dest,
            progress=progress,
            max_attempts=max_attempts,
            timeout=timeout,
        )
