"""Virtual folders: the collection calls of ``/folders`` and `VFolders.get`.

A virtual folder is a named directory on a storage host that sessions mount. The calls on
one folder (its details, files, transfers, invitations) are `VFolder`'s;
this namespace creates and lists folders, lists storage hosts, and handles the invitations
addressed to the user.
"""

from __future__ import annotations

import builtins
import uuid
from typing import Any, Final

from ._apiversion import ApiVersion
from ._errors import InvalidArgumentError, UnsupportedServerError
from ._namespace import Namespace
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transfer.protocol import FolderRef, folder_name
from ._vfolder import VFolder
from ._vfolder_by_name import by_name
from ._vfolder_types import VFolderEntry, VFolderHosts, VFolderInvitations, VFolderShared

__all__ = ["TRASH_API_VERSION", "VFolders"]

#: The first API version whose manager has the folder trash (24.03).
TRASH_API_VERSION: Final = ApiVersion(8, "20240315")


def _invitation_id(inv_id: object) -> str:
    if not isinstance(inv_id, str) or not inv_id:
        raise InvalidArgumentError(f"an invitation id is a non-empty string, not {inv_id!r}")
    return inv_id


def _group_params(group_id: str | None) -> dict[str, str] | None:
    return {"group_id": group_id} if group_id is not None else None


