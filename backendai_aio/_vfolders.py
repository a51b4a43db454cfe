"""Virtual folders: the collection calls of ``/folders`` and `VFolders.get`.

A virtual folder is a named directory on a storage host that sessions mount. The calls on
one folder (its details, files, transfers, invitations) are `VFolder`'s;
this namespace creates and lists folders, lists storage hosts, and handles the invitations
addressed to the user.
"""

from __future__ import annotations

import builtins
from typing import Any

from ._errors import InvalidArgumentError
from ._namespace import Namespace
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transfer.protocol import FolderRef, folder_name
from ._vfolder import VFolder
from ._vfolder_types import VFolderEntry, VFolderHosts, VFolderInvitations

__all__ = ["VFolders"]


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
