"""The manager's folder invitations: ``/folders/{name}/invite`` and ``/folders/invitations/*``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ._accounts import (
    ACCOUNTS_KEY,
    Keypair,
)
from ._params import alias, read_checked_params
from ._problems import (
    GenericForbidden,
    InvalidAPIParameters,
    InvitationNotFound,
    VFolderAlreadyExists,
    VFolderNotFound,
)
from ._validation import Invalid, check_params
from ._vfolders import _PERMISSION, VFolderStore, _caller, _Invitation

__all__ = ["routes"]

#: The invitation routes.
routes = web.RouteTableDef()


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


@routes.route("POST", "/folders/{name}/invite")
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


@routes.route("GET", "/folders/invitations/list")
async def _invitations(request: web.Request) -> web.Response:
    store, keypair = _caller(request)
    found = [
        _invitation_entry(inv)
        for inv in store.invitations.values()
        if inv.invitee == keypair.user.email and inv.state == "pending"
    ]
    return web.json_response({"invitations": found})


@routes.route("GET", "/folders/invitations/list_sent")
@routes.route("GET", "/folders/invitations/list-sent")
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


@routes.route("POST", "/folders/invitations/accept")
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


@routes.route("DELETE", "/folders/invitations/delete")
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
