"""The emulated manager's virtual folders: the store, and the file-system helpers its routes share.

Folders live in a temporary directory made when the application starts and removed when it
stops. Users are the keypairs' owners (see `_accounts`); project folders belong to the
``default`` project, as every emulated user's sessions do. Deleting a folder ends its pending
transfers: their staging files are removed. The routes are in `_vfolder_routes`,
`_vfolder_invitations` and `_vfolder_trash`; the transfers in
`_storage_proxy`. docs/emulator.md describes what they answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Final, TypeVar

from aiohttp import web

from ._accounts import (
    DEFAULT_GROUP_NAME,
    Keypair,
)
from ._auth import current_keypair
from ._problems import (
    InvalidAPIParameters,
    Problem,
    VFolderNotFound,
    VFolderOperationFailed,
)
from ._releases import RELEASES, ReleaseProfile
from ._validation import choice

__all__ = [
    "DEFAULT_HOST",
    "DOWNLOAD_PATH",
    "UPLOAD_PATH",
    "VFOLDER_STORE_KEY",
    "VFolderStore",
    "remove_folder",
]


#: The storage host folders are created on unless the caller names another.
DEFAULT_HOST: Final = "local:volume1"
#: Where the emulated storage proxy takes tus uploads.
UPLOAD_PATH: Final = "/storage-proxy/upload"
#: Where the emulated storage proxy serves downloads.
DOWNLOAD_PATH: Final = "/storage-proxy/download"


_SLUG = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?")
_USAGE_MODE: Final = choice("general", "model", "data")
_PERMISSION: Final = choice("ro", "rw", "wd")
_RANK: Final = {"ro": 1, "rw": 2, "wd": 3}


_T = TypeVar("_T")


# -- state ---------------------------------------------------------------------------------


@dataclass
class _Folder:
    id: uuid.UUID
    name: str
    host: str
    usage_mode: str
    permission: str
    creator: str
    user: uuid.UUID | None  # the owner (a user folder)
    group: uuid.UUID | None  # the project (a project folder)
    cloneable: bool
    max_size: int | None
    created_at: datetime
    root: Path
    #: Users it is shared with (by email) and the permission each was granted.
    shares: dict[str, str] = field(default_factory=dict)
    #: ``ready``, or ``delete-pending`` once deleted into the trash (24.03 and later).
    status: str = "ready"


@dataclass
class _Access:
    folder: _Folder
    permission: str
    is_owner: bool


@dataclass
class _Invitation:
    id: uuid.UUID
    folder: _Folder
    inviter: str
    invitee: str
    perm: str
    state: str
    created_at: datetime
    modified_at: datetime | None = None


@dataclass
class _UploadSession:
    folder: _Folder
    relpath: PurePosixPath
    size: int
    staging: Path
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class _DownloadSession:
    folder: _Folder
    relpath: PurePosixPath


class VFolderStore:
    """The emulated manager's folders, invitations and transfer sessions."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self.folders: dict[uuid.UUID, _Folder] = {}
        self.invitations: dict[uuid.UUID, _Invitation] = {}
        self.uploads: dict[str, _UploadSession] = {}
        self.downloads: dict[str, _DownloadSession] = {}
        # Tokens of finished uploads: a HEAD then answers 404, not 400 (bad token).
        self.finished: set[str] = set()
        #: Archive downloads (26.9): the folder and the paths to put in the zip, by token.
        self.archives: dict[str, tuple[_Folder, list[PurePosixPath]]] = {}
        #: The release whose rules apply (set when the routes are installed).
        self.release: ReleaseProfile = RELEASES["23.09"]

    @property
    def root(self) -> Path:
        """The temporary directory holding every folder (made when the application starts)."""
        if self._root is None:
            raise RuntimeError("the virtual-folder store is not started")
        return self._root

    async def start(self) -> None:
        """Make the temporary directory."""
        made = await asyncio.to_thread(tempfile.mkdtemp, prefix="backendai-vfolders-")
        # Resolved once, so that every folder root below it is its own resolved form.
        root = await asyncio.to_thread(Path(made).resolve)
        await asyncio.to_thread((root / "staging").mkdir)
        self._root = root

    async def close(self) -> None:
        """Remove the temporary directory and everything in it."""
        root, self._root = self._root, None
        if root is not None:
            await asyncio.to_thread(shutil.rmtree, root, True)

    def accessible(self, keypair: Keypair) -> list[_Access]:
        """The folders *keypair*'s user can reach: own, shared with them, and project folders."""
        found = []
        user = keypair.user
        for folder in self.folders.values():
            if folder.user == user.uuid:
                # 26.9 shows an owner "rw" whatever the folder's permission (23.09 shows it).
                shown = "rw" if self.release.folder_id_lookup else folder.permission
                found.append(_Access(folder, shown, True))
            elif user.email in folder.shares:
                found.append(_Access(folder, folder.shares[user.email], False))
            elif folder.group is not None:
                permission = "wd" if keypair.is_admin else folder.permission
                found.append(_Access(folder, permission, keypair.is_admin))
        return found

    def find(
        self, keypair: Keypair, name: str, need: str = "ro", *, trashed: bool = False
    ) -> _Access:
        """The folder *name* of *keypair*'s user, with at least the permission *need* (else 404).

        On 26.9 *name* may also be the folder's id, and a folder shared by invitation is
        reachable only by its id; a folder in the trash is found only when *trashed* is set
        (the details call shows it, the file calls do not).
        """
        statuses = ("ready", "delete-pending") if trashed else ("ready",)
        for access in self.named(keypair, name):
            if access.folder.status in statuses and (
                access.is_owner or _RANK[access.permission] >= _RANK[need]
            ):
                return access
        raise VFolderNotFound(data=name)

    def named(self, keypair: Keypair, ref: str) -> list[_Access]:
        """The folders of *keypair*'s user that *ref* names (by name; on 26.9 also by id)."""
        by_id = _folder_id(ref) if self.release.folder_id_lookup else None
        found = []
        for access in self.accessible(keypair):
            if (by_id is not None and access.folder.id == by_id) or (
                access.folder.name == ref
                and not (
                    self.release.folder_id_lookup and access.folder.shares and not access.is_owner
                )
            ):
                found.append(access)
        return found


