"""Virtual-folder downloads against storage proxies that answer oddly, and local failures."""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from backendai_aio import (
    Client,
    ClientConfig,
    InvalidArgumentError,
    LocalIOError,
    ResponseError,
)

from ..app_servers import app_server, root_app
from ..fault_server import FaultServer

TOKEN = "download-token-never-shown"
FILE = bytes(range(10))
# (bytes to send, whether to cut the connection after them)
Answer = Callable[[dict[str, str], int], Awaitable[tuple[bytes, bool]]]


def _headers(head: bytes) -> dict[str, str]:
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return headers


def _head(status: str, **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Proxy:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[dict[str, str]] = []

    async def __call__(
        self, server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        headers = _headers(server.heads[-1])
        self.seen.append(headers)
        data, cut = await self.answer(headers, len(self.seen))
        writer.write(data)
        await writer.drain()
        if cut:
            await asyncio.sleep(0.05)
            writer.transport.abort()


@asynccontextmanager
async def downloading(answer: Answer) -> AsyncIterator[tuple[Client, Proxy]]:
    proxy = Proxy(answer)
    async with FaultServer(proxy) as storage:
        app = root_app()

        async def ticket(request: web.Request) -> web.Response:
            return web.json_response({"url": f"{storage.url}/download", "token": TOKEN})

        app.router.add_post("/folders/{name}/request-download", ticket)
        async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
            yield client, proxy


def _whole(cut_after: int | None = None) -> tuple[bytes, bool]:
    body = FILE if cut_after is None else FILE[:cut_after]
    return _head("200 OK", Content_Length=str(len(FILE))) + body, cut_after is not None


async def _download(client: Client, dest: Path, **kwargs: object) -> Path:
    return await asyncio.wait_for(
        client.vfolders.get("f").download("x.bin", dest, **kwargs),  # type: ignore[arg-type]
        10,
    )


async def test_a_connection_cut_after_the_last_byte_then_416_is_complete(tmp_path: Path) -> None:
    async def answer(headers: dict[str, str], n: int) -> tuple[bytes, bool]:
        if n == 1:
            return _whole(cut_after=6)
        if n == 2:
            # The rest, without a length: the connection then stalls, as if to send more.
            head = _head("206 Partial Content", Content_Range="bytes 6-9/10", Connection="close")
            return head + FILE[6:], False
        return _head("416 Range Not Satisfiable", Content_Length="0"), False

    reports: list[tuple[int, int | None]] = []
    async with downloading(answer) as (client, proxy):
        dest = await _download(
            client,
            tmp_path / "x.bin",
            progress=lambda d, t: reports.append((d, t)),
            timeout=0.5,
        )
    assert dest.read_bytes() == FILE
    assert [h.get("range") for h in proxy.seen] == [None, "bytes=6-", "bytes=10-"]
    assert reports[-1] == (10, 10)


async def test_a_416_before_the_end_starts_the_file_again(tmp_path: Path) -> None:
    async def answer(headers: dict[str, str], n: int) -> tuple[bytes, bool]:
        if n == 1:
            return _whole(cut_after=6)
        if n == 2:
            return _head("416 Range Not Satisfiable", Content_Length="0"), False
        return _whole()

    async with downloading(answer) as (client, proxy):
        dest = await _download(client, tmp_path / "x.bin")
    assert dest.read_bytes() == FILE
    assert [h.get("range") for h in proxy.seen] == [None, "bytes=6-", None]


async def test_a_busy_proxy_is_asked_again(tmp_path: Path) -> None:
    async def answer(headers: dict[str, str], n: int) -> tuple[bytes, bool]:
        if n == 1:
            return _head("409 Conflict", Content_Length="0"), False
        return _whole()

    async with downloading(answer) as (client, proxy):
        assert (await _download(client, tmp_path / "x.bin")).read_bytes() == FILE
    assert len(proxy.seen) == 2


@pytest.mark.parametrize(
    ("second", "third_range"),
    [
        # The range announced is longer than the body sent: asked again from its end.
        (_head("206 Partial Content", Content_Range="bytes 6-9/10", Connection="close"), "8"),
        # A shorter range than asked for: the rest comes with the next request.
        (_head("206 Partial Content", Content_Range="bytes 6-7/10", Content_Length="2"), "8"),
    ],
)
async def test_short_answers_are_continued(tmp_path: Path, second: bytes, third_range: str) -> None:
    async def answer(headers: dict[str, str], n: int) -> tuple[bytes, bool]:
        if n == 1:
            return _whole(cut_after=6)
        if n == 2:
            return second + FILE[6:8], True
        return (
            _head("206 Partial Content", Content_Range="bytes 8-9/10", Content_Length="2")
            + FILE[8:],
            False,
        )

    async with downloading(answer) as (client, proxy):
        assert (await _download(client, tmp_path / "x.bin")).read_bytes() == FILE
    assert proxy.seen[2]["range"] == f"bytes={third_range}-"


async def test_a_range_from_elsewhere_is_a_protocol_violation(tmp_path: Path) -> None:
    async def answer(headers: dict[str, str], n: int) -> tuple[bytes, bool]:
        if n == 1:
            return _whole(cut_after=6)
        return (
            _head("206 Partial Content", Content_Range="bytes 3-9/10", Content_Length="7")
            + FILE[3:],
            False,
        )

    async with downloading(answer) as (client, proxy):
        with pytest.raises(
            ResponseError, match="answered Content-Range 'bytes 3-9/10' to bytes=6-"
        ):
            await _download(client, tmp_path / "x.bin")
    assert len(proxy.seen) == 2  # not tried again
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("when", [0, 1])  # the first report, or the one after the resume
async def test_a_failing_progress_callback_is_raised_as_itself(tmp_path: Path, when: int) -> None:
    async def answer(headers: dict[str, str], n: int) -> tuple[bytes, bool]:
        return _whole(cut_after=6) if n == 1 else _whole()

    class Stop(Exception):
        pass

    calls = 0

    def progress(done: int, total: int | None) -> None:
        nonlocal calls
        calls += 1
        if calls > when:
            raise Stop(f"stopped at {done}")

    async with downloading(answer) as (client, _):
        with pytest.raises(Stop, match="stopped at"):
            await _download(client, tmp_path / "x.bin", progress=progress)
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


async def test_a_failing_local_write_is_a_local_error(tmp_path: Path) -> None:
    big = bytes(64 * 1024)

    async def answer(headers: dict[str, str], n: int) -> tuple[bytes, bool]:
        return _head("200 OK", Content_Length=str(len(big))) + big, False

    async with downloading(answer) as (client, proxy):
        with _file_size_limit(4096), pytest.raises(LocalIOError, match="File too large") as caught:
            await _download(client, tmp_path / "x.bin")
    assert "writing the download to" in caught.value.message
    assert len(proxy.seen) == 1  # a local failure is not tried again
    assert list(tmp_path.iterdir()) == []


async def test_a_folder_appearing_at_the_destination_is_a_local_error(tmp_path: Path) -> None:
    dest = tmp_path / "x.bin"

    async def answer(headers: dict[str, str], n: int) -> tuple[bytes, bool]:
        (dest / "inside").mkdir(parents=True)  # made meanwhile by someone else
        return _whole()

    async with downloading(answer) as (client, _):
        with pytest.raises(LocalIOError, match="cannot store the download as"):
            await _download(client, dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]
    assert [p.name for p in dest.iterdir()] == ["inside"]


async def test_local_destinations_that_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def answer(headers: dict[str, str], n: int) -> tuple[bytes, bool]:
        return _whole()

    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    async with downloading(answer) as (client, proxy):
        with pytest.raises(LocalIOError, match=r"cannot write .*loop: Too many levels"):
            await _download(client, loop)
        with pytest.raises(LocalIOError, match="cannot write to /proc"):
            await _download(client, Path("/proc/x.bin"))
        (tmp_path / "x.bin").mkdir()
        with pytest.raises(LocalIOError, match=r"x\.bin is a folder"):
            await _download(client, tmp_path)
        (tmp_path / "x.bin").rmdir()
        with pytest.raises(InvalidArgumentError, match="the destination is a path, not ''"):
            await _download(client, "")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="the destination is a path, not 42"):
            await _download(client, 42)  # type: ignore[arg-type]
        assert proxy.seen == []
        # A leftover temporary file of the same name is never overwritten.
        names = iter(["0000cafe", "0000beef"])
        stray = tmp_path / ".x.bin.0000cafe.part"
        stray.write_bytes(b"someone else's")
        monkeypatch.setattr(secrets, "token_hex", lambda n: next(names))
        assert (await _download(client, tmp_path / "x.bin")).read_bytes() == FILE
        assert stray.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".x.bin.0000cafe.part", "loop", "x.bin"]


