"""Resolvers of the emulator's GraphQL root fields, over the emulator's live state.

Each root field of :mod:`._gql_schema` is answered from the accounts, the images, the
sessions and the virtual folders the rest of the emulator serves, with the manager's scoping:
a plain user sees their own keypair, sessions and folders; a superadmin sees everyone's and may
name another user (a plain user naming someone else is ``Forbidden operation.``, as on the
manager). Objects are plain dictionaries keyed by field name; graphql-core picks the selected
fields out of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from graphql import GraphQLResolveInfo

from ._accounts import DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME, AccountDirectory, Keypair, User
from ._gql_listing import ListingError, filter_rows, order_rows, page
from ._images import IMAGES, Image, canonical_reference, find_image, image_labels
from ._problems import InternalServerError
from ._sessions import EmulatedSession, SessionRegistry
from ._vfolders import VFolderStore

__all__ = ["GraphQLContext", "ROOT_RESOLVERS", "ResolverError"]


class ResolverError(Exception):
    """A root field failed: its answer is null and the error names it (with its path)."""


@dataclass(frozen=True)
class GraphQLContext:
    """Who asks, and the emulator's state the answer comes from."""

    accounts: AccountDirectory
    caller: Keypair
    sessions: SessionRegistry
    vfolders: VFolderStore | None


_FORBIDDEN: Final = "Forbidden operation."
_SUPERADMIN_ONLY: Final = "Forbidden operation. (superadmin privilege required)"
# The example domain's and project's creation text, and the only scaling group.
_DOMAIN_DESCRIPTION: Final = "The default domain"
_GROUP_DESCRIPTION: Final = "The default user group"
_SCALING_GROUP: Final = "default"
_SHMEM: Final = 64 * 2**20


def _ctx(info: GraphQLResolveInfo) -> GraphQLContext:
    context = info.context
    assert isinstance(context, GraphQLContext)
    return context


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# -- objects -----------------------------------------------------------------------------------


def keypair_object(keypair: Keypair, ctx: GraphQLContext) -> dict[str, Any]:
    """A ``KeyPair``."""
    last_used = ctx.accounts.last_used(keypair.access_key)
    main = ctx.accounts.main_keypair(keypair.user)
    return {
        "id": keypair.access_key,
        "user_id": keypair.user.email,
        "full_name": keypair.user.full_name,
        "access_key": keypair.access_key,
        "secret_key": keypair.secret_key,
        "is_active": True,
        "is_admin": keypair.is_admin,
        "is_default": main.access_key == keypair.access_key,
        "resource_policy": keypair.resource_policy,
        "created_at": _iso(ctx.accounts.created_at),
        # The manager stores this one without its timezone (it is UTC).
        "last_used": None if last_used is None else last_used.replace(tzinfo=None).isoformat(),
        "rate_limit": keypair.rate_limit,
        "num_queries": ctx.accounts.num_queries(keypair.access_key),
        "rolling_count": 0,
        "user": str(keypair.user.uuid),
        "projects": [DEFAULT_GROUP_NAME],
        "ssh_public_key": None,
        "concurrency_used": len(ctx.sessions.owned_by(keypair.access_key)),
        "user_info": {"email": keypair.user.email, "full_name": keypair.user.full_name},
        # What the 23.09 manager reports for the example policy.
        "concurrency_limit": 0,
    }


def user_object(user: User, ctx: GraphQLContext) -> dict[str, Any]:
    """A ``User``."""
    created = _iso(ctx.accounts.created_at)
    return {
        "id": str(user.uuid),
        "uuid": str(user.uuid),
        "username": user.username,
        "email": user.email,
        "need_password_change": user.need_password_change,
        "full_name": user.full_name,
        "description": user.description,
        "is_active": user.status == "active",
        "status": user.status,
        "status_info": user.status_info,
        "created_at": created,
        "modified_at": created,
        "domain_name": user.domain_name,
        "role": user.role,
        "resource_policy": user.resource_policy,
        "allowed_client_ip": None,
        "totp_activated": False,
        "totp_activated_at": None,
        "sudo_session_enabled": False,
        "main_access_key": ctx.accounts.main_keypair(user).access_key,
        "groups": [{"id": str(DEFAULT_GROUP_ID), "name": DEFAULT_GROUP_NAME}],
    }


