"""Virtual folders: the manager's ``/folders`` routes, and an emulated storage proxy.

Folders live in a temporary directory made when the application starts and removed when it
stops. The storage proxy's client-facing endpoints are served by the same application under
``/storage-proxy/upload`` (tus) and ``/storage-proxy/download``: unsigned, like the real
proxy's, and authorised by the ``token`` query parameter that ``request-upload`` and
``request-download`` hand out (an opaque random string here, a JWT on the real proxy).

Wire formats, as the manager (``src/ai/backend/manager/api/vfolder.py``, 23.09) and the
storage proxy (``src/ai/backend/storage/api/client.py``) produce them, checked against a real
23.09.10 manager and its vfs storage proxy:

- ``POST /folders`` ``{name, host, usage_mode, permission, group, quota, cloneable}`` answers
  201 ``{id, name, quota_scope_id, host, usage_mode, permission, max_size, creator,
  ownership_type, user, group, cloneable, status}``; names are slugs (dots allowed at the
  start); a second folder of the same name is 400 ``vfolder-already-exists``; an unknown host
  is 400 ``invalid-api-params``.
- ``GET /folders`` answers a list of ``{name, id, quota_scope_id, host, status, usage_mode,
  created_at, is_owner, permission, user, group, creator, user_email, group_name,
  ownership_type, type, cloneable, max_files, max_size, cur_size}``; ``GET /folders/{name}``
  answers ``{name, id, host, quota_scope_id, status, numFiles, num_files, used_bytes, created,
  created_at, last_used, user, group, type, is_owner, permission, usage_mode, cloneable,
  max_size, cur_size}`` (``group`` is the text ``"None"`` for a user folder, as the manager
  writes it); an unknown folder is 404 ``object-not-found`` "No such virtual folder." with the
  name as ``data``; ``DELETE /folders/{name}`` answers 204.
- ``GET /folders/_/hosts`` answers ``{default, allowed, volume_info}``.
- ``POST /folders/{name}/mkdir`` ``{path, parents=true, exist_ok=false}`` answers 201 with no
  body; ``GET /folders/{name}/files?path=`` answers ``{items: [{name, type (FILE, DIRECTORY,
  SYMLINK), size, mode, created, modified}], files: "<legacy JSON text>"}``; ``POST
  .../rename-file`` ``{target_path, new_name}`` and ``DELETE .../delete-files`` ``{files,
  recursive}`` answer ``{}``. A file-system failure is 400 ``invalid-api-params`` with the
  OS's message as ``msg`` and ``{errno, paths}`` as ``data``. Paths are relative to the
  folder: an absolute path or one with a ``..`` component is refused with 400
  ``invalid-api-params`` "Input validation error" (the real proxy resolves ``a/..`` first;
  the emulator refuses it, so that no call reaches the folder itself by a detour), and so is
  the folder itself as what ``mkdir``, ``rename-file``, ``delete-files`` or a transfer works on,
  and a ``new_name`` other than a plain name.
- ``POST .../request-upload`` ``{path, size}`` and ``POST .../request-download`` ``{path}``
  answer ``{token, url}``, the url the proxy's ``/upload`` or ``/download``.
- tus on ``/upload``: ``OPTIONS`` (``Tus-Version``, ``Tus-Max-Size``); ``HEAD`` answers
  ``Upload-Offset`` and ``Upload-Length`` (``Cache-Control: no-store``); ``PATCH`` appends its
  body and answers 204 with the new ``Upload-Offset``; once every byte arrived the file is
  moved into place and the session is gone (404 ``storage/no-such-upload-session``). A bad
  token is 400 ``storage/invalid-api-params``. Unlike the 23.09 proxy, which appends whatever
  arrives, a ``PATCH`` whose ``Upload-Offset`` is not the server's is refused with 409, as
  tus 1.0.0 and newer proxies require: the emulator checks that clients resume correctly.
  A ``PATCH`` that brings more than the declared size (a chunked one says no length) is
  refused with 400 and what it wrote is discarded.
- ``GET /download`` streams the file (``Content-Disposition``, ``Accept-Ranges: bytes``,
  ``ETag``, ``Last-Modified``); ``Range: bytes=a-`` or ``a-b`` answers 206 with
  ``Content-Range``, a range past the end 416 with ``Content-Range: bytes */size``; an
  ``If-Range`` date older than the file (or an ETag other than its own) gives the whole file,
  as aiohttp's file responses do. A missing file is 404 ``storage/file-not-found``.
- Invitations: ``POST /folders/{name}/invite`` ``{perm, emails | user_ids}`` answers 201
  ``{invited_ids}``; ``GET /folders/invitations/list`` and ``/list-sent`` answer
  ``{invitations: [{id, inviter, invitee, perm, state, created_at, modified_at, vfolder_id,
  vfolder_name}]}``; ``POST /folders/invitations/accept`` and ``DELETE
  /folders/invitations/delete`` ``{inv_id}`` answer ``{}``. An unknown invitation is 404
  (the 23.09 manager answers its deletion with a 500).

Users are the keypairs' owners: the manager's example keypairs map to ``admin@lablup.com``
(a superadmin) and ``user@lablup.com``; any other access key to ``<key>@emulator.invalid``.
Project folders belong to the ``default`` project (named by its name or its id), as every
emulated user's sessions do.

Deleting a folder ends its pending transfers: their staging files are removed, and an upload
still arriving answers 404 ``storage/no-such-upload-session`` without recreating the folder.

:func:`transfer_hooks` gives tests a way to break the next transfer's connection halfway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final, TypeVar

from aiohttp import web

from ._accounts import (
    ACCOUNTS_KEY,
    DEFAULT_GROUP_ID,
    DEFAULT_GROUP_NAME,
    Keypair,
    is_default_project,
)
from ._auth import current_keypair, public
from ._params import alias, read_checked_params
from ._problems import (
    GenericForbidden,
    GroupNotFound,
    InvalidAPIParameters,
    InvitationNotFound,
    NoSuchUploadSession,
    Problem,
    StorageFileNotFound,
    StorageInvalidParameters,
    UploadOffsetMismatch,
    VFolderAlreadyExists,
    VFolderNotFound,
    VFolderOperationFailed,
)
from ._releases import RELEASE_KEY, RELEASES, ReleaseProfile
from ._validation import Invalid, Key, check_params, choice, to_bool, validate

__all__ = [
    "DEFAULT_HOST",
    "DOWNLOAD_PATH",
    "UPLOAD_PATH",
    "VFOLDER_STORE_KEY",
    "TransferHooks",
    "VFolderStore",
    "add_vfolder_routes",
    "transfer_hooks",
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
_BLOCK: Final = 256 * 1024
_MAX_UPLOAD_SIZE: Final = 100 * 1024**3
# At most 18 digits a number: what a file offset can be, and int() of it stays cheap.
_RANGE = re.compile(r"bytes=([0-9]{0,18})-([0-9]{0,18})")
_UPLOAD_OFFSET = re.compile(r"[0-9]{1,18}")
_TUS_CORS: Final = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": (
        "Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset, Content-Type"
    ),
    "Access-Control-Expose-Headers": (
        "Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset, Content-Type"
    ),
    "Access-Control-Allow-Methods": "*",
}

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


@dataclass
class TransferHooks:
    """Test hooks of the emulated storage proxy.

    Set :attr:`drop_upload_after` (or :attr:`drop_download_after`) to *n* and the next tus
    ``PATCH`` (or download ``GET``) has its connection broken once *n* bytes of its body went
    through, as a flaky network would; the hook then clears itself. :attr:`log` records the
    proxy requests: ``"HEAD"``, ``"PATCH <offset>+<length>"``, ``"GET"`` or ``"GET
    <range>"``, with ``" dropped"`` appended to those broken on purpose.
    """

    drop_upload_after: int | None = None
    drop_download_after: int | None = None
    log: list[str] = field(default_factory=list)


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
        self.hooks = TransferHooks()
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
        root = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="backendai-vfolders-"))
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
                found.append(_Access(folder, folder.permission, True))
            elif user.email in folder.shares:
                found.append(_Access(folder, folder.shares[user.email], False))
            elif folder.group is not None:
                permission = "wd" if keypair.is_admin else folder.permission
                found.append(_Access(folder, permission, keypair.is_admin))
        return found

    def find(self, keypair: Keypair, name: str, need: str = "ro") -> _Access:
        """The folder *name* of *keypair*'s user, with at least the permission *need* (else 404).

        On 26.9 *name* may also be the folder's id, and a folder shared by invitation is
        reachable only by its id; a folder in the trash is found by neither.
        """
        for access in self.named(keypair, name):
            if access.folder.status == "ready" and (
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


#: Where an application keeps its :class:`VFolderStore`.
VFOLDER_STORE_KEY: Final = web.AppKey("vfolders", VFolderStore)


def transfer_hooks(app: web.Application) -> TransferHooks:
    """The :class:`TransferHooks` of an application built with :func:`add_vfolder_routes`."""
    return app[VFOLDER_STORE_KEY].hooks


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
    """The host path of *relpath* in *folder*; anything leading outside it is refused."""
    target = folder.root / relpath
    resolved = target.resolve()
    if not resolved.is_relative_to(folder.root.resolve()):
        raise VFolderOperationFailed("the path leads outside the virtual folder")
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


# -- manager routes ------------------------------------------------------------------------


async def _create(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    params = await read_checked_params(request)
    errors: dict[str, str] = {}
    name = params.get("name")
    if not isinstance(name, str):
        errors["name"] = "is required" if name is None else "value must be a string"
    elif not _SLUG.fullmatch(name[1:] if name.startswith(".") else name):
        errors["name"] = "value must be a valid slug."
    host = params.get("host") or DEFAULT_HOST
    usage_mode = params.get("usage_mode") or "general"
    permission = params.get("permission") or "rw"
    for key, value, check in (
        ("usage_mode", usage_mode, _USAGE_MODE),
        ("permission", permission, _PERMISSION),
    ):
        try:
            check(value)
        except Invalid as exc:
            errors[key] = exc.error
    cloneable = params.get("cloneable", False)
    if not isinstance(cloneable, bool):
        errors["cloneable"] = "value should be True or False"
    check_params(errors)
    assert isinstance(name, str)
    if host != DEFAULT_HOST:
        raise InvalidAPIParameters(
            f"`VFolderHostPermission.CREATE` Not allowed in vfolder host(`{host}`)"
        )
    group_ref = alias(params, "group", "groupId", "group_id")
    group: uuid.UUID | None = None
    if group_ref is not None:
        if not is_default_project(group_ref):
            raise GroupNotFound(data=str(group_ref))
        if name.startswith("."):
            raise InvalidAPIParameters("dot-prefixed vfolders cannot be a group folder.")
        if not keypair.is_admin:
            raise GenericForbidden("no permission")
        group = DEFAULT_GROUP_ID
    if any(access.folder.name == name for access in store.accessible(keypair)):
        raise VFolderAlreadyExists(data=name)
    folder_id = uuid.uuid4()
    root = store.root / "folders" / folder_id.hex
    await asyncio.to_thread(root.mkdir, parents=True)
    quota = params.get("quota")
    max_size = int(quota) // 2**20 if isinstance(quota, int) and quota > 0 else None
    folder = _Folder(
        id=folder_id,
        name=name,
        host=host,
        usage_mode=usage_mode,
        permission=permission,
        creator=keypair.user.email,
        user=None if group is not None else keypair.user.uuid,
        group=group,
        cloneable=cloneable,
        max_size=max_size,
        created_at=datetime.now(UTC),
        root=root,
    )
    store.folders[folder_id] = folder
    return web.json_response(
        {
            "id": folder.id.hex,
            "name": folder.name,
            "quota_scope_id": _quota_scope(folder),
            "host": folder.host,
            "usage_mode": folder.usage_mode,
            "permission": folder.permission,
            "max_size": folder.max_size,
            "creator": folder.creator,
            "ownership_type": "user" if folder.user is not None else "group",
            "user": None if folder.user is None else str(folder.user),
            "group": None if folder.group is None else str(folder.group),
            "cloneable": folder.cloneable,
            "status": "ready",
        },
        status=201,
    )


async def _list(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    params = validate(
        await read_checked_params(request), [Key.of("all", to_bool(), False)], allow_extra=True
    )
    if params["all"]:
        raise InvalidAPIParameters("Deprecated use of 'all' option")
    entries = [_folder_entry(access) for access in store.accessible(keypair)]
    return web.json_response(entries)


async def _hosts(request: web.Request) -> web.Response:
    store, _ = _caller(request)
    usage = await asyncio.to_thread(shutil.disk_usage, store.root)
    return web.json_response(
        {
            "default": DEFAULT_HOST,
            "allowed": [DEFAULT_HOST],
            "volume_info": {
                DEFAULT_HOST: {
                    "backend": "vfs",
                    "capabilities": ["vfolder"],
                    "usage": {"percentage": usage.used / usage.total * 100},
                    "sftp_scaling_groups": [],
                }
            },
        }
    )


async def _info(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    access = store.find(keypair, request.match_info["name"])
    folder = access.folder
    count, size = await asyncio.to_thread(_usage, folder.root)
    created = str(folder.created_at)
    return web.json_response(
        {
            "name": folder.name,
            "id": folder.id.hex,
            "host": folder.host,
            "quota_scope_id": _quota_scope(folder),
            "status": "ready",
            "numFiles": count,
            "num_files": count,
            "used_bytes": size,
            "created": created,
            "created_at": created,
            "last_used": created,
            "user": str(folder.user),
            "group": str(folder.group),
            "type": "user" if folder.user is not None else "group",
            "is_owner": access.is_owner,
            "permission": access.permission,
            "usage_mode": folder.usage_mode,
            "cloneable": folder.cloneable,
            "max_size": folder.max_size,
            "cur_size": 0,
        }
    )


async def _delete(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    name = request.match_info["name"]
    access = next((a for a in store.named(keypair, name) if a.folder.status == "ready"), None)
    if access is None:
        raise VFolderNotFound(data=name)
    if not access.is_owner and access.permission != "wd":
        raise InvalidAPIParameters("Cannot delete the vfolder that is not owned by myself.")
    if store.release.folder_trash:
        # Since 24.03 a deletion moves the folder to the trash: its name stays taken until
        # it is deleted from the trash (or purged).
        access.folder.status = "delete-pending"
        return web.Response(status=204)
    await remove_folder(store, access.folder)
    return web.Response(status=204)


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


async def _mkdir(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    folder = store.find(keypair, request.match_info["name"], "rw").folder
    params = await read_checked_params(request)
    relpath = _relpath(params.get("path"))
    target = _locate(folder, relpath)
    flags = validate(
        params,
        [Key.of("parents", to_bool(), True), Key.of("exist_ok", to_bool(), False)],
        allow_extra=True,
    )
    await _fs(folder, lambda: target.mkdir(parents=flags["parents"], exist_ok=flags["exist_ok"]))
    if store.release.folder_id_lookup:
        # 26.9 answers the storage proxy's result set (its SDK reads it).
        results = {"success": [{"item": str(relpath), "msg": None}], "failed": []}
        return web.json_response({"results": results}, status=201)
    return web.Response(status=201)


async def _files(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    folder = store.find(keypair, request.match_info["name"]).folder
    params = await read_checked_params(request)
    relpath = _relpath(params.get("path", ""), allow_root=True)
    items = await _fs(folder, _list_directory, _locate(folder, relpath))
    legacy = [
        {
            "filename": item["name"],
            "size": item["size"],
            "mode": stat.filemode(item.pop("st_mode")),
            "ctime": datetime.fromisoformat(item["created"]).timestamp(),
            "atime": 0,
            "mtime": datetime.fromisoformat(item["modified"]).timestamp(),
        }
        for item in items
    ]
    return web.json_response({"items": items, "files": json.dumps(legacy)})


async def _rename_file(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    folder = store.find(keypair, request.match_info["name"], "rw").folder
    params = await read_checked_params(request)
    relpath = _relpath(params.get("target_path"), key="target_path")
    new_name = params.get("new_name")
    if not isinstance(new_name, str) or new_name in ("", ".", "..") or "/" in new_name:
        raise InvalidAPIParameters("Input validation error", data={"new_name": "invalid name"})
    if "\0" in new_name:
        raise InvalidAPIParameters(
            "Input validation error", data={"new_name": "null character in path"}
        )
    source = _locate(folder, relpath)
    target = _locate(folder, relpath.with_name(new_name))
    await _fs(folder, source.rename, target)
    return web.json_response({})


async def _delete_files(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    folder = store.find(keypair, request.match_info["name"], "rw").folder
    params = await read_checked_params(request)
    files = params.get("files")
    if not isinstance(files, list):
        raise InvalidAPIParameters("Input validation error", data={"files": "value is not a list"})
    targets = [_locate(folder, _relpath(item, key="files")) for item in files]
    recursive = validate(params, [Key.of("recursive", to_bool(), False)], allow_extra=True)
    await _fs(folder, _delete_paths, targets, recursive["recursive"])
    return web.json_response({})


async def _request_upload(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    folder = store.find(keypair, request.match_info["name"], "rw").folder
    params = await read_checked_params(request)
    relpath = _relpath(params.get("path"))
    _locate(folder, relpath)
    raw_size = params.get("size")
    try:
        size = int(raw_size) if isinstance(raw_size, int | str) and raw_size is not True else -1
    except ValueError:
        size = -1
    if size < 0:
        raise InvalidAPIParameters("Input validation error", data={"size": "value can't be int"})
    token = secrets.token_urlsafe(32)
    staging = store.root / "staging" / token
    await asyncio.to_thread(staging.touch)
    store.uploads[token] = _UploadSession(folder, relpath, size, staging)
    return web.json_response(
        {"token": token, "url": str(request.url.origin().with_path(UPLOAD_PATH))}
    )


async def _request_download(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    folder = store.find(keypair, request.match_info["name"]).folder
    params = await read_checked_params(request)
    relpath = _relpath(alias(params, "path", "file"))
    token = secrets.token_urlsafe(32)
    store.downloads[token] = _DownloadSession(folder, relpath)
    return web.json_response(
        {"token": token, "url": str(request.url.origin().with_path(DOWNLOAD_PATH))}
    )


# -- invitations ---------------------------------------------------------------------------


def _invitation_entry(invitation: _Invitation) -> dict[str, Any]:
    return {
        "id": str(invitation.id),
        "inviter": invitation.inviter,
        "invitee": invitation.invitee,
        "perm": invitation.perm,
        "state": invitation.state,
        "created_at": str(invitation.created_at),
        "modified_at": str(invitation.modified_at),
        "vfolder_id": str(invitation.folder.id),
        "vfolder_name": invitation.folder.name,
    }


async def _invite(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    name = request.match_info["name"]
    params = await read_checked_params(request)
    perm = alias(params, "perm", "permission", default="rw")
    emails = alias(params, "emails", "user_ids", "userIDs")
    errors = {}
    try:
        _PERMISSION(perm)
    except Invalid as exc:
        errors["perm"] = exc.error
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        errors["emails"] = "value is not a list of strings"
    check_params(errors)
    if name.startswith("."):
        raise GenericForbidden("Cannot share private dot-prefixed vfolders.")
    folder = next(
        (f for f in store.folders.values() if f.user == keypair.user.uuid and f.name == name),
        None,
    )
    if folder is None:
        raise VFolderNotFound()
    accounts = request.app[ACCOUNTS_KEY]
    invitees: list[Keypair] = []
    for email in dict.fromkeys(emails):
        found = accounts.user_by_email(email)
        if email != keypair.user.email and found is not None:
            invitees.append(accounts.main_keypair(found))
    if not invitees:
        raise InvitationNotFound()
    for invitee in invitees:
        if any(access.folder.name == name for access in store.accessible(invitee)):
            raise VFolderAlreadyExists()
    invited = []
    for invitee in invitees:
        pending = any(
            inv.folder is folder and inv.invitee == invitee.user.email and inv.state == "pending"
            for inv in store.invitations.values()
        )
        if pending:
            continue
        invitation = _Invitation(
            id=uuid.uuid4(),
            folder=folder,
            inviter=keypair.user.email,
            invitee=invitee.user.email,
            perm=perm,
            state="pending",
            created_at=datetime.now(UTC),
        )
        store.invitations[invitation.id] = invitation
        invited.append(invitee.user.email)
    return web.json_response({"invited_ids": invited}, status=201)


async def _invitations(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    found = [
        _invitation_entry(inv)
        for inv in store.invitations.values()
        if inv.invitee == keypair.user.email and inv.state == "pending"
    ]
    return web.json_response({"invitations": found})


async def _sent_invitations(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    found = [
        _invitation_entry(inv)
        for inv in store.invitations.values()
        if inv.inviter == keypair.user.email and inv.state == "pending"
    ]
    return web.json_response({"invitations": found})


def _pending_invitation(store: VFolderStore, params: Mapping[str, Any]) -> _Invitation:
    raw = params.get("inv_id")
    if not isinstance(raw, str):
        raise InvalidAPIParameters("Input validation error", data={"inv_id": "is required"})
    try:
        invitation = store.invitations.get(uuid.UUID(raw))
    except ValueError:
        invitation = None
    if invitation is None or invitation.state != "pending":
        raise InvitationNotFound()
    return invitation


async def _accept_invitation(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    invitation = _pending_invitation(store, await read_checked_params(request))
    if invitation.invitee != keypair.user.email:
        raise InvitationNotFound()
    name = invitation.folder.name
    if any(access.folder.name == name for access in store.accessible(keypair)):
        raise VFolderAlreadyExists()
    invitation.folder.shares[keypair.user.email] = invitation.perm
    invitation.state = "accepted"
    invitation.modified_at = datetime.now(UTC)
    return web.json_response({})


async def _delete_invitation(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    invitation = _pending_invitation(store, await read_checked_params(request))
    email = keypair.user.email
    if email == invitation.inviter:
        invitation.state = "canceled"
    elif email == invitation.invitee:
        invitation.state = "rejected"
    else:
        raise GenericForbidden("Cannot change other user's invitaiton")
    invitation.modified_at = datetime.now(UTC)
    return web.json_response({})


# -- the emulated storage proxy ------------------------------------------------------------


def _token(request: web.Request) -> str:
    token = request.query.get("token")
    if not token:
        raise StorageInvalidParameters(data={"token": "is required"})
    return token


def _upload_session(request: web.Request) -> tuple[VFolderStore, str, _UploadSession]:
    store = request.app[VFOLDER_STORE_KEY]
    token = _token(request)
    session = store.uploads.get(token)
    if session is None:
        if token in store.finished:
            raise NoSuchUploadSession()
        raise StorageInvalidParameters(data={"token": "cannot decode the given value"})
    return store, token, session


def _tus_headers(session: _UploadSession, offset: int) -> dict[str, str]:
    return {
        **_TUS_CORS,
        "Cache-Control": "no-store",
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": str(offset),
        "Upload-Length": str(session.size),
    }


@public
async def _tus_options(request: web.Request) -> web.Response:
    return web.Response(
        headers={
            **_TUS_CORS,
            "Tus-Resumable": "1.0.0",
            "Tus-Version": "1.0.0",
            "Tus-Max-Size": str(_MAX_UPLOAD_SIZE),
            "X-Content-Type-Options": "nosniff",
        }
    )


@public
async def _tus_head(request: web.Request) -> web.Response:
    store, _, session = _upload_session(request)
    store.hooks.log.append("HEAD")
    offset = (await asyncio.to_thread(session.staging.stat)).st_size
    return web.Response(headers=_tus_headers(session, offset))


@public
async def _tus_patch(request: web.Request) -> web.Response:
    store, token, session = _upload_session(request)
    raw_offset = request.headers.get("Upload-Offset", "")
    # ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
    if _UPLOAD_OFFSET.fullmatch(raw_offset) is None:
        raise StorageInvalidParameters(f"Invalid Upload-Offset header value: {raw_offset[:40]!r}")
    client_offset = int(raw_offset)
    async with session.lock:
        offset = (await asyncio.to_thread(session.staging.stat)).st_size
        length = request.content_length
        entry = f"PATCH {client_offset}+{length}"
        if client_offset != offset:
            store.hooks.log.append(entry + " refused")
            raise UploadOffsetMismatch(f"expected {offset}, got {client_offset}")
        if length is not None and offset + length > session.size:
            store.hooks.log.append(entry + " refused")
            raise StorageInvalidParameters("The upload exceeds its declared Upload-Length.")
        drop_after = store.hooks.drop_upload_after
        store.hooks.drop_upload_after = None
        received = 0
        file: IO[bytes] = await asyncio.to_thread(open, session.staging, "ab")
        try:
            async for chunk in request.content.iter_chunked(_BLOCK):
                if offset + received + len(chunk) > session.size:
                    # A chunked body declares no length: it is only known as it arrives.
                    # What this PATCH wrote goes again, so the upload can still be made.
                    await asyncio.to_thread(file.truncate, offset)
                    store.hooks.log.append(entry + " refused")
                    raise StorageInvalidParameters("The upload exceeds its declared Upload-Length.")
                if drop_after is not None and received + len(chunk) >= drop_after:
                    # What arrived before the break stays, as on a real proxy.
                    await asyncio.to_thread(file.write, chunk[: drop_after - received])
                    store.hooks.log.append(entry + " dropped")
                    if request.transport is not None:
                        request.transport.abort()
                    return web.Response(status=204)
                await asyncio.to_thread(file.write, chunk)
                received += len(chunk)
        except (ConnectionError, asyncio.IncompleteReadError):
            store.hooks.log.append(entry + " aborted")
            return web.Response(status=204)  # the client is gone; nobody reads this
        finally:
            await asyncio.to_thread(file.close)
        store.hooks.log.append(entry)
        new_offset = offset + received
        headers = _tus_headers(session, new_offset)
        if store.uploads.get(token) is not session:
            # The folder was deleted while the body arrived, and its staging file with it.
            await asyncio.to_thread(_discard, session.staging)
            raise NoSuchUploadSession()
        if new_offset >= session.size:
            folder = session.folder
            target = _locate(folder, session.relpath)
            await _fs(folder, _finish_upload, folder.root, session.staging, target)
            store.uploads.pop(token, None)
            store.finished.add(token)
            if store.folders.get(folder.id) is not folder:
                # Deleted while the file was moved into place: it goes with the folder.
                await asyncio.to_thread(shutil.rmtree, folder.root, True)
                raise NoSuchUploadSession()
    return web.Response(status=204, headers=headers)


def _content_disposition(name: str) -> str:
    ascii_name = name.encode("ascii", errors="ignore").decode("ascii").replace('"', r"\"")
    quoted = urllib.parse.quote(name, encoding="utf-8")
    return f"attachment;filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"


def _wanted_range(request: web.Request, size: int, etag: str, mtime: float) -> range | None:
    """The byte range a GET asks for and may have (``None``: the whole file).

    ``If-Range`` is honoured as aiohttp's file responses do: a date gives the range only if
    the file is no newer; an ETag (which aiohttp ignores) only if it is the file's.
    """
    raw = request.headers.get("Range")
    match = _RANGE.fullmatch(raw.strip()) if raw else None
    if match is None or (not match[1] and not match[2]):
        return None
    if_range = request.headers.get("If-Range")
    if if_range:
        if if_range.startswith(('"', "W/")):
            if if_range != etag:
                return None
        else:
            try:
                date = parsedate_to_datetime(if_range)
            except (TypeError, ValueError, OverflowError):
                date = None
            if date is None or int(mtime) > date.timestamp():
                return None
    if not match[1]:  # bytes=-N: the last N bytes
        first = max(0, size - int(match[2]))
        last = size - 1
    else:
        first = int(match[1])
        last = min(int(match[2]), size - 1) if match[2] else size - 1
    if first >= size or last < first:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return range(first, last + 1)


@public
async def _download(request: web.Request) -> web.StreamResponse:
    store = request.app[VFOLDER_STORE_KEY]
    session = store.downloads.get(_token(request))
    if session is None:
        raise StorageInvalidParameters(data={"token": "cannot decode the given value"})
    try:
        path = _locate(session.folder, session.relpath)
        info = await asyncio.to_thread(path.stat)
    except (VFolderOperationFailed, OSError):
        raise StorageFileNotFound() from None
    if not stat.S_ISREG(info.st_mode):
        raise StorageInvalidParameters("The file is not a regular file.")
    etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": _content_disposition(path.name),
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": format_datetime(datetime.fromtimestamp(info.st_mtime, UTC), usegmt=True),
    }
    span = _wanted_range(request, info.st_size, etag, info.st_mtime)
    status = 200
    if span is None:
        span = range(0, info.st_size)
    else:
        status = 206
        headers["Content-Range"] = f"bytes {span.start}-{span.stop - 1}/{info.st_size}"
    store.hooks.log.append(f"GET {request.headers['Range']}" if status == 206 else "GET")
    drop_after = store.hooks.drop_download_after
    store.hooks.drop_download_after = None
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = len(span)
    await response.prepare(request)
    file: IO[bytes] = await asyncio.to_thread(open, path, "rb")
    try:
        await asyncio.to_thread(file.seek, span.start)
        sent = 0
        while sent < len(span):
            block = await asyncio.to_thread(file.read, min(_BLOCK, len(span) - sent))
            if not block:
                break
            if drop_after is not None and sent + len(block) >= drop_after:
                await response.write(block[: drop_after - sent])
                store.hooks.log[-1] += " dropped"
                if request.transport is not None:
                    request.transport.abort()
                return response
            await response.write(block)
            sent += len(block)
    except ConnectionError:
        return response  # the client went away
    finally:
        await asyncio.to_thread(file.close)
    await response.write_eof()
    return response


# -- installation --------------------------------------------------------------------------


def add_vfolder_routes(app: web.Application) -> None:
    """Install the ``/folders`` routes and the emulated storage proxy on *app*.

    The folders live in a temporary directory made when *app* starts and removed when it
    stops; :func:`transfer_hooks` gives its test hooks.
    """
    store = VFolderStore()
    store.release = app[RELEASE_KEY]
    app[VFOLDER_STORE_KEY] = store

    async def start(app: web.Application) -> None:
        await store.start()

    async def stop(app: web.Application) -> None:
        await store.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    router = app.router
    router.add_route("POST", "/folders", _create)
    router.add_route("GET", "/folders", _list)
    router.add_route("GET", "/folders/_/hosts", _hosts)
    if store.release.folder_trash:
        # Imported here: the trash routes build on this module's store.
        from ._vfolder_trash import add_trash_routes

        add_trash_routes(app)
    router.add_route("GET", "/folders/invitations/list", _invitations)
    router.add_route("GET", "/folders/invitations/list-sent", _sent_invitations)
    router.add_route("GET", "/folders/invitations/list_sent", _sent_invitations)
    router.add_route("POST", "/folders/invitations/accept", _accept_invitation)
    router.add_route("DELETE", "/folders/invitations/delete", _delete_invitation)
    router.add_route("GET", "/folders/{name}", _info)
    router.add_route("DELETE", "/folders/{name}", _delete)
    router.add_route("POST", "/folders/{name}/mkdir", _mkdir)
    router.add_route("GET", "/folders/{name}/files", _files)
    router.add_route("POST", "/folders/{name}/rename-file", _rename_file)
    router.add_route("POST", "/folders/{name}/rename_file", _rename_file)
    router.add_route("DELETE", "/folders/{name}/delete-files", _delete_files)
    router.add_route("DELETE", "/folders/{name}/delete_files", _delete_files)
    router.add_route("POST", "/folders/{name}/request-upload", _request_upload)
    router.add_route("POST", "/folders/{name}/request-download", _request_download)
    router.add_route("POST", "/folders/{name}/invite", _invite)
    router.add_route("OPTIONS", UPLOAD_PATH, _tus_options)
    router.add_route("HEAD", UPLOAD_PATH, _tus_head)
    router.add_route("PATCH", UPLOAD_PATH, _tus_patch)
    router.add_route("GET", DOWNLOAD_PATH, _download)
