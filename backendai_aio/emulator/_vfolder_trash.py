"""The folder trash of managers since 24.03, and 26.9's name-to-id lookup.

``DELETE /folders/{name}``, and ``DELETE /folders`` with the folder's id (``vfolderId`` or
``id`` in a JSON body: how the 26.9 SDK deletes), move a folder to the trash (status
``delete-pending``, 204); its name stays taken. Then, by the folder's id (``vfolder_id``,
or ``id`` / ``vfolderId``, in a JSON body), as the 26.9 manager's routes take it:

- ``POST /folders/restore-from-trash-bin``: back to ``ready`` (204);
- ``POST /folders/delete-from-trash-bin``: deleted for good, the name is free again (204);
- ``POST /folders/purge``: the same for a folder in the trash (204);
- ``DELETE /folders/{folder_id}/force``: deleted at once, in the trash or not (204).

A folder id that names no folder of the caller is 404 ``object-not-found``; a folder that is
not in the trash cannot be deleted from it or purged (400 ``invalid-api-params``); restoring
it answers 204 and changes nothing.

``GET /folders/_/id`` (``name``, or ``vfolder_name`` / ``vfolderName``, in a JSON body or the
query) answers ``{"id": "<uuid>", "name": "<name>"}``: how the 26.9 SDK resolves a folder
name before its other folder calls.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from ._auth import current_keypair
from ._params import alias, read_checked_params
from ._problems import InsufficientPrivilege, InvalidAPIParameters, VFolderNotFound
from ._validation import check_params
from ._vfolders import VFOLDER_STORE_KEY, _Access, remove_folder

__all__ = ["routes"]

#: The trash routes and ``GET /folders/_/id``, installed on releases with a folder trash.
routes = web.RouteTableDef()


def _access_by_id(request: web.Request, raw: object) -> _Access:
    store = request.app[VFOLDER_STORE_KEY]
    try:
        folder_id = uuid.UUID(str(raw))
    except ValueError:
        check_params({"vfolder_id": "cannot convert value to UUID"})
        raise AssertionError("unreachable") from None
    keypair = current_keypair(request)
    for access in store.accessible(keypair):
        if access.folder.id == folder_id:
            if not access.is_owner and access.permission != "wd":
                raise InvalidAPIParameters("Cannot delete the vfolder that is not owned by myself.")
            return access
    raise VFolderNotFound(data=str(folder_id))


async def _folder_ref(request: web.Request) -> object:
    params = await read_checked_params(request)
    raw = alias(params, "vfolder_id", "id", "vfolderId")
    if raw is None:
        check_params({"vfolder_id": "is required"})
    return raw


def _in_trash(access: _Access) -> None:
    if access.folder.status != "delete-pending":
        raise InvalidAPIParameters("The virtual folder is not in the trash bin.")


@routes.route("POST", "/folders/restore-from-trash-bin")
async def _restore(request: web.Request) -> web.Response:
    access = _access_by_id(request, await _folder_ref(request))
    # 26.9 answers 204 for a folder that is not in the trash too: nothing to restore.
    access.folder.status = "ready"
    return web.Response(status=204)


@routes.route("POST", "/folders/purge")
@routes.route("POST", "/folders/delete-from-trash-bin")
async def _delete_from_trash(request: web.Request) -> web.Response:
    if request.path.endswith("/purge") and not current_keypair(request).is_admin:
        # 26.9: purging is for admins; users delete from the trash instead.
        raise InsufficientPrivilege("You are not allowed to purge vfolders")
    access = _access_by_id(request, await _folder_ref(request))
    _in_trash(access)
    await remove_folder(request.app[VFOLDER_STORE_KEY], access.folder)
    return web.Response(status=204)


@routes.route("DELETE", "/folders")
async def _delete_by_id(request: web.Request) -> web.Response:
    params = await read_checked_params(request)
    raw = alias(params, "vfolderId", "id", "vfolder_id")
    if raw is None:
        check_params({"vfolder_id": "is required"})
    access = _access_by_id(request, raw)
    if access.folder.status != "ready":
        raise VFolderNotFound(data=str(access.folder.id))
    access.folder.status = "delete-pending"
    return web.Response(status=204)


@routes.route("DELETE", "/folders/{folder_id}/force")
async def _force_delete(request: web.Request) -> web.Response:
    access = _access_by_id(request, request.match_info["folder_id"])
    await remove_folder(request.app[VFOLDER_STORE_KEY], access.folder)
    return web.Response(status=204)


@routes.route("GET", "/folders/_/id")
async def _folder_id(request: web.Request) -> web.Response:
    params = await read_checked_params(request)
    name = alias(params, "name", "vfolder_name", "vfolderName")
    if not isinstance(name, str):
        check_params({"name": "is required"})
    assert isinstance(name, str)
    store = request.app[VFOLDER_STORE_KEY]
    # A folder in the trash is found too: the SDK resolves its id to restore or purge it.
    found = store.named(current_keypair(request), name)
    if not found:
        raise VFolderNotFound(data=name)
    return web.json_response({"id": str(found[0].folder.id), "name": name})