def image_object(image: Image) -> dict[str, Any]:
    """An ``Image``."""
    # The 23.09 manager's digest column is fixed-width text: it answers a trailing blank.
    digest = image.digest + " "
    return {
        "id": str(image.id),
        "name": image.name,
        "humanized_name": image.name,
        "tag": image.tag,
        "registry": image.registry,
        "architecture": image.architecture,
        "is_local": False,
        "digest": digest,
        "labels": image_labels(image),
        "aliases": list(image.aliases),
        "size_bytes": image.size_bytes,
        "resource_limits": [
            {"key": key, "min": low, "max": high}
            for key, (low, high) in image.resource_limits.items()
        ],
        "supported_accelerators": [""],
        "installed": False,
        "installed_agents": [],
        "hash": digest,
    }


def group_object(ctx: GraphQLContext) -> dict[str, Any]:
    """The ``Group`` of the default project."""
    created = _iso(ctx.accounts.created_at)
    return {
        "id": str(DEFAULT_GROUP_ID),
        "name": DEFAULT_GROUP_NAME,
        "description": _GROUP_DESCRIPTION,
        "is_active": True,
        "created_at": created,
        "modified_at": created,
        "domain_name": "default",
        "total_resource_slots": {},
        "allowed_vfolder_hosts": {},
        "integration_id": None,
        "resource_policy": "default",
        "scaling_groups": [],
    }


def domain_object(ctx: GraphQLContext) -> dict[str, Any]:
    """The ``Domain`` of every emulated user."""
    created = _iso(ctx.accounts.created_at)
    return {
        "name": "default",
        "description": _DOMAIN_DESCRIPTION,
        "is_active": True,
        "created_at": created,
        "modified_at": created,
        "total_resource_slots": {},
        "allowed_vfolder_hosts": {},
        "allowed_docker_registries": ["cr.backend.ai"],
        "integration_id": None,
        "scaling_groups": [_SCALING_GROUP],
    }


def _slots(session: EmulatedSession, *, occupied: bool) -> dict[str, str]:
    if occupied and session.status != "RUNNING":
        return {}
    # The manager's ResourceSlot.to_json: each amount as decimal text.
    return {key: str(value) for key, value in session.resources.items()}


def _container_object(session: EmulatedSession) -> dict[str, Any]:
    return {
        "id": str(session.kernel_id),
        "idx": None,
        "role": "master",
        "hostname": "main1",
        "kernel_id": str(session.kernel_id),
        "cluster_idx": 1,
        "local_rank": 0,
        "cluster_role": "main",
        "cluster_hostname": "main1",
        "session_id": str(session.id),
        "image": session.image,
        "architecture": "x86_64",
        "registry": session.registry_name,
        "status": session.status,
        "status_changed": _iso(session.created_at),
        "status_info": None,
        "status_data": None,
        "created_at": _iso(session.created_at),
        "terminated_at": None,
        "starts_at": None,
        "scheduled_at": _iso(session.created_at),
        "abusing_report": None,
        "agent": None,
        "agent_addr": None,
        # A container id is a 64-digit hex string; derive a stable one from the kernel.
        "container_id": hashlib.sha256(session.kernel_id.bytes).hexdigest(),
        "resource_opts": {"shmem": _SHMEM},
        "occupied_slots": _slots(session, occupied=False),
        "live_stat": None,
        "last_stat": None,
        "preopen_ports": [],
    }