def _folder_id(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


#: Where an application keeps its `VFolderStore`.
VFOLDER_STORE_KEY: Final = web.AppKey("vfolders", VFolderStore)


# -- helpers -------------------------------------------------------------------------------


def _caller(request: web.Request) -> tuple[VFolderStore, Keypair]:
    return request.app[VFOLDER_STORE_KEY], current_keypair(request)


def _relpath(raw: Any, *, key: str = "path", allow_root: bool = False) -> PurePosixPath:
    """A path inside a folder, as the storage proxy takes it (relative, without ``..``).

    The folder itself (an empty path, ``.``) is refused unless *allow_root*.
    """
    if not isinstance(raw, str):
        problem = "value is not a string"
    elif "\0" in raw:
        problem = "null character in path"
    elif PurePosixPath(raw).is_absolute():
        problem = "expected relative path, got absolute"
    elif ".." in PurePosixPath(raw).parts:
        problem = "'..' is not allowed in a path"
    elif not allow_root and PurePosixPath(raw).name == "":
        problem = "empty path"
    else:
        return PurePosixPath(raw)
    raise InvalidAPIParameters("Input validation error", data={key: problem})


def _locate(folder: _Folder, relpath: PurePosixPath) -> Path:
    """The host path of *relpath* in *folder*; anything leading outside it is refused.

    Without ``..`` (refused here too, though `_relpath` refuses it first) only a symbolic
    link inside the folder can lead out. The components are looked at one by one (a file
    at the top costs one ``lstat``, where resolving the whole path costs one per component
    from ``/``), and the path is resolved only when one of them is a link. A folder's root
    is its own resolved form (the store's is resolved when made).
    """
    if ".." in relpath.parts:
        raise VFolderOperationFailed("the path leads outside the virtual folder")
    target = folder.root / relpath
    path = str(folder.root)
    for part in relpath.parts:
        path = os.path.join(path, part)
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            break  # nothing there yet, so nothing below it is a link
        if stat.S_ISLNK(mode):
            if not target.resolve().is_relative_to(folder.root):
                raise VFolderOperationFailed("the path leads outside the virtual folder")
            break
    return target


def _fs_error(exc: OSError, folder: _Folder) -> Problem:
    """A file-system failure as the manager relays the storage proxy's: 400 with errno."""
    paths = []
    for name in (exc.filename, exc.filename2):
        if name:
            try:
                paths.append(str(Path(os.fsdecode(name)).relative_to(folder.root)))
            except ValueError:
                paths.append(os.fsdecode(name))
    return InvalidAPIParameters(exc.strerror or str(exc), data={"errno": exc.errno, "paths": paths})


async def _fs(folder: _Folder, func: Callable[..., _T], *args: Any) -> _T:
    """Run a blocking file-system call in a thread, mapping its OSError like the manager."""
    try:
        return await asyncio.to_thread(func, *args)
    except OSError as exc:
        raise _fs_error(exc, folder) from None


def _folder_entry(access: _Access) -> dict[str, Any]:
    folder = access.folder
    return {
        "name": folder.name,
        "id": folder.id.hex,
        "quota_scope_id": _quota_scope(folder),
        "host": folder.host,
        "status": folder.status,
        "usage_mode": folder.usage_mode,
        "created_at": str(folder.created_at),
        "is_owner": access.is_owner,
        "permission": access.permission,
        "user": None if folder.user is None else str(folder.user),
        "group": None if folder.group is None else str(folder.group),
        "creator": folder.creator,
        "user_email": None if folder.user is None else folder.creator,
        "group_name": None if folder.group is None else DEFAULT_GROUP_NAME,
        "ownership_type": "user" if folder.user is not None else "group",
        "type": "user" if folder.user is not None else "group",
        "cloneable": folder.cloneable,
        "max_files": 1000,
        "max_size": folder.max_size,
        "cur_size": 0,
    }


def _quota_scope(folder: _Folder) -> str:
    if folder.user is not None:
        return f"user:{folder.user}"
    return f"project:{folder.group}"


def _usage(root: Path) -> tuple[int, int]:
    """The entries under *root* and their apparent sizes, as the vfs backend counts them.

    Directories count as entries and add their own size, like the 23.09 storage proxy's
    ``scan_tree_usage`` (so ``num_files`` is not just files).
    """
    count = size = 0
    pending = [root]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # removed meanwhile
                count += 1
                size += info.st_size
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
    return count, size


def _list_directory(path: Path) -> list[dict[str, Any]]:
    """The storage proxy's listing of one directory (blocking)."""
    items = []
    with os.scandir(path) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            info = entry.stat(follow_symlinks=False)
            if entry.is_symlink():
                kind = "SYMLINK"
            elif entry.is_dir(follow_symlinks=False):
                kind = "DIRECTORY"
            else:
                kind = "FILE"
            items.append(
                {
                    "name": entry.name,
                    "type": kind,
                    "size": info.st_size,
                    "mode": oct(info.st_mode)[2:][-3:],
                    "st_mode": info.st_mode,
                    "created": datetime.fromtimestamp(info.st_ctime, UTC).isoformat(),
                    "modified": datetime.fromtimestamp(info.st_mtime, UTC).isoformat(),
                }
            )
    return items


def _delete_paths(targets: list[Path], recursive: bool) -> None:
    for target in targets:
        if target.is_dir() and not target.is_symlink():
            if not recursive:
                raise IsADirectoryError(21, "Is a directory", str(target))
            shutil.rmtree(target)
        else:
            target.unlink()


def _finish_upload(root: Path, staging: Path, target: Path) -> None:
    """Move a finished upload into place, making the directories up to it (blocking).

    Only directories below the folder's *root* are made: a folder deleted meanwhile stays
    deleted (the move then fails).
    """
    directory = root
    for name in target.parent.relative_to(root).parts:
        directory = directory / name
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
    os.replace(staging, target)


def _discard(path: Path) -> None:
    """Remove a file if it is still there (blocking)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


async def remove_folder(store: VFolderStore, folder: _Folder) -> None:
    """Forget *folder* and its transfers and invitations, and remove its files."""
    del store.folders[folder.id]
    staging = []
    for token, upload in list(store.uploads.items()):
        if upload.folder is folder:
            del store.uploads[token]
            staging.append(upload.staging)
    for token in [t for t, download in store.downloads.items() if download.folder is folder]:
        del store.downloads[token]
    for inv_id in [i for i, inv in store.invitations.items() if inv.folder is folder]:
        del store.invitations[inv_id]
    for path in staging:
        await asyncio.to_thread(_discard, path)
    await asyncio.to_thread(shutil.rmtree, folder.root, True)