class VFolders(Namespace):
    """The virtual folders: ``client.vfolders``.

    ``client.vfolders.get(name)`` gives the [`VFolder`][backendai_aio.VFolder] handle with
    the calls on one folder:

    ```python
    await client.vfolders.create("data")
    await client.vfolders.get("data").upload("train.csv")
    ```
    """

    #: Whether a plain http storage proxy may be used when the manager is reached over
    #: https (the storage token then travels in clear text). Off by default; handles
    #: from `get` take the value current when they are made.
    allow_http_storage_proxy: bool = False

    # Every call of a `VFolder` handle, with the folder (name or id) as first argument:
    # ``client.vfolders.rename("data", "data2")`` is ``client.vfolders.get("data").rename(...)``.
    info = by_name(VFolder.info)
    delete = by_name(VFolder.delete)
    mkdir = by_name(VFolder.mkdir)
    list_files = by_name(VFolder.list_files)
    entries = by_name(VFolder.entries)
    rename_file = by_name(VFolder.rename_file)
    delete_files = by_name(VFolder.delete_files)
    invite = by_name(VFolder.invite)
    upload = by_name(VFolder.upload)
    download = by_name(VFolder.download)
    rename = by_name(VFolder.rename)
    update_options = by_name(VFolder.update_options)
    clone = by_name(VFolder.clone)
    move_file = by_name(VFolder.move_file)
    leave = by_name(VFolder.leave)
    share = by_name(VFolder.share)
    unshare = by_name(VFolder.unshare)
    download_archive = by_name(VFolder.download_archive)
    upload_tree = by_name(VFolder.upload_tree)
    download_tree = by_name(VFolder.download_tree)

    def get(self, name: FolderRef) -> VFolder:
        """A handle on the virtual folder *name* (or its id); sends nothing."""
        return VFolder(
            self._transport, name, allow_http_storage_proxy=self.allow_http_storage_proxy
        )

    async def create(
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
    ) -> VFolderEntry:
        """``POST /folders``: create the virtual folder *name* (answers 201 and its details).

        *host* is a storage host from `list_hosts` (default: the server's);
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
        created: VFolderEntry = await self._transport.call(
            "POST", self._transport.url("folders"), json=body, timeout=timeout
        )
        return created

    async def list(
        self, *, group_id: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> builtins.list[VFolderEntry]:
        """``GET /folders``: the folders the keypair's user can access (own, shared, project).

        With *group_id*, project folders are limited to that project's. Answers a list of
        ``{"name", "id", "host", "status", "usage_mode", "permission", "is_owner", ...}``.
        """
        folders: builtins.list[VFolderEntry] = await self._transport.call(
            "GET", self._transport.url("folders"), params=_group_params(group_id), timeout=timeout
        )
        return folders

    async def list_hosts(
        self, *, group_id: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> VFolderHosts:
        """``GET /folders/_/hosts``: the storage hosts the user may create folders on.

        Answers ``{"default": "local:volume1", "allowed": [...], "volume_info": {...}}``.
        """
        hosts: VFolderHosts = await self._transport.call(
            "GET",
            self._transport.url("folders", "_", "hosts"),
            params=_group_params(group_id),
            timeout=timeout,
        )
        return hosts

    async def invitations(self, *, timeout: TimeoutArg = NOT_GIVEN) -> VFolderInvitations:
        """``GET /folders/invitations/list``: pending invitations to the user.

        Answers ``{"invitations": [{"id", "inviter", "invitee", "perm", "state",
        "vfolder_id", "vfolder_name", ...}]}``.
        """
        pending: VFolderInvitations = await self._transport.call(
            "GET", self._transport.url("folders", "invitations", "list"), timeout=timeout
        )
        return pending

    async def sent_invitations(self, *, timeout: TimeoutArg = NOT_GIVEN) -> VFolderInvitations:
        """``GET /folders/invitations/list-sent``: pending invitations the user sent."""
        sent: VFolderInvitations = await self._transport.call(
            "GET", self._transport.url("folders", "invitations", "list-sent"), timeout=timeout
        )
        return sent

    async def accept_invitation(self, inv_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``POST /folders/invitations/accept``: accept an invitation; the folder is shared."""
        return await self._transport.call(
            "POST",
            self._transport.url("folders", "invitations", "accept"),
            json={"inv_id": _invitation_id(inv_id)},
            timeout=timeout,
        )

    async def delete_invitation(self, inv_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``DELETE /folders/invitations/delete``: reject (invitee) or cancel (inviter) one."""
        return await self._transport.call(
            "DELETE",
            self._transport.url("folders", "invitations", "delete"),
            json={"inv_id": _invitation_id(inv_id)},
            timeout=timeout,
        )

    async def shared(
        self, *, vfolder_id: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> VFolderShared:
        """``GET /folders/_/shared``: folders shared with users, and with whom.

        An admin sees every share; *vfolder_id* limits the answer to one folder's.

        ```python
        for share in (await admin.vfolders.shared())["shared"]:
            print(share["vfolder_name"], share["shared_to"]["email"], share["perm"])
        ```
        """
        params = None if vfolder_id is None else {"vfolder_id": str(vfolder_id)}
        answer: VFolderShared = await self._transport.call(
            "GET", self._transport.url("folders", "_", "shared"), params=params, timeout=timeout
        )
        return answer

    async def _trashed_id(self, call: str, name_or_id: FolderRef, timeout: TimeoutArg) -> str:
        """The id of the folder *name_or_id* (which may be in the trash), on a trash release."""
        ref = folder_name(name_or_id)
        version = await self._transport.negotiate(timeout)
        if version < TRASH_API_VERSION:
            raise UnsupportedServerError(
                f"{call}: the server speaks API {version}; the folder trash needs "
                f"{TRASH_API_VERSION} (Backend.AI 24.03) or later"
            )
        try:
            return str(uuid.UUID(ref))
        except ValueError:
            pass
        # A folder in the trash has no details any more; the name-to-id lookup still finds it.
        # The manager reads the name from a JSON body, even on this GET (a query is refused).
        found = await self._transport.call(
            "GET", self._transport.url("folders", "_", "id"), json={"name": ref}, timeout=timeout
        )
        return str(uuid.UUID(str(found["id"])))

    async def _trash_call(self, action: str, name_or_id: FolderRef, timeout: TimeoutArg) -> None:
        call = f"POST /folders/{action}"
        folder_id = await self._trashed_id(call, name_or_id, timeout)
        await self._transport.call(
            "POST",
            self._transport.url("folders", action),
            json={"vfolder_id": folder_id},
            timeout=timeout,
        )

    async def restore(self, name_or_id: FolderRef, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """``POST /folders/restore-from-trash-bin``: bring a deleted folder back from the trash.

        *name_or_id* is the folder's name or id; needs a manager with the trash (24.03 on),
        else [`UnsupportedServerError`][backendai_aio.UnsupportedServerError].

        ```python
        await client.vfolders.delete("data")
        await client.vfolders.restore("data")
        ```
        """
        await self._trash_call("restore-from-trash-bin", name_or_id, timeout)

    async def delete_forever(
        self, name_or_id: FolderRef, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> None:
        """``POST /folders/delete-from-trash-bin``: delete a folder in the trash and its files.

        The name is free again afterwards. Needs the trash (24.03 on).

        ```python
        await client.vfolders.delete("scratch")
        await client.vfolders.delete_forever("scratch")
        ```
        """
        await self._trash_call("delete-from-trash-bin", name_or_id, timeout)

    async def purge(self, name_or_id: FolderRef, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """``POST /folders/purge``: as `delete_forever`, for admins (any user's folder).

        ```python
        await admin.vfolders.purge(folder_id)
        ```
        """
        await self._trash_call("purge", name_or_id, timeout)
