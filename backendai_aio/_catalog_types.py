"""The typed answers of ``client.templates``, ``client.resources`` and ``client.auth``.

Mappings as the manager answers them (23.09 to 26.09); ``Any`` only where its shape is
open (a template's body, a slot's metadata).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypeAlias, TypedDict, final

__all__ = [
    "ContainerUsage",
    "CreatedTemplate",
    "GroupUsage",
    "KernelUsage",
    "ProjectUsage",
    "ResourceSlotInfo",
    "SSHKeypair",
    "SSHPublicKey",
    "ScalingGroupEntry",
    "SessionUsage",
    "TemplateEntry",
    "TemplateInfo",
    "TemplateKind",
    "UsageRecord",
    "UsageTotals",
]

#: Which templates a [`Templates`][backendai_aio.Templates] call is about.
TemplateKind: TypeAlias = Literal["session", "cluster"]


class CreatedTemplate(TypedDict):
    """A template just created: its id (hex, no dashes) and its owner's user id."""

    id: str
    user: str


class TemplateEntry(TypedDict):
    """One template of a listing."""

    id: str
    name: str
    created_at: str
    is_owner: bool
    user: str | None
    group: str | None
    user_email: str | None
    group_name: str | None
    domain_name: NotRequired[str]
    #: ``task`` for session templates; ``user`` or ``group`` for cluster templates.
    type: str
    #: The template body (session templates only).
    template: NotRequired[dict[str, Any]]


class TemplateInfo(TypedDict):
    """A session template fetched by id (a cluster template answers its body alone)."""

    template: dict[str, Any]
    name: str
    user_uuid: str
    group_id: str
    domain_name: str


class ScalingGroupEntry(TypedDict):
    """A resource group the caller may start sessions in."""

    name: str


class ResourceSlotInfo(TypedDict):
    """How a resource slot is shown (``/config/resource-slots/details``)."""

    slot_name: str
    description: str
    human_readable_name: str
    display_unit: str
    number_format: dict[str, Any]
    display_icon: str


class ContainerUsage(TypedDict):
    """One session's use of resources over the period asked for."""

    id: str
    session_id: str
    name: str
    access_key: str
    email: str | None
    full_name: str | None
    domain_name: str
    group_id: str
    group_name: str
    cpu_allocated: float
    cpu_used: float
    mem_allocated: int
    mem_used: int
    gpu_allocated: float
    io_read: int
    io_write: int
    #: ``None`` while the session lives.
    used_time: str | None
    used_days: int | None
    image_name: str
    created_at: str
    terminated_at: str
    status: str


# Final, so that type checkers tell it from `ProjectUsage` by ``"sessions" in entry``.
@final
class GroupUsage(TypedDict):
    """A project's use of resources over a period, with its sessions in ``c_infos``."""

    domain_name: str
    g_id: str
    g_name: str
    g_cpu_allocated: float
    g_cpu_used: float
    g_mem_allocated: int
    g_mem_used: int
    g_gpu_allocated: float
    g_io_read: int
    g_io_write: int
    c_infos: list[ContainerUsage]


class UsageTotals(TypedDict):
    """What a 26.09 usage record adds up (``total_usage``)."""

    nfs: list[Any]
    cpu_allocated: float
    cpu_used: float
    mem_allocated: int
    mem_used: int
    shared_memory: int
    disk_allocated: int
    disk_used: int
    io_read: int
    io_write: int
    device_type: list[str]
    smp: float
    gpu_mem_allocated: float
    gpu_allocated: float


class UsageRecord(TypedDict):
    """A 26.09 usage record: a project, a session or a kernel (``group_unit``) and its totals.

    A project's record repeats the fields of the first session it counts; its
    ``container_ids`` and ``images`` are those of all its sessions.
    """

    group_unit: str
    project_id: str
    project_name: str | None
    domain_name: str | None
    session_id: str | None
    session_name: str | None
    kernel_id: str | None
    container_ids: list[str]
    access_key: str | None
    user_id: str | None
    user_email: str | None
    full_name: str | None
    images: list[str]
    agents: list[str]
    created_at: str | None
    scheduled_at: str | None
    terminated_at: str | None
    used_time: str | None
    used_days: int | None
    status: str | None
    status_info: str | None
    #: The manager prints the history's dict as Python text, not JSON.
    status_history: str | None
    cluster_mode: str | None
    last_stat: Any
    extra_info: dict[str, Any]
    total_usage: UsageTotals


class KernelUsage(UsageRecord):
    """A kernel's record in a 26.09 period answer."""

    agent: str | None


class SessionUsage(UsageRecord):
    """A session's record in a 26.09 period answer, its kernels by id."""

    kernels: dict[str, KernelUsage]


@final
class ProjectUsage(UsageRecord):
    """A project's use of resources over a period as 26.09 answers it, its sessions by id."""

    sessions: dict[str, SessionUsage]


class SSHPublicKey(TypedDict):
    """The keypair's SSH public key (empty when it has none)."""

    ssh_public_key: str


class SSHKeypair(TypedDict):
    """An SSH keypair just generated or uploaded (what sessions install for SSH/SFTP)."""

    ssh_public_key: str
    ssh_private_key: str