async def test_a_replaced_file_whose_mode_cannot_be_set_is_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def answer(headers: dict[str, str], n: int) -> tuple[bytes, bool]:
        return _whole()

    dest = tmp_path / "x.bin"
    dest.write_bytes(b"old")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    async with downloading(answer) as (client, proxy):
        # As on a file system that keeps no modes.
        monkeypatch.setattr(os, "chmod", refuse)
        with pytest.raises(LocalIOError, match="Operation not permitted"):
            await _download(client, dest)
    assert proxy.seen == []
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


async def test_invalid_transfer_arguments_are_refused_before_any_request(tmp_path: Path) -> None:
    async with Client(ClientConfig("AK", "SK", "http://127.0.0.1:9")) as client:
        cases: list[tuple[Awaitable[object], str]] = [
            (
                client.vfolders.get("f").upload(b"x", "x", max_attempts=0),
                "max_attempts is at least 1",
            ),
            (client.vfolders.get("f").upload(b"x", "x", size=-1), "size is a number of bytes"),
            (client.vfolders.get("f").upload(b"x", "x", size=True), "size is a number of bytes"),
            (client.vfolders.get("f").upload(b"x", 7), "the target path is a string"),  # type: ignore[arg-type]
            (
                client.vfolders.get("f").download("x", tmp_path, max_attempts=0),
                "max_attempts is at least 1",
            ),
        ]
        for call, message in cases:
            with pytest.raises(InvalidArgumentError, match=message):
                await asyncio.wait_for(call, 5)
    assert list(tmp_path.iterdir()) == []


async def test_a_download_repr_names_the_path_only() -> None:
    from yarl import URL

    from backendai_aio._transfer.ranged import Download

    async with Client(ClientConfig("AK", "SK", "http://127.0.0.1:9")) as client:
        download = Download(
            client._transport, "f", "a/b.txt", URL("http://127.0.0.1:9/d"), TOKEN, None
        )
        assert repr(download) == "<Download 'a/b.txt'>"
        assert TOKEN not in repr(download)


@pytest.mark.parametrize("kind", [ResponseError, TimeoutError, OSError])
async def test_a_progress_callback_raising_a_transfer_like_error_is_not_taken_for_one(
    tmp_path: Path, kind: type[Exception]
) -> None:
    async def answer(headers: dict[str, str], n: int) -> tuple[bytes, bool]:
        return _whole()

    raised = kind("the caller's own failure")

    def progress(done: int, total: int | None) -> None:
        if done:
            raise raised

    async with downloading(answer) as (client, proxy):
        with pytest.raises(kind) as caught:
            await _download(client, tmp_path / "x.bin", progress=progress)
    assert caught.value is raised
    assert len(proxy.seen) == 1  # not tried again
    assert list(tmp_path.iterdir()) == []
