"""The caller's own calls: /auth, /auth/test, /auth/role and the resource presets (raw)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from backendai_aio.emulator import Emulator

from .wire import PROBS, Wire, invalid

pytestmark = pytest.mark.corrected_by_real_manager

DEFAULT_GROUP = "2de2b969-1d04-48a6-af16-0bc8adb3c831"

#: What the real manager answers for GET /resource/presets with the example fixtures: the
#: accelerator slots dropped (no such slots there) and shared_memory null.
PRESETS = [
    {"name": name, "shared_memory": None, "resource_slots": {"cpu": cpu, "mem": mem}}
    for name, cpu, mem in [
        ("cpu01-small", "1", "1073741824"),
        ("cpu02-medium", "4", "8589934592"),
        ("cpu03-large", "8", "17179869184"),
        ("cuda01-small", "1", "4294967296"),
        ("cuda02-medium", "4", "17179869184"),
        ("cuda03-large", "8", "34359738368"),
    ]
]


# -- /auth and /auth/test ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/auth/test", {"echo": "hello"}),
        ("POST", "/auth", {"echo": "hello"}),
        ("GET", "/auth?echo=hello", None),
        ("GET", "/auth/test?echo=hello", None),
    ],
)
async def test_auth_echo(user_wire: Wire, method: str, path: str, body: Any) -> None:
    # Real: {"authorized": "yes", "echo": ...}, the echo from the body or else the query.
    assert await user_wire.call(method, path, body=body) == (
        200,
        {"authorized": "yes", "echo": "hello"},
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "data"),
    [
        ("GET", "/auth", None, {"echo": "is required"}),
        ("POST", "/auth/test", {}, {"echo": "is required"}),
        ("POST", "/auth", {"echo": 5}, {"echo": "value is not a string"}),
        ("POST", "/auth", {"echo": ""}, {"echo": "blank value is not allowed"}),
        ("GET", "/auth/test?echo=x&y=1", None, {"y": "y is not allowed key"}),
    ],
)
async def test_auth_echo_errors(
    admin_wire: Wire, method: str, path: str, body: Any, data: dict[str, str]
) -> None:
    assert await admin_wire.call(method, path, body=body) == (400, invalid(data))


async def test_auth_needs_a_signature(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    async with http.post(emulator.endpoint + "/auth/test", json={"echo": "x"}) as response:
        assert response.status == 400  # no Date header: "Date/time sync error"
        assert (await response.json())["type"] == PROBS + "invalid-auth-params"


# -- /auth/role --------------------------------------------------------------------------------


async def test_roles(admin_wire: Wire, user_wire: Wire) -> None:
    # Real: the superadmin is a domain admin too; the plain user is a user everywhere.
    assert await admin_wire.call("GET", "/auth/role") == (
        200,
        {"global_role": "superadmin", "domain_role": "admin", "group_role": None},
    )
    assert await user_wire.call("GET", f"/auth/role?group={DEFAULT_GROUP}") == (
        200,
        {"global_role": "user", "domain_role": "user", "group_role": "user"},
    )


async def test_role_errors(user_wire: Wire) -> None:
    # Real: another project's id is 404; a malformed id and unknown keys are 400.
    status, problem = await user_wire.call("GET", "/auth/role?group=" + DEFAULT_GROUP[:-1] + "2")
    assert (status, problem) == (
        404,
        {
            "type": PROBS + "object-not-found",
            "title": "No such project (user group).",
            "msg": "No such project or you are not the member of it.",
        },
    )
    status, problem = await user_wire.call("GET", "/auth/role?group=xx")
    assert (status, problem) == (
        400,
        invalid({"group": {"0": "value should be None", "1": "cannot convert value to UUID"}}),
    )
    status, problem = await user_wire.call("GET", "/auth/role?x=1")
    assert (status, problem) == (400, invalid({"x": "x is not allowed key"}))


# -- resource presets --------------------------------------------------------------------------


async def test_list_presets(user_wire: Wire) -> None:
    assert await user_wire.call("GET", "/resource/presets") == (200, {"presets": PRESETS})


async def test_check_presets_shape(user_wire: Wire) -> None:
    # Real (no agents, unlimited policy, hidden project figures): exactly these values.
    status, body = await user_wire.call("POST", "/resource/check-presets", body={})
    zero = {"cpu": "0", "mem": "0"}
    assert status == 200
    assert body == {
        "keypair_limits": {"cpu": "Infinity", "mem": "Infinity"},
        "keypair_using": zero,
        "keypair_remaining": {"cpu": "Infinity", "mem": "Infinity"},
        "scaling_group_remaining": zero,
        "scaling_groups": {"default": {"using": zero, "remaining": zero}},
        "presets": [
            {
                "name": preset["name"],
                "resource_slots": preset["resource_slots"],
                "shared_memory": None,
                "allocatable": False,
            }
            for preset in PRESETS
        ],
        "group_limits": {"cpu": "NaN", "mem": "NaN"},
        "group_using": {"cpu": "NaN", "mem": "NaN"},
        "group_remaining": {"cpu": "NaN", "mem": "NaN"},
    }


async def test_check_presets_counts_the_callers_sessions(user_wire: Wire, admin_wire: Wire) -> None:
    await user_wire.create_session("preset-usage")
    _, body = await user_wire.call(
        "POST", "/resource/check-presets", body={"scaling_group": "default"}
    )
    using = {"cpu": "1", "mem": "335544320"}
    assert body["keypair_using"] == using
    assert body["scaling_groups"]["default"]["using"] == using
    _, body = await admin_wire.call("POST", "/resource/check-presets")
    assert body["keypair_using"] == {"cpu": "0", "mem": "0"}


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            {"scaling_group": "nosg"},
            400,
            {
                "type": PROBS + "invalid-api-params",
                "title": "Missing or invalid API parameters.",
                "msg": "Unknown scaling group",
            },
        ),
        ({"x": 1}, 400, invalid({"x": "x is not allowed key"})),
        # Real: the 23.09 manager fails on a project the caller is not a member of.
        (
            {"group": "nogroup"},
            500,
            {"type": PROBS + "internal-server-error", "title": "Internal server error."},
        ),
    ],
)
async def test_check_presets_errors(
    user_wire: Wire, body: dict[str, Any], status: int, expected: dict[str, Any]
) -> None:
    assert await user_wire.call("POST", "/resource/check-presets", body=body) == (status, expected)


async def test_check_presets_knows_the_default_project_by_its_id(user_wire: Wire) -> None:
    by_name = await user_wire.call("POST", "/resource/check-presets", body={"group": "default"})
    by_id = await user_wire.call("POST", "/resource/check-presets", body={"group": DEFAULT_GROUP})
    assert by_name[0] == by_id[0] == 200
    assert by_id == by_name
