"""The emulator's whole-folder routes refuse bad input as the managers do (both profiles)."""

from __future__ import annotations

from typing import Any

import pytest

from .wire import PROBS, Wire


@pytest.fixture(params=["23.09", "26.9"])
def emulator_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"release": request.param, "flush_window": 0.2}


async def created(wire: Wire, name: str, **options: Any) -> dict[str, Any]:
    status, body = await wire.call("POST", "/folders", body={"name": name, **options})
    assert status == 201, body
    return dict(body)


@pytest.mark.parametrize(
    ("call", "body", "key"),
    [
        ("rename", {"new_name": "not a slug!"}, "new_name"),
        ("rename", {}, "new_name"),
        ("update-options", {"permission": "all"}, "permission"),
        ("update-options", {"cloneable": "yes"}, "cloneable"),
        ("clone", {"target_name": "c1", "permission": "all"}, "permission"),
        ("move-file", {"src": "../x", "dst": "y"}, "src"),
    ],
)
async def test_bad_parameters(user_wire: Wire, call: str, body: dict[str, Any], key: str) -> None:
    await created(user_wire, "lc1", cloneable=True)
    status, answer = await user_wire.call("POST", f"/folders/lc1/{call}", body=body)
    assert status == 400, answer
    assert answer["type"] == PROBS + "invalid-api-params"
    assert key in answer["data"]


async def test_who_may_change_a_folder(user_wire: Wire, admin_wire: Wire) -> None:
    project = await created(admin_wire, "lc-team", group="default")
    status, answer = await user_wire.call("POST", "/folders/lc-team/rename", body={"new_name": "x"})
    assert (status, answer["type"]) == (403, PROBS + "generic-forbidden")
    status, answer = await user_wire.call("POST", "/folders/lc-team/leave", body={})
    assert (status, answer["msg"]) == (400, "Cannot leave a group vfolder.")
    status, answer = await admin_wire.call(
        "POST", "/folders/lc-team/share", body={"permission": "ro", "emails": ["no@example.com"]}
    )
    assert status == 404, answer
    status, answer = await admin_wire.call(
        "POST", "/folders/lc-team/share", body={"permission": "ro", "emails": "user@lablup.com"}
    )
    assert status == 400, answer
    await created(admin_wire, "lc-own")
    status, answer = await admin_wire.call(
        "POST", "/folders/lc-own/share", body={"permission": "ro", "emails": ["user@lablup.com"]}
    )
    assert (status, answer["msg"]) == (404, "Only project folders are directly sharable.")
    status, answer = await admin_wire.call(
        "POST", "/folders/lc-team/share", body={"permission": "rw", "emails": ["user@lablup.com"]}
    )
    assert status == 201, answer
    status, answer = await admin_wire.call(
        "GET", f"/folders/_/shared?vfolder_id={project['id']}", body=None
    )
    assert [s["perm"] for s in answer["shared"]] == ["rw"]
    status, answer = await admin_wire.call("GET", "/folders/_/shared?vfolder_id=0", body=None)
    assert answer["shared"] == []
    status, answer = await user_wire.call("GET", "/folders/_/shared", body=None)
    assert answer["shared"] == []  # a user sees the shares of their own folders only


async def test_unshare_by_post_and_archives_are_26_9s(
    user_wire: Wire, admin_wire: Wire, emulator_options: dict[str, Any]
) -> None:
    old = emulator_options["release"] == "23.09"
    await created(admin_wire, "lc-post", group="default")
    status, _ = await admin_wire.call(
        "POST", "/folders/lc-post/unshare", body={"emails": ["user@lablup.com"]}
    )
    assert status == (405 if old else 200)
    await created(user_wire, "lc-arch")
    status, answer = await user_wire.call(
        "POST", "/folders/lc-arch/request-download-archive", body={"files": []}
    )
    assert status == (404 if old else 400), answer
    status, answer = await user_wire.call(
        "GET", "/storage-proxy/download-archive?token=forged", body=None
    )
    assert status == (404 if old else 400), answer
