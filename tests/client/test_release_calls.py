"""Client calls against the emulator's release profiles (23.09 and 26.9)."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator

import pytest

from backendai_aio import (
    SUPPORTED_API_VERSIONS,
    BadRequestError,
    Client,
    ClientConfig,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    NotSupportedError,
    RetryPolicy,
    VFolders,
)
from backendai_aio._apiversion import parse_api_version
from backendai_aio._session_options import build_create_body, create_is_idempotent

from ..conftest import make_emulator
from ..fault_server import FaultServer, response


@pytest.fixture
async def new() -> AsyncIterator[Client]:
    async with make_emulator(release="26.9", flush_window=0.5) as emulator:
        async with Client(emulator.config) as client:
            yield client


@pytest.fixture
async def old() -> AsyncIterator[Client]:
    async with make_emulator(release="23.09", flush_window=0.5) as emulator:
        async with Client(emulator.config) as client:
            yield client


def test_supported_versions_are_the_managers() -> None:
    # 26.9.6's VALID_VERSIONS from v5 on (ai/backend/manager/api/rest/app.py).
    assert SUPPORTED_API_VERSIONS == (
        "v5.20191215",
        "v6.20200815",
        "v6.20220315",
        "v6.20220615",
        "v6.20221201",
        "v6.20230315",
        "v7.20230615",
        "v8.20240315",
        "v8.20240915",
        "v9.20250722",
    )


# -- restart -------------------------------------------------------------------------------------


async def test_restart_on_26_9_says_what_to_do_instead(new: Client) -> None:
    await new.create_if_not_exists("python", "restart-me")
    with pytest.raises(NotSupportedError) as caught:
        await new.restart("restart-me")
    error = caught.value
    assert isinstance(error, InternalServerError)
    assert error.status == 501
    assert "no longer restarts sessions" in str(error)
    assert "destroy the session and create a new one" in str(error)
    with pytest.raises(NotSupportedError):
        await new.refresh_kernel("restart-me")


async def test_restart_on_23_09_restarts(old: Client) -> None:
    await old.create_if_not_exists("python", "restart-me")
    await old.execute("restart-me", None, "query", "x = 1")
    await old.restart("restart-me")  # an empty answer
    result = await old.sessions.run("restart-me", "print('x' in dir())")
    assert result.stdout == "False\n"


# -- check-presets -----------------------------------------------------------------------------


async def test_check_presets_without_group_on_26_9(new: Client) -> None:
    answer = await new.resources.check_presets()
    assert "presets" in answer
    with pytest.raises(NotFoundError) as caught:
        await new.resources.check_presets(group="2de2b969-1d04-48a6-af16-0bc8adb3c831")
    assert caught.value.problem_type == "https://api.backend.ai/probs/project-not-found"


async def test_check_presets_without_group_on_23_09(old: Client) -> None:
    assert "presets" in await old.resources.check_presets()


# -- folders -----------------------------------------------------------------------------------


async def test_delete_then_recreate_on_26_9(new: Client) -> None:
    created = await new.vfolders.create("scratch")
    await new.vfolders.get("scratch").delete()
    # The folder went to the trash: its name stays taken.
    listed = await new.vfolders.list()
    assert [(f["name"], f["status"]) for f in listed] == [("scratch", "delete-pending")]
    assert (await new.vfolders.get("scratch").info())["status"] == "delete-pending"
    with pytest.raises(BadRequestError) as caught:
        await new.vfolders.create("scratch")
    assert caught.value.problem_type == "https://api.backend.ai/probs/invalid-api-params"
    assert caught.value.msg is not None and "already exists" in caught.value.msg
    # Deleting it from the trash frees the name (raw call: no trash method yet).
    await new._transport.call(
        "POST",
        new._transport.url("folders", "delete-from-trash-bin"),
        json={"vfolder_id": str(created["id"])},
    )
    again = await new.vfolders.create("scratch")
    assert again["id"] != created["id"]


async def test_delete_then_recreate_on_23_09(old: Client) -> None:
    await old.vfolders.create("scratch")
    await old.vfolders.get("scratch").delete()
    assert (await old.vfolders.create("scratch"))["name"] == "scratch"


async def test_folders_by_id_and_uuid(new: Client) -> None:
    created = await new.vfolders.create("data")
    folder_id = uuid.UUID(created["id"])
    assert (await new.vfolders.get(folder_id).info())["name"] == "data"
    assert (await new.vfolders.get(str(folder_id)).info())["name"] == "data"
    handle = new.vfolders.get(folder_id)
    assert handle.name == str(folder_id)
    await handle.mkdir("sub")
    assert [e.name for e in await new.vfolders.get(folder_id).entries()] == ["sub"]
    await new.vfolders.get(folder_id).delete()
    assert (await new.vfolders.list())[0]["status"] == "delete-pending"


def test_vfolder_create_has_no_quota() -> None:
    assert "quota" not in inspect.signature(VFolders.create).parameters


# -- creation options --------------------------------------------------------------------------


async def test_26_9_options_reach_the_server(new: Client) -> None:
    folder = await new.vfolders.create("mounted")
    answer = await new.create_if_not_exists(
        "python",
        "with-options",
        priority=20,
        job_priority=1,
        is_preemptible=False,
        batch_timeout=60,
        mount_ids=[uuid.UUID(folder["id"])],
        mount_id_map={uuid.UUID(folder["id"]): "/home/work/mounted"},
        attach_network=None,
    )
    assert answer["created"] is True


async def test_options_newer_than_the_server_are_refused_before_sending(old: Client) -> None:
    for option, value in (
        ("priority", 20),
        ("batch_timeout", 60),
        ("job_priority", 1),
        ("is_preemptible", False),
        ("mount_ids", []),
        ("mount_id_map", {}),
        ("attach_network", str(uuid.uuid4())),
    ):
        with pytest.raises(InvalidArgumentError, match=f"{option} needs API"):
            await old.create_if_not_exists("python", "too-new", **{option: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("version", "option", "allowed"),
    [
        ("v8.20240315", "priority", False),
        ("v8.20240915", "priority", True),
        ("v8.20240915", "batch_timeout", False),
        ("v9.20250722", "batch_timeout", True),
        ("v8.20240915", "mount_ids", False),
        ("v9.20250722", "mount_ids", True),
        ("v9.20250722", "attach_network", True),
        ("v9.20250722", "is_preemptible", True),
    ],
)
def test_option_gates(version: str, option: str, allowed: bool) -> None:
    api = parse_api_version(version)
    if allowed:
        body = build_create_body(api, "python", "name", {option: 1})
        assert option in body or option in body.get("config", {})
    else:
        with pytest.raises(InvalidArgumentError):
            build_create_body(api, "python", "name", {option: 1})


def test_ids_become_text() -> None:
    folder = uuid.uuid4()
    body = build_create_body(
        parse_api_version("v9.20250722"),
        "python",
        "name",
        {"mount_ids": [folder], "mount_id_map": {folder: "/m"}, "attach_network": folder},
    )
    assert body["config"] == {
        "mount_ids": [str(folder)],
        "mount_id_map": {str(folder): "/m"},
        "attach_network": str(folder),
    }


# -- retries of create_if_not_exists -------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "idempotent"),
    [({}, True), ({"reuse_if_exists": True}, True), ({"reuse_if_exists": False}, False)],
)
def test_create_is_idempotent(options: dict[str, object], idempotent: bool) -> None:
    assert create_is_idempotent(options) is idempotent


async def _unavailable(
    server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(response("503 Service Unavailable", b"{}", {"Content-Type": "application/json"}))
    await writer.drain()


@pytest.mark.parametrize(("reuse", "sent"), [(True, 3), (False, 1)])
async def test_create_only_is_not_retried(reuse: bool, sent: int) -> None:
    async with FaultServer(_unavailable) as server:
        config = ClientConfig("AKIAEXAMPLE", "secret", server.url)
        policy = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.02)
        async with Client(config, retry=policy) as client:
            with pytest.raises(InternalServerError):
                await client.create_if_not_exists("python", "once-only", reuse_if_exists=reuse)
        assert server.requests == sent
