"""The folder lifecycle against the emulator, on both release profiles: every call does the work."""

from __future__ import annotations

import inspect
import io
import zipfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from backendai_aio import (
    AuthenticationError,
    BadRequestError,
    Client,
    ClientConfig,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnsupportedServerError,
    VFolder,
    VFolders,
)
from backendai_aio._vfolder_by_name import by_name
from backendai_aio.emulator import create_app

from ..app_servers import app_server

ADMIN_KEY, ADMIN_SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
USER_KEY, USER_SECRET = "AKIANABBDUSEREXAMPLE", "C8qnIo29EZvXkPK_MXcuAakYTy4NYrxwmCEyNPlf"


@pytest.fixture(params=["23.09", "26.9"])
def release(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
async def endpoint(release: str) -> AsyncIterator[str]:
    app = create_app(keypairs={ADMIN_KEY: ADMIN_SECRET, USER_KEY: USER_SECRET}, release=release)
    async with app_server(app) as url:
        yield url


@pytest.fixture
async def user(endpoint: str) -> AsyncIterator[Client]:
    async with Client(ClientConfig(USER_KEY, USER_SECRET, endpoint)) as opened:
        yield opened


@pytest.fixture
async def admin(endpoint: str) -> AsyncIterator[Client]:
    async with Client(ClientConfig(ADMIN_KEY, ADMIN_SECRET, endpoint)) as opened:
        yield opened


def names(listing: Mapping[str, Any]) -> list[str]:
    return sorted(item["name"] for item in listing["items"])


def public_calls(cls: type) -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    }


def test_every_handle_call_has_its_by_name_entry() -> None:
    entries = {name for name, value in vars(VFolders).items() if isinstance(value, by_name)}
    assert entries == public_calls(VFolder)
    assert VFolders.rename.__doc__ == VFolder.rename.__doc__


def test_by_name_must_keep_the_name() -> None:
    with pytest.raises(TypeError, match=r"must be by_name\(VFolder.other\)"):
        by_name(VFolder.info).__set_name__(VFolders, "other")
    assert isinstance(VFolders.__dict__["info"].__get__(None, VFolders), by_name)


async def test_by_name_calls_the_handle(user: Client) -> None:
    await user.vfolders.create("by-name")
    assert user.vfolders.info.__name__ == "info"
    assert (await user.vfolders.info("by-name"))["name"] == "by-name"
    await user.vfolders.upload("by-name", b"abc", "a.txt")
    assert names(await user.vfolders.list_files("by-name")) == ["a.txt"]


async def test_rename_and_options(release: str, user: Client) -> None:
    await user.vfolders.create("old")
    await user.vfolders.upload("old", b"kept", "k.txt")
    await user.vfolders.create("taken")
    with pytest.raises(BadRequestError, match="already has the name you requested"):
        await user.vfolders.rename("old", "taken")
    renamed = await user.vfolders.rename("old", "new")
    assert renamed.name == "new"
    assert names(await renamed.list_files()) == ["k.txt"]
    with pytest.raises(NotFoundError):
        await user.vfolders.info("old")

    await user.vfolders.update_options("new", permission="ro", cloneable=True)
    info = await user.vfolders.info("new")
    assert info.get("cloneable") is True
    # 26.9 shows the owner "rw" whatever the folder's permission; 23.09 the permission.
    assert info["permission"] == ("ro" if release == "23.09" else "rw")
    with pytest.raises(InvalidArgumentError):
        await user.vfolders.update_options("new")
    with pytest.raises(InvalidArgumentError):
        await user.vfolders.update_options("new", permission="rwx")


async def test_clone_copies_the_files(user: Client, tmp_path: Path) -> None:
    await user.vfolders.create("src")
    await user.vfolders.upload("src", b"one", "d/one.txt")
    with pytest.raises(PermissionDeniedError):  # not cloneable yet
        await user.vfolders.clone("src", "copy")
    await user.vfolders.update_options("src", cloneable=True)
    cloned = await user.vfolders.clone("src", "copy")
    assert cloned["name"] == "copy"
    await user.vfolders.download("copy", "d/one.txt", tmp_path / "one.txt")
    assert (tmp_path / "one.txt").read_bytes() == b"one"
    await user.vfolders.upload("copy", b"only in the copy", "two.txt")
    assert names(await user.vfolders.list_files("src")) == ["d"]


async def test_move_file(user: Client) -> None:
    await user.vfolders.create("moves")
    await user.vfolders.upload("moves", b"x", "raw/a.csv")
    with pytest.raises(BadRequestError):  # the destination's directory must exist
        await user.vfolders.move_file("moves", "raw/a.csv", "done/a.csv")
    await user.vfolders.mkdir("moves", "done")
    await user.vfolders.move_file("moves", "raw/a.csv", "done/a.csv")
    assert names(await user.vfolders.list_files("moves", "raw")) == []
    assert names(await user.vfolders.list_files("moves", "done")) == ["a.csv"]
    with pytest.raises(BadRequestError):
        await user.vfolders.move_file("moves", "raw/missing", "x")
    with pytest.raises(InvalidArgumentError):
        await user.vfolders.move_file("moves", "../etc", "x")


