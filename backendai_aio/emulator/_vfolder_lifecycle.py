"""The manager's whole-folder routes: rename, options, clone, move, leave, share, archives.

As the manager (``api/vfolder.py`` of 23.09, ``api/rest/vfolder`` of 26.9) and its storage
proxy answer them:

- ``POST /folders/{name}/rename`` ``{new_name}`` and ``/update-options`` ``{permission,
  cloneable}`` (the owner) answer ``{}``; a taken name is ``vfolder-already-exists``;
- ``POST /folders/{name}/clone`` ``{target_name, target_host, usage_mode, permission,
  cloneable}`` copies the files into a new folder of the caller (a source that is not
  cloneable is 403) and answers the new folder's details;
- ``POST /folders/{name}/move-file`` ``{src, dst}`` moves a file or directory (``{}``);
- ``POST /folders/{name}/leave``: a user stops sharing a folder shared with them (``{}``);
- ``POST /folders/{name}/share`` ``{permission, emails}`` (admins, project folders) answers
  201 ``{shared_emails}``; ``DELETE /folders/{name}/unshare`` ``{emails}`` (26.9 also
  ``POST``) answers ``{unshared_emails}``; ``GET /folders/_/shared`` lists the shares;
- ``POST /folders/{name}/request-download-archive`` ``{files}`` (26.9) hands out a token
  for ``GET /storage-proxy/download-archive``, a zip of the paths (directories with all
  below them) named as in the folder.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Final

from aiohttp import web

from ._accounts import ACCOUNTS_KEY
from ._auth import public
from ._params import alias, read_checked_params
from ._problems import (
    AuthorizationFailed,
    GenericForbidden,
    InvalidAPIParameters,
    Problem,
    StorageFileNotFound,
    StorageInvalidParameters,
    VFolderNotFound,
)
from ._validation import Invalid, check_params
from ._vfolders import (
    _PERMISSION,
    _SLUG,
    VFOLDER_STORE_KEY,
    VFolderStore,
    _Access,
    _caller,
    _Folder,
    _fs_error,
    _locate,
    _quota_scope,
    _relpath,
)

__all__ = ["ARCHIVE_PATH", "archive_routes", "routes"]

#: Where the emulated storage proxy serves zip archives (26.9's ``/download-archive``).
ARCHIVE_PATH: Final = "/storage-proxy/download-archive"

#: The whole-folder routes every release has.
routes = web.RouteTableDef()
#: The archive routes of 26.9.
archive_routes = web.RouteTableDef()


class VFolderInvalidParameter(Problem):
    """26.9's 400 vfolder-invalid-parameter (a taken name, ...)."""

    status, slug = 400, "vfolder-invalid-parameter"
    title = "Invalid parameter for virtual folder operation."
    error_code = "vfolder_access_invalid-parameters"


class StorageBadRequest(Problem):
    """26.9's 400 for a file operation the storage proxy refused (its errno is not relayed)."""

    status, slug = 400, "vfolder-operation-failed"
    title = "Virtual folder operation has failed due to bad request."
    error_code = "vfolder_generic_bad-request"


_NAME_TAKEN: Final = "One of your accessible vfolders already has the name you requested."


def _owned(store: VFolderStore, request: web.Request) -> _Access:
    _, keypair = _caller(request)
    access = store.find(keypair, request.match_info["name"])
    if not access.is_owner:
        raise GenericForbidden("Cannot change the vfolder that is not owned by myself.")
    return access


def _check_new_name(store: VFolderStore, request: web.Request, name: object, key: str) -> str:
    if not isinstance(name, str) or not _SLUG.fullmatch(name.removeprefix(".")):
        check_params({key: "value must be a valid slug."})
    assert isinstance(name, str)
    _, keypair = _caller(request)
    if any(access.folder.name == name for access in store.accessible(keypair)):
        if store.release.folder_id_lookup:
            raise VFolderInvalidParameter(_NAME_TAKEN)
        raise InvalidAPIParameters(_NAME_TAKEN)
    return name


@routes.route("POST", "/folders/{name}/rename")
async def _rename(request: web.Request) -> web.Response:
    store = request.app[VFOLDER_STORE_KEY]
    access = _owned(store, request)
    params = await read_checked_params(request)
    access.folder.name = _check_new_name(store, request, params.get("new_name"), "new_name")
    return web.json_response({"msg": ""})


