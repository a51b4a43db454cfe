"""What a caller may use: resource groups, slots, folder types, and usage statistics.

As the 23.09 and 26.09 managers answer them for the example setup:

- ``GET /scaling-groups`` (``group``, also ``group_id`` / ``group_name``: a project's name or
  id): ``{"scaling_groups": [{"name": "default"}]}`` for the default project, the only one
  every emulated user belongs to; no group for any other project.
- ``GET /config/resource-slots``: ``{"cpu": "count", "mem": "bytes"}``, the slots the
  emulator knows; ``/config/resource-slots/details`` (``sgroup``): how each is shown, the
  manager's metadata of ``cpu`` and ``mem``.
- ``GET /config/vfolder-types``: ``["user", "group"]``.
- ``GET /resource/usage/month`` (``month`` ``YYYYMM``, ``group_ids`` repeated or
  comma-separated) and ``/resource/usage/period`` (``start_date``, ``end_date``:
  ``YYYYMMDD``, both included, at most 100 days; ``group_id``), a superadmin's only
  (else, on 23.09, 401 "Unauthorized access"; on 26.9, 403 "Insufficient privileges").
  23.09 requires the project keys (``group_ids`` for a month, ``group_id`` for a period:
  without them, 400 ``{"group_ids": "is required"}``); 26.9 takes every project. Per
  project, the sessions that lived in the period (terminated in it, or still alive and
  created before its end), computed from the emulator's session records. Times are UTC.
  26.9 answers a period as the manager's nested records instead: per project, its sessions
  by id, each with its kernels, every record with its ``total_usage``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from aiohttp import web

from ._accounts import ACCOUNTS_KEY, DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME, is_default_project
from ._auth import current_keypair
from ._params import alias, read_checked_params
from ._problems import AuthorizationFailed, GenericForbidden, InvalidAPIParameters
from ._sessions import REGISTRY_KEY, SERVER_VERSION_KEY, EmulatedSession
from ._validation import Key, null_or, regexp, string, validate

__all__ = ["RESOURCE_GROUP", "add_catalog_routes"]

#: The catalog routes: resource groups, slots, folder types and usage.
routes = web.RouteTableDef()

#: The emulator's only resource group (scaling group).
RESOURCE_GROUP: Final = "default"
_SLOT_UNITS: Final = {"cpu": "count", "mem": "bytes"}
# The manager's preconfigured metadata of the slots the emulator knows.
_SLOT_DETAILS: Final = {
    "cpu": {
        "slot_name": "cpu",
        "description": "CPU",
        "human_readable_name": "CPU",
        "display_unit": "Core",
        "number_format": {"binary": False, "round_length": 0},
        "display_icon": "cpu",
    },
    "mem": {
        "slot_name": "ram",
        "description": "Memory",
        "human_readable_name": "RAM",
        "display_unit": "GiB",
        "number_format": {"binary": True, "round_length": 0},
        "display_icon": "cpu",
    },
}
_VFOLDER_TYPES: Final = ["user", "group"]
_MAX_PERIOD: Final = timedelta(days=100)
_LIVE: Final = frozenset({"PENDING", "PREPARING", "RUNNING", "RESTARTING", "TERMINATING"})


@routes.get("/scaling-groups")
async def _scaling_groups(request: web.Request) -> web.Response:
    params = await read_checked_params(request)
    group = alias(params, "group", "group_id", "group_name")
    if not isinstance(group, str) or not group:
        raise InvalidAPIParameters("Input validation error", data={"group": "is required"})
    names = [RESOURCE_GROUP] if is_default_project(group) else []
    return web.json_response({"scaling_groups": [{"name": name} for name in names]})


@routes.get("/config/resource-slots")
async def _resource_slots(request: web.Request) -> web.Response:
    return web.json_response(_SLOT_UNITS)


@routes.get("/config/resource-slots/details")
async def _resource_slot_details(request: web.Request) -> web.Response:
    validate(await read_checked_params(request), [Key.of("sgroup", null_or(string()), None)])
    return web.json_response(_SLOT_DETAILS)


@routes.get("/config/vfolder-types")
async def _vfolder_types(request: web.Request) -> web.Response:
    return web.json_response(_VFOLDER_TYPES)


def _is_2309(request: web.Request) -> bool:
    return request.app[SERVER_VERSION_KEY].major < 8


def _superadmin_only(request: web.Request) -> None:
    if not current_keypair(request).is_superadmin:
        if _is_2309(request):
            raise AuthorizationFailed("Unauthorized access")
        raise GenericForbidden("Insufficient privileges")


def _project_key(request: web.Request, name: str) -> Key:
    """The project key of a usage call: required on 23.09 (null allowed), optional later."""
    if _is_2309(request):
        return Key.of(name, null_or(string()))
    return Key.of(name, null_or(string()), None)


def _day(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidAPIParameters("Invalid date values") from None


def _container(request: web.Request, session: EmulatedSession) -> dict[str, Any]:
    keypair = request.app[ACCOUNTS_KEY].keypair(session.owner)
    ended = session.terminated_at
    used = None if ended is None else ended - session.created_at
    return {
        "id": str(session.kernel_id),
        "session_id": str(session.id),
        "container_id": None,
        "domain_name": "default",
        "group_id": str(DEFAULT_GROUP_ID),
        "group_name": DEFAULT_GROUP_NAME,
        "name": session.name,
        "access_key": session.owner,
        "email": None if keypair is None else keypair.user.email,
        "full_name": None if keypair is None else keypair.user.full_name,
        "agent": None,
        "cpu_allocated": float(session.resources.get("cpu", Decimal(0))),
        "cpu_used": 0.0,
        "mem_allocated": int(session.resources.get("mem", Decimal(0))),
        "mem_used": 0,
        "shared_memory": 0,
        "disk_allocated": 0,
        "disk_used": 0,
        "io_read": 0,
        "io_write": 0,
        "used_time": None if used is None else str(used),
        "used_days": None
        if ended is None
        else ended.toordinal() - session.created_at.toordinal() + 1,
        "device_type": [],
        "smp": 0.0,
        "gpu_mem_allocated": 0.0,
        "gpu_allocated": 0.0,
        "nfs": [],
        "image_id": session.image,
        "image_name": session.image,
        "created_at": str(session.created_at),
        "terminated_at": str(ended),
        "status": session.status,
        "status_info": None,
        "status_changed": str(ended or session.created_at),
        "status_history": {},
        "cluster_mode": "single-node",
    }


_SUMMED: Final = (
    "cpu_allocated", "cpu_used", "mem_allocated", "mem_used", "shared_memory",
    "disk_allocated", "disk_used", "io_read", "io_write", "smp", "gpu_mem_allocated",
    "gpu_allocated",
)  # fmt: skip
# The keys of a 26.9 usage record's ``total_usage``.
_TOTALS: Final = (*_SUMMED, "nfs", "device_type")


def _lived(
    request: web.Request, start: datetime, end: datetime, group_ids: Iterable[str] | None
) -> list[EmulatedSession]:
    """The sessions that lived in [*start*, *end*), in the order they ended."""
    if group_ids is not None and not any(is_default_project(g) for g in group_ids):
        return []
    sessions = []
    for session in request.app[REGISTRY_KEY].every_session():
        ended = session.terminated_at
        if session.created_at >= end:
            continue
        if (ended is not None and ended >= start) or (ended is None and session.status in _LIVE):
            sessions.append(session)
    sessions.sort(key=lambda s: s.terminated_at or datetime.max.replace(tzinfo=UTC))
    return sessions


def _usage(infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The 23.09 shape: a project's sums (``g_*``) and its sessions (*infos*) in ``c_infos``."""
    if not infos:
        return []
    group: dict[str, Any] = {
        "domain_name": "default",
        "g_id": str(DEFAULT_GROUP_ID),
        "g_name": DEFAULT_GROUP_NAME,
        "g_device_type": [],
        "c_infos": infos,
    }
    for key in _SUMMED:
        group["g_" + key] = sum(info[key] for info in infos)
    return [group]


