"""``POST /admin/gql``: the manager's paginated lists over the emulator's live state.

The documents are those the official CLI and SDK send (``backend.ai ps``, ``vfolder list``,
``admin keypair list``, ``session info``), built as ``execute_paginated_query`` builds them.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import aiohttp
import pytest

from backendai_aio.emulator import DEFAULT_ACCESS_KEY, USER_ACCESS_KEY, USER_SECRET_KEY, Emulator

from .wire import PROBS, Wire


async def gql(wire: Wire, query: str, variables: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    status, answer = await wire.call("POST", "/admin/gql", body=body)
    assert status == 200, answer
    return answer


def paginated(root: str, fields: str, variables: dict[str, str]) -> str:
    """The official SDK's paginated query (``ai.backend.client.pagination``)."""
    declarations = ", ".join(f"${key}: {kind}" for key, kind in variables.items())
    arguments = ", ".join(f"{key}:${key}" for key in variables)
    return (
        f"query($limit:Int!, $offset:Int!, {declarations}) {{\n"
        f"  {root}(\n      limit:$limit, offset:$offset, {arguments}) {{\n"
        f"    items {{ {fields} }}\n    total_count\n  }}\n}}"
    )


PS_QUERY = paginated(
    "compute_session_list",
    "name access_key id group_name main_kernel_id image type status status_info "
    "status_changed result",
    {"status": "String", "access_key": "String", "filter": "String", "order": "String"},
)
ACTIVE = "PENDING,SCHEDULED,PULLING,PREPARING,RUNNING,RUNNING_DEGRADED,TERMINATING,ERROR"


async def test_ps_lists_real_sessions(admin_wire: Wire, user_wire: Wire) -> None:
    created = await user_wire.create_session("gql-ps-1")
    variables = {"limit": 20, "offset": 0, "status": ACTIVE, "access_key": None}
    variables |= {"filter": None, "order": None}
    body = await gql(admin_wire, PS_QUERY, variables)
    assert "errors" not in body, body
    listing = body["data"]["compute_session_list"]
    assert listing["total_count"] == 1
    (item,) = listing["items"]
    assert item["id"] == created["sessionId"]
    assert item | {"id": None, "main_kernel_id": None, "status_changed": None} == {
        "name": "gql-ps-1",
        "access_key": USER_ACCESS_KEY,
        "id": None,
        "group_name": "default",
        "main_kernel_id": None,
        "image": "cr.backend.ai/stable/python:3.9-ubuntu20.04",
        "type": "INTERACTIVE",
        "status": "RUNNING",
        "status_info": None,
        "status_changed": None,
        "result": "UNDEFINED",
    }
    # The user sees it too; the superadmin's own scope has none; dead sessions are not there.
    assert (await gql(user_wire, PS_QUERY, variables))["data"]["compute_session_list"]["items"]
    mine = await gql(admin_wire, PS_QUERY, variables | {"access_key": DEFAULT_ACCESS_KEY})
    assert mine["data"]["compute_session_list"] == {"items": [], "total_count": 0}
    dead = await gql(admin_wire, PS_QUERY, variables | {"status": "CANCELLED,TERMINATED"})
    assert dead["data"]["compute_session_list"]["total_count"] == 0
    status, _ = await user_wire.call("DELETE", "/session/gql-ps-1")
    assert status == 200
    after = await gql(admin_wire, PS_QUERY, variables)
    assert after["data"]["compute_session_list"] == {"items": [], "total_count": 0}
    # As on the manager, a terminated session is still listed, by its last status.
    dead = await gql(admin_wire, PS_QUERY, variables | {"status": "CANCELLED,TERMINATED"})
    items = dead["data"]["compute_session_list"]["items"]
    assert [(i["id"], i["status"]) for i in items] == [(created["sessionId"], "TERMINATED")]


async def test_a_user_cannot_list_someone_elses_sessions(user_wire: Wire) -> None:
    variables = {"limit": 20, "offset": 0, "status": None, "access_key": DEFAULT_ACCESS_KEY}
    body = await gql(user_wire, PS_QUERY, variables | {"filter": None, "order": None})
    assert body == {
        "data": {"compute_session_list": None},
        "errors": [
            {
                "message": "Forbidden operation.",
                "locations": [{"line": 2, "column": 3}],
                "path": ["compute_session_list"],
            }
        ],
    }


