"""The caller's own calls: the auth check, the roles, and the resource presets.

As the 23.09 manager answers them for its example setup:

- ``GET``/``POST`` ``/auth`` and ``/auth/test`` with ``echo`` (JSON body, or the query string
  when there is no body): ``{"authorized": "yes", "echo": ...}``.
- ``GET /auth/role`` (query ``group``, a project id): ``{"global_role": "superadmin" | "user",
  "domain_role": "admin" | "user", "group_role": "user" | null}``; an id of a project the
  caller is not a member of is 404.
- ``GET /resource/presets``: ``{"presets": [{"name", "shared_memory", "resource_slots"}]}``,
  the example fixtures' presets with the slots the manager knows (``cpu``, ``mem``: the
  accelerator slots of the ``cuda`` presets are dropped, as a manager without accelerators
  does) and ``shared_memory`` null, as the example setup answers.
- ``POST /resource/check-presets`` (``group``, the project's name or id, default
  ``default``; ``scaling_group``): ``keypair_limits`` / ``keypair_using`` /
  ``keypair_remaining``, ``scaling_group_remaining``, ``scaling_groups`` (``{"default":
  {"using", "remaining"}}``), ``presets`` (each with ``allocatable``) and ``group_limits`` /
  ``group_using`` / ``group_remaining``. Slot amounts
  are strings: the example resource policy is unlimited (``"Infinity"``), the project's
  figures are hidden (``"NaN"``), and ``keypair_using`` adds up the caller's sessions. The
  emulator registers no agents (its sessions run in the emulator itself), so like a manager
  without agents it has nothing remaining in its scaling group and no preset is allocatable.
  The 26.9 profile requires ``group`` and reads it as a project name: without it 400
  ``invalid-api-params``; a name (or id) that names no project of the caller, 404
  ``project-not-found``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from aiohttp import web

from ._accounts import DEFAULT_GROUP_NAME, is_default_project
from ._auth import current_keypair
from ._params import read_checked_params
from ._problems import InternalServerError, InvalidAPIParameters, Project26NotFound, ProjectNotFound
from ._releases import RELEASE_KEY
from ._sessions import KNOWN_SLOTS, REGISTRY_KEY
from ._validation import Key, null_or, string, uuid_string, validate

__all__ = ["PRESETS", "add_account_routes"]

#: The caller's own calls: ``/auth``, ``/auth/test``, ``/auth/role`` and the presets.
routes = web.RouteTableDef()

# The example fixtures' presets (``example-resource-presets.json``), slot amounts as text.
PRESETS: Final = (
    ("cpu01-small", {"cpu": "1", "mem": "1073741824"}),
    ("cpu02-medium", {"cpu": "4", "mem": "8589934592"}),
    ("cpu03-large", {"cpu": "8", "mem": "17179869184"}),
    ("cuda01-small", {"cpu": "1", "mem": "4294967296", "cuda.device": "1", "cuda.shares": "0.5"}),
    ("cuda02-medium", {"cpu": "4", "mem": "17179869184", "cuda.device": "2", "cuda.shares": "2.0"}),
    ("cuda03-large", {"cpu": "8", "mem": "34359738368", "cuda.device": "4", "cuda.shares": "4.0"}),
)
_SCALING_GROUPS: Final = ("default",)


def _known(slots: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in slots.items() if key in KNOWN_SLOTS}


def _slots_text(amount: Decimal | str) -> dict[str, str]:
    return {slot: str(amount) for slot in KNOWN_SLOTS}


@routes.post("/auth/test")
@routes.get("/auth/test")
@routes.post("/auth")
@routes.get("/auth")
async def _auth_test(request: web.Request) -> web.Response:
    params = validate(await read_checked_params(request), [Key.of("echo", string())])
    return web.json_response({"authorized": "yes", "echo": params["echo"]})


@routes.get("/auth/role")
async def _get_role(request: web.Request) -> web.Response:
    params = validate(
        await read_checked_params(request), [Key.of("group", null_or(uuid_string()), None)]
    )
    keypair = current_keypair(request)
    group_role = None
    if params["group"] is not None:
        # Every emulated user is a member of the default project, and of no other.
        if not is_default_project(params["group"]):
            raise ProjectNotFound("No such project or you are not the member of it.")
        group_role = "user"
    return web.json_response(
        {
            "global_role": "superadmin" if keypair.is_superadmin else "user",
            "domain_role": "admin" if keypair.is_admin else "user",
            "group_role": group_role,
        }
    )


@routes.get("/resource/presets")
async def _list_presets(request: web.Request) -> web.Response:
    presets = [
        {"name": name, "shared_memory": None, "resource_slots": _known(slots)}
        for name, slots in PRESETS
    ]
    return web.json_response({"presets": presets})


@routes.post("/resource/check-presets")
async def _check_presets(request: web.Request) -> web.Response:
    raw = await read_checked_params(request)
    if request.app[RELEASE_KEY].presets_need_group_name:
        if not isinstance(raw.get("group"), str):
            # 26.9 parses the body with pydantic and passes its message on.
            raise InvalidAPIParameters(
                "1 validation error for CheckPresetsRequest\ngroup\n  Field required "
                f"[type=missing, input_value={raw!r}, input_type=dict]"
            )
        if raw["group"] != DEFAULT_GROUP_NAME:
            raise Project26NotFound(f"Project not found: {raw['group']}")
    params = validate(
        {k: v for k, v in raw.items() if k in ("scaling_group", "group")}
        if request.app[RELEASE_KEY].presets_need_group_name
        else raw,
        [
            Key.of("scaling_group", null_or(string()), None),
            Key.of("group", string(), "default"),
        ],
    )
    if not is_default_project(params["group"]):
        # The 23.09 manager fails on a project the caller is not a member of.
        raise InternalServerError
    if params["scaling_group"] is not None and params["scaling_group"] not in _SCALING_GROUPS:
        raise InvalidAPIParameters("Unknown scaling group")
    keypair = current_keypair(request)
    using = {slot: Decimal(0) for slot in KNOWN_SLOTS}
    for session in request.app[REGISTRY_KEY].owned_by(keypair.access_key):
        if session.status == "RUNNING":
            for slot in KNOWN_SLOTS:
                using[slot] += session.resources.get(slot, Decimal(0))
    zero = _slots_text(Decimal(0))
    using_text = {slot: str(amount) for slot, amount in using.items()}
    presets = [
        {
            "name": name,
            "resource_slots": _known(slots),
            "shared_memory": None,
            # Allocatable needs an agent with room for it, and the emulator has none.
            "allocatable": False,
        }
        for name, slots in PRESETS
    ]
    return web.json_response(
        {
            "keypair_limits": _slots_text("Infinity"),
            "keypair_using": using_text,
            "keypair_remaining": _slots_text("Infinity"),
            "scaling_group_remaining": zero,
            "scaling_groups": {
                name: {"using": using_text, "remaining": zero}
                for name in (params["scaling_group"] or "default",)
            },
            "presets": presets,
            "group_limits": _slots_text("NaN"),
            "group_using": _slots_text("NaN"),
            "group_remaining": _slots_text("NaN"),
        }
    )


def add_account_routes(app: web.Application) -> None:
    """Install ``/auth``, ``/auth/test``, ``/auth/role`` and the ``/resource`` preset calls."""
    app.add_routes(routes)