@routes.route("POST", "/folders/{name}/update-options")
async def _update_options(request: web.Request) -> web.Response:
    store = request.app[VFOLDER_STORE_KEY]
    access = _owned(store, request)
    params = await read_checked_params(request)
    permission, cloneable = params.get("permission"), params.get("cloneable")
    errors = {}
    if permission is not None:
        try:
            _PERMISSION(permission)
        except Invalid as exc:
            errors["permission"] = exc.error
    if cloneable is not None and not isinstance(cloneable, bool):
        errors["cloneable"] = "value should be True or False"
    check_params(errors)
    if permission is not None:
        access.folder.permission = permission
    if cloneable is not None:
        access.folder.cloneable = cloneable
    return web.json_response({"msg": ""})


@routes.route("POST", "/folders/{name}/clone")
async def _clone(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    source = store.find(keypair, request.match_info["name"]).folder
    params = await read_checked_params(request)
    name = _check_new_name(store, request, params.get("target_name"), "target_name")
    if not source.cloneable:
        raise GenericForbidden("The source vfolder is not permitted to be cloned.")
    permission = params.get("permission") or "rw"
    usage_mode = params.get("usage_mode") or "general"
    try:
        _PERMISSION(permission)
    except Invalid as exc:
        check_params({"permission": exc.error})
    folder_id = uuid.uuid4()
    root = store.root / "folders" / folder_id.hex
    await asyncio.to_thread(shutil.copytree, source.root, root, symlinks=True)
    folder = _Folder(
        id=folder_id,
        name=name,
        host=alias(params, "target_host", "folder_host") or source.host,
        usage_mode=usage_mode,
        permission=permission,
        creator=keypair.user.email,
        user=keypair.user.uuid,
        group=None,
        cloneable=bool(params.get("cloneable", False)),
        max_size=None,
        created_at=datetime.now(UTC),
        root=root,
    )
    store.folders[folder_id] = folder
    answer = {
        "id": folder.id.hex,
        "name": folder.name,
        "host": folder.host,
        "quota_scope_id": _quota_scope(folder),
        "usage_mode": folder.usage_mode,
        "permission": folder.permission,
        "creator": folder.creator,
        "ownership_type": "user",
        "user": str(folder.user),
        "group": None,
        "cloneable": folder.cloneable,
        "bgtask_id": str(uuid.uuid4()),
    }
    return web.json_response(answer, status=201)


def _move(source: Path, target: Path) -> None:
    # As the storage proxy: the destination's directory must exist.
    if not source.exists() or not target.parent.is_dir():
        missing = source if not source.exists() else target
        raise FileNotFoundError(2, "No such file or directory", str(missing))
    shutil.move(source, target)


@routes.route("POST", "/folders/{name}/move-file")
async def _move_file(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    folder = store.find(keypair, request.match_info["name"], "rw").folder
    params = await read_checked_params(request)
    source = _locate(folder, _relpath(params.get("src"), key="src"))
    target = _locate(folder, _relpath(params.get("dst"), key="dst"))
    try:
        await asyncio.to_thread(_move, source, target)
    except OSError as exc:
        if store.release.folder_id_lookup:
            raise StorageBadRequest("Bad request to storage proxy") from None
        raise _fs_error(exc, folder) from None
    return web.json_response({"msg": ""})


@routes.route("POST", "/folders/{name}/leave")
async def _leave(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    access = store.find(keypair, request.match_info["name"])
    if access.folder.group is not None and keypair.user.email not in access.folder.shares:
        raise InvalidAPIParameters("Cannot leave a group vfolder.")
    if access.is_owner:
        if store.release.folder_id_lookup:
            return web.json_response({"msg": "left the shared vfolder"})  # 26.9: nothing to do
        raise InvalidAPIParameters("Cannot leave a vfolder owned by the requesting user.")
    access.folder.shares.pop(keypair.user.email, None)
    return web.json_response({"msg": "left the shared vfolder"})


def _project_folder(request: web.Request) -> _Folder:
    store, keypair = _caller(request)
    if not keypair.is_admin:
        if store.release.folder_id_lookup:
            raise GenericForbidden("Insufficient privileges")
        raise AuthorizationFailed("Unauthorized access")  # 23.09's admin-only check
    folder = store.find(keypair, request.match_info["name"]).folder
    if folder.group is None:
        raise VFolderNotFound("Only project folders are directly sharable.")
    return folder


def _emails(params: dict[str, Any]) -> list[str]:
    emails = params.get("emails")
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        check_params({"emails": "value is not a list of strings"})
    assert isinstance(emails, list)
    return emails


@routes.route("POST", "/folders/{name}/share")
async def _share(request: web.Request) -> web.Response:
    folder = _project_folder(request)
    params = await read_checked_params(request)
    permission = params.get("permission", "rw")
    try:
        _PERMISSION(permission)
    except Invalid as exc:
        check_params({"permission": exc.error})
    emails = _emails(params)
    accounts = request.app[ACCOUNTS_KEY]
    missing = [email for email in emails if accounts.user_by_email(email) is None]
    if missing:
        raise VFolderNotFound(f"Some users do not belong to folder's group: {','.join(missing)}")
    for email in emails:
        folder.shares[email] = permission
    return web.json_response({"shared_emails": emails}, status=201)


@routes.route("POST", "/folders/{name}/unshare")
@routes.route("DELETE", "/folders/{name}/unshare")
async def _unshare(request: web.Request) -> web.Response:
    store = request.app[VFOLDER_STORE_KEY]
    if request.method == "POST" and not store.release.folder_id_lookup:
        raise web.HTTPMethodNotAllowed("POST", ["DELETE"])
    folder = _project_folder(request)
    emails = _emails(await read_checked_params(request))
    unshared = [email for email in emails if folder.shares.pop(email, None) is not None]
    return web.json_response({"unshared_emails": unshared})


@routes.route("GET", "/folders/_/shared")
async def _shared(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    params = await read_checked_params(request)
    only = alias(params, "vfolder_id", "vfolderId")
    accounts = request.app[ACCOUNTS_KEY]
    shared = []
    for folder in store.folders.values():
        if only is not None and str(only).replace("-", "") != folder.id.hex:
            continue
        if not keypair.is_admin and folder.user != keypair.user.uuid:
            continue
        for email, perm in folder.shares.items():
            user = accounts.user_by_email(email)
            shared.append(
                {
                    "vfolder_id": str(folder.id),
                    "vfolder_name": folder.name,
                    "status": folder.status,
                    "owner": folder.creator if folder.group is None else str(folder.group),
                    "type": "user" if folder.group is None else "project",
                    "shared_to": {"uuid": str(user.uuid) if user else "", "email": email},
                    "perm": perm,
                }
            )
    return web.json_response({"shared": shared})


# -- archives (26.9) -----------------------------------------------------------------------

_ARCHIVES_KEY: Final = "lifecycle.archives"


@archive_routes.route("POST", "/folders/{name}/request-download-archive")
async def _request_archive(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    folder = store.find(keypair, request.match_info["name"]).folder
    params = await read_checked_params(request)
    files = params.get("files")
    if not isinstance(files, list) or not files:
        check_params({"files": "List should have at least 1 item after validation"})
    assert isinstance(files, list)
    relpaths = [_relpath(item, key="files") for item in files]
    for relpath in relpaths:
        _locate(folder, relpath)
    token = secrets.token_urlsafe(32)
    store.archives[token] = (folder, relpaths)
    return web.json_response(
        {"token": token, "url": str(request.url.origin().with_path(ARCHIVE_PATH))}
    )


def _write_zip(folder: _Folder, relpaths: list[PurePosixPath], target: Path) -> None:
    # Deflated, as the real proxy's; at the fastest level, which a client cannot tell apart.
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for relpath in relpaths:
            path = folder.root / relpath
            if path.is_file():
                archive.write(path, str(relpath))
                continue
            for item in sorted(path.rglob("*")):
                name = str(PurePosixPath(relpath, item.relative_to(path).as_posix()))
                if item.is_file() or (item.is_dir() and not any(item.iterdir())):
                    archive.write(item, name)


@archive_routes.route("GET", ARCHIVE_PATH)
@public
async def _download_archive(request: web.Request) -> web.StreamResponse:
    store = request.app[VFOLDER_STORE_KEY]
    found = store.archives.get(request.query.get("token", ""))
    if found is None:
        raise StorageInvalidParameters(data={"token": "cannot decode the given value"})
    folder, relpaths = found
    for relpath in relpaths:
        if not await asyncio.to_thread((folder.root / relpath).exists):
            raise StorageFileNotFound(f"File not found: {relpath}")
    staging = store.root / "staging" / f"archive-{secrets.token_hex(8)}.zip"
    try:
        await asyncio.to_thread(_write_zip, folder, relpaths, staging)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": 'attachment;filename="archive.zip"',
            }
        )
        await response.prepare(request)
        with staging.open("rb") as file:
            while block := await asyncio.to_thread(file.read, 1 << 20):
                await response.write(block)
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(staging.unlink, True)
