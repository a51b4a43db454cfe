"""The emulator's release profiles: 23.09 and 26.9 answer as their managers do."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from yarl import URL

from backendai_aio._signing import authorization_header, sign
from backendai_aio.emulator import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    USER_ACCESS_KEY,
    USER_SECRET_KEY,
    Emulator,
)
from backendai_aio.emulator.__main__ import _parse_args
from backendai_aio.emulator._releases import DEFAULT_RELEASE, RELEASES, release_profile

from ..conftest import make_emulator

PROBS = "https://api.backend.ai/probs/"


class Raw:
    """Signed raw calls speaking one API version."""

    def __init__(
        self,
        emulator: Emulator,
        http: aiohttp.ClientSession,
        version: str,
        access_key: str = DEFAULT_ACCESS_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
    ) -> None:
        self.emulator, self.http, self.version = emulator, http, version
        self.access_key, self.secret_key = access_key, secret_key

    async def call(
        self, method: str, path_qs: str, body: Any = None, *, version: str | None = None
    ) -> tuple[int, Any]:
        url = URL(self.emulator.endpoint + path_qs, encoded=True)
        moment = datetime.now(UTC)
        api_version = version or self.version
        signature = sign(
            secret_key=self.secret_key,
            method=method,
            path_qs=url.raw_path_qs,
            date=moment,
            host=f"{url.host}:{url.port}",
            content_type="application/json",
            api_version=api_version,
        )
        headers = {
            "Date": moment.isoformat(),
            "X-BackendAI-Version": api_version,
            "Authorization": authorization_header(self.access_key, signature),
            "Content-Type": "application/json",
        }
        data = None if body is None else json.dumps(body).encode()
        async with self.http.request(method, url, data=data, headers=headers) as response:
            text = await response.read()
            return response.status, json.loads(text) if text else None


@pytest.fixture
async def old(http: aiohttp.ClientSession) -> AsyncIterator[Raw]:
    async with make_emulator(release="23.09", flush_window=0.2) as emulator:
        yield Raw(emulator, http, "v7.20230615")


@pytest.fixture
async def new(http: aiohttp.ClientSession) -> AsyncIterator[Raw]:
    async with make_emulator(release="26.9", flush_window=0.2) as emulator:
        yield Raw(emulator, http, "v9.20250722")


async def _create(raw: Raw, name: str, **extra: Any) -> tuple[int, Any]:
    return await raw.call("POST", "/session", {"image": "python", "name": name, **extra})


# -- versions ----------------------------------------------------------------------------------


def test_default_release_and_profiles() -> None:
    assert DEFAULT_RELEASE == "26.9"
    assert set(RELEASES) == {"23.09", "26.9"}
    with pytest.raises(ValueError, match="unknown release"):
        release_profile("24.03")
    with pytest.raises(ValueError, match="cannot speak"):
        Emulator(release="23.09", api_version="v9.20250722")


def test_cli_takes_a_release() -> None:
    args = _parse_args(["--release", "23.09", "--api-version", "v6.20230315"])
    assert (args.release, args.api_version) == ("23.09", "v6.20230315")
    assert _parse_args([]).release == "26.9"
    assert _parse_args([]).api_version is None


async def test_root_reports_the_release(old: Raw, new: Raw) -> None:
    async with old.http.get(old.emulator.endpoint + "/") as response:
        assert await response.json() == {"version": "v7.20230615", "manager": "23.9.10"}
    async with new.http.get(new.emulator.endpoint + "/") as response:
        assert await response.json() == {"version": "v9.20250722", "manager": "26.9.6"}


@pytest.mark.parametrize(
    ("version", "on_23_09", "on_26_9"),
    [
        ("v6.20210815", 200, 400),  # 26.9 dropped it
        ("v6.20221201", 400, 200),  # new in 26.9
        ("v4.20190615", 200, 200),
        ("v8.20240915", 400, 200),
    ],
)
async def test_accepted_versions(
    old: Raw, new: Raw, version: str, on_23_09: int, on_26_9: int
) -> None:
    assert (await old.call("GET", "/auth/role", version=version))[0] == on_23_09
    assert (await new.call("GET", "/auth/role", version=version))[0] == on_26_9


# -- problem bodies ----------------------------------------------------------------------------


async def test_unknown_session_per_release(old: Raw, new: Raw) -> None:
    assert await old.call("GET", "/session/nosuch") == (
        404,
        {
            "type": PROBS + "object-not-found",
            "title": "No such session.",
            "msg": "Session (id=nosuch) does not exist.",
        },
    )
    assert await new.call("GET", "/session/nosuch") == (
        404,
        {
            "type": PROBS + "entity-not-found",
            "title": "Entity not found.",
            "error_code": "session_lookup_not-found",
            "msg": "No SessionRow matches the given key",
        },
    )


async def test_error_codes_only_on_26_9(old: Raw, new: Raw) -> None:
    status, body = await new.call("GET", "/no-such-path")
    assert status == 404
    assert body["error_code"] == "api_read_not-found"
    status, body = await new.call("POST", "/session", {"name": "x"})
    assert (status, body["error_code"]) == (400, "api_generic_invalid-parameters")
    status, body = await old.call("GET", "/no-such-path")
    assert status == 404
    assert "error_code" not in body


# -- restart -----------------------------------------------------------------------------------


async def test_restart_per_release(old: Raw, new: Raw) -> None:
    assert (await _create(old, "restart-me"))[0] == 201
    assert (await old.call("PATCH", "/session/restart-me"))[0] == 204
    assert (await _create(new, "restart-me"))[0] == 201
    assert await new.call("PATCH", "/session/restart-me") == (
        501,
        {
            "type": PROBS + "not-implemented",
            "title": "This API is not implemented.",
            "error_code": "api_generic_not-implemented",
            "msg": "Session restart is no longer supported. "
            "Terminate the session and enqueue a new one instead.",
        },
    )
    # The stub looks nothing up: an unknown session gets the same answer.
    assert (await new.call("PATCH", "/session/nosuch"))[0] == 501


# -- check-presets -----------------------------------------------------------------------------


async def test_check_presets_per_release(old: Raw, new: Raw) -> None:
    assert (await old.call("POST", "/resource/check-presets", {}))[0] == 200
    status, body = await new.call("POST", "/resource/check-presets", {})
    assert status == 400
    assert body["type"] == PROBS + "invalid-api-params"
    assert "group" in body["msg"] and "Field required" in body["msg"]
    assert (await new.call("POST", "/resource/check-presets", {"group": "default"}))[0] == 200
    status, body = await new.call(
        "POST", "/resource/check-presets", {"group": "2de2b969-1d04-48a6-af16-0bc8adb3c831"}
    )
    assert (status, body["type"]) == (404, PROBS + "project-not-found")


# -- session creation config and options ---------------------------------------------------------


async def test_26_9_sdk_config_keys(old: Raw, new: Raw) -> None:
    config: dict[str, Any] = {
        "mount_ids": [],
        "mount_id_map": {},
        "attach_network": None,
        "environ": {},
    }
    assert (await _create(new, "sdk-26-config", config=config))[0] == 201
    # 23.09 checks config strictly and fails on keys it does not know.
    assert (await _create(old, "sdk-26-config", config=config))[0] == 500


async def test_26_9_config_keys_follow_the_api_version(new: Raw) -> None:
    folder = str(uuid.uuid4())
    status, _ = await _create(new, "v8-config", config={"mount_ids": [folder]})
    assert status == 201  # mount_ids at v9 ...
    status, body = await new.call(
        "POST",
        "/session",
        {"image": "python", "name": "v8-config2", "config": {"mount_ids": "x"}},
    )
    assert (status, body["title"]) == (400, "Missing or invalid API parameters.")


async def test_creation_options_per_release(old: Raw, new: Raw) -> None:
    options = {"priority": 20, "job_priority": 1, "is_preemptible": False, "batch_timeout": 60}
    assert (await _create(new, "with-options", **options))[0] == 201
    status, body = await _create(old, "with-options", **options)
    assert status == 400
    assert body["data"]["priority"] == "priority is not allowed key"
    status, body = await _create(new, "bad-priority", priority=101)
    assert (status, body["data"]) == (400, {"priority": "value is greater than 100"})


# -- events ------------------------------------------------------------------------------------


async def _first_events(raw: Raw, path_qs: str, count: int) -> list[str]:
    url = URL(raw.emulator.endpoint + path_qs, encoded=True)
    moment = datetime.now(UTC)
    signature = sign(
        secret_key=DEFAULT_SECRET_KEY,
        method="GET",
        path_qs=url.raw_path_qs,
        date=moment,
        host=f"{url.host}:{url.port}",
        content_type="application/json",
        api_version=raw.version,
    )
    headers = {
        "Date": moment.isoformat(),
        "X-BackendAI-Version": raw.version,
        "Authorization": authorization_header(DEFAULT_ACCESS_KEY, signature),
        "Content-Type": "application/json",
    }
    names: list[str] = []
    async with raw.http.get(url, headers=headers) as response:
        assert response.status == 200
        async with asyncio.timeout(10):
            async for line in response.content:
                if line.startswith(b"data:"):
                    names.append(json.loads(line[5:])["sessionName"])
                    if len(names) == count:
                        break
    return names


async def test_events_filter_by_session_name_on_26_9(new: Raw) -> None:
    assert (await _create(new, "watched"))[0] == 201
    status, body = await new.call("GET", "/events/session?sessionName=not-yet")
    assert (status, body["type"]) == (404, PROBS + "entity-not-found")
    # name= is ignored: that stream carries every session's events.
    everything = asyncio.create_task(_first_events(new, "/events/session?name=watched", 2))
    watched = asyncio.create_task(_first_events(new, "/events/session?sessionName=watched", 1))
    await asyncio.sleep(0.3)
    assert (await _create(new, "other-one"))[0] == 201
    assert (await new.call("DELETE", "/session/watched"))[0] == 200
    assert await watched == ["watched"]
    assert "other-one" in await everything


async def test_events_filter_by_name_on_23_09(old: Raw) -> None:
    watched = asyncio.create_task(_first_events(old, "/events/session?name=watched", 1))
    await asyncio.sleep(0.3)
    assert (await _create(old, "other-one"))[0] == 201
    assert (await _create(old, "watched"))[0] == 201
    assert await watched == ["watched"]


# -- folders -----------------------------------------------------------------------------------


async def test_delete_moves_to_the_trash_on_26_9(new: Raw) -> None:
    status, created = await new.call("POST", "/folders", {"name": "scratch"})
    assert status == 201
    assert (await new.call("DELETE", "/folders/scratch"))[0] == 204
    listed = (await new.call("GET", "/folders"))[1]
    assert [(f["name"], f["status"]) for f in listed] == [("scratch", "delete-pending")]
    status, details = await new.call("GET", "/folders/scratch")
    assert (status, details["status"]) == (200, "delete-pending")
    assert (await new.call("GET", "/folders/scratch/files"))[0] == 404
    status, body = await new.call("POST", "/folders", {"name": "scratch"})
    assert (status, body["type"]) == (400, PROBS + "invalid-api-params")
    assert body["msg"] == (
        "The virtual folder already exists with the same name."
        " (VFolder with the given name already exists. (scratch))"
    )
    folder_id = created["id"]
    assert (await new.call("POST", "/folders/restore-from-trash-bin", {"vfolder_id": folder_id}))[
        0
    ] == 204
    assert (await new.call("GET", "/folders/scratch"))[0] == 200
    assert (await new.call("DELETE", "/folders/scratch"))[0] == 204
    assert (await new.call("POST", "/folders/delete-from-trash-bin", {"id": folder_id}))[0] == 204
    assert (await new.call("GET", "/folders"))[1] == []
    assert (await new.call("POST", "/folders", {"name": "scratch"}))[0] == 201


async def test_sdk_26_9_folder_flow(new: Raw) -> None:
    # The 26.9 SDK resolves the name (also of a folder in the trash) and reads mkdir's answer.
    _, created = await new.call("POST", "/folders", {"name": "flow"})
    status, answer = await new.call("POST", f"/folders/{created['id']}/mkdir", {"path": "a/b"})
    assert (status, answer) == (
        201,
        {"results": {"success": [{"item": "a/b", "msg": None}], "failed": []}},
    )
    assert (await new.call("DELETE", "/folders/flow"))[0] == 204
    status, found = await new.call("GET", "/folders/_/id", {"name": "flow"})
    assert (status, found["id"]) == (200, str(uuid.UUID(created["id"])))
    assert (await new.call("POST", "/folders/delete-from-trash-bin", {"id": found["id"]}))[0] == 204
    assert (await new.call("GET", "/folders/_/id", {"name": "flow"}))[0] == 404


async def test_delete_by_id_on_26_9(new: Raw) -> None:
    # The 26.9 SDK deletes with DELETE /folders and the id (hex) in the body.
    _, created = await new.call("POST", "/folders", {"name": "by-id"})
    assert (await new.call("DELETE", "/folders", {"id": created["id"]}))[0] == 204
    assert (await new.call("GET", "/folders"))[1][0]["status"] == "delete-pending"
    assert (await new.call("DELETE", "/folders", {"id": created["id"]}))[0] == 404
    assert (await new.call("DELETE", "/folders", {}))[0] == 400


async def test_trash_calls_need_a_folder_in_the_trash(new: Raw) -> None:
    _, created = await new.call("POST", "/folders", {"name": "keep"})
    status, _ = await new.call("POST", "/folders/purge", {"vfolder_id": created["id"]})
    assert status == 400
    status, _ = await new.call("POST", "/folders/purge", {"vfolder_id": str(uuid.uuid4())})
    assert status == 404
    assert (await new.call("DELETE", "/folders/keep"))[0] == 204
    assert (await new.call("POST", "/folders/purge", {"vfolderId": created["id"]}))[0] == 204
    assert (await new.call("POST", "/folders", {"name": "keep"}))[0] == 201


async def test_delete_frees_the_name_on_23_09(old: Raw) -> None:
    assert (await old.call("POST", "/folders", {"name": "scratch"}))[0] == 201
    assert (await old.call("DELETE", "/folders/scratch"))[0] == 204
    assert (await old.call("POST", "/folders", {"name": "scratch"}))[0] == 201
    # No trash: the path is taken for a folder name, which takes no POST.
    assert (await old.call("POST", "/folders/restore-from-trash-bin", {"id": "x"}))[0] == 405


async def test_folder_id_lookup_on_26_9(old: Raw, new: Raw) -> None:
    _, created = await new.call("POST", "/folders", {"name": "data"})
    folder_id = str(uuid.UUID(created["id"]))
    assert await new.call("GET", "/folders/_/id", {"name": "data"}) == (
        200,
        {"id": folder_id, "name": "data"},
    )
    assert (await new.call("GET", "/folders/_/id?vfolder_name=data"))[1]["id"] == folder_id
    assert (await new.call("GET", "/folders/_/id", {"name": "nosuch"}))[0] == 404
    # Every named call takes the id too.
    assert (await new.call("GET", f"/folders/{folder_id}"))[1]["name"] == "data"
    assert (await new.call("GET", f"/folders/{created['id']}/files"))[0] == 200
    assert (await old.call("POST", "/folders", {"name": "data"}))[0] == 201
    assert (await old.call("GET", "/folders/_/id", {"name": "data"}))[0] == 404


async def _share_with_user(admin: Raw) -> tuple[Raw, str]:
    """Create ``shared``, invite the example user and accept as them; answer their caller."""
    _, created = await admin.call("POST", "/folders", {"name": "shared"})
    status, _ = await admin.call(
        "POST", "/folders/shared/invite", {"perm": "ro", "emails": ["user@lablup.com"]}
    )
    assert status == 201
    user = Raw(admin.emulator, admin.http, admin.version, USER_ACCESS_KEY, USER_SECRET_KEY)
    _, invitations = await user.call("GET", "/folders/invitations/list")
    inv_id = invitations["invitations"][0]["id"]
    assert (await user.call("POST", "/folders/invitations/accept", {"inv_id": inv_id}))[0] == 200
    return user, str(uuid.UUID(created["id"]))


async def test_a_shared_folder_is_reached_by_id_only_on_26_9(new: Raw) -> None:
    user, folder_id = await _share_with_user(new)
    assert (await user.call("GET", "/folders/shared"))[0] == 404
    assert (await user.call("GET", f"/folders/{folder_id}"))[1]["name"] == "shared"


async def test_a_shared_folder_is_reached_by_name_on_23_09(old: Raw) -> None:
    user, _ = await _share_with_user(old)
    assert (await user.call("GET", "/folders/shared"))[0] == 200


# -- session download methods -------------------------------------------------------------------


async def test_download_methods_per_release(old: Raw, new: Raw) -> None:
    body = {"files": ["missing.txt"]}
    for raw in (old, new):
        assert (await _create(raw, "downloads"))[0] == 201
    # 23.09: GET only (the file does not exist, so the GET reaches the handler: not 405).
    assert (await old.call("GET", "/session/downloads/download_single", {"file": "x"}))[0] != 405
    assert (await old.call("POST", "/session/downloads/download", body))[0] == 405
    # 26.9: POST only.
    assert (await new.call("GET", "/session/downloads/download", body))[0] == 405
    assert (await new.call("POST", "/session/downloads/download_single", {"file": "x"}))[0] != 405


async def test_download_get_is_deprecated_at_v8_20240915(http: aiohttp.ClientSession) -> None:
    # 24.09 to 25.x (API v8.20240915) keep a GET stub: ai/backend/manager/api/session.py of
    # 24.9.0 routes GET .../download to deprecated_get_stub and POST to download_files.
    async with Emulator(release="26.9", api_version="v8.20240915") as emulator:
        raw = Raw(emulator, http, "v8.20240915")
        assert (await _create(raw, "downloads"))[0] == 201
        status, problem = await raw.call("GET", "/session/downloads/download", {"files": ["a"]})
        assert (status, problem["type"], problem["title"]) == (
            400,
            PROBS + "deprecated",
            "This API is deprecated.",
        )
        status, problem = await raw.call(
            "POST", "/session/downloads/download_single", {"file": "a"}
        )
        # The POST reaches the handler, which finds no such file.
        assert status != 405
        assert problem["type"] != PROBS + "deprecated"
