"""The manager's ``/folders`` routes: folders, their files, and transfer requests."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import stat
import uuid
from datetime import UTC, datetime

from aiohttp import web

from ._accounts import (
    DEFAULT_GROUP_ID,
    is_default_project,
)
from ._params import alias, read_checked_params
from ._problems import (
    GenericForbidden,
    GroupNotFound,
    InvalidAPIParameters,
    VFolderNameTaken,
    VFolderNotFound,
)
from ._releases import RELEASE_KEY
from ._storage_proxy import routes as storage_proxy_routes
from ._validation import Invalid, Key, check_params, to_bool, validate
from ._vfolder_invitations import routes as invitation_routes
from ._vfolder_lifecycle import archive_routes
from ._vfolder_lifecycle import routes as lifecycle_routes
from ._vfolder_trash import routes as trash_routes
from ._vfolders import (
    _PERMISSION,
    _SLUG,
    _USAGE_MODE,
    DEFAULT_HOST,
    DOWNLOAD_PATH,
    UPLOAD_PATH,
    VFOLDER_STORE_KEY,
    VFolderStore,
    _caller,
    _delete_paths,
    _DownloadSession,
    _Folder,
    _folder_entry,
    _fs,
    _list_directory,
    _locate,
    _quota_scope,
    _relpath,
    _UploadSession,
    _usage,
    remove_folder,
)

__all__ = ["add_vfolder_routes"]

#: The folder routes.
routes = web.RouteTableDef()


# -- manager routes ------------------------------------------------------------------------


@routes.route("POST", "/folders")
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
        raise VFolderNameTaken(name)
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


@routes.route("GET", "/folders")
async def _list(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    params = validate(
        await read_checked_params(request), [Key.of("all", to_bool(), False)], allow_extra=True
    )
    if params["all"]:
        raise InvalidAPIParameters("Deprecated use of 'all' option")
    entries = [_folder_entry(access) for access in store.accessible(keypair)]
    return web.json_response(entries)


@routes.route("GET", "/folders/_/hosts")
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


@routes.route("GET", "/folders/{name}")
async def _info(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    # 26.9 shows a folder in the trash too, with its status.
    access = store.find(keypair, request.match_info["name"], trashed=True)
    folder = access.folder
    count, size = await asyncio.to_thread(_usage, folder.root)
    created = str(folder.created_at)
    return web.json_response(
        {
            "name": folder.name,
            "id": folder.id.hex,
            "host": folder.host,
            "quota_scope_id": _quota_scope(folder),
            "status": folder.status,
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


@routes.route("DELETE", "/folders/{name}")
async def _delete(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    name = request.match_info["name"]
    # By name only: 26.9 answers 404 for an id here (``DELETE /folders`` takes ids).
    access = next(
        (
            a
            for a in store.named(keypair, name)
            if a.folder.status == "ready" and a.folder.name == name
        ),
        None,
    )
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


@routes.route("POST", "/folders/{name}/mkdir")
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


@routes.route("GET", "/folders/{name}/files")
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


@routes.route("POST", "/folders/{name}/rename_file")
@routes.route("POST", "/folders/{name}/rename-file")
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


@routes.route("DELETE", "/folders/{name}/delete_files")
@routes.route("DELETE", "/folders/{name}/delete-files")
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


@routes.route("POST", "/folders/{name}/request-upload")
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


@routes.route("POST", "/folders/{name}/request-download")
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


# -- installation --------------------------------------------------------------------------


def add_vfolder_routes(app: web.Application) -> None:
    """Install the ``/folders`` routes and the emulated storage proxy on *app*.

    The folders live in a temporary directory made when *app* starts and removed when it
    stops.
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
    if store.release.folder_trash:
        app.add_routes(trash_routes)
    app.add_routes(invitation_routes)
    app.add_routes(lifecycle_routes)
    if store.release.folder_id_lookup:
        app.add_routes(archive_routes)
    app.add_routes(routes)
    app.add_routes(storage_proxy_routes)
