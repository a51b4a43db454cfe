"""`FolderLifecycle`: the calls on one folder as a whole, which `VFolder` inherits.

Renaming the folder, its options, cloning, moving a file, leaving or sharing it, and
downloading directories as one zip archive. Each is ``POST /folders/{name}/...`` (``unshare``
is ``DELETE``, the method every release takes), signed like every manager call.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Self

from ._apiversion import ApiVersion
from ._errors import InvalidArgumentError, UnsupportedServerError
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transfer.destination import AtomicFile, resolve_destination
from ._transfer.progress import ProgressCallback
from ._transfer.protocol import FolderRef, folder_name, folder_path
from ._transfer.tickets import storage_ticket
from ._transport import Transport
from ._vfolder_types import VFolderClone

__all__ = ["ARCHIVE_API_VERSION", "FolderLifecycle"]

#: The first API version whose manager serves ``request-download-archive`` (the 26.9 line).
ARCHIVE_API_VERSION: Final = ApiVersion(9, "20250722")

_PERMISSIONS: Final = ("ro", "rw", "wd")

PathArg = str | os.PathLike[str]


def _permission(value: object) -> str:
    if value not in _PERMISSIONS:
        raise InvalidArgumentError(f"a folder permission is 'ro', 'rw' or 'wd', not {value!r}")
    assert isinstance(value, str)
    return value


def _emails(emails: object) -> list[str]:
    listed = [emails] if isinstance(emails, str) else emails
    if not isinstance(listed, Sequence) or not listed:
        raise InvalidArgumentError(f"one or more emails, not {emails!r}")
    if not all(isinstance(email, str) and email for email in listed):
        raise InvalidArgumentError(f"an email is a non-empty string: {emails!r}")
    return list(listed)


def _bool_option(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} is True or False, not {value!r}")


class FolderLifecycle:
    """The whole-folder calls of a [`VFolder`][backendai_aio.VFolder] handle."""

    def __init__(
        self, transport: Transport, name: FolderRef, *, allow_http_storage_proxy: bool = False
    ) -> None:
        self._transport = transport
        #: The folder's name (or id).
        self.name: Final = folder_name(name)
        #: Whether a plain http storage proxy may be used when the manager is reached over
        #: https (the storage token then travels in clear text). Off by default.
        self.allow_http_storage_proxy = allow_http_storage_proxy

    def _url(self, *segments: str) -> Any:
        return self._transport.url("folders", self.name, *segments)

    async def _post(self, action: str, body: dict[str, Any], timeout: TimeoutArg) -> Any:
        return await self._transport.call("POST", self._url(action), json=body, timeout=timeout)

    async def rename(self, new_name: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Self:
        """``POST /folders/{name}/rename``: rename the folder; return a handle on the new name.

        ```python
        data = await client.vfolders.get("data").rename("data-2024")
        ```

        This handle keeps naming the old name (an id stays valid).
        """
        target = folder_name(new_name)
        await self._post("rename", {"new_name": target}, timeout)
        return type(self)(
            self._transport, target, allow_http_storage_proxy=self.allow_http_storage_proxy
        )

    async def update_options(
        self,
        *,
        permission: str | None = None,
        cloneable: bool | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> None:
        """``POST /folders/{name}/update-options``: change the folder's permission or cloneability.

        *permission* is ``ro``, ``rw`` or ``wd``; options left at ``None`` stay as they are.

        ```python
        await client.vfolders.update_options("data", cloneable=True)
        ```
        """
        body: dict[str, Any] = {}
        if permission is not None:
            body["permission"] = _permission(permission)
        _bool_option("cloneable", cloneable)
        if cloneable is not None:
            body["cloneable"] = cloneable
        if not body:
            raise InvalidArgumentError("update_options() needs permission= or cloneable=")
        await self._post("update-options", body, timeout)

    async def clone(
        self,
        target_name: str,
        *,
        target_host: str | None = None,
        usage_mode: str | None = None,
        permission: str | None = None,
        cloneable: bool | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> VFolderClone:
        """``POST /folders/{name}/clone``: copy a cloneable folder and its files to a new one.

        *target_host* defaults to the folder's host; the other options to the server's
        defaults. Answers the new folder's ``{"id", "name", "host", "usage_mode",
        "permission", ...}`` (managers copy the files in the background: the new folder
        may still be filling when the call returns).

        ```python
        await client.vfolders.clone("data", "data-copy")
        ```
        """
        body: dict[str, Any] = {"target_name": folder_name(target_name)}
        if permission is not None:
            body["permission"] = _permission(permission)
        _bool_option("cloneable", cloneable)
        options = {"target_host": target_host, "usage_mode": usage_mode, "cloneable": cloneable}
        body.update({key: value for key, value in options.items() if value is not None})
        cloned: VFolderClone = await self._post("clone", body, timeout)
        return cloned

    async def move_file(
        self, src: PathArg, dst: PathArg, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> None:
        """``POST /folders/{name}/move-file``: move a file or directory inside the folder.

        ```python
        await client.vfolders.move_file("data", "raw/a.csv", "archive/a.csv")
        ```
        """
        body = {
            "src": folder_path(src, what="source path"),
            "dst": folder_path(dst, what="destination path"),
        }
        await self._post("move-file", body, timeout)

    async def leave(self, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """``POST /folders/{name}/leave``: stop sharing a folder someone shared with you.

        On 26.9 a folder shared by invitation is reached by its id only:

        ```python
        await client.vfolders.leave(folder_id)
        ```
        """
        await self._post("leave", {}, timeout)

    async def share(
        self, permission: str, emails: str | Sequence[str], *, timeout: TimeoutArg = NOT_GIVEN
    ) -> list[str]:
        """``POST /folders/{name}/share``: share a project folder with users (admins).

        Unlike an invitation, no acceptance is needed. Answers the emails shared with.

        ```python
        await admin.vfolders.share("team-data", "ro", ["user@lablup.com"])
        ```
        """
        body = {"permission": _permission(permission), "emails": _emails(emails)}
        answer = await self._post("share", body, timeout)
        return list(answer.get("shared_emails", [])) if isinstance(answer, dict) else []

    async def unshare(
        self, emails: str | Sequence[str], *, timeout: TimeoutArg = NOT_GIVEN
    ) -> list[str]:
        """``DELETE /folders/{name}/unshare``: stop sharing a project folder with users (admins).

        Answers the emails unshared.

        ```python
        await admin.vfolders.unshare("team-data", "user@lablup.com")
        ```
        """
        answer = await self._transport.call(
            "DELETE", self._url("unshare"), json={"emails": _emails(emails)}, timeout=timeout
        )
        return list(answer.get("unshared_emails", [])) if isinstance(answer, dict) else []

    async def download_archive(
        self,
        paths: PathArg | Sequence[PathArg],
        dest: PathArg,
        *,
        progress: ProgressCallback | None = None,
        max_attempts: int = 5,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Path:
        """Download files and directories of the folder as one zip archive; return its path.

        The storage proxy builds the archive as it sends it; the entries keep their paths
        in the folder (``raw/a.csv``), directories with everything below them. *dest* is
        the archive's path, or a directory (existing, or ending in ``/``) to write
        ``<folder>.zip`` into; it is replaced only once the archive is complete. Needs a
        manager serving ``request-download-archive`` (26.9); older ones raise
        [`UnsupportedServerError`][backendai_aio.UnsupportedServerError].

        ```python
        archive = await client.vfolders.download_archive("data", ["raw", "notes.txt"], "/tmp/")
        ```
        """
        items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        if not items:
            raise InvalidArgumentError("no paths to archive")
        files = [folder_path(item, what="path") for item in items]
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1:
            raise InvalidArgumentError(f"max_attempts is at least 1: {max_attempts!r}")
        version = await self._transport.negotiate(timeout)
        call = f"POST /folders/{self.name}/request-download-archive"
        if version < ARCHIVE_API_VERSION:
            raise UnsupportedServerError(
                f"{call}: the server speaks API {version}; archive downloads need "
                f"{ARCHIVE_API_VERSION} (Backend.AI 26.9) or later"
            )
        target = await asyncio.to_thread(resolve_destination, dest, f"{self.name}.zip")
        sink = await asyncio.to_thread(AtomicFile, target)
        try:
            ticket = await self._post("request-download-archive", {"files": files}, timeout)
            url, token = storage_ticket(
                self._transport, ticket, call, allow_http=self.allow_http_storage_proxy
            )
            # Imported on first use: the transfer machinery is slow to import.
            from ._transfer.ranged import Download

            download = Download(self._transport, self.name, "archive", url, token, timeout)
            await download.run(sink.file, progress, max_attempts)
            await asyncio.to_thread(sink.commit)
        except BaseException:
            sink.abort()
            raise
        return target