def session_object(session: EmulatedSession, ctx: GraphQLContext) -> dict[str, Any]:
    """A ``ComputeSession``."""
    owner = ctx.accounts.keypair(session.owner)
    user = None if owner is None else owner.user
    created = _iso(session.created_at)
    return {
        "id": str(session.id),
        "session_id": str(session.id),
        "main_kernel_id": str(session.kernel_id),
        "tag": session.tag,
        "name": session.name,
        "type": session.session_type.upper(),
        "main_kernel_role": "MAIN",
        "priority": 10,
        "image": session.image,
        "architecture": "x86_64",
        "registry": session.registry_name,
        "cluster_template": None,
        "cluster_mode": "single-node",
        "cluster_size": 1,
        "domain_name": "default",
        "group_name": DEFAULT_GROUP_NAME,
        "group_id": str(DEFAULT_GROUP_ID),
        "user_email": None if user is None else user.email,
        "full_name": None if user is None else user.full_name,
        "user_id": str(session.user_id),
        "access_key": session.owner,
        "created_user_email": None,
        "created_user_id": None,
        "status": session.status,
        # The emulator schedules at once: every transition so far happened at creation.
        "status_changed": created,
        "status_info": None,
        "status_data": {},
        "status_history": {"PENDING": created, "SCHEDULED": created, session.status: created},
        "created_at": created,
        "terminated_at": None,
        "starts_at": None,
        "scheduled_at": created,
        "startup_command": None,
        "result": "UNDEFINED",
        "commit_status": None,
        "abusing_reports": [],
        "idle_checks": {},
        "agent_ids": [],
        "agents": [],
        "resource_opts": {"main1": {"shmem": _SHMEM}},
        "scaling_group": _SCALING_GROUP,
        "service_ports": [],
        "mounts": [],
        "vfolder_mounts": [],
        "occupying_slots": _slots(session, occupied=True),
        "occupied_slots": _slots(session, occupied=True),
        "requested_slots": _slots(session, occupied=False),
        "num_queries": session.kernel.num_queries_executed,
        "containers": [_container_object(session)],
        "dependencies": [],
        "inference_metrics": None,
    }


def _folder_object(folder: Any) -> dict[str, Any]:
    user_owned = folder.user is not None
    return {
        "id": str(folder.id),
        "host": folder.host,
        "quota_scope_id": (f"user:{folder.user}" if user_owned else f"project:{folder.group}"),
        "name": folder.name,
        "user": str(folder.user) if user_owned else None,
        "user_email": folder.creator if user_owned else None,
        "group": None if folder.group is None else str(folder.group),
        "group_name": None if folder.group is None else DEFAULT_GROUP_NAME,
        "creator": folder.creator,
        "domain_name": "default",
        "unmanaged_path": None,
        "usage_mode": folder.usage_mode,
        "permission": folder.permission,
        "ownership_type": "user" if user_owned else "group",
        "max_files": 0,
        "max_size": folder.max_size,
        "created_at": _iso(folder.created_at),
        "last_used": None,
        # The manager does not count files here: its resolver answers 0.
        "num_files": 0,
        "cur_size": 0,
        "cloneable": folder.cloneable,
        "status": "ready",
    }


# -- scoping -----------------------------------------------------------------------------------


def _scope(ctx: GraphQLContext, given: str | None, own: str, domain_name: str | None) -> str | None:
    """The manager's scoped_query: whose rows a list may show (None: everyone's).

    A superadmin may name anyone (or no one: all); anyone else sees their own rows, and naming
    another user, or another domain, is forbidden.
    """
    other_domain = domain_name is not None and domain_name != ctx.caller.user.domain_name
    if other_domain and not ctx.caller.is_superadmin:
        raise ResolverError(_FORBIDDEN)
    if ctx.caller.is_superadmin:
        return given
    if given is not None and given != own:
        raise ResolverError(_FORBIDDEN)
    return own


def _listing(
    rows: list[dict[str, Any]],
    limit: int,
    offset: int,
    filter_: str | None,
    order: str | None,
    *,
    fields: Iterable[str],
    enums: Iterable[str] = (),
) -> dict[str, Any]:
    allowed = frozenset(fields)
    try:
        chosen = filter_rows(rows, filter_, allowed, frozenset(enums))
        return page(order_rows(chosen, order, allowed), limit, offset)
    except ListingError as exc:
        raise ResolverError(str(exc)) from None


def _in_domain(user: User, domain_name: str | None) -> bool:
    return domain_name is None or user.domain_name == domain_name


# -- root fields -------------------------------------------------------------------------------


