"""The [`VFolder`][backendai_aio.VFolder] handle: every call on one virtual folder, by its name.

Folder management goes to the manager, signed like every call; file contents travel through
the storage proxy, unsigned, with the token the manager hands out (``request-upload`` or
``request-download``) in the query string:

- uploads speak tus 1.0.0 (`_transfer.tus`), resumed from the offset the server
  reports;
- downloads are one streamed ``GET`` (`_transfer.ranged`), resumed with ``Range``,
  written beside the destination and moved into place once complete
  (`_transfer.destination`).

Neither ever holds a whole file in memory. The token is a credential: it never appears in an
error message, a log line or a repr.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from ._errors import InvalidArgumentError
from ._results import FileEntry, vfolder_entries
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transfer.destination import AtomicFile, resolve_destination
from ._transfer.progress import ProgressCallback, TransferProgress
from ._transfer.protocol import file_name, folder_path
from ._transfer.sizes import UPLOAD_CHUNK_SIZE
from ._transfer.sources import Source, UploadSource, open_source
from ._transfer.tickets import storage_ticket
from ._vfolder_lifecycle import FolderLifecycle
from ._vfolder_trees import FolderTrees
from ._vfolder_types import VFolderFileListing, VFolderInfo

__all__ = ["DEFAULT_MAX_ATTEMPTS", "VFolder"]

#: Consecutive failed tries of a transfer (without progress in between) before giving up.
DEFAULT_MAX_ATTEMPTS: Final = 5

PathArg = str | os.PathLike[str]


def _check_count(value: object, minimum: int, rule: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidArgumentError(f"{rule}: {value!r}")


def _target_base(target_path: object) -> str | None:
    """``""`` or the directory a trailing ``/`` names; ``None`` for a file path (checked)."""
    if target_path is None:
        return ""
    raw = os.fspath(target_path) if isinstance(target_path, str | os.PathLike) else None
    if not isinstance(raw, str):
        raise InvalidArgumentError(f"the target path is a string, not {target_path!r}")
    base = raw if raw.endswith("/") else None
    folder_path(raw, what="target path", allow_root=base is not None)
    return base


def _upload_target(target_path: object, base: str | None, source: Source) -> str:
    if base is None:
        return folder_path(target_path, what="target path")
    if source.default_name is None:
        raise InvalidArgumentError(
            "target_path= (a file path in the folder) is needed for this source"
        )
    return folder_path(base + source.default_name, what="target path")


class VFolder(FolderLifecycle, FolderTrees):
    """A handle on one virtual folder: ``client.vfolders.get("data")``.

    It holds the client's transport and the folder's name:

    ```python
    data = client.vfolders.get("data")
    await data.upload("train.csv")
    await data.download("train.csv", "/tmp/")
    ```

    Paths inside a folder are POSIX and relative to it (``data/train.csv``); a path leaving the
    folder (``..``, ``/etc``) raises [`InvalidArgumentError`][backendai_aio.InvalidArgumentError]
    before anything is sent. Creating a handle sends nothing; the folder need not exist yet.
    """

    def __repr__(self) -> str:
        return f"<VFolder {self.name!r}>"

    async def info(self, *, timeout: TimeoutArg = NOT_GIVEN) -> VFolderInfo:
        """``GET /folders/{name}``: the folder's details, with ``num_files`` and ``used_bytes``."""
        info: VFolderInfo = await self._transport.call("GET", self._url(), timeout=timeout)
        return info

    async def delete(self, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """``DELETE /folders/{name}``: delete the folder (answers 204).

        Since 24.03 the manager moves it to the trash, its files kept and its name taken,
        until [`delete_forever`][backendai_aio.VFolders.delete_forever] (or an admin's
        [`purge`][backendai_aio.VFolders.purge]); [`restore`][backendai_aio.VFolders.restore]
        brings it back. Older managers delete it and its files at once. A folder named by
        its id is deleted with ``DELETE /folders`` (the path takes names only).
        """
        try:
            folder_id = str(uuid.UUID(self.name))
        except ValueError:
            await self._transport.call("DELETE", self._url(), timeout=timeout)
            return
        url = self._transport.url("folders")
        await self._transport.call("DELETE", url, json={"id": folder_id}, timeout=timeout)

    async def mkdir(
        self,
        path: PathArg,
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
        return await self._transport.call("POST", self._url("mkdir"), json=body, timeout=timeout)

    async def list_files(
        self, path: PathArg = ".", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> VFolderFileListing:
        """``GET /folders/{name}/files?path=``: the entries of a directory in the folder.

        Answers ``{"items": [{"name", "type" (FILE, DIRECTORY, SYMLINK), "size", "mode",
        "created", "modified"}, ...]}`` (older managers add a legacy ``files`` text).
        """
        params = {"path": folder_path(path, what="directory path", allow_root=True)}
        listing: VFolderFileListing = await self._transport.call(
            "GET", self._url("files"), params=params, timeout=timeout
        )
        return listing

    async def entries(
        self, path: PathArg = ".", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> list[FileEntry]:
        """`list_files` as typed [`FileEntry`][backendai_aio.FileEntry] objects."""
        return vfolder_entries(await self.list_files(path, timeout=timeout))

    async def rename_file(
        self, target_path: PathArg, new_name: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """``POST /folders/{name}/rename-file``: rename a file or directory where it is.

        *new_name* is a bare name: ``rename_file("a/b.txt", "c.txt")`` gives ``a/c.txt``.
        """
        body = {
            "target_path": folder_path(target_path, what="target path"),
            "new_name": file_name(new_name, what="new name"),
        }
        return await self._transport.call(
            "POST", self._url("rename-file"), json=body, timeout=timeout
        )

    async def delete_files(
        self,
        files: PathArg | Sequence[PathArg],
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
        return await self._transport.call(
            "DELETE", self._url("delete-files"), json=body, timeout=timeout
        )

    async def invite(
        self, emails: str | Sequence[str], perm: str = "rw", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """``POST /folders/{name}/invite``: invite users (by email) to share a folder you own.

        *perm* is ``ro``, ``rw`` or ``wd``. Answers ``{"invited_ids": [emails]}``.
        """
        invitees = [emails] if isinstance(emails, str) else list(emails)
        if not invitees or not all(isinstance(email, str) and email for email in invitees):
            raise InvalidArgumentError(f"invite whom? emails={emails!r}")
        # ``user_ids`` is the name every manager release accepts (newer ones also ``emails``).
        body = {"perm": perm, "user_ids": invitees}
        return await self._transport.call("POST", self._url("invite"), json=body, timeout=timeout)

    async def upload(
        self,
        source: UploadSource,
        target_path: PathArg | None = None,
        *,
        size: int | None = None,
        progress: ProgressCallback | None = None,
        chunk_size: int = UPLOAD_CHUNK_SIZE,
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
        _check_count(chunk_size, 1, "chunk_size is a positive number of bytes")
        _check_count(max_attempts, 1, "max_attempts is at least 1")
        if size is not None:
            _check_count(size, 0, "size is a number of bytes")
        base = _target_base(target_path)
        source_handle = await open_source(source, size)
        try:
            target = _upload_target(target_path, base, source_handle)
            call = f"POST /folders/{self.name}/request-upload"
            ticket = await self._transport.call(
                "POST",
                self._url("request-upload"),
                json={"path": target, "size": source_handle.size},
                timeout=timeout,
            )
            url, token = storage_ticket(
                self._transport, ticket, call, allow_http=self.allow_http_storage_proxy
            )
            # Imported on first use: the transfer machinery is slow to import.
            from ._transfer.tus import Upload

            await Upload(self._transport, self.name, target, url, token, timeout).run(
                source_handle,
                TransferProgress(progress, source_handle.size),
                chunk_size,
                max_attempts,
            )
        finally:
            await source_handle.aclose()
        return source_handle.size

    async def download(
        self,
        path: PathArg,
        dest: PathArg,
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
        remote = folder_path(path, what="file path")
        _check_count(max_attempts, 1, "max_attempts is at least 1")
        target = await asyncio.to_thread(resolve_destination, dest, remote)
        sink = await asyncio.to_thread(AtomicFile, target)
        try:
            call = f"POST /folders/{self.name}/request-download"
            ticket = await self._transport.call(
                "POST", self._url("request-download"), json={"path": remote}, timeout=timeout
            )
            url, token = storage_ticket(
                self._transport, ticket, call, allow_http=self.allow_http_storage_proxy
            )
            # Imported on first use: the transfer machinery is slow to import.
            from ._transfer.ranged import Download

            await Download(self._transport, self.name, remote, url, token, timeout).run(
                sink.file, progress, max_attempts
            )
            await asyncio.to_thread(sink.commit)
        except BaseException:
            sink.abort()
            raise
        return target
