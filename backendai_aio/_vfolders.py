"""Virtual folders: the manager's ``/folders`` calls and the :class:`VFolder` handle.

Folder management goes to the manager, signed like every call; file contents travel through
the storage proxy (:mod:`._vfolder_transfers`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import (
    Sequence,
)
from pathlib import Path
from typing import Any

from ._base import BaseClient
from ._errors import (
    InvalidArgumentError,
)
from ._results import FileEntry, vfolder_entries
from ._streams import ProgressCallback
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transfers import (
    FolderRef,
    file_name,
    folder_name,
    folder_path,
)
from ._vfolder_transfers import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_ATTEMPTS,
    Download,
    TransferProgress,
    Upload,
    UploadSource,
    finish_destination,
    open_source,
    prepare_destination,
    read_ticket,
)

__all__ = ["VFolder", "VFolderAPI"]


class VFolderAPI(BaseClient):
    """The virtual-folder calls of :class:`~backendai_aio.Client` (``/folders``).

    A virtual folder is a named directory on a storage host that sessions mount. Each
    method takes the folder's name; :meth:`vfolder` gives a :class:`VFolder` handle that
    carries it. Paths inside a folder are POSIX and relative to it (``data/train.csv``); a
    path leaving the folder (``..``, ``/etc``) raises :class:`~backendai_aio.InvalidArgumentError`
    before anything is sent.
    """

    def vfolder(self, name: FolderRef) -> VFolder:
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
        cloneable: bool | None = None,
        unmanaged_path: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """``POST /folders``: create the virtual folder *name* (answers 201 and its details).

        *host* is a storage host from :meth:`vfolder_list_hosts` (default: the server's);
        *usage_mode* ``general``, ``model`` or ``data``; *permission* ``ro``, ``rw`` or
        ``wd`` (read-write-delete); *group* a project's id (or, on older managers, name) for
        a project folder; *unmanaged_path* (admins) a host path. (A per-folder quota is no
        longer a creation option: managers since 24.03 ignore it or refuse it.)
        Options left at ``None`` take the server's defaults. Answers ``{"id", "name",
        "host", "usage_mode", "permission", "ownership_type", "user", "group", ...}``.
        """
        body: dict[str, Any] = {"name": folder_name(name)}
        options = {
            "host": host,
            "usage_mode": usage_mode,
            "permission": permission,
            "group": group,
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

    async def vfolder_info(self, name: FolderRef, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``GET /folders/{name}``: a folder's details, with ``num_files`` and ``used_bytes``."""
        return await self._request("GET", self._url("folders", folder_name(name)), timeout=timeout)

    async def vfolder_delete(self, name: FolderRef, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
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
        name: FolderRef,
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
        name: FolderRef,
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

    async def vfolder_entries(
        self,
        name: FolderRef,
        path: str | os.PathLike[str] = ".",
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> list[FileEntry]:
        """:meth:`vfolder_list_files` as typed :class:`~backendai_aio.FileEntry` objects."""
        return vfolder_entries(await self.vfolder_list_files(name, path, timeout=timeout))

    async def vfolder_rename_file(
        self,
        name: FolderRef,
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
        name: FolderRef,
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
        name: FolderRef,
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
            ticket = await self._request(
                "POST",
                self._url("folders", folder, "request-upload"),
                json={"path": target, "size": source_handle.size},
                timeout=timeout,
            )
            url, token = read_ticket(ticket, f"POST /folders/{folder}/request-upload")
            upload = Upload(self, folder, target, url, token, timeout)
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
        target, file, temp = await asyncio.to_thread(prepare_destination, dest, remote)
        placed: Path | None = None
        try:
            ticket = await self._request(
                "POST",
                self._url("folders", folder, "request-download"),
                json={"path": remote},
                timeout=timeout,
            )
            url, token = read_ticket(ticket, f"POST /folders/{folder}/request-download")
            await Download(self, folder, remote, url, token, timeout).run(
                file, progress, max_attempts
            )
            placed = target
        finally:
            await asyncio.to_thread(finish_destination, file, temp, placed)
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

    def __init__(self, client: VFolderAPI, name: FolderRef) -> None:
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

    async def entries(
        self, path: str | os.PathLike[str] = ".", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> list[FileEntry]:
        """List a directory as typed entries (see :meth:`VFolderAPI.vfolder_entries`)."""
        return await self.client.vfolder_entries(self.name, path, timeout=timeout)

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
