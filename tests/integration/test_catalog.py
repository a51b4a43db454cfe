"""Images, templates, resource groups and account self-service against the real manager."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from backendai_aio import (
    AuthenticationError,
    BadRequestError,
    Client,
    GraphQLError,
    NotFoundError,
    PermissionDeniedError,
    UsageTotals,
)

from ._support import Release

DEFAULT_GROUP = "2de2b969-1d04-48a6-af16-0bc8adb3c831"
TASK = {
    "api_version": "v1",
    "kind": "taskTemplate",
    "metadata": {"name": "catalog-check"},
    "spec": {"kernel": {"image": "python"}, "resources": {"cpu": 1}},
}


async def test_images(admin_client: Client) -> None:
    images = await admin_client.images.list()
    for image in images:
        assert image["reference"] == f"{image['registry']}/{image['name']}:{image['tag']}"
        assert isinstance(image["labels"], dict)
    if images:
        first = images[0]
        found = await admin_client.images.get(
            first["reference"], architecture=first["architecture"]
        )
        assert found["reference"] == first["reference"]
    with pytest.raises(GraphQLError):
        await admin_client.images.get("no-such-image-anywhere")


async def test_session_template_round_trip(admin_client: Client) -> None:
    # The superadmin: 26.9 lets a plain user create templates only where a role grants it.
    (created,) = await admin_client.templates.create(TASK)
    try:
        info = await admin_client.templates.get(created["id"])
        assert info["name"] == "catalog-check"
        assert info["template"]["spec"]["kernel"]["image"] == "python"
        assert created["id"] in [entry["id"] for entry in await admin_client.templates.list()]
        assert await admin_client.templates.update(created["id"], TASK, name="renamed") is True
        assert (await admin_client.templates.get(created["id"]))["name"] == "renamed"
    finally:
        assert await admin_client.templates.delete(created["id"]) is True
    with pytest.raises(NotFoundError):
        await admin_client.templates.delete(created["id"])


async def test_scaling_groups_slots_and_folder_types(user_client: Client) -> None:
    groups = await user_client.resources.scaling_groups(DEFAULT_GROUP)
    assert all(isinstance(group["name"], str) for group in groups)
    slots = await user_client.resources.resource_slots()
    assert slots["cpu"] == "count" and slots["mem"] == "bytes"
    details = await user_client.resources.resource_slot_details()
    assert {"cpu", "mem"} <= set(details)
    assert "user" in await user_client.resources.vfolder_types()
    assert isinstance(await user_client.resources.presets(), list)


async def test_ssh_keypair_and_full_name(user_client: Client) -> None:
    generated = await user_client.auth.generate_ssh_keypair()
    assert generated["ssh_public_key"].startswith("ssh-rsa ")
    current = await user_client.auth.ssh_keypair()
    assert current["ssh_public_key"].strip() == generated["ssh_public_key"].strip()
    before = (await user_client.query("{ user { full_name } }"))["user"]["full_name"]
    try:
        await user_client.auth.update_full_name("Catalog Check")
        after = await user_client.query("{ user { full_name } }")
        assert after == {"user": {"full_name": "Catalog Check"}}
    finally:
        await user_client.auth.update_full_name(before or "")


async def test_usage_statistics(
    admin_client: Client, user_client: Client, release: Release
) -> None:
    today = dt.date.today()
    month = await admin_client.resources.usage_per_month(today, group_ids=[DEFAULT_GROUP])
    period = await admin_client.resources.usage_per_period(
        today - dt.timedelta(days=7), today, group_id=DEFAULT_GROUP
    )
    assert isinstance(month, list) and isinstance(period, list)
    # 23.09 answers one entry per project with `g_*` keys; 26.9 answers a period per project
    # too, as `project_id` with its `sessions` nested (docs/catalog.md).
    key = "g_id" if release.is_2309 else "project_id"
    for usage in (month, period):
        assert all(str(group[key]) == DEFAULT_GROUP for group in usage)  # type: ignore[literal-required]
    for entry in period:
        if "sessions" in entry:
            assert entry["group_unit"] == "project"
            for session in entry["sessions"].values():
                assert session["group_unit"] == "session"
                assert {k["group_unit"] for k in session["kernels"].values()} == {"kernel"}
                assert set(session["total_usage"]) == set(UsageTotals.__annotations__)
        else:
            assert release.is_2309 and "c_infos" in entry
    if release.is_2309:
        # 23.09 requires the projects; a plain user is refused as unauthenticated.
        with pytest.raises(BadRequestError) as caught:
            await admin_client.resources.usage_per_month(today)
        assert caught.value.data == {"group_ids": "is required"}
        with pytest.raises(AuthenticationError):
            await user_client.resources.usage_per_month(today, group_ids=[DEFAULT_GROUP])
    else:
        assert isinstance(await admin_client.resources.usage_per_month(today), list)
        with pytest.raises(PermissionDeniedError) as denied:
            await user_client.resources.usage_per_month(today)
        assert denied.value.msg == "Insufficient privileges"


async def test_cluster_template_round_trip(admin_client: Client) -> None:
    (task,) = await admin_client.templates.create(TASK)

    def cluster(role: str) -> dict[str, Any]:
        return {
            "api_version": "v1",
            "kind": "clusterTemplate",
            "mode": "single-node",
            "metadata": {"name": "cluster-check"},
            "spec": {"nodes": [{"role": role, "session_template": task["id"], "replicas": 1}]},
        }

    try:
        (created,) = await admin_client.templates.create(cluster("main"), kind="cluster")
        listed = await admin_client.templates.list(kind="cluster")
        assert "cluster-check" in [
            entry["name"] for entry in listed if entry["id"] == created["id"]
        ]
        assert await admin_client.templates.delete(created["id"], kind="cluster") is True
        with pytest.raises(NotFoundError):
            await admin_client.templates.delete(created["id"], kind="cluster")
        with pytest.raises(BadRequestError) as caught:
            await admin_client.templates.create(cluster("sub"), kind="cluster")
        assert caught.value.msg == "One and only one main node must be created per cluster"
    finally:
        await admin_client.templates.delete(task["id"])


async def test_ssh_keypair_upload_and_password_check(user_client: Client, release: Release) -> None:
    generated = await user_client.auth.generate_ssh_keypair()
    uploaded = await user_client.auth.upload_ssh_keypair(
        generated["ssh_public_key"], generated["ssh_private_key"]
    )
    assert uploaded["ssh_public_key"].strip() == generated["ssh_public_key"].strip()
    broken = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    if release.is_2309:
        # 23.09 stores what it is given.
        await user_client.auth.upload_ssh_keypair(generated["ssh_public_key"], broken)
    else:
        with pytest.raises(BadRequestError):
            await user_client.auth.upload_ssh_keypair(generated["ssh_public_key"], broken)
    with pytest.raises(AuthenticationError) as caught:
        await user_client.auth.update_password("not the password", "new-password-123")
    assert caught.value.msg == "Old password mismatch"