async def test_session_info_and_pagination(user_wire: Wire) -> None:
    names = ["gql-page-a", "gql-page-b", "gql-page-c"]
    ids = {name: (await user_wire.create_session(name))["sessionId"] for name in names}
    query = (
        "query($id: UUID!) { compute_session(id: $id) { name id session_id image status "
        "occupying_slots containers { id session_id cluster_role status } dependencies "
        "{ name id } } }"
    )
    body = await gql(user_wire, query, {"id": ids["gql-page-b"]})
    session = body["data"]["compute_session"]
    assert (session["name"], session["id"], session["session_id"]) == (
        "gql-page-b",
        ids["gql-page-b"],
        ids["gql-page-b"],
    )
    assert session["status"] == "RUNNING"
    assert set(json_value(session["occupying_slots"])) == {"cpu", "mem"}
    assert session["containers"][0]["session_id"] == ids["gql-page-b"]
    assert session["dependencies"] == []
    missing = await gql(user_wire, query, {"id": "00000000-0000-0000-0000-000000000000"})
    assert missing == {"data": {"compute_session": None}}

    page_query = (
        "query($o: String, $f: String) { compute_session_list(limit: 2, offset: 1, "
        "order: $o, filter: $f) { items { name } total_count } }"
    )
    body = await gql(user_wire, page_query, {"o": "name"})
    assert body["data"]["compute_session_list"] == {
        "items": [{"name": "gql-page-b"}, {"name": "gql-page-c"}],
        "total_count": 3,
    }
    body = await gql(
        user_wire, page_query, {"o": "-name", "f": 'name ilike "%-PAGE-%" & name != "gql-page-a"'}
    )
    assert body["data"]["compute_session_list"] == {
        "items": [{"name": "gql-page-b"}],
        "total_count": 2,
    }
    body = await gql(user_wire, page_query, {"f": 'status == "running" & type in ["interactive"]'})
    assert body["data"]["compute_session_list"]["total_count"] == 3
    body = await gql(user_wire, page_query, {"o": "nosuch"})
    assert body["data"] == {"compute_session_list": None}
    assert body["errors"][0]["message"] == "Unknown/unsupported field name: nosuch"


def json_value(text: str) -> Any:
    return json.loads(text)


async def test_vfolder_list(admin_wire: Wire, user_wire: Wire) -> None:
    for wire, name, extra in [
        (user_wire, "gql-user-folder", {}),
        (admin_wire, "gql-admin-folder", {}),
        (admin_wire, "gql-project-folder", {"group": "default"}),
    ]:
        status, body = await wire.call("POST", "/folders", body={"name": name, **extra})
        assert status == 201, body
    query = paginated(
        "vfolder_list",
        "host name created_at creator group permission ownership_type status",
        {"group_id": "UUID", "filter": "String", "order": "String"},
    )
    variables = {"limit": 20, "offset": 0, "group_id": None, "filter": None, "order": None}
    body = await gql(user_wire, query, variables)
    assert "errors" not in body, body
    listing = body["data"]["vfolder_list"]
    assert listing["total_count"] == 1
    (item,) = listing["items"]
    assert item | {"created_at": None} == {
        "host": "local:volume1",
        "name": "gql-user-folder",
        "created_at": None,
        "creator": "user@lablup.com",
        "group": None,
        "permission": "rw",
        "ownership_type": "user",
        "status": "ready",
    }
    everything = await gql(admin_wire, query, variables | {"order": "name"})
    names = [item["name"] for item in everything["data"]["vfolder_list"]["items"]]
    assert names == ["gql-admin-folder", "gql-project-folder", "gql-user-folder"]
    project = await gql(
        admin_wire, query, variables | {"group_id": "2de2b969-1d04-48a6-af16-0bc8adb3c831"}
    )
    (item,) = project["data"]["vfolder_list"]["items"]
    assert (item["name"], item["ownership_type"]) == ("gql-project-folder", "group")


KEYPAIR_QUERY = paginated(
    "keypair_list",
    "user_id projects user_info { full_name } access_key secret_key is_active is_admin "
    "created_at last_used resource_policy rate_limit concurrency_used",
    {"is_active": "Boolean", "domain_name": "String", "filter": "String", "order": "String"},
)


