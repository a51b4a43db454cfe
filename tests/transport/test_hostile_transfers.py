"""Virtual-folder transfers against hostile managers and storage proxies on 127.0.0.1.

The storage proxy is a raw TCP server (:class:`FaultServer`) so that it can drop
connections, lie about offsets and ranges, or send what no correct server sends; the
manager is a small aiohttp application handing out its URL. Every test is bounded in time.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from backendai_aio import BackendError, Client, ClientConfig, ResponseError

from ..app_servers import app_server, root_app
from ..fault_server import FaultServer, response

TOKEN = "storage-token-never-shown"
Storage = Callable[[FaultServer, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def manager_app(storage_url: str, listing: bytes = b'{"items": []}') -> web.Application:
    """A manager handing out *storage_url* (and a token) for every transfer."""
    app = root_app()

    async def ticket(request: web.Request) -> web.Response:
        kind = "upload" if request.path.endswith("request-upload") else "download"
        return web.json_response({"url": f"{storage_url}/{kind}", "token": TOKEN})

    async def files(request: web.Request) -> web.Response:
        return web.Response(body=listing, content_type="application/json")

    app.router.add_post("/folders/{name}/request-upload", ticket)
    app.router.add_post("/folders/{name}/request-download", ticket)
    app.router.add_get("/folders/{name}/files", files)
    return app


@asynccontextmanager
async def transfer_client(
    storage: Storage, listing: bytes = b'{"items": []}'
) -> AsyncIterator[tuple[Client, FaultServer]]:
    async with FaultServer(storage) as proxy:
        async with app_server(manager_app(proxy.url, listing)) as url:
            async with Client(ClientConfig("AK", "SK", url)) as client:
                yield client, proxy


def request_of(server: FaultServer) -> tuple[str, dict[str, str]]:
    """The method and headers (lower-case names) of the request being answered."""
    lines = server.heads[-1].decode("latin-1").split("\r\n")
    method = lines[0].split(" ", 1)[0]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, headers


def assert_no_token(error: BaseException) -> None:
    text = f"{error} {error!r} {getattr(error, 'url', '')} {error.__cause__!r}"
    assert TOKEN not in text


# -- the storage proxy's URL ------------------------------------------------------------------


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@asynccontextmanager
async def https_manager(ca: trustme.CA, storage_url: str) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    runner = web.AppRunner(manager_app(storage_url))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def tus_storage(
    server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """A correct tus proxy for a 5-byte upload sent in one PATCH."""
    writer.write(response("204 No Content", headers={"Upload-Offset": "5"}))
    await writer.drain()


async def test_plain_http_storage_proxy_under_https_manager_is_refused(ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with FaultServer(tus_storage) as proxy, https_manager(ca, proxy.url) as url:
        async with Client(ClientConfig("AK", "SK", url), ssl=context) as client:
            with pytest.raises(ResponseError, match="clear text") as caught:
                await asyncio.wait_for(client.vfolders.get("f").upload(b"hello", "a.txt"), 10)
            assert "request-upload" in caught.value.message
            assert "allow_http_storage_proxy" in caught.value.message
            assert_no_token(caught.value)
            assert proxy.requests == 0  # the token never left
            # An explicit opt-in allows it.
            client.vfolders.allow_http_storage_proxy = True
            assert (
                await asyncio.wait_for(client.vfolders.get("f").upload(b"hello", "a.txt"), 10) == 5
            )
            assert proxy.requests == 1  # one PATCH: a fresh upload needs no HEAD


@pytest.mark.parametrize(
    "bad_url",
    ["http://[::1", "http://127.0.0.1:99999/x", "ftp://127.0.0.1/x", "http:///nohost", 42],
)
async def test_bad_storage_url_is_a_response_error_naming_the_call(bad_url: object) -> None:
    app = root_app()

    async def ticket(request: web.Request) -> web.Response:
        return web.json_response({"url": bad_url, "token": TOKEN})

    app.router.add_post("/folders/{name}/request-upload", ticket)
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        with pytest.raises(ResponseError, match=r"POST /folders/f/request-upload") as caught:
            await asyncio.wait_for(client.vfolders.get("f").upload(b"x", "x"), 10)
    assert_no_token(caught.value)


# -- offsets and sizes --------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["HEAD", "PATCH"])
async def test_a_5000_digit_upload_offset_is_a_response_error(where: str) -> None:
    huge = "9" * 5000

    async def storage(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        method, _ = request_of(server)
        if where == "HEAD" and method == "PATCH":
            writer.transport.abort()  # a HEAD comes only after a failed PATCH
            return
        offset = huge if method == where else "0"
        status = "200 OK" if method == "HEAD" else "204 No Content"
        writer.write(response(status, headers={"Upload-Offset": offset}))
        await writer.drain()

    async with transfer_client(storage) as (client, proxy):
        with pytest.raises(ResponseError, match="Upload-Offset") as caught:
            await asyncio.wait_for(client.vfolders.get("f").upload(b"x" * 10, "x"), 10)
    assert caught.value.message.startswith("uploading 'x' to virtual folder 'f'")
    assert where in caught.value.message
    assert proxy.requests <= 2  # not tried again
    assert_no_token(caught.value)


async def test_a_size_of_infinity_in_the_listing_is_no_crash() -> None:
    async def storage(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        method, _ = request_of(server)
        if method == "HEAD" and server.requests == 1:
            writer.write(response("200 OK", headers={"Upload-Offset": "0"}))
        elif method == "HEAD":
            writer.write(response("404 Not Found"))  # the session is gone
        else:
            writer.transport.abort()  # the last PATCH breaks off
            return
        await writer.drain()

    listing = b'{"items": [{"name": "x", "type": "FILE", "size": Infinity}]}'
    async with transfer_client(storage, listing) as (client, _):
        with pytest.raises(BackendError, match="upload session is gone") as caught:
            await asyncio.wait_for(client.vfolders.get("f").upload(b"x" * 10, "x"), 10)
    assert_no_token(caught.value)


# -- transfers that never progress, and ones that always do ---------------------------------------


async def test_a_proxy_restarting_the_upload_from_zero_is_given_up() -> None:
    async def storage(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        method, headers = request_of(server)
        if method == "HEAD":
            # It forgets everything each time.
            writer.write(response("200 OK", headers={"Upload-Offset": "0"}))
        elif headers["upload-offset"] == "0":
            writer.write(response("204 No Content", headers={"Upload-Offset": "1000"}))
        else:
            writer.transport.abort()
            return
        await writer.drain()

    async with transfer_client(storage) as (client, proxy):
        with pytest.raises(BackendError, match="without progress") as caught:
            await asyncio.wait_for(
                client.vfolders.get("f").upload(b"x" * 3000, "x", chunk_size=1000, max_attempts=3),
                15,
            )
    assert "gave up after 3 attempts" in caught.value.message
    assert proxy.requests < 40
    assert_no_token(caught.value)


FILE = bytes(range(256)) * 40  # 10,240 bytes


def ranged_storage(cut: int) -> Storage:
    """A download proxy that honours ranges but drops every answer after *cut* bytes."""

    async def storage(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        _, headers = request_of(server)
        first = int(headers.get("range", "bytes=0-").removeprefix("bytes=").rstrip("-"))
        body = FILE[first:]
        if first:
            head = response(
                "206 Partial Content",
                headers={
                    "Content-Range": f"bytes {first}-{len(FILE) - 1}/{len(FILE)}",
                    "Content-Length": str(len(body)),
                },
            )
        else:
            head = response("200 OK", headers={"Content-Length": str(len(body))})
        writer.write(head[: head.index(b"\r\n\r\n") + 4] + body[:cut])
        await writer.drain()
        if len(body) > cut:
            writer.transport.abort()

    return storage


async def test_a_download_that_always_progresses_is_not_given_up(tmp_path: Path) -> None:
    # Ten drops, each after 1,024 more bytes: every attempt makes progress.
    async with transfer_client(ranged_storage(1024)) as (client, proxy):
        reports: list[tuple[int, int | None]] = []
        back = await asyncio.wait_for(
            client.vfolders.get("f").download(
                "x.bin",
                tmp_path / "x.bin",
                max_attempts=2,
                progress=lambda done, total: reports.append((done, total)),
            ),
            20,
        )
    assert back.read_bytes() == FILE
    assert proxy.requests == 10
    assert reports[-1] == (len(FILE), len(FILE))


async def test_a_206_longer_than_its_content_range_leaves_no_corrupt_file(tmp_path: Path) -> None:
    async def storage(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        _, headers = request_of(server)
        if "range" not in headers:
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(FILE)}\r\n\r\n".encode()
            writer.write(head + FILE[:100])
            await writer.drain()
            writer.transport.abort()
            return
        # bytes 100-199 announced; the whole rest of some other content sent, until close.
        head = (
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 100-199/"
            f"{len(FILE)}\r\nConnection: close\r\n\r\n"
        ).encode()
        writer.write(head + b"\xee" * (len(FILE) - 100))
        await writer.drain()
        writer.close()

    dest = tmp_path / "x.bin"
    async with transfer_client(storage) as (client, _):
        with pytest.raises(ResponseError, match="more than the 100 bytes") as caught:
            await asyncio.wait_for(client.vfolders.get("f").download("x.bin", dest), 10)
    assert caught.value.message.startswith("downloading 'x.bin' from virtual folder 'f'")
    assert list(tmp_path.iterdir()) == []  # no file, corrupt or partial
    assert_no_token(caught.value)


async def test_a_download_restarting_from_zero_every_time_is_given_up(tmp_path: Path) -> None:
    async def storage(
        server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Ranges ignored: the whole file again each time, dropped after the same 1,024 bytes.
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(FILE)}\r\n\r\n".encode()
        writer.write(head + FILE[:1024])
        await writer.drain()
        writer.transport.abort()

    async with transfer_client(storage) as (client, proxy):
        with pytest.raises(ResponseError, match="gave up after 3 attempts without progress"):
            await asyncio.wait_for(
                client.vfolders.get("f").download("x.bin", tmp_path / "x.bin", max_attempts=3), 15
            )
    assert proxy.requests == 3
    assert list(tmp_path.iterdir()) == []