def _keypair(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    access_key = args.get("access_key") or ctx.caller.access_key
    if access_key != ctx.caller.access_key and not ctx.caller.is_superadmin:
        raise ResolverError(_FORBIDDEN)
    keypair = ctx.accounts.keypair(access_key)
    return None if keypair is None else keypair_object(keypair, ctx)


def _visible_keypairs(
    ctx: GraphQLContext, email: str | None, domain_name: str | None
) -> list[Keypair]:
    email = _scope(ctx, email, ctx.caller.user.email, domain_name)
    return [
        keypair
        for keypair in ctx.accounts.keypairs()
        if (email is None or keypair.user.email == email) and _in_domain(keypair.user, domain_name)
    ]


def _keypairs(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    found = _visible_keypairs(ctx, args.get("email"), args.get("domain_name"))
    if args.get("is_active") is False:
        found = []
    return [keypair_object(keypair, ctx) for keypair in found]


_KEYPAIR_FIELDS: Final = (
    "access_key", "user_id", "email", "full_name", "is_active", "is_admin",
    "resource_policy", "created_at", "last_used", "rate_limit", "num_queries", "user",
    "projects", "concurrency_used", "ssh_public_key",
)  # fmt: skip


def _keypair_list(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    found = _visible_keypairs(ctx, args.get("email"), args.get("domain_name"))
    if args.get("is_active") is False:
        found = []
    rows = [{**keypair_object(kp, ctx), "email": kp.user.email} for kp in found]
    return _listing(
        rows, args["limit"], args["offset"], args.get("filter"), args.get("order"),
        fields=_KEYPAIR_FIELDS,
    )  # fmt: skip


def _user(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    email = args.get("email") or ctx.caller.user.email
    if email != ctx.caller.user.email and not ctx.caller.is_superadmin:
        raise ResolverError(_FORBIDDEN)
    user = ctx.accounts.user_by_email(email)
    return None if user is None else user_object(user, ctx)


def _users(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    role = ctx.caller.user.role
    domain_name = args.get("domain_name")
    if role == "admin":
        if domain_name is not None and domain_name != ctx.caller.user.domain_name:
            raise ResolverError("Insufficient privilege.")
        domain_name = ctx.caller.user.domain_name
    elif role != "superadmin":
        # Users cannot query other users.
        raise ResolverError("Insufficient privilege.")
    group_id = args.get("group_id")
    if group_id is not None and str(group_id) != str(DEFAULT_GROUP_ID):
        return []
    found = [
        user
        for user in ctx.accounts.users()
        if _in_domain(user, domain_name)
        and (args.get("is_active") is None or (user.status == "active") == args["is_active"])
        and (args.get("status") is None or user.status == args["status"])
    ]
    return [user_object(user, ctx) for user in found]


def _images(info: GraphQLResolveInfo, **args: Any) -> Any:
    if args.get("is_installed") is True:
        # No agent has pulled anything.
        return []
    return [image_object(image) for image in IMAGES]


def _image(info: GraphQLResolveInfo, **args: Any) -> Any:
    reference = args["reference"]
    image = find_image(reference)
    if image is not None:
        return image_object(image)
    try:
        canonical = canonical_reference(reference)
    except InternalServerError:
        raise ResolverError("Internal server error.") from None
    raise ResolverError(
        "No such environment image. (Unknown image references: "
        f"ref:{canonical!r}, alias:{reference!r})"
    )


def _agents(info: GraphQLResolveInfo, **args: Any) -> Any:
    if not _ctx(info).caller.is_superadmin:
        raise ResolverError(_SUPERADMIN_ONLY)
    # The emulator runs sessions itself: it has no agents.
    return []


def _agent(info: GraphQLResolveInfo, **args: Any) -> Any:
    if not _ctx(info).caller.is_superadmin:
        raise ResolverError(_SUPERADMIN_ONLY)
    return None


def _groups(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    if args.get("is_active") is False or args.get("domain_name") not in (None, "default"):
        return []
    return [group_object(ctx)]


def _group(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    if str(args["id"]) != str(DEFAULT_GROUP_ID) or args.get("domain_name") not in (None, "default"):
        return None
    return group_object(ctx)


def _domain(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    name = args.get("name") or ctx.caller.user.domain_name
    if name != ctx.caller.user.domain_name and not ctx.caller.is_superadmin:
        raise ResolverError("No such domain.")
    return domain_object(ctx) if name == "default" else None


def _domains(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    if not ctx.caller.is_superadmin:
        raise ResolverError(_SUPERADMIN_ONLY)
    return [] if args.get("is_active") is False else [domain_object(ctx)]


def _all_sessions(ctx: GraphQLContext) -> list[EmulatedSession]:
    owners = {keypair.access_key for keypair in ctx.accounts.keypairs()}
    found = [session for owner in sorted(owners) for session in ctx.sessions.owned_by(owner)]
    # The manager's default order: the newest first.
    return sorted(found, key=lambda session: session.created_at, reverse=True)


def _compute_session(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    wanted = str(args["id"])
    for session in _all_sessions(ctx):
        if str(session.id) == wanted and (
            ctx.caller.is_superadmin or session.owner == ctx.caller.access_key
        ):
            return session_object(session, ctx)
    return None


_SESSION_FIELDS: Final = (
    "id", "type", "name", "image", "agent_ids", "agent_id", "agents", "domain_name",
    "group_name", "user_email", "full_name", "access_key", "scaling_group", "cluster_mode",
    "cluster_size", "status", "status_info", "result", "created_at", "terminated_at",
    "starts_at", "scheduled_at", "startup_command",
)  # fmt: skip


def _compute_session_list(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    access_key = _scope(ctx, args.get("access_key"), ctx.caller.access_key, args.get("domain_name"))
    statuses = None if args.get("status") is None else set(args["status"].split(","))
    group_id = args.get("group_id")
    rows = [
        {**session_object(session, ctx), "agent_id": []}
        for session in _all_sessions(ctx)
        if (access_key is None or session.owner == access_key)
        and (statuses is None or session.status in statuses)
        and (group_id is None or group_id == str(DEFAULT_GROUP_ID))
        and args.get("domain_name") in (None, "default")
    ]
    return _listing(
        rows, args["limit"], args["offset"], args.get("filter"), args.get("order"),
        fields=_SESSION_FIELDS, enums=("type", "status", "result"),
    )  # fmt: skip


_VFOLDER_FIELDS: Final = (
    "id", "host", "quota_scope_id", "name", "group", "group_name", "user", "user_email",
    "creator", "unmanaged_path", "usage_mode", "permission", "ownership_type", "max_files",
    "max_size", "created_at", "last_used", "cloneable", "status", "cur_size",
)  # fmt: skip


def _vfolder_list(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    user_id = _scope(ctx, None, str(ctx.caller.user.uuid), args.get("domain_name"))
    domain_name = args.get("domain_name") if ctx.caller.is_superadmin else "default"
    group_id = args.get("group_id")
    folders = [] if ctx.vfolders is None else list(ctx.vfolders.folders.values())
    rows = [
        _folder_object(folder)
        for folder in folders
        # Folders shared with the user are not theirs: the manager lists owned ones only.
        if (user_id is None or str(folder.user) == user_id)
        # The manager scopes a domain through the owning user: project folders drop out.
        and (domain_name is None or folder.user is not None)
        and (group_id is None or str(folder.group) == str(group_id))
    ]
    # The manager's default order: the newest first.
    rows.sort(key=lambda row: str(row["created_at"]), reverse=True)
    return _listing(
        rows, args["limit"], args["offset"], args.get("filter"), args.get("order"),
        fields=_VFOLDER_FIELDS,
    )  # fmt: skip


#: The root value: each root field's resolver, called as ``resolver(info, **arguments)``.
ROOT_RESOLVERS: Final[Mapping[str, Callable[..., Any]]] = {
    "agent": _agent,
    "agents": _agents,
    "domain": _domain,
    "domains": _domains,
    "group": _group,
    "groups": _groups,
    "image": _image,
    "images": _images,
    "user": _user,
    "users": _users,
    "keypair": _keypair,
    "keypairs": _keypairs,
    "keypair_list": _keypair_list,
    "vfolder_list": _vfolder_list,
    "compute_session": _compute_session,
    "compute_session_list": _compute_session_list,
}
