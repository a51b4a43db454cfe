"""The emulator's state as GraphQL objects: dictionaries keyed by the manager's field names.

graphql-core picks the selected fields out of them (its default resolver reads mapping keys).
Values are what the manager answers for the same rows: its enum names (``INTERACTIVE``,
``UNDEFINED``), ISO times, and JSON-able values for its ``JSONString`` fields.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ._accounts import DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME, AccountDirectory, Keypair, User
from ._images import Image, image_labels
from ._services import ServiceRegistry
from ._sessions import EmulatedSession, SessionRegistry
from ._vfolders import VFolderStore

__all__ = [
    "GraphQLContext",
    "domain_object",
    "folder_object",
    "group_object",
    "image_object",
    "keypair_object",
    "session_object",
    "user_object",
]


@dataclass(frozen=True)
class GraphQLContext:
    """Who asks, and the emulator's state the answer comes from."""

    accounts: AccountDirectory
    caller: Keypair
    sessions: SessionRegistry
    vfolders: VFolderStore | None
    #: The model services (None: the application serves none).
    services: ServiceRegistry | None = None
    #: The release profile's name (``"23.09"`` or ``"26.9"``), for answers that differ.
    release: str = "26.9"


# The example domain's and project's creation text, and the only scaling group.
_DOMAIN_DESCRIPTION: Final = "The default domain"
_GROUP_DESCRIPTION: Final = "The default user group"
_SCALING_GROUP: Final = "default"
_SHMEM: Final = 64 * 2**20


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
        "container_uid": None,
        "container_main_gid": None,
        "container_gids": None,
        "groups": [{"id": str(DEFAULT_GROUP_ID), "name": DEFAULT_GROUP_NAME}],
    }


def _tag_pair(part: str) -> dict[str, str]:
    # ``ubuntu20.04`` is the key ``ubuntu`` with the value ``20.04``.
    name = part.rstrip("0123456789.")
    return {"key": name, "value": part[len(name) :]}


def image_object(image: Image) -> dict[str, Any]:
    """An ``Image``."""
    # The 23.09 manager's digest column is fixed-width text: it answers a trailing blank.
    digest = image.digest + " "
    return {
        "id": str(image.id),
        "name": image.name,
        "namespace": image.name.rpartition("/")[0],
        "base_image_name": image.name.rpartition("/")[2],
        "project": None,
        "humanized_name": image.name,
        "tag": image.tag,
        "registry": image.registry,
        "architecture": image.architecture,
        "is_local": False,
        # 26.9's split of the tag (``3.9-ubuntu20.04``): its version, then the other parts.
        "version": image.tag.partition("-")[0],
        "tags": [_tag_pair(part) for part in image.tag.split("-")[1:]],
        "status": "ALIVE",
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
        "type": "GENERAL",
        "container_registry": {},
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
        "status_history": dict(session.status_history),
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


def folder_object(folder: Any) -> dict[str, Any]:
    """A ``VirtualFolder`` (*folder* is one of the store's folders)."""
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
