"""Virtual-folder uploads against storage proxies that answer oddly, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
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
from ..fault_server import FaultServer, response

TOKEN = "upload-token-never-shown"
Answer = Callable[[str, dict[str, str], int], Awaitable[bytes | None]]


def _request(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return lines[0].split(" ", 1)[0], headers


class Proxy:
    """A tus storage proxy answering by *answer(method, headers, n)*; ``None`` drops."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.listed: list[str] = []

    async def __call__(
        self, server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        method, headers = _request(server.heads[-1])
        self.seen.append((method, headers))
        raw = await self.answer(method, headers, len(self.seen))
        if raw is None:
            writer.transport.abort()
            return
        writer.write(raw)
        await writer.drain()


def _offset(value: int, status: str = "200 OK") -> bytes:
    return response(status, headers={"Upload-Offset": str(value)})


@asynccontextmanager
async def uploading(
    answer: Answer, listing: object = None, listing_status: int = 200
) -> AsyncIterator[tuple[Client, Proxy]]:
    proxy = Proxy(answer)
    async with FaultServer(proxy) as storage:
        app = root_app()

        async def ticket(request: web.Request) -> web.Response:
            return web.json_response({"url": f"{storage.url}/upload", "token": TOKEN})

        async def files(request: web.Request) -> web.Response:
            proxy.listed.append(request.query["path"])
            body = json.dumps({"items": []} if listing is None else listing)
            return web.Response(
                body=body.encode(), status=listing_status, content_type="application/json"
            )

        app.router.add_post("/folders/{name}/request-upload", ticket)
        app.router.add_get("/folders/{name}/files", files)
        async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
            yield client, proxy


def _no_token(error: BaseException) -> None:
    assert TOKEN not in f"{error} {error!r} {getattr(error, 'url', '')}"


@pytest.mark.parametrize("head", [response("200 OK"), _offset(99)])
async def test_a_head_without_a_usable_offset_is_refused(head: bytes) -> None:
    async def answer(method: str, headers: dict[str, str], n: int) -> bytes | None:
        return None if method == "PATCH" else head

    async with uploading(answer) as (client, proxy):
        with pytest.raises(ResponseError, match="no valid Upload-Offset") as caught:
            await asyncio.wait_for(client.vfolders.get("f").upload(b"hello", "x"), 10)
    assert caught.value.message.startswith(
        "uploading 'x' to virtual folder 'f' (HEAD after a failed PATCH)"
    )
    assert "for 5 bytes" in caught.value.message
    assert [method for method, _ in proxy.seen] == ["PATCH", "HEAD"]
    _no_token(caught.value)


async def test_an_unknown_upload_session_is_a_response_error() -> None:
    async def answer(method: str, headers: dict[str, str], n: int) -> bytes | None:
        return response("404 Not Found")

    async with uploading(answer) as (client, proxy):
        with pytest.raises(ResponseError, match="does not know the upload session") as caught:
            await asyncio.wait_for(client.vfolders.get("f").upload(b"hello", "x"), 10)
    assert caught.value.status == 404
    assert "(PATCH at byte 0)" in caught.value.message
    assert [method for method, _ in proxy.seen] == ["PATCH"]  # no retry: it never existed
    _no_token(caught.value)


async def test_a_fresh_upload_sends_at_once_without_asking_the_offset() -> None:
    async def answer(method: str, headers: dict[str, str], n: int) -> bytes | None:
        return _offset(min(int(headers["upload-offset"]) + 2, 5), "204 No Content")

    async with uploading(answer) as (client, proxy):
        assert await client.vfolders.get("f").upload(b"hello", "x", chunk_size=2) == 5
    assert [(m, h["upload-offset"]) for m, h in proxy.seen] == [
        ("PATCH", "0"),
        ("PATCH", "2"),
        ("PATCH", "4"),
    ]


@pytest.mark.parametrize(
    ("heads", "resumed_at"),
    [
        ([2, 3, 3], 3),  # still draining, then settled
        ([1, 2, 1, 2, 1, 2], 2),  # never settles: the last answer is taken
    ],
)
async def test_after_a_dropped_patch_the_offset_is_asked_until_it_settles(
    heads: list[int], resumed_at: int
) -> None:
    answers = iter(heads)

    async def answer(method: str, headers: dict[str, str], n: int) -> bytes | None:
        if method == "PATCH" and headers["upload-offset"] == "0":
            return None
        if method == "PATCH":
            return _offset(5, "204 No Content")
        return _offset(next(answers))

    async with uploading(answer) as (client, proxy):
        assert await asyncio.wait_for(client.vfolders.get("f").upload(b"hello", "x"), 10) == 5
    patches = [headers for method, headers in proxy.seen if method == "PATCH"]
    assert [p["upload-offset"] for p in patches] == ["0", str(resumed_at)]
    assert patches[-1]["content-length"] == str(5 - resumed_at)
    assert sum(method == "HEAD" for method, _ in proxy.seen) == len(heads)


async def test_a_stream_cannot_go_back_before_its_window() -> None:
    async def answer(method: str, headers: dict[str, str], n: int) -> bytes | None:
        if method == "HEAD":
            return _offset(0)  # the proxy lost what it had
        if headers["upload-offset"] == "0" and n == 1:
            return _offset(2, "204 No Content")
        return None

    async def chunks() -> AsyncIterator[bytes]:
        yield b"he"
        yield b"llo"

    async with uploading(answer) as (client, _):
        with pytest.raises(InvalidArgumentError, match="cannot resume from byte 0") as caught:
            await asyncio.wait_for(
                client.vfolders.get("f").upload(chunks(), "x", size=5, chunk_size=2), 10
            )
    assert "PATCH at byte 0" in caught.value.message
    assert "use a larger chunk_size or a file source" in caught.value.message


async def test_a_file_shrinking_during_the_upload_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(b"0123456789")

    async def answer(method: str, headers: dict[str, str], n: int) -> bytes | None:
        if method == "HEAD":
            return _offset(0)
        source.write_bytes(b"01234")  # shrinks once the first half is through
        return _offset(int(headers["upload-offset"]) + 5, "204 No Content")

    async with uploading(answer) as (client, proxy):
        with pytest.raises(LocalIOError, match="shrank to 5 bytes") as caught:
            await asyncio.wait_for(client.vfolders.get("f").upload(source, chunk_size=5), 10)
    assert "(it had 10)" in caught.value.message
    assert [h.get("upload-offset") for m, h in proxy.seen if m == "PATCH"] == ["0"]


def _gone_after_the_last_patch() -> Answer:
    async def answer(method: str, headers: dict[str, str], n: int) -> bytes | None:
        if method == "HEAD":
            return response("404 Not Found")  # completed and forgotten
        return None

    return answer


async def test_a_session_gone_after_the_last_patch_is_checked_in_the_listing() -> None:
    listing = {"items": [42, {"name": "other", "size": 10}, {"name": "x.bin", "size": 5}]}
    reports: list[tuple[int, int | None]] = []
    async with uploading(_gone_after_the_last_patch(), listing) as (client, proxy):
        stored = await asyncio.wait_for(
            client.vfolders.get("f").upload(
                b"hello", "sub/x.bin", progress=lambda d, t: reports.append((d, t))
            ),
            10,
        )
    assert stored == 5
    assert proxy.listed == ["sub"]
    assert reports[-1] == (5, 5)


@pytest.mark.parametrize(
    "listing",
    [{"items": [{"name": "other", "size": 5}]}, {"items": "none"}, ["x.bin"]],
)
async def test_a_session_gone_without_the_file_is_an_error(listing: object) -> None:
    async with uploading(_gone_after_the_last_patch(), listing) as (client, proxy):
        with pytest.raises(BackendError, match="the upload session is gone") as caught:
            await asyncio.wait_for(client.vfolders.get("f").upload(b"hello", "x.bin"), 10)
    assert proxy.listed == ["."]
    _no_token(caught.value)


async def test_a_failing_listing_names_the_check() -> None:
    async with uploading(_gone_after_the_last_patch(), {"title": "broken"}, 500) as (client, _):
        with pytest.raises(BackendError, match="listing the folder to check the upload") as caught:
            await asyncio.wait_for(client.vfolders.get("f").upload(b"hello", "x.bin"), 10)
    assert caught.value.status == 500
    _no_token(caught.value)


async def test_a_patch_answer_without_progress_is_refused() -> None:
    async def answer(method: str, headers: dict[str, str], n: int) -> bytes | None:
        return _offset(0, "200 OK" if method == "HEAD" else "204 No Content")

    async with uploading(answer) as (client, proxy):
        with pytest.raises(ResponseError, match="answered Upload-Offset 0 after 5 bytes of 5"):
            await asyncio.wait_for(client.vfolders.get("f").upload(b"hello", "x"), 10)
    assert len(proxy.seen) == 1  # not tried again


async def test_a_failing_head_after_a_dropped_patch() -> None:
    async def answer(method: str, headers: dict[str, str], n: int) -> bytes | None:
        if method == "HEAD":
            return response("500 Internal Server Error")
        return None

    async with uploading(answer) as (client, proxy):
        with pytest.raises(BackendError, match="HEAD after a failed PATCH") as caught:
            await asyncio.wait_for(client.vfolders.get("f").upload(b"hello", "x"), 10)
    assert caught.value.status == 500
    assert [m for m, _ in proxy.seen] == ["PATCH", "HEAD"]


async def test_a_conflicting_head_after_a_dropped_patch_is_tried_again() -> None:
    async def answer(method: str, headers: dict[str, str], n: int) -> bytes | None:
        if method == "HEAD" and n == 2:
            return response("409 Conflict")
        if method == "HEAD":
            return _offset(0)
        if n == 1:
            return None
        return _offset(5, "204 No Content")

    async with uploading(answer) as (client, proxy):
        assert await asyncio.wait_for(client.vfolders.get("f").upload(b"hello", "x"), 10) == 5
    assert [m for m, _ in proxy.seen] == ["PATCH", "HEAD", "HEAD", "HEAD", "PATCH"]


async def test_an_upload_repr_names_the_file_and_folder_only() -> None:
    from yarl import URL

    from backendai_aio._transfer.tus import Upload

    async with Client(ClientConfig("AK", "SK", "http://127.0.0.1:9")) as client:
        upload = Upload(client._transport, "f", "a/b.txt", URL("http://127.0.0.1:9/u"), TOKEN, None)
        assert repr(upload) == "<Upload 'a/b.txt' to 'f'>"
