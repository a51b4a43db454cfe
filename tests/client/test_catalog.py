"""Images, templates, resources and account self-service: the client against the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from backendai_aio import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    Client,
    ClientConfig,
    GraphQLError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResponseError,
    ServerError,
)
from backendai_aio._images import image_entry
from backendai_aio._resources import day_text, month_text
from backendai_aio._templates import template_id_text, template_payload
from backendai_aio.emulator import Emulator

pytestmark = pytest.mark.timeout(60)

needs_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="no ssh-keygen")

TASK = {
    "api_version": "v1",
    "kind": "taskTemplate",
    "metadata": {"name": "py"},
    "spec": {"kernel": {"image": "python", "environ": {"A": "1"}}, "resources": {"cpu": 1}},
}


# -- images ------------------------------------------------------------------------------------


async def test_images_list_and_get(admin_client: Client) -> None:
    images = await admin_client.images.list()
    assert [image["reference"] for image in images] == [
        "cr.backend.ai/stable/python:3.9-ubuntu20.04"
    ]
    (image,) = images
    assert image["architecture"] == "x86_64"
    assert image["labels"]["ai.backend.runtime-type"] == "python"
    assert image["digest"] is not None and not image["digest"].endswith(" ")
    assert {"key": "cpu", "min": "1", "max": None} in image["resource_limits"]
    assert await admin_client.images.list(architecture="aarch64") == []
    assert await admin_client.images.get("python") == image
    assert (await admin_client.images.get(image["reference"]))["aliases"] == ["python"]


async def test_images_get_unknown_and_bad_arguments(admin_client: Client) -> None:
    with pytest.raises(GraphQLError, match="Unknown image references"):
        await admin_client.images.get("nosuch")
    with pytest.raises(InvalidArgumentError):
        await admin_client.images.get("")


# -- templates ---------------------------------------------------------------------------------


async def test_session_template_lifecycle(admin_client: Client) -> None:
    (created,) = await admin_client.templates.create(TASK)
    assert len(created["id"]) == 32 and created["user"]
    listing = await admin_client.templates.list()
    assert [(e["id"], e["name"], e["is_owner"], e["type"]) for e in listing] == [
        (created["id"], "py", True, "task")
    ]
    info = await admin_client.templates.get(created["id"])
    assert info["name"] == "py"
    assert info["template"]["spec"]["kernel"]["image"] == "python"
    # The manager's defaults are filled in.
    assert info["template"]["spec"]["session_type"] == "interactive"
    changed = {**TASK, "metadata": {"name": "py2"}}
    assert await admin_client.templates.update(created["id"], changed, name="renamed") is True
    assert (await admin_client.templates.get(created["id"]))["name"] == "renamed"
    assert await admin_client.templates.delete(created["id"]) is True
    assert await admin_client.templates.list() == []
    with pytest.raises(NotFoundError):
        await admin_client.templates.get(created["id"])


async def test_session_template_from_json_text_and_refusals(admin_client: Client) -> None:
    text = json.dumps([{"template": TASK, "name": "a"}, {"template": TASK, "name": "b"}])
    created = await admin_client.templates.create(text)
    assert len(created) == 2
    assert sorted(e["name"] for e in await admin_client.templates.list()) == ["a", "b"]
    with pytest.raises(BadRequestError) as exc_info:
        await admin_client.templates.create({**TASK, "kind": "other"})
    assert exc_info.value.data == {"kind": "invalid"}
    with pytest.raises(BadRequestError, match="Invalid group"):
        await admin_client.templates.create(TASK, group="nosuch")
    with pytest.raises(InvalidArgumentError):
        await admin_client.templates.get("not-a-uuid")
    with pytest.raises(InvalidArgumentError):
        await admin_client.templates.list(kind="other")  # type: ignore[arg-type]


async def test_cluster_template_lifecycle(admin_client: Client, user_client: Client) -> None:
    (task,) = await admin_client.templates.create(TASK)
    cluster = {
        "api_version": "v1",
        "kind": "clusterTemplate",
        "mode": "single-node",
        "metadata": {"name": "pair"},
        "spec": {"nodes": [{"role": "main", "session_template": task["id"]}]},
    }
    (created,) = await admin_client.templates.create(cluster, kind="cluster")
    body = await admin_client.templates.get(created["id"], kind="cluster")
    assert body["metadata"]["name"] == "pair"
    assert body["spec"]["nodes"][0]["replicas"] == 1
    assert [e["name"] for e in await admin_client.templates.list(kind="cluster")] == ["pair"]
    # Another user sees only their own cluster templates.
    assert await user_client.templates.list(kind="cluster") == []
    renamed = {**cluster, "metadata": {"name": "pair2"}}
    assert await admin_client.templates.update(created["id"], renamed, kind="cluster") is True
    body = await admin_client.templates.get(created["id"], kind="cluster")
    assert body["metadata"]["name"] == "pair2"
    # A session template's id is not a cluster template's.
    with pytest.raises(NotFoundError):
        await admin_client.templates.get(task["id"], kind="cluster")
    no_main = {**cluster, "spec": {"nodes": [{"role": "w", "session_template": task["id"]}]}}
    with pytest.raises(BadRequestError, match="main node"):
        await admin_client.templates.create(no_main, kind="cluster")
    assert await admin_client.templates.delete(created["id"], kind="cluster") is True


# -- resources ---------------------------------------------------------------------------------


async def test_scaling_groups_slots_and_types(admin_client: Client) -> None:
    assert await admin_client.resources.scaling_groups("default") == [{"name": "default"}]
    assert await admin_client.resources.scaling_groups("2de2b969-1d04-48a6-af16-0bc8adb3c831") == [
        {"name": "default"}
    ]
    assert await admin_client.resources.scaling_groups("other") == []
    assert await admin_client.resources.resource_slots() == {"cpu": "count", "mem": "bytes"}
    details = await admin_client.resources.resource_slot_details(scaling_group="default")
    assert details["mem"]["display_unit"] == "GiB"
    assert await admin_client.resources.vfolder_types() == ["user", "group"]


async def test_presets_through_the_namespace(admin_client: Client) -> None:
    presets = await admin_client.resources.presets(scaling_group="default")
    assert presets == await admin_client.resources.presets()
    report = await admin_client.resources.check_presets(group="default")
    assert "keypair_remaining" in report


# The keys of a 26.9.6 manager's period records (recorded from the real release).
_RECORD_KEYS = {
    "access_key", "agents", "cluster_mode", "container_ids", "created_at", "domain_name",
    "extra_info", "full_name", "group_unit", "images", "kernel_id", "last_stat", "project_id",
    "project_name", "scheduled_at", "session_id", "session_name", "status", "status_history",
    "status_info", "terminated_at", "total_usage", "used_days", "used_time", "user_email",
    "user_id",
}  # fmt: skip
PROJECT_RECORD_KEYS = {*_RECORD_KEYS, "sessions"}
KERNEL_RECORD_KEYS = {*_RECORD_KEYS, "agent"}


async def test_usage_from_the_session_records(admin_client: Client, user_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "usage-a")
    await admin_client.create_if_not_exists("python", "usage-b")
    await admin_client.destroy("usage-b")
    today = dt.datetime.now(dt.UTC).date()
    (group,) = await admin_client.resources.usage_per_month(today)
    assert group["g_name"] == "default"
    infos = {info["name"]: info for info in group["c_infos"]}
    assert set(infos) == {"usage-a", "usage-b"}
    assert infos["usage-b"]["status"] == "TERMINATED"
    assert infos["usage-b"]["used_time"] is not None
    assert infos["usage-a"]["email"] == "admin@lablup.com"
    # 26.9's period shape: per project, its sessions by id, each with its kernels.
    (project,) = await admin_client.resources.usage_per_period(today, today)
    assert "sessions" in project
    assert set(project) == PROJECT_RECORD_KEYS
    assert (project["group_unit"], project["project_name"]) == ("project", "default")
    sessions = {record["session_name"]: record for record in project["sessions"].values()}
    assert set(sessions) == {"usage-a", "usage-b"}
    assert sessions["usage-b"]["status"] == "TERMINATED"
    (kernel,) = sessions["usage-a"]["kernels"].values()
    assert set(kernel) == KERNEL_RECORD_KEYS
    assert kernel["session_id"] == sessions["usage-a"]["session_id"]
    assert kernel["group_unit"] == "kernel"
    assert project["total_usage"]["mem_allocated"] == sum(
        s["total_usage"]["mem_allocated"] for s in sessions.values()
    )
    kernel_ids = [str(s["kernel_id"]) for s in sessions.values()]
    assert sorted(project["container_ids"]) == sorted(kernel_ids)
    last_year = today.replace(year=today.year - 1)
    assert await admin_client.resources.usage_per_month(last_year) == []
    assert await admin_client.resources.usage_per_month(today, group_ids=["other"]) == []
    default = uuid.UUID("2de2b969-1d04-48a6-af16-0bc8adb3c831")
    (chosen,) = await admin_client.resources.usage_per_month(
        today, group_ids=[uuid.uuid4(), default]
    )
    assert len(chosen["c_infos"]) == 2
    with pytest.raises(BadRequestError, match="100 days"):
        await admin_client.resources.usage_per_period(last_year, today)
    with pytest.raises(InvalidArgumentError):
        await admin_client.resources.usage_per_month("2026-12")
    # 26.9 answers a plain user's call with 403 (23.09: 401, test_emulator_catalog.py).
    with pytest.raises(PermissionDeniedError, match="Insufficient privileges"):
        await user_client.resources.usage_per_month(today)
    await admin_client.destroy("usage-a")


# -- account self-service ----------------------------------------------------------------------


@needs_keygen
async def test_ssh_keypair_generate_read_and_upload(
    admin_client: Client, user_client: Client
) -> None:
    assert await admin_client.auth.ssh_keypair() == {"ssh_public_key": ""}
    generated = await admin_client.auth.generate_ssh_keypair()
    assert generated["ssh_public_key"].startswith("ssh-rsa ")
    assert "PRIVATE KEY" in generated["ssh_private_key"]
    assert (await admin_client.auth.ssh_keypair())["ssh_public_key"] == generated["ssh_public_key"]
    # Each keypair has its own.
    assert await user_client.auth.ssh_keypair() == {"ssh_public_key": ""}
    other = await user_client.auth.generate_ssh_keypair()
    uploaded = await admin_client.auth.upload_ssh_keypair(
        other["ssh_public_key"], other["ssh_private_key"]
    )
    assert uploaded["ssh_public_key"] == other["ssh_public_key"].rstrip() + "\n"
    with pytest.raises(BadRequestError) as exc_info:
        await admin_client.auth.upload_ssh_keypair(
            generated["ssh_public_key"], other["ssh_private_key"]
        )
    assert exc_info.value.problem_type == "https://api.backend.ai/probs/ssh-keypair-mismatch"
    # The private key never shows in the error.
    assert "PRIVATE" not in str(exc_info.value)


async def test_old_manager_answers_null_for_no_ssh_key() -> None:
    async with Emulator(api_version="v7.20230615") as old, Client(old.config) as client:
        assert await client.auth.ssh_keypair() == {"ssh_public_key": ""}


async def test_update_password_then_login_with_it(emulator: Emulator, user_client: Client) -> None:
    with pytest.raises(AuthenticationError, match="Old password mismatch"):
        await user_client.auth.update_password("wrong", "n3w-secret")
    await user_client.auth.update_password("C8qnIo29", "n3w-secret")
    config = ClientConfig(endpoint=emulator.endpoint, endpoint_type="session")
    async with Client(config) as web:
        with pytest.raises(AuthenticationError):
            await web.auth.login("user@lablup.com", "C8qnIo29")
        data = await web.auth.login("user@lablup.com", "n3w-secret", otp="123456")
        assert data["role"] == "user"
    with pytest.raises(InvalidArgumentError):
        await user_client.auth.update_password("", "x")


async def test_update_full_name(user_client: Client) -> None:
    await user_client.auth.update_full_name("Ada Lovelace")
    assert await user_client.query("{ user { full_name } }") == {
        "user": {"full_name": "Ada Lovelace"}
    }
    await user_client.auth.update_full_name("Grace", email="user@lablup.com")
    assert (await user_client.query("{ user { full_name } }"))["user"]["full_name"] == "Grace"


async def test_namespaces_are_cached_and_concurrent(admin_client: Client) -> None:
    assert admin_client.images is admin_client.images and admin_client.auth is admin_client.auth
    assert "Templates" in repr(admin_client.templates)
    slots, types = await asyncio.gather(
        admin_client.resources.resource_slots(), admin_client.resources.vfolder_types()
    )
    assert slots and types


# -- pure helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "month", "day"),
    [
        (dt.date(2026, 3, 7), "202603", "20260307"),
        (dt.datetime(2026, 12, 31, 23, 59), "202612", "20261231"),
    ],
)
def test_month_and_day_text(given: dt.date, month: str, day: str) -> None:
    assert (month_text(given), day_text(given)) == (month, day)
    assert (month_text(month), day_text(day)) == (month, day)


@pytest.mark.parametrize("bad", ["2026-03", "20263", "", "abcdef"])
def test_month_text_refuses(bad: str) -> None:
    with pytest.raises(InvalidArgumentError):
        month_text(bad)


@pytest.mark.parametrize(
    ("template", "kind", "name", "sent"),
    [
        ("kind: taskTemplate\n", "session", None, "kind: taskTemplate\n"),
        ({"kind": "taskTemplate"}, "session", None, [{"template": {"kind": "taskTemplate"}}]),
        (
            {"template": {"k": 1}, "name": "a"},
            "session",
            "b",
            [{"template": {"k": 1}, "name": "b"}],
        ),
        (
            [{"k": 1}, {"template": {"k": 2}}],
            "session",
            None,
            [{"template": {"k": 1}}, {"template": {"k": 2}}],
        ),
        ({"kind": "clusterTemplate"}, "cluster", None, {"kind": "clusterTemplate"}),
    ],
)
def test_template_payload(template: Any, kind: str, name: str | None, sent: Any) -> None:
    payload = template_payload(template, kind, name)
    assert (payload if isinstance(sent, str) else json.loads(payload)) == sent


@pytest.mark.parametrize(
    ("template", "kind"),
    [("  ", "session"), ([], "session"), ([1], "session"), ([{}], "cluster"), (3, "session")],
)
def test_template_payload_refuses(template: Any, kind: str) -> None:
    with pytest.raises(InvalidArgumentError):
        template_payload(template, kind)


def test_template_ids() -> None:
    hex_id = "0" * 31 + "1"
    assert template_id_text(hex_id) == hex_id
    assert template_id_text(uuid.UUID(hex_id)) == hex_id
    assert template_id_text(str(uuid.UUID(hex_id))) == hex_id
    for bad in ("../x", "", 5):
        with pytest.raises(InvalidArgumentError):
            template_id_text(bad)  # type: ignore[arg-type]


def test_image_entry_of_sparse_and_odd_answers() -> None:
    entry = image_entry({"name": "n", "tag": "t", "registry": "r", "labels": [{"key": "a"}]})
    assert entry["reference"] == "r/n:t" and entry["labels"] == {"a": ""}
    assert entry["aliases"] == [] and entry["digest"] is None
    with pytest.raises(ResponseError):
        image_entry(["not", "an", "object"])


# -- modes and failures ------------------------------------------------------------------------


async def test_namespaces_through_the_webserver(emulator: Emulator) -> None:
    config = ClientConfig(endpoint=emulator.endpoint, endpoint_type="session")
    async with Client(config) as web:
        await web.auth.login("user@lablup.com", "C8qnIo29")
        assert [i["name"] for i in await web.images.list()] == ["stable/python"]
        assert await web.resources.scaling_groups() == [{"name": "default"}]
        (created,) = await web.templates.create(TASK)
        assert (await web.templates.get(created["id"]))["name"] == "py"
        await web.auth.update_full_name("Via Web")
        assert await web.query("{ user { full_name } }") == {"user": {"full_name": "Via Web"}}


async def test_generating_without_ssh_keygen_is_a_clear_error(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The emulator runs in this process: an empty PATH hides ssh-keygen from it.
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServerError, match="needs ssh-keygen") as exc_info:
        await admin_client.auth.generate_ssh_keypair()
    assert exc_info.value.status == 501


# -- answers of the wrong shape ----------------------------------------------------------------

ODD_ANSWERS: list[Any] = [None, "text", 5, [], {"unexpected": True}, {"data": None}]


@contextlib.asynccontextmanager
async def odd_server(answer: Any) -> AsyncIterator[ClientConfig]:
    """A server on 127.0.0.1 that answers *answer* (as JSON) to every call but ``GET /``."""

    async def root(request: web.Request) -> web.Response:
        return web.json_response({"version": "v9.20250722", "manager": "26.2.0"})

    async def anything(request: web.Request) -> web.Response:
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_route("*", "/{tail:.+}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield ClientConfig("AKIAODDANSWERS000000", "x" * 40, f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("answer", ODD_ANSWERS, ids=repr)
async def test_odd_answers_raise_backend_errors(answer: Any) -> None:
    calls: list[Callable[[Client], Awaitable[Any]]] = [
        lambda c: c.images.list(),
        lambda c: c.images.get("python"),
        lambda c: c.templates.create(TASK),
        lambda c: c.templates.list(),
        lambda c: c.templates.get("0" * 32),
        lambda c: c.resources.scaling_groups(),
        lambda c: c.resources.resource_slots(),
        lambda c: c.resources.resource_slot_details(),
        lambda c: c.resources.vfolder_types(),
        lambda c: c.resources.presets(),
        lambda c: c.resources.usage_per_month("202612"),
        lambda c: c.auth.ssh_keypair(),
        lambda c: c.auth.generate_ssh_keypair(),
        lambda c: c.auth.update_full_name("x"),
    ]
    async with odd_server(answer) as config, Client(config) as client:
        failures = 0
        for call in calls:
            # Either an answer or a clear failure: never a bare KeyError or TypeError.
            try:
                await call(client)
            except BackendError:
                failures += 1
        # GraphQL answers need a data object and keypairs two keys: those always fail.
        assert failures >= 4
