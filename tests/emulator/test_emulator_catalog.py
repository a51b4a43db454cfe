"""The emulator's catalog routes on the wire: groups, config, usage, templates, account."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime

import aiohttp
import pytest

from backendai_aio import AuthenticationError, Client
from backendai_aio.emulator import USER_ACCESS_KEY, USER_SECRET_KEY, Emulator

from .wire import PROBS, Wire, invalid

DEFAULT_GROUP_ID = "2de2b969-1d04-48a6-af16-0bc8adb3c831"

pytestmark = pytest.mark.timeout(60)

needs_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="no ssh-keygen")

TASK = {
    "apiVersion": "v1",
    "kind": "task_template",
    "metadata": {"name": "t"},
    "spec": {"sessionType": "batch", "kernel": {"image": "python"}, "agentList": ["a"]},
}


async def test_scaling_groups_by_project_name_id_or_alias(
    admin_wire: Wire, user_wire: Wire
) -> None:
    for query in ("group=default", "group_id=2de2b969-1d04-48a6-af16-0bc8adb3c831"):
        assert await user_wire.call("GET", f"/scaling-groups?{query}") == (
            200,
            {"scaling_groups": [{"name": "default"}]},
        )
    assert await admin_wire.call("GET", "/scaling-groups?group=other") == (
        200,
        {"scaling_groups": []},
    )
    status, body = await admin_wire.call("GET", "/scaling-groups")
    assert (status, body) == (400, invalid({"group": "is required"}))


async def test_config_routes(user_wire: Wire) -> None:
    assert await user_wire.call("GET", "/config/resource-slots") == (
        200,
        {"cpu": "count", "mem": "bytes"},
    )
    status, details = await user_wire.call("GET", "/config/resource-slots/details?sgroup=default")
    assert status == 200 and set(details) == {"cpu", "mem"}
    assert details["mem"]["slot_name"] == "ram"
    assert await user_wire.call("GET", "/config/vfolder-types") == (200, ["user", "group"])


async def test_usage_is_a_superadmins_and_checks_dates(admin_wire: Wire, user_wire: Wire) -> None:
    status, body = await user_wire.call("GET", "/resource/usage/month?month=202612")
    assert status == 401 and body["msg"] == "Unauthorized access"
    status, body = await admin_wire.call("GET", "/resource/usage/month")
    assert (status, body) == (400, invalid({"month": "is required", "group_ids": "is required"}))
    # 23.09 requires the projects, as the real 23.09.10 does (26.9 takes all without).
    status, body = await admin_wire.call("GET", "/resource/usage/month?month=202612")
    assert (status, body) == (400, invalid({"group_ids": "is required"}))
    status, body = await admin_wire.call(
        "GET", "/resource/usage/period?start_date=20261201&end_date=20261202"
    )
    assert (status, body) == (400, invalid({"group_id": "is required"}))
    status, body = await admin_wire.call(
        "GET",
        f"/resource/usage/period?start_date=20261210&end_date=20261201&group_id={DEFAULT_GROUP_ID}",
    )
    assert status == 400 and body["msg"] == "end_date must be later than start_date."
    status, body = await admin_wire.call(
        "GET", f"/resource/usage/period?start_date=2026&end_date=x&group_id={DEFAULT_GROUP_ID}"
    )
    assert status == 400 and set(body["data"]) == {"start_date", "end_date"}


async def test_usage_counts_live_and_terminated_sessions(admin_wire: Wire, user_wire: Wire) -> None:
    await user_wire.create_session("counted")
    month = datetime.now(UTC).strftime("%Y%m")
    by_month = f"/resource/usage/month?month={month}&group_ids={DEFAULT_GROUP_ID}"
    status, body = await admin_wire.call("GET", by_month)
    assert status == 200
    (group,) = body
    (info,) = group["c_infos"]
    assert (info["name"], info["email"], info["status"]) == (
        "counted",
        "user@lablup.com",
        "RUNNING",
    )
    assert info["used_time"] is None and info["terminated_at"] == "None"
    assert group["g_cpu_allocated"] == info["cpu_allocated"] > 0
    status, _ = await user_wire.call("DELETE", "/session/counted")
    assert status == 200
    _, body = await admin_wire.call("GET", by_month)
    assert body[0]["c_infos"][0]["status"] == "TERMINATED"
    assert body[0]["c_infos"][0]["used_time"] is not None


async def test_session_templates_on_the_wire(admin_wire: Wire, user_wire: Wire) -> None:
    payload = json.dumps([{"template": TASK}])
    status, created = await admin_wire.call("POST", "/template/session", body={"payload": payload})
    assert status == 200
    (entry,) = created
    assert len(entry["id"]) == 32 and entry["user"] == "f38dea2350fa42a0b5ae338f5f4693f4"
    # Everyone sees every session template; only the creator owns it.
    status, listing = await user_wire.call("GET", "/template/session")
    assert status == 200 and [(e["id"], e["is_owner"]) for e in listing] == [(entry["id"], False)]
    spec = listing[0]["template"]["spec"]
    assert spec["session_type"] == "batch" and spec["agent_list"] == ["a"]
    assert spec["kernel"]["architecture"] == "x86_64"
    # An id with dashes names the same template.
    dashed = str(uuid.UUID(entry["id"]))
    status, info = await user_wire.call("GET", f"/template/session/{dashed}")
    assert status == 200 and info["name"] == "t" and info["domain_name"] == "default"
    status, body = await admin_wire.call("POST", "/template/session", body={"payload": "{not json"})
    assert status == 400
    odd = json.dumps([{"template": TASK, "user_uuid": "nope"}])
    status, body = await admin_wire.call("POST", "/template/session", body={"payload": odd})
    assert (status, body) == (400, invalid({"user_uuid": "is not a UUID"}))
    # 23.09 answers an unknown session template's read with an empty object.
    assert await admin_wire.call("GET", "/template/session/" + "0" * 32) == (200, {})
    status, body = await admin_wire.call("PUT", "/template/session/" + "0" * 32, body={})
    assert (status, body["title"]) == (404, "No such task template.")
    status, _ = await admin_wire.call("DELETE", f"/template/session/{entry['id']}")
    assert status == 200
    status, body = await admin_wire.call("DELETE", f"/template/session/{entry['id']}")
    assert status == 404 and body["type"] == PROBS + "object-not-found"


async def test_cluster_templates_on_the_wire(admin_wire: Wire, user_wire: Wire) -> None:
    _, (task,) = await admin_wire.call(
        "POST", "/template/session", body={"payload": json.dumps([{"template": TASK}])}
    )
    cluster = {
        "api_version": "v1",
        "kind": "clusterTemplate",
        "mode": "multi-node",
        "metadata": {"name": "c"},
        "spec": {
            "nodes": [
                {"role": "main", "sessionTemplate": task["id"]},
                {"role": "sub", "session_template": task["id"], "replicas": 2},
            ]
        },
    }
    status, created = await user_wire.call(
        "POST", "/template/cluster", body={"payload": json.dumps(cluster)}
    )
    assert status == 200 and set(created) == {"id", "user"}
    # 23.09 fails every read of a cluster template (test_emulator_templates.py reads on 26.9).
    status, body = await user_wire.call("GET", f"/template/cluster/{created['id']}")
    assert (status, body["title"]) == (500, "Internal server error.")
    # The superadmin sees others' cluster templates only with all=true.
    assert (await admin_wire.call("GET", "/template/cluster"))[1] == []
    _, listing = await admin_wire.call("GET", "/template/cluster?all=true")
    assert [e["id"] for e in listing] == [created["id"]]
    twice = {**cluster, "spec": {"nodes": [cluster["spec"]["nodes"][0]] * 2}}  # type: ignore[index]
    status, body = await user_wire.call(
        "POST", "/template/cluster", body={"payload": json.dumps(twice)}
    )
    assert (status, body["msg"]) == (400, "Each role can only be defined once")


@needs_keygen
async def test_ssh_keypair_on_the_wire(http: aiohttp.ClientSession) -> None:
    # The 26.9 profile (the shared fixtures emulate 23.09, see the test below).
    async with Emulator(release="26.9") as emulator:
        user = Wire(emulator, http, access_key=USER_ACCESS_KEY, secret_key=USER_SECRET_KEY)
        await _ssh_keypair_calls(user)


async def _ssh_keypair_calls(user: Wire) -> None:
    assert await user.call("GET", "/auth/ssh-keypair") == (200, {"ssh_public_key": ""})
    status, keys = await user.call("PATCH", "/auth/ssh-keypair")
    assert status == 200 and keys["ssh_private_key"].startswith("-----BEGIN RSA PRIVATE KEY")
    status, body = await user.call(
        "POST", "/auth/ssh-keypair", body={"pubkey": "garbage", "privkey": keys["ssh_private_key"]}
    )
    assert status == 400 and body["type"] == PROBS + "invalid-ssh-public-key"
    status, body = await user.call(
        "POST", "/auth/ssh-keypair", body={"pubkey": keys["ssh_public_key"], "privkey": "x"}
    )
    assert status == 400 and body["type"] == PROBS + "invalid-ssh-private-key"
    status, body = await user.call(
        "POST",
        "/auth/ssh-keypair",
        body={"pubkey": keys["ssh_public_key"] + "\n\n", "privkey": keys["ssh_private_key"]},
    )
    assert status == 200 and body["ssh_public_key"] == keys["ssh_public_key"] + "\n"


async def test_old_profile_neither_checks_uploads_nor_answers_empty_keys() -> None:
    async with Emulator(api_version="v7.20230615") as old, Client(old.config) as client:
        assert await client.request("GET", "/auth/ssh-keypair") == {"ssh_public_key": None}
        stored = await client.request(
            "POST", "/auth/ssh-keypair", json={"pubkey": "a", "privkey": "b"}
        )
        assert stored == {"ssh_public_key": "a\n", "ssh_private_key": "b\n"}


async def test_old_profile_checks_the_old_password_first() -> None:
    async with Emulator(api_version="v7.20230615") as old, Client(old.user_config) as client:
        body = {"old_password": "nope", "new_password": "a", "new_password2": "b"}
        with pytest.raises(AuthenticationError, match="Old password mismatch"):
            await client.request("POST", "/auth/update-password", json=body)


async def test_password_and_full_name_on_the_wire(user_wire: Wire) -> None:
    body = {"old_password": "C8qnIo29", "new_password": "a", "new_password2": "b"}
    assert await user_wire.call("POST", "/auth/update-password", body=body) == (
        400,
        {"error_msg": "new password mismatch"},
    )
    body = {"old_password": "nope", "new_password": "a", "new_password2": "a"}
    status, problem = await user_wire.call("POST", "/auth/update-password", body=body)
    assert (status, problem["msg"]) == (401, "Old password mismatch")
    status, problem = await user_wire.call(
        "POST", "/auth/update-full-name", body={"full_name": "x"}
    )
    assert (status, problem) == (400, invalid({"email": "is required"}))
    body = {"email": "someone@else.invalid", "full_name": "Me"}
    assert await user_wire.call("POST", "/auth/update-full-name", body=body) == (200, {})
    _, answer = await user_wire.call("POST", "/admin/gql", body={"query": "{ user { full_name } }"})
    assert answer["data"] == {"user": {"full_name": "Me"}}