async def test_keypair_list(admin_wire: Wire, user_wire: Wire) -> None:
    variables = {"limit": 20, "offset": 0, "is_active": None, "domain_name": None}
    variables |= {"filter": None, "order": None}
    body = await gql(admin_wire, KEYPAIR_QUERY, variables)
    assert "errors" not in body, body
    listing = body["data"]["keypair_list"]
    assert listing["total_count"] == 2
    assert [item["access_key"] for item in listing["items"]] == [
        DEFAULT_ACCESS_KEY,
        USER_ACCESS_KEY,
    ]
    first = listing["items"][0]
    assert first["user_info"] == {"full_name": "Admin Lablup"}
    assert (first["projects"], first["is_admin"], first["rate_limit"]) == (["default"], True, 30000)
    mine = await gql(user_wire, KEYPAIR_QUERY, variables)
    assert [item["user_id"] for item in mine["data"]["keypair_list"]["items"]] == [
        "user@lablup.com"
    ]
    ordered = await gql(
        admin_wire, KEYPAIR_QUERY, variables | {"order": "-user_id", "filter": "is_admin == false"}
    )
    assert [item["user_id"] for item in ordered["data"]["keypair_list"]["items"]] == [
        "user@lablup.com"
    ]
    page = await gql(admin_wire, KEYPAIR_QUERY, variables | {"limit": 1, "offset": 1})
    assert page["data"]["keypair_list"]["total_count"] == 2
    assert [item["access_key"] for item in page["data"]["keypair_list"]["items"]] == [
        USER_ACCESS_KEY
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "{ compute_session_lst(limit: 1, offset: 0) { total_count } }",
            "Cannot query field 'compute_session_lst' on type 'Queries'. "
            "Did you mean 'compute_session_list', 'compute_session', or "
            "'legacy_compute_session_list'?",
        ),
        (
            "{ keypair_list(limit: 1, offset: 0) { items { acess_key } } }",
            "Cannot query field 'acess_key' on type 'KeyPair'. Did you mean 'access_key'?",
        ),
        (
            "{ vfolder_list(limit: 1) { total_count } }",
            "Field 'vfolder_list' argument 'offset' of type 'Int!' is required, "
            "but it was not provided.",
        ),
        (
            '{ compute_session(id: "bad") { id } }',
            "Expected value of type 'UUID!', found \"bad\"; badly formed hexadecimal UUID string",
        ),
        (
            "{ keypair { vfolders { name } } }",
            "The emulator does not implement the GraphQL field 'KeyPair.vfolders'.",
        ),
    ],
)
async def test_messages_are_graphql_cores(admin_wire: Wire, query: str, message: str) -> None:
    body = await gql(admin_wire, query)
    assert body["data"] is None
    assert [error["message"] for error in body["errors"]] == [message]


async def test_strawberry_endpoint_serves_the_same_schema(admin_wire: Wire) -> None:
    status, body = await admin_wire.call(
        "POST", "/admin/gql/strawberry", body={"query": "{ keypair { access_key } }"}
    )
    assert (status, body) == (200, {"data": {"keypair": {"access_key": DEFAULT_ACCESS_KEY}}})


async def test_domains_and_groups(admin_wire: Wire, user_wire: Wire) -> None:
    body = await gql(user_wire, "{ domain { name is_active } groups { name } }")
    assert body == {
        "data": {"domain": {"name": "default", "is_active": True}, "groups": [{"name": "default"}]}
    }
    assert (await gql(admin_wire, "{ domains { name } }")) == {
        "data": {"domains": [{"name": "default"}]}
    }
    users = await gql(admin_wire, "{ users { email } }")
    assert [u["email"] for u in users["data"]["users"]] == ["admin@lablup.com", "user@lablup.com"]
    refused = await gql(user_wire, "{ users { email } }")
    assert refused["data"] == {"users": None}
    assert refused["errors"][0]["message"] == "Insufficient privilege."


async def test_without_graphql_core_the_routes_answer_501(
    admin_wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if graphql-core were not installed: importing it fails.
    for name in [name for name in sys.modules if name == "graphql" or name.startswith("graphql.")]:
        monkeypatch.delitem(sys.modules, name)
    for module in ("_gql_engine", "_gql_resolvers", "_gql_schema", "_gql_listing"):
        monkeypatch.delitem(sys.modules, f"backendai_aio.emulator.{module}", raising=False)
    monkeypatch.setitem(sys.modules, "graphql", None)
    status, body = await admin_wire.call("POST", "/admin/gql", body={"query": "{ keypair { id } }"})
    assert (status, body["type"]) == (501, PROBS + "not-implemented")
    assert "install backendai-aio[emulator]" in body["msg"]


async def test_newer_managers_fields(http: aiohttp.ClientSession, user_wire: Wire) -> None:
    # Fields 26.9 added (its CLI's `image list` and `ps` select them); 23.09 has none of them.
    query = "{ images { namespace base_image_name version tags { key value } status } }"
    refused = await gql(user_wire, query)
    assert refused["errors"][0]["message"] == "Cannot query field 'namespace' on type 'Image'."
    async with Emulator(release="26.9") as emulator:
        wire = Wire(emulator, http, access_key=USER_ACCESS_KEY, secret_key=USER_SECRET_KEY)
        body = await gql(wire, query)
    assert body == {
        "data": {
            "images": [
                {
                    "namespace": "stable",
                    "base_image_name": "python",
                    "version": "3.9",
                    "tags": [{"key": "ubuntu", "value": "20.04"}],
                    "status": "ALIVE",
                }
            ]
        }
    }
