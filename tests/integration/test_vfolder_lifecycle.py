"""The folder lifecycle against the real managers: rename, options, clone, moves, sharing, trash.

Each test makes its own folders under fresh names and removes them (on 26.9 from the trash
too), so runs sharing a long-lived manager never collide.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backendai_aio import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    Client,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    UnsupportedServerError,
)

from ._support import Release

DEFAULT_GROUP = "2de2b969-1d04-48a6-af16-0bc8adb3c831"


def fresh() -> str:
    return f"aio-it-lc-{secrets.token_hex(5)}"


async def remove(client: Client, release: Release, name: str) -> None:
    """Delete *name* for good, whatever state it is in."""
    with contextlib.suppress(NotFoundError):
        await client.vfolders.delete(name)
    if not release.is_2309:
        with contextlib.suppress(BackendError):
            await client.vfolders.delete_forever(name)


@contextlib.asynccontextmanager
async def folders(client: Client, release: Release) -> AsyncIterator[list[str]]:
    """Names the test creates (appended as it goes), all removed afterwards."""
    made: list[str] = []
    try:
        yield made
    finally:
        for name in made:
            await remove(client, release, name)


async def names(client: Client, name: str, path: str = ".") -> list[str]:
    return sorted(item["name"] for item in (await client.vfolders.list_files(name, path))["items"])


async def test_rename_options_and_moves(user_client: Client, release: Release) -> None:
    vfolders = user_client.vfolders
    async with folders(user_client, release) as made:
        old, new, taken = fresh(), fresh(), fresh()
        made += [old, new, taken]
        await vfolders.create(old)
        await vfolders.create(taken)
        await vfolders.upload(old, b"abc", "raw/a.txt")
        with pytest.raises(BadRequestError, match="already has the name you requested"):
            await vfolders.rename(old, taken)
        handle = await vfolders.rename(old, new)
        assert await names(user_client, handle.name) == ["raw"]
        with pytest.raises(NotFoundError):
            await vfolders.info(old)

        await vfolders.update_options(new, permission="ro", cloneable=True)
        info = await vfolders.info(new)
        assert info.get("cloneable") is True
        # 26.9 shows the owner "rw" whatever the folder's permission; 23.09 the permission.
        assert info["permission"] == ("ro" if release.is_2309 else "rw")
        await vfolders.update_options(new, permission="rw")

        with pytest.raises(BadRequestError):  # no such destination directory
            await vfolders.move_file(new, "raw/a.txt", "done/a.txt")
        await vfolders.mkdir(new, "done")
        await vfolders.move_file(new, "raw/a.txt", "done/a.txt")
        assert await names(user_client, new, "raw") == []
        assert await names(user_client, new, "done") == ["a.txt"]


async def test_clone(user_client: Client, release: Release, tmp_path: Path) -> None:
    vfolders = user_client.vfolders
    async with folders(user_client, release) as made:
        source, plain, copy = fresh(), fresh(), fresh()
        made += [source, plain, copy]
        await vfolders.create(source, cloneable=True)
        await vfolders.create(plain)
        await vfolders.upload(source, b"cloned bytes", "d/one.txt")
        if release.is_2309:
            # This 23.09 stack's storage proxy cannot clone: the manager answers 500.
            with pytest.raises(InternalServerError):
                await vfolders.clone(source, copy)
            return
        with pytest.raises(PermissionDeniedError, match="not permitted to be cloned"):
            await vfolders.clone(plain, fresh())
        cloned = await vfolders.clone(source, copy)
        assert cloned["name"] == copy
        for _ in range(50):  # the manager copies in the background
            with contextlib.suppress(BackendError):
                if await names(user_client, copy, "d") == ["one.txt"]:
                    break
            await asyncio.sleep(0.2)
        await vfolders.download(copy, "d/one.txt", tmp_path / "one.txt")
        assert (tmp_path / "one.txt").read_bytes() == b"cloned bytes"


async def test_invite_then_leave(
    user_client: Client, admin_client: Client, release: Release
) -> None:
    async with folders(user_client, release) as made:
        name = fresh()
        made.append(name)
        await user_client.vfolders.create(name)
        folder_id = (await user_client.vfolders.info(name))["id"]
        await user_client.vfolders.invite(name, "admin@lablup.com", "ro")
        pending = [
            inv
            for inv in (await admin_client.vfolders.invitations())["invitations"]
            if inv["vfolder_name"] == name
        ]
        await admin_client.vfolders.accept_invitation(pending[0]["id"])
        ref = name if release.is_2309 else folder_id
        assert (await admin_client.vfolders.info(ref))["name"] == name
        if release.is_2309:
            with pytest.raises(BadRequestError, match="owned by the requesting user"):
                await user_client.vfolders.leave(name)
        else:
            await user_client.vfolders.leave(name)  # 26.9: the owner's leave changes nothing
        await admin_client.vfolders.leave(ref)
        assert name not in {entry["name"] for entry in await admin_client.vfolders.list()}
        assert name in {entry["name"] for entry in await user_client.vfolders.list()}


async def test_share_a_project_folder(
    user_client: Client, admin_client: Client, release: Release
) -> None:
    async with folders(admin_client, release) as made:
        name = fresh()
        made.append(name)
        await admin_client.vfolders.create(name, group=DEFAULT_GROUP)
        refused = AuthenticationError if release.is_2309 else PermissionDeniedError
        with pytest.raises(refused):
            await user_client.vfolders.share(name, "ro", "user@lablup.com")
        assert await admin_client.vfolders.share(name, "ro", ["user@lablup.com"]) == [
            "user@lablup.com"
        ]
        shares = [
            (s["shared_to"]["email"], s["perm"], s["type"], s["owner"])
            for s in (await admin_client.vfolders.shared())["shared"]
            if s["vfolder_name"] == name
        ]
        assert shares == [("user@lablup.com", "ro", "project", DEFAULT_GROUP)]
        assert await admin_client.vfolders.unshare(name, "user@lablup.com") == ["user@lablup.com"]
        remaining = (await admin_client.vfolders.shared())["shared"]
        assert all(s["vfolder_name"] != name for s in remaining)


async def test_trash(user_client: Client, admin_client: Client, release: Release) -> None:
    vfolders = user_client.vfolders
    async with folders(user_client, release) as made:
        name = fresh()
        made.append(name)
        await vfolders.create(name)
        await vfolders.upload(name, b"keep me", "k.txt")
        await vfolders.delete(name)
        if release.is_2309:
            with pytest.raises(UnsupportedServerError, match=r"24\.03"):
                await vfolders.restore(name)
            await vfolders.create(name)  # deleted for good: the name is free
            return
        with pytest.raises(BadRequestError, match="already exists"):
            await vfolders.create(name)  # in the trash, the name stays taken
        await vfolders.restore(name)
        assert await names(user_client, name) == ["k.txt"]
        folder_id = (await vfolders.info(name))["id"]
        await vfolders.restore(folder_id)  # not in the trash: nothing to do
        await vfolders.delete(folder_id)
        with pytest.raises(PermissionDeniedError, match="not allowed to purge"):
            await vfolders.purge(name)
        await vfolders.delete_forever(name)
        await vfolders.create(name)  # the name is free again
        with pytest.raises(NotFoundError):
            await vfolders.restore(fresh())


async def test_download_archive(user_client: Client, release: Release, tmp_path: Path) -> None:
    vfolders = user_client.vfolders
    async with folders(user_client, release) as made:
        name = fresh()
        made.append(name)
        await vfolders.create(name)
        files = {
            "raw/a.csv": b"a,b\n1,2\n",
            "raw/deep/b.bin": bytes(range(256)) * 64,
            "n.txt": b"n",
        }
        for path, data in files.items():
            await vfolders.upload(name, data, path)
        await vfolders.upload(name, b"left out", "other.txt")
        if release.is_2309:
            with pytest.raises(UnsupportedServerError, match=r"26\.9"):
                await vfolders.download_archive(name, ["raw"], tmp_path / "a.zip")
            return
        written = await vfolders.download_archive(name, ["raw", "n.txt"], f"{tmp_path}/")
        assert written == tmp_path / f"{name}.zip"
        with zipfile.ZipFile(written) as archive:
            got = {entry: archive.read(entry) for entry in archive.namelist()}
        assert got == files
        with pytest.raises(NotFoundError, match="File not found"):
            await vfolders.download_archive(name, "missing", tmp_path / "x.zip")
        assert not (tmp_path / "x.zip").exists()
