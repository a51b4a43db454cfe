"""Virtual folders: the manager's ``/folders`` calls and the `VFolder` handle.

Folder management goes to the manager, signed like every call; file contents travel through
the storage proxy (the upload and download calls come from `_vfolder_transfers`).
"""

from __future__ import annotations

import os
from collections.abc import (
    Sequence,
)
from typing import Any

from ._errors import (
    InvalidArgumentError,
)
from ._results import FileEntry, vfolder_entries
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transfers import (
    FolderRef,
    file_name,
    folder_name,
    folder_path,
)
from ._vfolder_transfers import VFolderTransferAPI, VFolderTransfers

__all__ = ["VFolder", "VFolderAPI"]


class VFolderAPI(VFolderTransferAPI):
    """The virtual-folder calls of [`Client`][backendai_aio.Client] (``/folders``).

    A virtual folder is a named directory on a storage host that sessions mount. Each method takes
    the folder's name; `vfolder` gives a [`VFolder`][backendai_aio.VFolder] handle that carries it.
    Paths inside a folder are POSIX and relative to it (``data/train.csv``); a path leaving the
    folder (``..``, ``/etc``) raises [`InvalidArgumentError`][backendai_aio.InvalidArgumentError]
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

        *host* is a storage host from `vfolder_list_hosts` (default: the server's);
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
        return await self._transport.call(
            "POST", self._transport.url("folders"), json=body, timeout=timeout
        )

    async def vfolder_list(
        self, *, group_id: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """``GET /folders``: the folders the keypair's user can access (own, shared, project).

        With *group_id*, project folders are limited to that project's. Answers a list of
        ``{"name", "id", "host", "status", "usage_mode", "permission", "is_owner", ...}``.
        """
        params = {"group_id": group_id} if group_id is not None else None
        return await self._transport.call(
            "GET", self._transport.url("folders"), params=params, timeout=timeout
        )

    async def vfolder_info(self, name: FolderRef, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``GET /folders/{name}``: a folder's details, with ``num_files`` and ``used_bytes``."""
        return await self._transport.call(
            "GET", self._transport.url("folders", folder_name(name)), timeout=timeout
        )

    async def vfolder_delete(self, name: FolderRef, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """``DELETE /folders/{name}``: delete a folder and its files (answers 204)."""
        await self._transport.call(
            "DELETE", self._transport.url("folders", folder_name(name)), timeout=timeout
        )

    async def vfolder_list_hosts(
        self, *, group_id: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """``GET /folders/_/hosts``: the storage hosts the user may create folders on.

        Answers ``{"default": "local:volume1", "allowed": [...], "volume_info": {...}}``.
        """
        params = {"group_id": group_id} if group_id is not None else None
        return await self._transport.call(
            "GET", self._transport.url("folders", "_", "hosts"), params=params, timeout=timeout
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
        return await self._transport.call(
            "POST",
            self._transport.url("folders", folder_name(name), "mkdir"),
            json=body,
            timeout=timeout,
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
        return await self._transport.call(
            "GET",
            self._transport.url("folders", folder_name(name), "files"),
            params=params,
            timeout=timeout,
        )

    async def vfolder_entries(
        self,
        name: FolderRef,
        path: str | os.PathLike[str] = ".",
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> list[FileEntry]:
        """`vfolder_list_files` as typed [`FileEntry`][backendai_aio.FileEntry] objects."""
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
        return await self._transport.call(
            "POST",
            self._transport.url("folders", folder_name(name), "rename-file"),
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
        return await self._transport.call(
            "DELETE",
            self._transport.url("folders", folder_name(name), "delete-files"),
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
        return await self._transport.call(
            "POST",
            self._transport.url("folders", folder_name(name), "invite"),
            json=body,
            timeout=timeout,
        )

    async def vfolder_invitations(self, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``GET /folders/invitations/list``: pending invitations to the user.

        Answers ``{"invitations": [{"id", "inviter", "invitee", "perm", "state",
        "vfolder_id", "vfolder_name", ...}]}``.
        """
        return await self._transport.call(
            "GET", self._transport.url("folders", "invitations", "list"), timeout=timeout
        )

    async def vfolder_sent_invitations(self, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``GET /folders/invitations/list-sent``: pending invitations the user sent."""
        return await self._transport.call(
            "GET", self._transport.url("folders", "invitations", "list-sent"), timeout=timeout
        )

    async def vfolder_accept_invitation(
        self, inv_id: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """``POST /folders/invitations/accept``: accept an invitation; the folder is shared."""
        return await self._transport.call(
            "POST",
            self._transport.url("folders", "invitations", "accept"),
            json={"inv_id": _invitation_id(inv_id)},
            timeout=timeout,
        )

    async def vfolder_delete_invitation(
        self, inv_id: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """``DELETE /folders/invitations/delete``: reject (invitee) or cancel (inviter) one."""
        return await self._transport.call(
            "DELETE",
            self._transport.url("folders", "invitations", "delete"),
            json={"inv_id": _invitation_id(inv_id)},
            timeout=timeout,
        )


def _invitation_id(inv_id: object) -> str:
    if not isinstance(inv_id, str) or not inv_id:
        raise InvalidArgumentError(f"an invitation id is a non-empty string, not {inv_id!r}")
    return inv_id


class VFolder(VFolderTransfers):
    """A handle on one virtual folder: ``client.vfolder("data")``.

    It holds the client and the folder's name, and offers the folder calls without the name
    argument:

    ```python
    data = client.vfolder("data")
    await data.create()
    await data.upload("train.csv")
    await data.download("train.csv", "/tmp/")
    ```

    Creating a handle sends nothing; the folder need not exist yet.
    """

    def __init__(self, client: VFolderAPI, name: FolderRef) -> None:
        #: The client the calls go through.
        self.client = client
        #: The folder's name.
        self.name = folder_name(name)

    def __repr__(self) -> str:
        return f"<VFolder {self.name!r}>"

    def _transfers(self) -> VFolderAPI:
        return self.client

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
        """Create this folder (see `VFolderAPI.vfolder_create`)."""
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
        """Get this folder's details (see `VFolderAPI.vfolder_info`)."""
        return await self.client.vfolder_info(self.name, timeout=timeout)

    async def delete(self, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """Delete this folder (see `VFolderAPI.vfolder_delete`)."""
        await self.client.vfolder_delete(self.name, timeout=timeout)

    async def mkdir(
        self,
        path: str | os.PathLike[str],
        *,
        parents: bool = False,
        exist_ok: bool = False,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Create a directory (see `VFolderAPI.vfolder_mkdir`)."""
        return await self.client.vfolder_mkdir(
            self.name, path, parents=parents, exist_ok=exist_ok, timeout=timeout
        )

    async def list_files(
        self, path: str | os.PathLike[str] = ".", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """List a directory (see `VFolderAPI.vfolder_list_files`)."""
        return await self.client.vfolder_list_files(self.name, path, timeout=timeout)

    async def entries(
        self, path: str | os.PathLike[str] = ".", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> list[FileEntry]:
        """List a directory as typed entries (see `VFolderAPI.vfolder_entries`)."""
        return await self.client.vfolder_entries(self.name, path, timeout=timeout)

    async def rename_file(
        self,
        target_path: str | os.PathLike[str],
        new_name: str,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Rename a file (see `VFolderAPI.vfolder_rename_file`)."""
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
        """Delete files (see `VFolderAPI.vfolder_delete_files`)."""
        return await self.client.vfolder_delete_files(
            self.name, files, recursive=recursive, timeout=timeout
        )

    async def invite(
        self, emails: str | Sequence[str], perm: str = "rw", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """Invite users to share this folder (see `VFolderAPI.vfolder_invite`)."""
        return await self.client.vfolder_invite(self.name, emails, perm, timeout=timeout)
