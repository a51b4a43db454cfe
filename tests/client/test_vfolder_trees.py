"""Whole directories up and down: ``VFolder.upload_tree`` and ``download_tree`` on the emulator."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from backendai_aio import (
    ERR_REQUEST,
    Client,
    ClientConfig,
    InvalidArgumentError,
    LocalIOError,
    ResponseError,
    TreeResult,
    TreeTransferError,
)
from backendai_aio._transfer.tree_archives import ARCHIVE_MAX_FILE
from backendai_aio._transfer.trees import leaf_directories
from backendai_aio.emulator import FaultPlan, create_app
from backendai_aio.emulator._vfolder_lifecycle import ARCHIVE_PATH
from backendai_aio.emulator._vfolders import DOWNLOAD_PATH, UPLOAD_PATH

from ..app_servers import app_server

KEY, SECRET = "AKIANABBDUSEREXAMPLE", "C8qnIo29EZvXkPK_MXcuAakYTy4NYrxwmCEyNPlf"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Counter:
    """Measures how many storage-proxy transfers (tus or download) are in flight at once."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.now = 0
        self.peak = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path not in (UPLOAD_PATH, DOWNLOAD_PATH):
            return await handler(request)
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(self.delay)
            return await handler(request)
        finally:
            self.now -= 1


@pytest.fixture
def counter() -> Counter:
    return Counter()


@pytest.fixture
def plan() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def app(counter: Counter) -> web.Application:
    app = create_app(keypairs={KEY: SECRET}, release="26.9")
    app.middlewares.append(counter.middleware)
    return app


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[Client]:
    async with app_server(app) as url, Client(ClientConfig(KEY, SECRET, url)) as opened:
        await opened.vfolders.create("tree")
        yield opened


