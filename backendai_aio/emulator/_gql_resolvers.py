"""Resolvers of the emulator's GraphQL root fields, over the emulator's live state.

Each root field of `_gql_schema` is answered from the accounts, the images, the
sessions and the virtual folders the rest of the emulator serves, with the manager's scoping:
a plain user sees their own keypair, sessions and folders; a superadmin sees everyone's and may
name another user (a plain user naming someone else is ``Forbidden operation.``, as on the
manager). The objects answered are built by `_gql_objects`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from graphql import GraphQLResolveInfo

from ._accounts import DEFAULT_GROUP_ID, Keypair, User
from ._gql_listing import ListingError, filter_rows, order_rows, page
from ._gql_objects import (
    GraphQLContext,
    domain_object,
    folder_object,
    group_object,
    image_object,
    keypair_object,
    session_object,
    user_object,
)
from ._images import IMAGES, canonical_reference, find_image
from ._problems import InternalServerError
from ._sessions import EmulatedSession

__all__ = ["ROOT_RESOLVERS", "ResolverError", "listing", "scope_of"]


class ResolverError(Exception):
    """A root field failed: its answer is null and the error names it (with its path)."""


_FORBIDDEN: Final = "Forbidden operation."
_SUPERADMIN_ONLY: Final = "Forbidden operation. (superadmin privilege required)"


def _ctx(info: GraphQLResolveInfo) -> GraphQLContext:
    context = info.context
    assert isinstance(context, GraphQLContext)
    return context


# -- scoping -----------------------------------------------------------------------------------


def scope_of(
    ctx: GraphQLContext, given: str | None, own: str, domain_name: str | None
) -> str | None:
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


def listing(
    rows: list[dict[str, Any]],
    limit: int,
    offset: int,
    filter_: str | None,
    order: str | None,
    *,
    fields: Iterable[str],
    enums: Iterable[str] = (),
) -> dict[str, Any]:
    """``{items, total_count}``: *rows* filtered, ordered and paged as a ``*_list`` field is.

    *fields* are the names ``filter`` and ``order`` may use (*enums*: those compared as enum
    names); a malformed expression is the field's error.
    """
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
    email = scope_of(ctx, email, ctx.caller.user.email, domain_name)
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
    return listing(
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
    # The manager keeps terminated sessions' rows: they are listed with their last status.
    found += [session for session in ctx.sessions.terminated() if session.owner in owners]
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
    access_key = scope_of(
        ctx, args.get("access_key"), ctx.caller.access_key, args.get("domain_name")
    )
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
    return listing(
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
    user_id = scope_of(ctx, None, str(ctx.caller.user.uuid), args.get("domain_name"))
    domain_name = args.get("domain_name") if ctx.caller.is_superadmin else "default"
    group_id = args.get("group_id")
    folders = [] if ctx.vfolders is None else list(ctx.vfolders.folders.values())
    rows = [
        folder_object(folder)
        for folder in folders
        # Folders shared with the user are not theirs: the manager lists owned ones only.
        if (user_id is None or str(folder.user) == user_id)
        # The manager scopes a domain through the owning user: project folders drop out.
        and (domain_name is None or folder.user is not None)
        and (group_id is None or str(folder.group) == str(group_id))
    ]
    # The manager's default order: the newest first.
    rows.sort(key=lambda row: str(row["created_at"]), reverse=True)
    return listing(
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