def _record(
    session: EmulatedSession, info: dict[str, Any], unit: str, totals: dict[str, Any]
) -> dict[str, Any]:
    """One 26.9 usage record (of a kernel, a session or a project) from a ``c_infos`` entry."""
    return {
        "created_at": info["created_at"],
        "used_time": info["used_time"],
        "used_days": info["used_days"],
        "user_id": str(session.user_id),
        "user_email": info["email"],
        "access_key": info["access_key"],
        "project_id": info["group_id"],
        "project_name": info["group_name"],
        "kernel_id": info["id"],
        "container_ids": [info["id"]],
        "session_id": info["session_id"],
        "session_name": info["name"],
        "domain_name": info["domain_name"],
        "last_stat": None,
        "extra_info": {},
        "full_name": info["full_name"],
        "images": [info["image_name"]],
        "agents": [],
        "status": info["status"],
        "status_info": info["status_info"],
        # The manager prints the row's history dict (with Python's quotes), not JSON.
        "status_history": str(session.status_history),
        "cluster_mode": info["cluster_mode"],
        "scheduled_at": None,
        "terminated_at": info["terminated_at"],
        "total_usage": totals,
        "group_unit": unit,
    }


def _project_usage(
    sessions: list[EmulatedSession], infos: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The 26.9 shape of a period: per project, its sessions, each with its kernels.

    As the manager builds it, the project's record repeats its first session's fields
    (the record it grew from) with the project's totals and every session's containers.
    """
    if not infos:
        return []
    records = {}
    for session, info in zip(sessions, infos, strict=True):
        totals = {key: info[key] for key in _TOTALS}
        kernel = _record(session, info, "kernel", totals) | {"agent": None}
        records[info["session_id"]] = _record(session, info, "session", totals) | {
            "kernels": {info["id"]: kernel}
        }
    totals = {key: _total(infos, key) for key in _TOTALS}
    project = _record(sessions[0], infos[0], "project", totals)
    project["container_ids"] = [info["id"] for info in infos]
    project["images"] = sorted({info["image_name"] for info in infos})
    project["sessions"] = records
    return [project]


def _total(infos: list[dict[str, Any]], key: str) -> Any:
    if key in _SUMMED:
        return sum(info[key] for info in infos)
    return sorted({item for info in infos for item in info[key]})


@routes.get("/resource/usage/month")
async def _usage_per_month(request: web.Request) -> web.Response:
    _superadmin_only(request)
    params = validate(
        await read_checked_params(request),
        [
            Key.of("month", regexp(r"^\d{6}")),
            _project_key(request, "group_ids"),
        ],
    )
    try:
        start = datetime.strptime(params["month"][:6], "%Y%m").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidAPIParameters("Invalid date values") from None
    end = (start + timedelta(days=32)).replace(day=1)
    # The manager reads the repeated key (group_ids=a&group_ids=b); the official SDK sends
    # the ids joined by commas, which is taken too.
    raw_ids = request.query.getall("group_ids", []) or [params["group_ids"] or ""]
    group_ids = [g for raw in raw_ids for g in raw.split(",") if g] or None
    sessions = _lived(request, start, end, group_ids)
    return web.json_response(_usage([_container(request, session) for session in sessions]))


@routes.get("/resource/usage/period")
async def _usage_per_period(request: web.Request) -> web.Response:
    _superadmin_only(request)
    params = validate(
        await read_checked_params(request),
        [
            _project_key(request, "group_id"),
            Key.of("start_date", regexp(r"^\d{8}$")),
            Key.of("end_date", regexp(r"^\d{8}$")),
        ],
    )
    start = _day(params["start_date"])
    end = _day(params["end_date"]) + timedelta(days=1)
    if end - start > _MAX_PERIOD:
        raise InvalidAPIParameters("Cannot query more than 100 days")
    if end <= start:
        raise InvalidAPIParameters("end_date must be later than start_date.")
    group_ids = None if params["group_id"] is None else [params["group_id"]]
    sessions = _lived(request, start, end, group_ids)
    infos = [_container(request, session) for session in sessions]
    if _is_2309(request):
        return web.json_response(_usage(infos))
    return web.json_response(_project_usage(sessions, infos))


def add_catalog_routes(app: web.Application) -> None:
    """Install ``/scaling-groups``, the ``/config`` slot and folder-type calls, and usage."""
    app.add_routes(routes)