async def test_invite_then_leave(release: str, user: Client, admin: Client) -> None:
    await user.vfolders.create("lend")
    folder_id = (await user.vfolders.info("lend"))["id"]
    await user.vfolders.invite("lend", "admin@lablup.com", "ro")
    invitation = (await admin.vfolders.invitations())["invitations"][0]
    await admin.vfolders.accept_invitation(invitation["id"])
    # 26.9 reaches a folder shared by invitation by its id only.
    ref = folder_id if release == "26.9" else "lend"
    assert (await admin.vfolders.info(ref))["name"] == "lend"
    if release == "23.09":
        with pytest.raises(BadRequestError, match="owned by the requesting user"):
            await user.vfolders.leave("lend")
    else:
        await user.vfolders.leave("lend")  # 26.9: the owner's leave changes nothing
    assert "lend" in {entry["name"] for entry in await user.vfolders.list()}
    await admin.vfolders.leave(ref)
    assert "lend" not in {entry["name"] for entry in await admin.vfolders.list()}


async def test_share_and_unshare_a_project_folder(
    release: str, user: Client, admin: Client
) -> None:
    await admin.vfolders.create("team", group="default", permission="rw")
    # 23.09 refuses a plain user as for a bad signature (401), 26.9 with 403.
    with pytest.raises(PermissionDeniedError if release == "26.9" else AuthenticationError):
        await user.vfolders.share("team", "ro", "user@lablup.com")
    assert await admin.vfolders.share("team", "ro", ["user@lablup.com"]) == ["user@lablup.com"]
    seen = {entry["name"]: entry for entry in await user.vfolders.list()}
    assert seen["team"]["permission"] == "ro"
    with pytest.raises(NotFoundError):  # read-only now
        await user.vfolders.upload("team", b"x", "x.txt")
    shares = (await admin.vfolders.shared())["shared"]
    assert [(s["vfolder_name"], s["shared_to"]["email"], s["perm"]) for s in shares] == [
        ("team", "user@lablup.com", "ro")
    ]
    assert await admin.vfolders.unshare("team", "user@lablup.com") == ["user@lablup.com"]
    assert (await admin.vfolders.shared())["shared"] == []
    await user.vfolders.upload("team", b"x", "x.txt")  # the project's rw again
    with pytest.raises(InvalidArgumentError):
        await admin.vfolders.share("team", "all", "user@lablup.com")
    with pytest.raises(InvalidArgumentError):
        await admin.vfolders.unshare("team", [])


async def test_trash(release: str, user: Client, admin: Client) -> None:
    await user.vfolders.create("bin")
    await user.vfolders.upload("bin", b"keep me", "k.txt")
    await user.vfolders.delete("bin")
    if release == "23.09":
        with pytest.raises(UnsupportedServerError, match=r"24\.03"):
            await user.vfolders.restore("bin")
        await user.vfolders.create("bin")  # deleted for good: the name is free
        return
    # In the trash: its details show it, and its name stays taken.
    assert (await user.vfolders.info("bin"))["status"] == "delete-pending"
    with pytest.raises(BadRequestError, match="already exists"):
        await user.vfolders.create("bin")
    await user.vfolders.restore("bin")
    assert names(await user.vfolders.list_files("bin")) == ["k.txt"]
    await user.vfolders.delete("bin")
    await user.vfolders.delete_forever("bin")
    await user.vfolders.create("bin")  # the name is free again

    folder_id = (await user.vfolders.info("bin"))["id"]
    await user.vfolders.delete(folder_id)
    with pytest.raises(PermissionDeniedError):
        await user.vfolders.purge(folder_id)
    await user.vfolders.restore(folder_id)
    await user.vfolders.restore(folder_id)  # not in the trash: nothing to do (204)
    with pytest.raises(BadRequestError):  # not in the trash
        await user.vfolders.delete_forever(folder_id)
    assert (await user.vfolders.info(folder_id))["name"] == "bin"
    with pytest.raises(NotFoundError):
        await user.vfolders.restore("no-such-folder")


async def test_download_archive(release: str, user: Client, tmp_path: Path) -> None:
    await user.vfolders.create("arch")
    files = {"raw/a.csv": b"a,b\n1,2\n", "raw/deep/b.bin": bytes(range(256)) * 40, "n.txt": b"n"}
    for path, data in files.items():
        await user.vfolders.upload("arch", data, path)
    await user.vfolders.upload("arch", b"left out", "other.txt")
    if release == "23.09":
        with pytest.raises(UnsupportedServerError, match=r"26\.9"):
            await user.vfolders.download_archive("arch", ["raw"], tmp_path / "a.zip")
        assert not (tmp_path / "a.zip").exists()
        return
    written = await user.vfolders.download_archive("arch", ["raw", "n.txt"], f"{tmp_path}/")
    assert written == tmp_path / "arch.zip"
    with zipfile.ZipFile(io.BytesIO(written.read_bytes())) as archive:
        got = {name: archive.read(name) for name in archive.namelist()}
    assert got == files
    with pytest.raises(InvalidArgumentError):
        await user.vfolders.download_archive("arch", [], tmp_path / "x.zip")
    with pytest.raises(NotFoundError, match="File not found"):  # as the storage proxy says
        await user.vfolders.download_archive("arch", "missing", tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()
