"""Session file transfers over loopback: upload, download, single-file streams, listing."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from backendai_aio import (
    BackendError,
    Client,
    ClientConfig,
    InvalidArgumentError,
    LocalIOError,
    ResponseError,
)

from ..app_servers import app_server, root_app


async def test_upload_list_download_round_trip(admin_client: Client, tmp_path: Path) -> None:
    await admin_client.create_if_not_exists("python", "files-1")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)

    async def generated() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"line {i}\n".encode()

    seen: list[tuple[int, int | None]] = []
    await admin_client.sessions.upload(
        "files-1",
        [src / "a.txt", src / "sub" / "b.bin"],
        basedir=src,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (5 + 25600, 5 + 25600)
    await admin_client.sessions.upload(
        "files-1", {"gen/lines.txt": generated(), "raw.bin": b"\x00\x01"}
    )

    listing = await admin_client.sessions.list_files("files-1", "sub")
    entries = json.loads(listing["files"])
    assert [(e["filename"], e["size"]) for e in entries] == [("b.bin", 25600)]

    result = await admin_client.sessions.run(
        "files-1", "print(open('gen/lines.txt').read().count('line'))"
    )
    assert result.stdout == "3\n"

    dest = tmp_path / "dest"
    names = await admin_client.sessions.download("files-1", ["a.txt", "sub", "raw.bin"], dest)
    assert "a.txt" in names
    assert (dest / "a.txt").read_text() == "alpha"
    assert (dest / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert (dest / "raw.bin").read_bytes() == b"\x00\x01"


async def test_download_in_batches_of_five(admin_client: Client, tmp_path: Path) -> None:
    await admin_client.create_if_not_exists("python", "files-many")
    files = {f"f{i}.txt": str(i).encode() for i in range(12)}
    await admin_client.sessions.upload("files-many", files)
    names = await admin_client.sessions.download("files-many", list(files), tmp_path)
    assert sorted(names) == sorted(files)
    assert all((tmp_path / name).read_bytes() == data for name, data in files.items())


async def test_download_single_streams_and_writes(admin_client: Client, tmp_path: Path) -> None:
    await admin_client.create_if_not_exists("python", "files-single")
    payload = os.urandom(3 * 1024 * 1024 + 17)
    await admin_client.sessions.upload("files-single", {"big.bin": payload})
    digest = hashlib.sha256()
    async with admin_client.sessions.download_single("files-single", "big.bin") as stream:
        assert stream.total == len(payload)
        async for chunk in stream:
            assert len(chunk) <= 1024 * 1024
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()
    progress: list[int] = []
    size = await admin_client.sessions.download_single_to(
        "files-single", "big.bin", tmp_path / "copy.bin", progress=lambda d, t: progress.append(d)
    )
    assert size == len(payload)
    assert (tmp_path / "copy.bin").read_bytes() == payload
    assert progress[-1] == len(payload)


async def test_rename_then_info_by_the_new_name(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "old-name")
    await admin_client.sessions.rename("old-name", "new-name")
    assert (await admin_client.get_info("new-name"))["status"] == "RUNNING"
    with pytest.raises(BackendError):
        await admin_client.get_info("old-name")
    with pytest.raises(InvalidArgumentError):
        await admin_client.sessions.rename("new-name", "x")


async def test_file_errors(admin_client: Client, tmp_path: Path) -> None:
    await admin_client.create_if_not_exists("python", "files-errors")
    with pytest.raises(LocalIOError, match="no such file") as no_file:
        await admin_client.sessions.upload("files-errors", {"x": tmp_path / "missing"})
    assert no_file.value.errno == errno.ENOENT
    assert no_file.value.filename == str(tmp_path / "missing")
    with pytest.raises(InvalidArgumentError, match="escapes the folder"):
        await admin_client.sessions.upload("files-errors", {"../escape": b"x"})
    with pytest.raises(InvalidArgumentError, match="outside the base folder"):
        await admin_client.sessions.upload(
            "files-errors", [tmp_path], basedir=tmp_path / "elsewhere"
        )
    with pytest.raises(BackendError) as missing:
        async with admin_client.sessions.download_single("files-errors", "nope.txt") as stream:
            await stream.read()
    assert missing.value.status in (400, 404, 500)


def _evil_tar(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        ok = tarfile.TarInfo("fine.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = link
        data = b"" if kind != tarfile.REGTYPE else b"evil"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "archive",
    [
        _evil_tar("/tmp/backendai-aio-absolute.txt"),
        _evil_tar("../escaped.txt"),
        _evil_tar("link-out", tarfile.SYMTYPE, "/etc"),
        _evil_tar("link-up", tarfile.SYMTYPE, "../.."),
    ],
)
async def test_malicious_archive_is_refused(tmp_path: Path, archive: bytes) -> None:
    app = root_app()

    async def download(request: web.Request) -> web.Response:
        boundary = "evilboundary"
        body = (
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
            + archive
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return web.Response(body=body, content_type=f"multipart/mixed; boundary={boundary}")

    app.router.add_route("*", "/session/{name}/download", download)
    outside = tmp_path / "outside"
    dest = outside / "dest"
    dest.mkdir(parents=True)
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        with pytest.raises(ResponseError, match="unsafe archive"):
            await client.sessions.download("abcd", ["x"], dest)
    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["dest", "outside"]
    assert not Path("/tmp/backendai-aio-absolute.txt").exists()


async def test_list_entries_are_typed(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "files-typed")
    await admin_client.sessions.upload("files-typed", {"dir/a.txt": b"abc", "b.bin": b"12345"})
    entries = {
        entry.name: entry for entry in await admin_client.sessions.list_entries("files-typed")
    }
    assert entries["b.bin"].size == 5
    assert entries["b.bin"].type == "FILE"
    assert entries["dir"].is_dir
    assert entries["b.bin"].raw["filename"] == "b.bin"  # the server's entry stays reachable


async def test_a_failing_progress_callback_is_raised_as_itself(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "files-progress-error")

    def broken(done: int, total: int | None) -> None:
        raise ZeroDivisionError("the progress bar broke")

    with pytest.raises(ZeroDivisionError, match="progress bar"):
        await admin_client.sessions.upload(
            "files-progress-error", {"x.bin": b"x" * 10}, progress=broken
        )
