"""Session file transfers against hostile servers and bad local paths, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path

import pytest
from aiohttp import web

from backendai_aio import BackendError, Client, ClientConfig, LocalIOError, ResponseError
from backendai_aio.emulator import Emulator

from ..app_servers import app_server, root_app
from ..unit.test_tarsafe import cve_2025_4517_tar


def _multipart(parts: list[bytes], boundary: str = "evilboundary") -> web.Response:
    body = b"".join(
        f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode() + part + b"\r\n"
        for part in parts
    )
    body += f"--{boundary}--\r\n".encode()
    return web.Response(body=body, content_type=f"multipart/mixed; boundary={boundary}")


async def test_cve_2025_4517_archive_from_a_server_writes_nothing_outside(
    tmp_path: Path,
) -> None:
    archive = cve_2025_4517_tar(tmp_path / "cve.tar").read_bytes()
    app = root_app()

    async def download(request: web.Request) -> web.Response:
        return _multipart([archive])

    app.router.add_route("*", "/session/{name}/download", download)
    outside = tmp_path / "outside"
    dest = outside / "dest"
    dest.mkdir(parents=True)
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        with pytest.raises(ResponseError, match="unsafe archive"):
            await asyncio.wait_for(client.sessions.download("abcd", ["x"], dest), 10)
    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in outside.iterdir()) == ["dest"]
    assert not (outside / "escaped.txt").exists()


async def test_malformed_multipart_is_a_response_error_naming_the_call(tmp_path: Path) -> None:
    app = root_app()

    async def download(request: web.Request) -> web.Response:
        # A part header line far longer than any parser accepts, without an end.
        body = b"--b\r\nX-Junk: " + b"x" * 200_000 + b"\r\n\r\ndata\r\n--b--\r\n"
        return web.Response(body=body, content_type="multipart/mixed; boundary=b")

    app.router.add_route("*", "/session/{name}/download", download)
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        with pytest.raises(ResponseError, match=r"POST .*/session/abcd/download") as caught:
            await asyncio.wait_for(client.sessions.download("abcd", ["x"], tmp_path), 10)
    # aiohttp's own words for the bad part: LineTooLong today, "Chunk too big" on 3.12.1.
    assert re.search(r"LineTooLong|Chunk too big", str(caught.value))


@pytest.mark.parametrize(
    ("version", "method"),
    [("v7.20230615", "GET"), ("v8.20240315", "GET"), ("v8.20240915", "POST")],
)
async def test_download_method_by_api_version(tmp_path: Path, version: str, method: str) -> None:
    app = root_app(version)
    seen: list[str] = []

    async def single(request: web.Request) -> web.Response:
        seen.append(request.method)
        return web.Response(body=b"x")

    app.router.add_route("*", "/session/{name}/download_single", single)
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        await client.sessions.download_single_to("abcd", "x.txt", tmp_path / "x.txt")
    assert seen == [method]


async def test_downloads_on_the_24_09_profile_use_post(tmp_path: Path) -> None:
    """24.09 (API ``v8.20240915``) answers GET downloads with 400 "This API is deprecated".

    backend.ai-manager 24.9.3, ``ai/backend/manager/api/session.py`` line 2433:
    ``cors.add(app.router.add_route("GET", "/{session_name}/download", deprecated_get_stub))``
    (and line 2434 for ``download_single``); lines 2435-2436 route both on POST.
    """
    async with Emulator(api_version="v8.20240915") as emulator:
        async with Client(emulator.config) as client:
            await client.create_if_not_exists("python", "old-dl")
            await client.sessions.upload("old-dl", {"a.txt": b"alpha"})
            assert await client.sessions.download("old-dl", ["a.txt"], tmp_path) == ["a.txt"]
            assert (tmp_path / "a.txt").read_bytes() == b"alpha"
            async with client.sessions.download_single("old-dl", "a.txt") as stream:
                assert await stream.read() == b"alpha"
            # What the previous method choice met there:
            with pytest.raises(BackendError, match="deprecated"):
                await client._transport.call(
                    "GET",
                    client._transport.url("session", "old-dl", "download_single"),
                    json={"file": "a.txt"},
                )


async def test_download_progress_reaches_its_total(admin_client: Client, tmp_path: Path) -> None:
    await admin_client.create_if_not_exists("python", "dl-progress")
    await admin_client.sessions.upload("dl-progress", {"a.bin": b"a" * 300_000, "b.bin": b"b" * 5})
    reports: list[tuple[int, int | None]] = []
    await admin_client.sessions.download(
        "dl-progress", ["a.bin", "b.bin"], tmp_path, progress=lambda d, t: reports.append((d, t))
    )
    done, total = reports[-1]
    assert total is not None and done == total


async def test_download_single_to_local_problems_are_backend_errors(
    admin_client: Client, tmp_path: Path
) -> None:
    await admin_client.create_if_not_exists("python", "dl-local")
    await admin_client.sessions.upload("dl-local", {"a.txt": b"alpha"})
    with pytest.raises(LocalIOError, match="does not exist"):
        await admin_client.sessions.download_single_to(
            "dl-local", "a.txt", tmp_path / "missing" / "a.txt"
        )
    # An existing folder takes the file under its own name; so does a path ending in "/".
    assert await admin_client.sessions.download_single_to("dl-local", "a.txt", tmp_path) == 5
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"
    await admin_client.sessions.download_single_to("dl-local", "a.txt", f"{tmp_path}/new/")
    assert (tmp_path / "new" / "a.txt").read_bytes() == b"alpha"
    # A folder in the way of the file is a local error, not a bare IsADirectoryError.
    (tmp_path / "in-the-way").mkdir()
    (tmp_path / "in-the-way" / "a.txt").mkdir()
    with pytest.raises(LocalIOError, match="is a folder"):
        await admin_client.sessions.download_single_to("dl-local", "a.txt", tmp_path / "in-the-way")
    async with admin_client.sessions.download_single("dl-local", "a.txt") as stream:
        with pytest.raises(LocalIOError):
            await stream.to_file(tmp_path / "in-the-way" / "a.txt")


async def test_download_single_to_keeps_modes(admin_client: Client, tmp_path: Path) -> None:
    await admin_client.create_if_not_exists("python", "dl-mode")
    await admin_client.sessions.upload("dl-mode", {"a.txt": b"alpha"})
    old = os.umask(0o027)
    try:
        await admin_client.sessions.download_single_to("dl-mode", "a.txt", tmp_path / "new.txt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640
    replaced = tmp_path / "replaced.txt"
    replaced.write_bytes(b"old")
    replaced.chmod(0o604)
    await admin_client.sessions.download_single_to("dl-mode", "a.txt", replaced)
    assert stat.S_IMODE(replaced.stat().st_mode) == 0o604
    assert replaced.read_bytes() == b"alpha"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.txt", "replaced.txt"]


async def test_byte_stream_repr_names_the_call_without_the_query(admin_client: Client) -> None:
    await admin_client.create_if_not_exists("python", "dl-repr")
    await admin_client.sessions.upload("dl-repr", {"a.txt": b"alpha"})
    async with admin_client.sessions.download_single("dl-repr", "a.txt") as stream:
        await stream.read()
        text = repr(stream)
    assert text.startswith("<ByteStream POST http://127.0.0.1:")
    assert "/session/dl-repr/download_single status=200 read=5/5>" in text
    assert "file=" not in text


async def test_a_failing_download_progress_callback_is_raised_as_itself(
    admin_client: Client, tmp_path: Path
) -> None:
    await admin_client.create_if_not_exists("python", "dl-progress-error")
    await admin_client.sessions.upload("dl-progress-error", {"a.bin": b"a" * 1000})

    def broken(done: int, total: int | None) -> None:
        raise ValueError("the progress bar broke")

    with pytest.raises(ValueError, match="progress bar") as caught:
        await admin_client.sessions.download(
            "dl-progress-error", ["a.bin"], tmp_path, progress=broken
        )
    assert not isinstance(caught.value, BackendError)
