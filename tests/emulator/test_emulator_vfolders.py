"""Virtual folders over raw signed requests: path refusals, the project, deleted folders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backendai_aio.emulator import Emulator
from backendai_aio.emulator._accounts import DEFAULT_GROUP_ID
from backendai_aio.emulator._vfolders import UPLOAD_PATH, VFOLDER_STORE_KEY, VFolderStore

from .wire import PROBS, Wire, invalid


def store_of(emulator: Emulator) -> VFolderStore:
    return emulator._app[VFOLDER_STORE_KEY]


def folder_root(emulator: Emulator, name: str) -> Path:
    store = store_of(emulator)
    return next(folder.root for folder in store.folders.values() if folder.name == name)


async def entries(wire: Wire, folder: str, path: str = ".") -> list[str]:
    status, body = await wire.call("GET", f"/folders/{folder}/files", body={"path": path})
    assert status == 200, body
    return [item["name"] for item in body["items"]]


async def create_folder(wire: Wire, name: str, **options: Any) -> dict[str, Any]:
    status, body = await wire.call("POST", "/folders", body={"name": name, **options})
    assert status == 201, body
    return dict(body)


@pytest.mark.parametrize(
    ("method", "call", "body", "key"),
    [
        ("DELETE", "delete-files", {"files": ["sub/.."], "recursive": True}, "files"),
        ("DELETE", "delete-files", {"files": ["."], "recursive": True}, "files"),
        ("DELETE", "delete-files", {"files": [""], "recursive": True}, "files"),
        ("DELETE", "delete-files", {"files": ["keep/../../x"], "recursive": True}, "files"),
        ("POST", "mkdir", {"path": "a/../b"}, "path"),
        ("POST", "mkdir", {"path": ".."}, "path"),
        ("POST", "mkdir", {"path": "a\x00b"}, "path"),
        ("POST", "rename-file", {"target_path": "sub/..", "new_name": "x"}, "target_path"),
        ("POST", "rename-file", {"target_path": ".", "new_name": "x"}, "target_path"),
        ("POST", "rename-file", {"target_path": "keep", "new_name": "."}, "new_name"),
        ("POST", "rename-file", {"target_path": "keep", "new_name": ".."}, "new_name"),
        ("POST", "rename-file", {"target_path": "keep", "new_name": "a\x00"}, "new_name"),
        ("POST", "request-upload", {"path": "sub/../f", "size": 1}, "path"),
        ("POST", "request-download", {"path": "sub/../keep/f"}, "path"),
    ],
)
async def test_paths_through_dot_dot_or_to_the_folder_itself_are_refused(
    user_wire: Wire, method: str, call: str, body: dict[str, Any], key: str
) -> None:
    await create_folder(user_wire, "vf1")
    for path in ("sub", "keep"):
        assert (await user_wire.call("POST", "/folders/vf1/mkdir", body={"path": path}))[0] == 201
    status, answer = await user_wire.call(method, f"/folders/vf1/{call}", body=body)
    assert status == 400, answer
    assert answer["type"] == PROBS + "invalid-api-params"
    assert set(answer["data"]) == {key}
    # Nothing changed in the folder.
    assert await entries(user_wire, "vf1") == ["keep", "sub"]
    assert await entries(user_wire, "vf1", "sub") == []


async def test_a_link_leading_out_of_the_folder_is_refused(
    emulator: Emulator, user_wire: Wire, tmp_path: Path
) -> None:
    await create_folder(user_wire, "links")
    root = folder_root(emulator, "links")
    (tmp_path / "secret").write_text("outside")
    (root / "inside").mkdir()
    (root / "inside" / "f").write_text("in")
    (root / "out").symlink_to(tmp_path)
    (root / "a").mkdir()
    (root / "a" / "in").symlink_to(root / "inside")
    for path in ("out", "out/deeper"):
        status, answer = await user_wire.call("GET", "/folders/links/files", body={"path": path})
        assert (status, answer.get("type")) == (400, PROBS + "vfolder-operation-failed"), path
    # Its files cannot be fetched either: the proxy finds no such file.
    status, ticket = await user_wire.call(
        "POST", "/folders/links/request-download", body={"path": "out/secret"}
    )
    assert status == 200, ticket
    async with aiohttp.ClientSession() as http:
        async with http.get(ticket["url"], params={"token": ticket["token"]}) as response:
            assert response.status == 404
            assert b"outside" not in await response.read()
    # A link that stays inside the folder is followed, as a file system would.
    assert await entries(user_wire, "links", "a/in") == ["f"]


async def test_plain_paths_still_work(user_wire: Wire) -> None:
    await create_folder(user_wire, "vf2")
    assert (await user_wire.call("POST", "/folders/vf2/mkdir", body={"path": "a/b"}))[0] == 201
    status, body = await user_wire.call(
        "POST", "/folders/vf2/rename-file", body={"target_path": "a/b", "new_name": "..c"}
    )
    assert (status, body) == (200, {})
    assert await entries(user_wire, "vf2", "a") == ["..c"]
    status, body = await user_wire.call(
        "DELETE", "/folders/vf2/delete-files", body={"files": ["a"], "recursive": "yes"}
    )
    assert (status, body) == (200, {})
    assert await entries(user_wire, "vf2") == []
    status, body = await user_wire.call(
        "DELETE", "/folders/vf2/delete-files", body={"files": ["x"], "recursive": ["yes"]}
    )
    assert (status, body) == (400, invalid({"recursive": "value can't be converted to Bool"}))


async def test_bad_values_are_refused_not_failed(user_wire: Wire) -> None:
    status, body = await user_wire.call(
        "POST", "/folders", body={"name": "vf3", "usage_mode": ["x"]}
    )
    assert (status, body) == (400, invalid({"usage_mode": "value doesn't match any variant"}))
    await create_folder(user_wire, "vf3")
    status, body = await user_wire.call(
        "POST", "/folders/vf3/invite", body={"perm": {"rw": 1}, "user_ids": ["a@b.c"]}
    )
    assert (status, body) == (400, invalid({"perm": "value doesn't match any variant"}))
    status, body = await user_wire.call("GET", "/folders", body={"all": [1]})
    assert (status, body) == (400, invalid({"all": "value can't be converted to Bool"}))


async def test_project_folders_belong_to_the_default_project(
    admin_wire: Wire, user_wire: Wire
) -> None:
    project = str(DEFAULT_GROUP_ID)
    for name, group in (("by-name", "default"), ("by-id", project), ("by-hex", project[:8])):
        status, body = await admin_wire.call(
            "POST", "/folders", body={"name": name, "group": group}
        )
        if name == "by-hex":
            assert (status, body["type"]) == (404, PROBS + "object-not-found")
        else:
            assert (status, body["group"]) == (201, project)
    status, listed = await user_wire.call("GET", "/folders")
    assert status == 200
    assert {(entry["name"], entry["group"]) for entry in listed} == {
        ("by-name", project),
        ("by-id", project),
    }
    # Sessions are in the same project.
    session = await user_wire.create_session("vf-project")
    assert session["status"] == "RUNNING"
    status, info = await user_wire.call("GET", "/session/vf-project")
    assert (status, info["groupId"]) == (200, project)


async def test_deleting_a_folder_ends_its_uploads(emulator: Emulator, user_wire: Wire) -> None:
    store = store_of(emulator)
    await create_folder(user_wire, "gone")
    root = folder_root(emulator, "gone")
    status, ticket = await user_wire.call(
        "POST", "/folders/gone/request-upload", body={"path": "d/f.bin", "size": 6}
    )
    assert status == 200, ticket
    upload = store.uploads[ticket["token"]]
    staging = upload.staging
    proceed = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"abc"
        await proceed.wait()
        yield b"def"

    url = f"{emulator.endpoint}{UPLOAD_PATH}?token={ticket['token']}"
    headers = {
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream",
    }
    async with aiohttp.ClientSession() as proxy:
        patch = asyncio.create_task(proxy.patch(url, headers=headers, data=body()))
        for _ in range(200):
            if upload.lock.locked():  # the PATCH is being received
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the upload did not start")
        # The folder goes while the body is still arriving.
        assert (await user_wire.call("DELETE", "/folders/gone"))[0] == 204
        assert not staging.exists()
        proceed.set()
        async with await patch as response:
            answer = await response.json(content_type=None)
        assert (response.status, answer["type"]) == (404, PROBS + "storage/no-such-upload-session")
        async with proxy.head(url, headers={"Tus-Resumable": "1.0.0"}) as response:
            assert response.status == 400
    assert not root.exists()
    assert not staging.exists()
    assert ticket["token"] not in store.uploads
    assert list((store.root / "staging").iterdir()) == []


async def test_deleting_a_folder_removes_pending_staging_files(
    emulator: Emulator, user_wire: Wire
) -> None:
    store = store_of(emulator)
    await create_folder(user_wire, "pending")
    for index in range(2):
        status, _ = await user_wire.call(
            "POST", "/folders/pending/request-upload", body={"path": f"f{index}", "size": 5}
        )
        assert status == 200
    assert len(list((store.root / "staging").iterdir())) == 2
    assert (await user_wire.call("DELETE", "/folders/pending"))[0] == 204
    assert list((store.root / "staging").iterdir()) == []
    assert store.uploads == {}
