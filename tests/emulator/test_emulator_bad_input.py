"""Odd input the emulator must refuse (400), never store, and never answer with a 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backendai_aio._signing import authorization_header, sign
from backendai_aio.emulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Emulator
from backendai_aio.emulator._sessions import REGISTRY_KEY
from backendai_aio.emulator._vfolders import UPLOAD_PATH, VFOLDER_STORE_KEY

from .wire import API_VERSION, PROBS, Wire

TUS = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}
HUGE_DATE = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    # The 26.9 profile (the default).
    return {"flush_window": 0.2}


async def _ticket(wire: Wire, folder: str, path: str, size: int) -> str:
    status, body = await wire.call("POST", "/folders", body={"name": folder})
    assert status == 201, body
    status, body = await wire.call(
        "POST", f"/folders/{folder}/request-upload", body={"path": path, "size": size}
    )
    assert status == 200, body
    return str(body["token"])


async def _patch(
    emulator: Emulator, token: str, data: Any, offset: str = "0"
) -> tuple[int, dict[str, str], Any]:
    url = f"{emulator.endpoint}{UPLOAD_PATH}?token={token}"
    async with aiohttp.ClientSession() as proxy, asyncio.timeout(20):
        async with proxy.patch(url, headers={**TUS, "Upload-Offset": offset}, data=data) as r:
            text = await r.text()
            return r.status, dict(r.headers), json.loads(text) if text else None


async def _head_offset(emulator: Emulator, token: str) -> int:
    url = f"{emulator.endpoint}{UPLOAD_PATH}?token={token}"
    async with aiohttp.ClientSession() as proxy, asyncio.timeout(10):
        async with proxy.head(url, headers={"Tus-Resumable": "1.0.0"}) as response:
            assert response.status == 200
            return int(response.headers["Upload-Offset"])


def _folder_file(emulator: Emulator, folder: str, path: str) -> Path:
    store = emulator._app[VFOLDER_STORE_KEY]
    root = next(f.root for f in store.folders.values() if f.name == folder)
    return root / path


# -- tus -------------------------------------------------------------------------------------


async def test_a_chunked_patch_cannot_store_more_than_declared(
    emulator: Emulator, admin_wire: Wire
) -> None:
    token = await _ticket(admin_wire, "tus-over", "f.bin", 10)

    async def ten_mib() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * (1 << 20)

    # No Content-Length: the size is only known as the body arrives.
    status, _, body = await _patch(emulator, token, ten_mib())
    assert (status, body["type"]) == (400, PROBS + "storage/invalid-api-params")
    assert not _folder_file(emulator, "tus-over", "f.bin").exists()
    staging = emulator._app[VFOLDER_STORE_KEY].uploads[token].staging
    assert staging.stat().st_size == 0
    # The refused PATCH left nothing behind: the upload can still be made.
    assert await _head_offset(emulator, token) == 0

    async def ten_bytes() -> AsyncIterator[bytes]:
        yield b"0123456789"

    status, headers, _ = await _patch(emulator, token, ten_bytes())
    assert (status, headers["Upload-Offset"]) == (204, "10")
    assert _folder_file(emulator, "tus-over", "f.bin").read_bytes() == b"0123456789"


async def test_a_chunked_patch_past_the_rest_keeps_what_came_before(
    emulator: Emulator, admin_wire: Wire
) -> None:
    token = await _ticket(admin_wire, "tus-rest", "f.bin", 6)
    status, headers, _ = await _patch(emulator, token, b"abc")
    assert (status, headers["Upload-Offset"]) == (204, "3")

    async def too_much() -> AsyncIterator[bytes]:
        yield b"de"
        yield b"fgh"

    status, _, _ = await _patch(emulator, token, too_much(), offset="3")
    assert status == 400
    assert await _head_offset(emulator, token) == 3


@pytest.mark.parametrize(
    "offset", ["\u00b2", "\u0661", "1" * 5000, "-1", "+0", "0x0", " ", "", "0 0", "1e3"]
)
async def test_odd_upload_offsets_are_refused(
    emulator: Emulator, admin_wire: Wire, offset: str
) -> None:
    token = await _ticket(admin_wire, "tus-odd", "f.bin", 4)
    status, _, body = await _patch(emulator, token, b"abcd", offset=offset)
    assert (status, body["type"]) == (400, PROBS + "storage/invalid-api-params")
    assert await _head_offset(emulator, token) == 0


# -- downloads -------------------------------------------------------------------------------


async def _download_ticket(emulator: Emulator, admin: Wire) -> str:
    token = await _ticket(admin, "dl-odd", "f.bin", 4)
    assert (await _patch(emulator, token, b"abcd"))[0] == 204
    status, body = await admin.call(
        "POST", "/folders/dl-odd/request-download", body={"path": "f.bin"}
    )
    assert status == 200, body
    return str(body["token"])


@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "bytes=" + "9" * 5000 + "-"},
        {"Range": "bytes=0-" + "9" * 5000},
        {"Range": "bytes=-" + "9" * 5000},
        {"Range": "bytes=\u00b2-"},
        {"Range": "bytes=0-1", "If-Range": HUGE_DATE},
        {"Range": "bytes=0-1", "If-Range": "Mon, 01 Jan 2020 99:00:00 GMT"},
    ],
)
async def test_odd_download_headers_are_not_a_server_error(
    emulator: Emulator, admin_wire: Wire, headers: dict[str, str]
) -> None:
    token = await _download_ticket(emulator, admin_wire)
    url = f"{emulator.endpoint}/storage-proxy/download?token={token}"
    async with aiohttp.ClientSession() as proxy, asyncio.timeout(10):
        async with proxy.get(url, headers=headers) as response:
            data = await response.read()
    # An unusable Range is ignored (the whole file) or unsatisfiable; never a failure.
    assert (response.status, data) in ((200, b"abcd"), (416, b""))


# -- the request checks ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Date", "X-BackendAI-Date"])
@pytest.mark.parametrize("value", [HUGE_DATE, "Mon, 01 Jan 2020 00:00:00 +99999", "\u00b2"])
async def test_odd_dates_are_refused(emulator: Emulator, name: str, value: str) -> None:
    host = emulator.endpoint.removeprefix("http://")
    signature = sign(
        secret_key=DEFAULT_SECRET_KEY,
        method="GET",
        path_qs="/session/x",
        date=datetime.now(UTC),
        date_header=value,
        host=host,
        content_type="application/json",
        api_version=API_VERSION,
    )
    headers = {
        name: value,
        "Content-Type": "application/json",
        "X-BackendAI-Version": API_VERSION,
        "Authorization": authorization_header(DEFAULT_ACCESS_KEY, signature),
    }
    async with aiohttp.ClientSession() as http, asyncio.timeout(10):
        skip = ["Date"] if name != "Date" else []
        async with http.get(
            emulator.endpoint + "/session/x", headers=headers, skip_auto_headers=skip
        ) as response:
            body = await response.json(content_type=None)
    assert (response.status, body["type"]) == (400, PROBS + "invalid-auth-params")


# -- session uploads -------------------------------------------------------------------------


def _plain_form(filename: str) -> aiohttp.MultipartWriter:
    writer = aiohttp.MultipartWriter("form-data")
    part = writer.append(b"evil")
    # Quoted, as browsers and the official SDK send it; aiohttp's parser drops the leading
    # "/" of such a name.
    part.headers["Content-Disposition"] = f'form-data; name="src"; filename="{filename}"'
    return writer


@pytest.mark.parametrize("filename", ["/etc/abs-escape.txt", "//abs-escape.txt", "\\abs-escape"])
async def test_an_absolute_upload_path_is_refused(
    emulator: Emulator, admin_wire: Wire, filename: str
) -> None:
    await admin_wire.create_session("abs-up")
    workdir = emulator._app[REGISTRY_KEY].get(admin_wire.access_key, "abs-up").workdir
    status, body = await admin_wire.call(
        "POST",
        "/session/abs-up/upload",
        data=_plain_form(filename),
        content_type="multipart/form-data",
    )
    assert (status, body["msg"]) == (400, "malformed upload filename and path.")
    assert list(workdir.iterdir()) == []


async def test_an_absolute_upload_path_under_home_work_lands_there(
    emulator: Emulator, admin_wire: Wire
) -> None:
    await admin_wire.create_session("abs-ok")
    workdir = emulator._app[REGISTRY_KEY].get(admin_wire.access_key, "abs-ok").workdir
    status, _ = await admin_wire.call(
        "POST",
        "/session/abs-ok/upload",
        data=_plain_form("/home/work/sub/ok.txt"),
        content_type="multipart/form-data",
    )
    assert status == 204
    assert (workdir / "sub" / "ok.txt").read_bytes() == b"evil"
    assert not (workdir / "home").exists()
