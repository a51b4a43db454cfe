"""Session file transfers: argument checks, odd answers and local failures, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import resource
import signal
import tarfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
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
from ..fault_server import FaultServer


def _tar_of(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _multipart(parts: list[tuple[str, bytes]], boundary: str = "outer") -> bytes:
    body = b"".join(
        f"--{boundary}\r\nContent-Type: {kind}\r\n\r\n".encode() + part + b"\r\n"
        for kind, part in parts
    )
    return body + f"--{boundary}--\r\n".encode()


@asynccontextmanager
async def manager(download: web.Response | None = None) -> AsyncIterator[tuple[Client, list[int]]]:
    """A manager answering downloads with *download* and counting upload bytes."""
    app = root_app()
    uploaded: list[int] = []

    async def answer(request: web.Request) -> web.Response:
        assert download is not None
        return download

    async def upload(request: web.Request) -> web.Response:
        # Read as a stream: request.read() would answer 413 past aiohttp's 1 MiB body limit.
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
        uploaded.append(size)
        if request.match_info["name"] == "broken":
            return web.json_response({"title": "the agent is gone"}, status=500)
        return web.json_response({})

    app.router.add_route("*", "/session/{name}/download", answer)
    app.router.add_post("/session/{name}/upload", upload)
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        yield client, uploaded


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ("a.txt", "files must be a list of paths or a mapping"),
        ([], "no files to upload"),
        ({}, "no files to upload"),
        ({"a.txt": 42}, "cannot upload int as 'a.txt'"),
    ],
)
async def test_uploads_that_cannot_be_planned(files: object, message: str) -> None:
    async with manager() as (client, uploaded):
        with pytest.raises(InvalidArgumentError, match=message):
            await asyncio.wait_for(client.sessions.upload("abcd", files), 5)  # type: ignore[arg-type]
    assert uploaded == []


async def test_a_file_shrinking_while_uploaded_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * (2 * 1024 * 1024 + 10))

    def shrink(done: int, total: int | None) -> None:
        source.write_bytes(b"x" * 1024)

    async with manager() as (client, _):
        with pytest.raises(LocalIOError, match="shrank to"):
            await asyncio.wait_for(
                client.sessions.upload("abcd", [source], basedir=tmp_path, progress=shrink), 10
            )


@pytest.mark.parametrize(
    ("files", "message"),
    [("a.txt", "files must be a non-empty list of paths"), ([], "non-empty list")],
)
async def test_downloads_need_a_list_of_paths(tmp_path: Path, files: object, message: str) -> None:
    async with manager() as (client, _):
        with pytest.raises(InvalidArgumentError, match=message):
            await client.sessions.download("abcd", files, tmp_path)  # type: ignore[arg-type]
        for call in (
            client.sessions.download_single_to("abcd", "", tmp_path),
            client.sessions.download_single("abcd", "").__aenter__(),
        ):
            with pytest.raises(InvalidArgumentError, match="download_single needs a file path"):
                await call
        # A path with no file name: nothing to name the local file after.
        with pytest.raises(InvalidArgumentError, match="'/' has no file name"):
            await client.sessions.download_single_to("abcd", "/", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (web.json_response({"files": []}), "the download answer is not multipart"),
        (
            web.Response(
                body=_multipart(
                    [("multipart/mixed; boundary=inner", b"--inner\r\n\r\nx\r\n--inner--")]
                ),
                content_type="multipart/mixed; boundary=outer",
            ),
            "a nested multipart part in the download answer",
        ),
    ],
)
async def test_download_answers_that_are_no_archives(
    tmp_path: Path, answer: web.Response, message: str
) -> None:
    async with manager(answer) as (client, _):
        with pytest.raises(ResponseError, match=message) as caught:
            await asyncio.wait_for(client.sessions.download("abcd", ["a.txt"], tmp_path), 10)
    assert "/session/abcd/download" in caught.value.message
    assert list(tmp_path.iterdir()) == []


@contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """Writes past *limit* bytes fail as on a full disk (EFBIG instead of a signal)."""
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)


def _archive_answer(data: bytes) -> web.Response:
    body = _multipart([("application/octet-stream", _tar_of("a.txt", data))])
    return web.Response(body=body, content_type="multipart/mixed; boundary=outer")


async def test_a_full_disk_while_receiving_is_a_local_error(tmp_path: Path) -> None:
    async with manager(_archive_answer(bytes(64 * 1024))) as (client, _):
        with _file_size_limit(4096), pytest.raises(LocalIOError, match="temporary file"):
            await asyncio.wait_for(client.sessions.download("abcd", ["a.txt"], tmp_path), 10)
    assert list(tmp_path.iterdir()) == []


async def test_a_destination_that_cannot_be_made_is_a_local_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"in the way")
    async with manager(_archive_answer(b"A")) as (client, _):
        with pytest.raises(LocalIOError, match="cannot extract into"):
            await asyncio.wait_for(
                client.sessions.download("abcd", ["a.txt"], tmp_path / "file" / "d"), 10
            )
    assert (tmp_path / "file").read_bytes() == b"in the way"


async def _single(
    server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """download_single: 100 bytes announced, 40 sent, then the connection is cut."""
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n" + b"y" * 40
    )
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.transport.abort()


async def test_a_single_download_cut_short(tmp_path: Path) -> None:
    async with FaultServer(_single) as server, Client(ClientConfig("AK", "SK", server.url)) as c:
        async with c.sessions.download_single("abcd", "a.txt") as stream:
            assert stream.content_type == "text/plain"
            assert stream.total == 100
            with pytest.raises(ResponseError, match="reading the body failed after 40 bytes"):
                async for _ in stream:
                    pass
        with pytest.raises(ResponseError, match="reading the body failed"):
            await asyncio.wait_for(c.sessions.download_single_to("abcd", "a.txt", tmp_path), 10)
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left


async def _whole(
    server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    body = b"z" * (64 * 1024)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()


async def test_to_file_refuses_bad_destinations_and_local_failures(tmp_path: Path) -> None:
    async with FaultServer(_whole) as server, Client(ClientConfig("AK", "SK", server.url)) as c:
        for dest, error, message in [
            ("", InvalidArgumentError, "the destination is a path, not ''"),
            (tmp_path / "no" / "x", LocalIOError, "the folder does not exist"),
            (tmp_path, LocalIOError, "is a folder"),
        ]:
            async with c.sessions.download_single("abcd", "a.txt") as stream:
                with pytest.raises(error, match=message):
                    await stream.to_file(dest)  # type: ignore[arg-type]
        async with c.sessions.download_single("abcd", "a.txt") as stream:
            with _file_size_limit(4096), pytest.raises(LocalIOError, match="File too large"):
                await stream.to_file(tmp_path / "x.bin")
    assert list(tmp_path.iterdir()) == []


async def test_a_refused_upload_is_the_servers_error() -> None:
    reports: list[tuple[int, int | None]] = []

    async def progress(done: int, total: int | None) -> None:
        reports.append((done, total))

    async with manager() as (client, uploaded):
        with pytest.raises(BackendError, match="the agent is gone") as caught:
            await asyncio.wait_for(
                client.sessions.upload("broken", {"a.txt": b"hello"}, progress=progress), 10
            )
        await client.sessions.upload("abcd", {"a.txt": b"hello"}, progress=progress)
    assert caught.value.status == 500
    assert reports == [(5, 5), (5, 5)]
    assert len(uploaded) == 2