def make_tree(root: Path) -> dict[str, bytes]:
    """A tree with nested and empty directories and an empty file; its files by path."""
    files = {
        "top.txt": b"top\n",
        "empty.bin": b"",
        "a/one.bin": os.urandom(70_000),
        "a/b/c/deep.bin": os.urandom(1_500_000),
        "a/b/two.txt": b"two\n" * 100,
        "z dir/spaced name.txt": b"spaces",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty_dir").mkdir()
    (root / "a" / "b" / "empty_too").mkdir()
    return files


def read_tree(root: Path) -> tuple[dict[str, bytes], set[str]]:
    files, dirs = {}, set()
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            dirs.add(rel)
        else:
            files[rel] = path.read_bytes()
    return files, dirs


@pytest.mark.parametrize(
    ("directories", "leaves"),
    [
        ([""], [""]),
        (["", "a"], ["a"]),
        (["", "a", "a/b", "c", "ab"], ["a/b", "ab", "c"]),
        (["", "a", "a b", "a/c"], ["a b", "a/c"]),
    ],
)
def test_leaf_directories(directories: list[str], leaves: list[str]) -> None:
    assert leaf_directories(directories) == leaves


async def test_round_trip(client: Client, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    folder = client.vfolders.get("tree")
    reports: list[tuple[int, int | None]] = []
    sent = await folder.upload_tree(
        tmp_path / "src", "up/load", progress=lambda done, total: reports.append((done, total))
    )
    total = sum(len(data) for data in files.values())
    assert isinstance(sent, TreeResult)
    assert sorted(sent.files) == sorted(files) and sent.bytes == total and sent.skipped == ()
    assert {"", "empty_dir", "a/b/empty_too"} <= set(sent.directories)
    dones = [done for done, _ in reports]
    assert dones == sorted(set(dones)) and dones[-1] == total
    assert {t for _, t in reports} == {total}
    assert "empty_dir" in [e.name for e in await folder.entries("up/load")]

    got: list[int] = []

    async def progress(done: int, total: int | None) -> None:
        got.append(done)

    back = await folder.download_tree("up/load", tmp_path / "dst", progress=progress)
    assert back.bytes == total and sorted(back.files) == sorted(files)
    assert got == sorted(set(got)) and got[-1] == total
    copied, dirs = read_tree(tmp_path / "dst")
    assert copied == files  # byte for byte, the empty file included
    assert {"empty_dir", "a/b/empty_too", "a/b/c"} <= dirs
    # The whole folder (root to root) too, and again over the existing copy.
    await folder.download_tree("", tmp_path / "all", concurrency=1)
    await folder.download_tree(".", tmp_path / "all", concurrency=3)
    assert read_tree(tmp_path / "all" / "up" / "load")[0] == files


async def test_empty_tree_creates_the_remote_dir(client: Client, tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    folder = client.vfolders.get("tree")
    result = await folder.upload_tree(tmp_path / "nothing", "made")
    assert result == TreeResult(files=(), directories=("",), bytes=0)
    assert [e.name for e in await folder.entries()] == ["made"]
    back = await folder.download_tree("made", tmp_path / "out")
    assert back.files == () and (tmp_path / "out").is_dir()


async def test_concurrency_is_bounded(client: Client, counter: Counter, tmp_path: Path) -> None:
    source = tmp_path / "many"
    source.mkdir()
    for index in range(24):
        (source / f"f{index:02}.bin").write_bytes(os.urandom(1000))
    big = tmp_path / "big"  # too large for an archive: downloaded one by one
    big.mkdir()
    for index in range(6):
        (big / f"b{index}.bin").write_bytes(os.urandom(ARCHIVE_MAX_FILE + 1))
    folder = client.vfolders.get("tree")
    counter.delay = 0.02
    await folder.upload_tree(source, concurrency=3)
    assert counter.peak == 3
    counter.peak = 0
    await folder.upload_tree(source, "again")  # the default: 8
    assert counter.peak == 8
    await folder.upload_tree(big, "big")
    counter.peak = 0
    await folder.download_tree("big", tmp_path / "back", concurrency=5)
    assert counter.peak == 5
    assert read_tree(tmp_path / "back")[0] == read_tree(big)[0]


class Requests:
    """Counts the storage proxy's downloads: single files and archives."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.fail_archives = False

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path in (DOWNLOAD_PATH, ARCHIVE_PATH):
            self.paths.append(request.path)
            if request.path == ARCHIVE_PATH and self.fail_archives:
                return web.json_response({"title": "broken"}, status=500)
        return await handler(request)


def _many_small_and_two_large(root: Path) -> dict[str, bytes]:
    files = {f"small/s{index:02}.txt": b"%d\n" % index * 50 for index in range(20)}
    files |= {"small/empty": b"", "big/one.bin": os.urandom(ARCHIVE_MAX_FILE + 10)}
    files |= {"top.bin": os.urandom(ARCHIVE_MAX_FILE + 1)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


@pytest.mark.parametrize(
    ("release", "fail", "archives", "singles"),
    [
        ("26.9", False, 1, 2),  # the 21 small files in one archive, the 2 large one by one
        ("26.9", True, 1, 23),  # the archive failed: every file one by one
        ("23.09", False, 0, 23),  # no archives before 26.9
    ],
)
async def test_small_files_come_in_archives(
    tmp_path: Path, release: str, fail: bool, archives: int, singles: int
) -> None:
    files = _many_small_and_two_large(tmp_path / "src")
    requests = Requests()
    requests.fail_archives = fail
    app = create_app(keypairs={KEY: SECRET}, release=release)
    app.middlewares.append(requests.middleware)
    async with app_server(app) as url, Client(ClientConfig(KEY, SECRET, url)) as client:
        await client.vfolders.create("tree")
        folder = client.vfolders.get("tree")
        await folder.upload_tree(tmp_path / "src", "data")
        reports: list[int] = []
        result = await folder.download_tree(
            "data", tmp_path / "dst", progress=lambda done, total: reports.append(done)
        )
    assert requests.paths.count(ARCHIVE_PATH) == archives
    assert requests.paths.count(DOWNLOAD_PATH) == singles
    assert sorted(result.files) == sorted(files)
    assert read_tree(tmp_path / "dst")[0] == files  # and no spooled archive left behind
    total = sum(map(len, files.values()))
    assert result.bytes == total and reports[-1] == total
    assert reports == sorted(reports)


async def test_failed_upload_names_the_file_and_keeps_the_others(tmp_path: Path) -> None:
    plan = FaultPlan()
    app = create_app(keypairs={KEY: SECRET}, release="26.9", faults=plan)
    async with app_server(app) as url, Client(ClientConfig(KEY, SECRET, url)) as client:
        await client.vfolders.create("tree")
        await _fail_an_upload(client, plan, tmp_path)


async def _fail_an_upload(client: Client, plan: FaultPlan, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    names = [f"f{index}.bin" for index in range(6)]
    for name in names:
        (source / name).write_bytes(os.urandom(50_000))
    folder = client.vfolders.get("tree")

    def arm(done: int, total: int | None) -> None:
        # The first bytes of the third file (the first two are through): its current or next
        # PATCH is cut, and with one attempt per file, that file fails.
        if done > 100_000 and plan.drop_upload_after is None:
            plan.drop_upload_after = 100

    with pytest.raises(TreeTransferError) as caught:
        await folder.upload_tree(
            source, concurrency=1, max_attempts=1, chunk_size=10_000, progress=arm
        )
    error = caught.value
    assert error.path == "f2.bin" and "'f2.bin'" in str(error)
    assert error.completed == ("f0.bin", "f1.bin")
    assert error.type == ERR_REQUEST and error.__cause__ is error.errors["f2.bin"]
    assert sorted(e.name for e in await folder.entries()) == ["f0.bin", "f1.bin"]


async def test_failed_download_names_the_file_and_keeps_the_others(
    client: Client, tmp_path: Path
) -> None:
    make_tree(tmp_path / "src")
    folder = client.vfolders.get("tree")
    await folder.upload_tree(tmp_path / "src")
    dest = tmp_path / "dst"
    (dest / "a" / "one.bin").mkdir(parents=True)  # a directory where a file should go
    with pytest.raises(TreeTransferError) as caught:
        await folder.download_tree("", dest, concurrency=2)
    error = caught.value
    assert error.path == "a/one.bin" and "'a/one.bin'" in str(error)
    assert isinstance(error.__cause__, LocalIOError)
    # What finished stayed, and nothing half-written is left behind.
    for rel in error.completed:
        assert (dest / rel).read_bytes() == (tmp_path / "src" / rel).read_bytes()
    # The two files in flight finished; nothing after the failed one was started.
    assert set(error.completed) == {"a/b/c/deep.bin", "a/b/two.txt"}
    assert not (dest / "empty.bin").exists() and not (dest / "top.txt").exists()
    assert not [p for p in dest.rglob("*.part")]


async def test_symlinks_are_skipped(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "real.txt").write_bytes(b"real")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    (source / "link_dir").symlink_to(outside)
    (source / "link_file").symlink_to(outside / "secret.txt")
    os.mkfifo(source / "fifo")
    folder = client.vfolders.get("tree")
    result = await folder.upload_tree(source)
    assert result.files == ("real.txt",)
    assert result.skipped == ("fifo", "link_dir", "link_file")
    assert [e.name for e in await folder.entries()] == ["real.txt"]


async def test_local_link_out_of_the_destination_is_refused(client: Client, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    folder = client.vfolders.get("tree")
    await folder.upload_tree(tmp_path / "src")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dst"
    dest.mkdir()
    (dest / "a").symlink_to(outside)
    with pytest.raises(LocalIOError, match="leads outside"):
        await folder.download_tree("", dest)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("hostile", ["..", "../escape.txt", "a/../../x", ".", "", "sub/x"])
async def test_hostile_listing_writes_nothing(
    app: web.Application, tmp_path: Path, hostile: str
) -> None:
    @web.middleware
    async def lie(request: web.Request, handler: _Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path.endswith("/files"):
            item = {"name": hostile, "type": "FILE", "size": 4, "mode": "0644"}
            return web.json_response({"items": [item]})
        return response

    app.middlewares.append(lie)
    async with app_server(app) as url, Client(ClientConfig(KEY, SECRET, url)) as client:
        await client.vfolders.create("tree")
        await client.vfolders.get("tree").upload(b"evil", "x")
        with pytest.raises(TreeTransferError) as caught:
            await client.vfolders.get("tree").download_tree("", tmp_path / "dst" / "in")
    assert isinstance(caught.value.__cause__, ResponseError)
    assert "not a plain file name" in str(caught.value)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


async def test_bad_arguments(client: Client, tmp_path: Path) -> None:
    folder = client.vfolders.get("tree")
    for concurrency in (0, -1, True, 1.5, "4", None):
        with pytest.raises(InvalidArgumentError, match="concurrency"):
            await folder.upload_tree(tmp_path, concurrency=concurrency)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="concurrency"):
            await folder.download_tree("", tmp_path, concurrency=concurrency)  # type: ignore[arg-type]
    for remote in ("../up", "/abs", 3):
        with pytest.raises(InvalidArgumentError):
            await folder.upload_tree(tmp_path, remote)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            await folder.download_tree(remote, tmp_path)  # type: ignore[arg-type]
    for local in ("", None):
        with pytest.raises(InvalidArgumentError):
            await folder.upload_tree(local)  # type: ignore[arg-type]
    with pytest.raises(LocalIOError, match="not a directory"):
        await folder.upload_tree(tmp_path / "missing")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(LocalIOError, match="not a directory"):
        await folder.upload_tree(tmp_path / "file")
    with pytest.raises(TreeTransferError) as missing:
        await folder.download_tree("no/such/dir", tmp_path / "out")
    assert missing.value.path == "no/such/dir" and missing.value.status == 400


async def test_listed_links_are_skipped(app: web.Application, tmp_path: Path) -> None:
    @web.middleware
    async def links(request: web.Request, handler: _Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path.endswith("/files"):
            item = {"name": "link", "type": "SYMLINK", "size": 10, "mode": "0777"}
            return web.json_response({"items": [item]})
        return response

    app.middlewares.append(links)
    async with app_server(app) as url, Client(ClientConfig(KEY, SECRET, url)) as client:
        await client.vfolders.create("tree")
        result = await client.vfolders.get("tree").download_tree("", tmp_path / "dst")
    assert result == TreeResult(files=(), directories=("",), bytes=0, skipped=("link",))
    assert list((tmp_path / "dst").iterdir()) == []


async def test_a_failing_progress_callback_stops_the_tree(client: Client, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    folder = client.vfolders.get("tree")

    def broken(done: int, total: int | None) -> None:
        raise RuntimeError("the callback broke")

    with pytest.raises(TreeTransferError, match="the callback broke") as caught:
        await folder.upload_tree(tmp_path / "src", concurrency=2, progress=broken)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert caught.value.status is None


async def test_local_failures(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path / "src")
    folder = client.vfolders.get("tree")
    await folder.upload_tree(tmp_path / "src")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(LocalIOError, match="cannot create a directory") as made:
        await folder.download_tree("", tmp_path / "file" / "under")
    assert made.value.errno is not None
    dest = tmp_path / "dst"
    for rel in ("a/one.bin", "top.txt"):  # two files whose place a directory takes
        (dest / rel).mkdir(parents=True)
    with pytest.raises(TreeTransferError) as taken:
        await folder.download_tree("", dest, concurrency=8)
    # The first is named; the second was never started, the failure having come first.
    assert list(taken.value.errors) == ["a/one.bin"]

    def refuse(path: object) -> object:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "scandir", refuse)
    with pytest.raises(LocalIOError, match="cannot read the directory") as read:
        await folder.upload_tree(tmp_path / "src")
    assert read.value.errno == 13


async def test_by_id_and_by_name(app: web.Application, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    paths: list[str] = []
    hide_id = False

    @web.middleware
    async def record(request: web.Request, handler: _Handler) -> web.StreamResponse:
        paths.append(request.path)
        if hide_id and request.method == "GET" and request.path == "/folders/tree":
            return web.json_response({"name": "tree"})  # details without an id
        return await handler(request)

    app.middlewares.append(record)
    async with app_server(app) as url, Client(ClientConfig(KEY, SECRET, url)) as client:
        created = await client.vfolders.create("tree")
        folder_id = str(created["id"])
        folder = client.vfolders.get("tree")
        await folder.upload_tree(tmp_path / "src")
        tokens = [path for path in paths if path.endswith("/request-upload")]
        # The folder is named once; every file's token is asked for by the folder's id.
        assert len(tokens) == 6 and all(
            folder_id.replace("-", "") in p.replace("-", "") for p in tokens
        )
        paths.clear()
        hide_id = True
        await folder.download_tree("", tmp_path / "dst")
        assert [p for p in paths if p.endswith("/request-download")] == [
            "/folders/tree/request-download"
        ] * 6
    assert read_tree(tmp_path / "dst")[0] == read_tree(tmp_path / "src")[0]


async def test_a_failed_upload_token_is_asked_for_again(
    app: web.Application, tmp_path: Path
) -> None:
    make_tree(tmp_path / "src")
    calls = 0

    @web.middleware
    async def flaky(request: web.Request, handler: _Handler) -> web.StreamResponse:
        nonlocal calls
        if request.path.endswith("/request-upload"):
            calls += 1
            # One file at a time, in order: the third file's first two tokens are refused,
            # then every token from the fourth file on.
            if calls in (3, 4) or calls >= 6:
                problem = {"type": "https://api.backend.ai/probs/internal-server-error"}
                return web.json_response(problem, status=500)
        return await handler(request)

    app.middlewares.append(flaky)
    async with app_server(app) as url, Client(ClientConfig(KEY, SECRET, url)) as client:
        await client.vfolders.create("tree")
        folder = client.vfolders.get("tree")
        with pytest.raises(TreeTransferError) as caught:
            await folder.upload_tree(tmp_path / "src", "up", concurrency=1)
        # Two refusals were outlived; four in a row were not.
        assert caught.value.path == "empty.bin", str(caught.value)
        assert caught.value.status == 500
        assert caught.value.completed == ("a/b/c/deep.bin", "a/b/two.txt", "a/one.bin")
        assert calls == 9  # empty.bin: the first try and three more
