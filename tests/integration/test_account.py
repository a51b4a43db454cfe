"""The account calls against the real manager: auth check, roles, presets and GraphQL."""

from __future__ import annotations

import pytest

from backendai_aio import BadRequestError, Client, GraphQLError, NotFoundError

from ._support import ADMIN_ACCESS_KEY, USER_ACCESS_KEY, Release

DEFAULT_GROUP = "2de2b969-1d04-48a6-af16-0bc8adb3c831"
PRESET_NAMES = [
    "cpu01-small",
    "cpu02-medium",
    "cpu03-large",
    "cuda01-small",
    "cuda02-medium",
    "cuda03-large",
]


async def test_check_auth(admin_client: Client, user_client: Client) -> None:
    assert await admin_client.auth.check("hello") == {"authorized": "yes", "echo": "hello"}
    assert await user_client.auth.check("again") == {"authorized": "yes", "echo": "again"}
    # A signed call reports the keypair's rate limit.
    assert user_client.rate_limit is not None
    assert (user_client.rate_limit.limit, user_client.rate_limit.window) == (30000, 900)


async def test_get_role(admin_client: Client, user_client: Client) -> None:
    assert await admin_client.auth.role() == {
        "global_role": "superadmin",
        "domain_role": "admin",
        "group_role": None,
    }
    assert await user_client.auth.role() == {
        "global_role": "user",
        "domain_role": "user",
        "group_role": None,
    }
    assert (await user_client.auth.role(DEFAULT_GROUP))["group_role"] == "user"
    with pytest.raises(NotFoundError) as exc_info:
        await user_client.auth.role("00000000-0000-0000-0000-000000000000")
    assert exc_info.value.title == "No such project (user group)."


async def test_list_presets(user_client: Client, release: Release) -> None:
    presets = await user_client.resources.presets()
    assert [preset["name"] for preset in presets] == PRESET_NAMES
    first = presets[0]
    if release.is_2309:
        assert first == {
            "name": "cpu01-small",
            "shared_memory": None,
            "resource_slots": {"cpu": "1", "mem": "1073741824"},
        }
        return
    # 26.9 adds the preset's id and lists every known slot type, unused ones as "0".
    assert isinstance(first.pop("id"), str)
    slots = first.pop("resource_slots")
    assert first == {"name": "cpu01-small", "shared_memory": None}
    assert {k: v for k, v in slots.items() if v != "0"} == {"cpu": "1", "mem": "1073741824"}
    assert "cuda.device" in slots


async def test_check_presets(user_client: Client, release: Release) -> None:
    # Without `group`: 26.9 requires one (a project name), the client names the default.
    answer = await user_client.resources.check_presets()
    assert set(answer) == {
        "keypair_limits",
        "keypair_using",
        "keypair_remaining",
        "scaling_group_remaining",
        "scaling_groups",
        "presets",
        "group_limits",
        "group_using",
        "group_remaining",
    }
    limits = answer["keypair_limits"]
    assert {slot: limits[slot] for slot in ("cpu", "mem")} == {"cpu": "Infinity", "mem": "Infinity"}
    # 23.09 lists the configured slots; 26.9 every slot type it knows, none of them limited.
    if release.is_2309:
        assert set(limits) == {"cpu", "mem"}
    else:
        assert set(limits) > {"cpu", "mem"} and set(limits.values()) == {"Infinity"}
    assert set(answer["scaling_groups"]) == {"default"}
    assert [preset["name"] for preset in answer["presets"]] == PRESET_NAMES
    assert all(isinstance(preset["allocatable"], bool) for preset in answer["presets"])
    # An unknown resource group: 400 "Unknown scaling group" on 23.09, 404 on 26.9.
    if release.is_2309:
        with pytest.raises(BadRequestError) as exc_info:
            await user_client.resources.check_presets(scaling_group="no-such-scaling-group")
        assert exc_info.value.msg == "Unknown scaling group"
    else:
        with pytest.raises(NotFoundError) as not_found:
            await user_client.resources.check_presets(scaling_group="no-such-scaling-group")
        assert not_found.value.title == "Entity not found."


async def test_query(admin_client: Client, user_client: Client) -> None:
    data = await admin_client.query("{ keypair { access_key is_admin } user { role } }")
    assert data == {
        "keypair": {"access_key": ADMIN_ACCESS_KEY, "is_admin": True},
        "user": {"role": "superadmin"},
    }
    data = await user_client.query(
        "query($key: String) { keypair(access_key: $key) { user_id } }", {"key": USER_ACCESS_KEY}
    )
    assert data == {"keypair": {"user_id": "user@lablup.com"}}


async def test_refused_queries_raise_graphql_error(
    admin_client: Client, user_client: Client, release: Release
) -> None:
    # GraphQL errors come with HTTP 200 and an "errors" list.
    with pytest.raises(GraphQLError) as exc_info:
        await admin_client.query("{ nosuchfield }")
    assert exc_info.value.status == 200
    assert exc_info.value.data == [
        {
            # The root type's name changed (Graphene's `Queries`, now `Query`).
            "message": "Cannot query field 'nosuchfield' on type "
            + ("'Queries'." if release.is_2309 else "'Query'."),
            "locations": [{"line": 1, "column": 3}],
        }
    ]
    with pytest.raises(GraphQLError) as exc_info:
        await user_client.query("{ agents { id } }")
    refused: dict[str, object] = {
        "message": "Forbidden operation. (superadmin privilege required)",
        "locations": [{"line": 1, "column": 3}],
        "path": ["agents"],
    }
    if not release.is_2309:
        refused["extensions"] = {"code": "backendai_generic_forbidden"}
    assert exc_info.value.body == {"data": {"agents": None}, "errors": [refused]}
