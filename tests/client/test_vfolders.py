"""Virtual folders end to end against the emulator: the calls, tus uploads, ranged downloads."""

from __future__ import annotations

import hashlib
import os
import stat
import tracemalloc
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from backendai_aio import (
    ERR_REQUEST,
    ERR_RESPONSE,
    BackendError,
    BadRequestError,
    Client,
    ClientConfig,
    InvalidArgumentError,
    LocalIOError,
    NotFoundError,
    VFolder,
)
from backendai_aio._transfer.protocol import (
    folder_path,
    parse_content_range,
    parse_upload_offset,
    resume_validator,
)
from backendai_aio.emulator import FaultPlan, create_app
from backendai_aio.emulator._vfolders import VFOLDER_STORE_KEY

from ..app_servers import app_server

ADMIN_KEY, ADMIN_SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
USER_KEY, USER_SECRET = "AKIANABBDUSEREXAMPLE", "C8qnIo29EZvXkPK_MXcuAakYTy4NYrxwmCEyNPlf"
MiB = 1024 * 1024


@pytest.fixture
def hooks() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def app(hooks: FaultPlan) -> web.Application:
    # 23.09's folder semantics (delete frees the name, shared folders by name); the 26.9
    # profile's are in test_release_calls.py.
    return create_app(
        keypairs={ADMIN_KEY: ADMIN_SECRET, USER_KEY: USER_SECRET}, release="23.09", faults=hooks
    )


@pytest.fixture
async def endpoint(app: web.Application) -> AsyncIterator[str]:
    async with app_server(app) as url:
        yield url


@pytest.fixture
async def user_client(endpoint: str) -> AsyncIterator[Client]:
    async with Client(ClientConfig(USER_KEY, USER_SECRET, endpoint)) as opened:
        yield opened


@pytest.fixture
async def admin_client(endpoint: str) -> AsyncIterator[Client]:
    async with Client(ClientConfig(ADMIN_KEY, ADMIN_SECRET, endpoint)) as opened:
        yield opened


def make_file(path: Path, size: int) -> str:
    """Write *size* pseudo-random bytes to *path*; return their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as file:
        block = os.urandom(MiB)
        written = 0
        while written < size:
            piece = block[: min(MiB, size - written)]
            file.write(piece)
            digest.update(piece)
            written += len(piece)
            block = hashlib.sha256(block).digest() * (MiB // 32)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def chunks(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def names(listing: Mapping[str, Any]) -> list[str]:
    return [item["name"] for item in listing["items"]]


async def test_full_cycle(user_client: Client, tmp_path: Path) -> None:
    created = await user_client.vfolders.create("data", usage_mode="general", permission="rw")
    assert created["name"] == "data"
    assert created["host"] == "local:volume1"
    assert created["ownership_type"] == "user"
    assert created["creator"] == "user@lablup.com"
    assert created["status"] == "ready"
    assert len(created["id"]) == 32

    listed = await user_client.vfolders.list()
    assert [entry["name"] for entry in listed] == ["data"]
    assert listed[0]["is_owner"] is True
    hosts = await user_client.vfolders.list_hosts()
    assert hosts["default"] == "local:volume1"
    assert hosts["allowed"] == ["local:volume1"]
    assert (await user_client.vfolders.get("data").info()).get("num_files") == 0

    assert await user_client.vfolders.get("data").mkdir("a/b", parents=True) is None
    with pytest.raises(BadRequestError) as exists:
        await user_client.vfolders.get("data").mkdir("a")
    assert exists.value.msg == "File exists"
    assert exists.value.data == {"errno": 17, "paths": ["a"]}
    await user_client.vfolders.get("data").mkdir("a", exist_ok=True)

    source = tmp_path / "big.bin"
    digest = make_file(source, 3 * MiB + 123)
    assert (
        await user_client.vfolders.get("data").upload(source, "a/b/", chunk_size=MiB)
        == 3 * MiB + 123
    )
    streamed = os.urandom(MiB + 7)
    stored = await user_client.vfolders.get("data").upload(
        chunks(streamed), "stream.bin", size=len(streamed), chunk_size=300_000
    )
    assert stored == len(streamed)

    root = await user_client.vfolders.get("data").list_files()
    assert names(root) == ["a", "stream.bin"]
    assert root["items"][0]["type"] == "DIRECTORY"
    inner = await user_client.vfolders.get("data").list_files("a/b")
    assert inner["items"][0]["name"] == "big.bin"
    assert inner["items"][0]["size"] == 3 * MiB + 123
    assert inner["items"][0]["type"] == "FILE"

    assert await user_client.vfolders.get("data").rename_file("a/b/big.bin", "renamed.bin") == {}
    assert names(await user_client.vfolders.get("data").list_files("a/b")) == ["renamed.bin"]

    target = await user_client.vfolders.get("data").download(
        "a/b/renamed.bin", tmp_path / "back.bin"
    )
    assert target == tmp_path / "back.bin"
    assert sha256_of(target) == digest
    into_dir = await user_client.vfolders.get("data").download("stream.bin", tmp_path)
    assert into_dir == tmp_path / "stream.bin"
    assert into_dir.read_bytes() == streamed
    # Nothing but the finished files is left behind (no partial downloads).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.bin", "big.bin", "stream.bin"]

    info = await user_client.vfolders.get("data").info()
    # Directories count too (a, a/b), with their own sizes, as on the vfs backend.
    assert info.get("num_files") == 4
    assert info["used_bytes"] >= 3 * MiB + 123 + MiB + 7

    await user_client.vfolders.get("data").delete_files("stream.bin")
    with pytest.raises(BadRequestError) as is_dir:
        await user_client.vfolders.get("data").delete_files(["a"])
    assert is_dir.value.msg == "Is a directory"
    await user_client.vfolders.get("data").delete_files(["a"], recursive=True)
    assert names(await user_client.vfolders.get("data").list_files()) == []

    await user_client.vfolders.get("data").delete()
    with pytest.raises(NotFoundError) as gone:
        await user_client.vfolders.get("data").info()
    assert gone.value.title == "No such virtual folder."
    assert await user_client.vfolders.list() == []


@pytest.mark.parametrize("file_name", ["données é 日本.bin", "a b+c%20d&e=f.txt", "x#y?z.txt"])
async def test_unusual_file_names(user_client: Client, tmp_path: Path, file_name: str) -> None:
    await user_client.vfolders.create("names")
    data = os.urandom(200_000)
    source = tmp_path / file_name
    source.write_bytes(data)
    await user_client.vfolders.get("names").upload(source, f"dir {file_name}/")
    assert names(await user_client.vfolders.get("names").list_files()) == [f"dir {file_name}"]
    assert names(await user_client.vfolders.get("names").list_files(f"dir {file_name}")) == [
        file_name
    ]
    await user_client.vfolders.get("names").rename_file(
        f"dir {file_name}/{file_name}", f"r {file_name}"
    )
    back = await user_client.vfolders.get("names").download(
        f"dir {file_name}/r {file_name}", tmp_path / "out"
    )
    assert back.read_bytes() == data


async def test_upload_resumes_after_a_dropped_patch(
    user_client: Client, hooks: FaultPlan, tmp_path: Path
) -> None:
    await user_client.vfolders.create("resume")
    source = tmp_path / "five.bin"
    digest = make_file(source, 5 * MiB)
    hooks.drop_upload_after = 700_000
    reports: list[tuple[int, int | None]] = []
    await user_client.vfolders.get("resume").upload(
        source,
        "five.bin",
        chunk_size=2 * MiB,
        progress=lambda done, total: reports.append((done, total)),
    )
    patches = [entry for entry in hooks.log if entry.startswith("PATCH")]
    assert patches[0] == f"PATCH 0+{2 * MiB} dropped"
    # Resumed from what the server holds, not from the start of the chunk.
    assert patches[1] == f"PATCH 700000+{2 * MiB}"
    assert hooks.log[:3] == [f"PATCH 0+{2 * MiB} dropped", "HEAD", "HEAD"]  # until two agree
    assert [p for p in patches if "refused" in p] == []
    assert reports[-1] == (5 * MiB, 5 * MiB)
    assert [done for done, _ in reports] == sorted({done for done, _ in reports})
    back = await user_client.vfolders.get("resume").download("five.bin", tmp_path / "back.bin")
    assert sha256_of(back) == digest


async def test_stream_upload_resumes_within_its_window(
    user_client: Client, hooks: FaultPlan, tmp_path: Path
) -> None:
    await user_client.vfolders.create("resume")
    data = os.urandom(3 * MiB)
    hooks.drop_upload_after = 1_234_567
    await user_client.vfolders.get("resume").upload(
        chunks(data, 65_536), "s.bin", size=len(data), chunk_size=2 * MiB
    )
    assert f"PATCH 1234567+{3 * MiB - 1_234_567}" in hooks.log
    back = await user_client.vfolders.get("resume").download("s.bin", tmp_path / "s.bin")
    assert back.read_bytes() == data


async def test_download_resumes_with_range(
    user_client: Client, hooks: FaultPlan, tmp_path: Path
) -> None:
    await user_client.vfolders.create("ranged")
    source = tmp_path / "four.bin"
    digest = make_file(source, 4 * MiB + 5)
    await user_client.vfolders.get("ranged").upload(source)
    hooks.drop_download_after = 1_000_000
    reports: list[tuple[int, int | None]] = []

    async def progress(done: int, total: int | None) -> None:
        reports.append((done, total))

    back = await user_client.vfolders.get("ranged").download(
        "four.bin", tmp_path / "back.bin", progress=progress
    )
    gets = [entry for entry in hooks.log if entry.startswith("GET")]
    assert len(gets) == 2
    assert gets[0] == "GET dropped"
    # Resumed from the bytes that arrived (what was in flight at the break is lost).
    resumed_at = int(gets[1].removeprefix("GET bytes=").removesuffix("-"))
    assert 0 < resumed_at <= 1_000_000
    assert sha256_of(back) == digest
    assert reports[-1] == (4 * MiB + 5, 4 * MiB + 5)
    dones = [done for done, _ in reports]
    assert dones == sorted(set(dones))
    assert all(total == 4 * MiB + 5 for _, total in reports)


async def test_transfers_give_up_after_max_attempts(
    user_client: Client, hooks: FaultPlan, tmp_path: Path, app: web.Application
) -> None:
    await user_client.vfolders.create("flaky")
    data = os.urandom(MiB)
    hooks.drop_upload_after = 1000
    with pytest.raises(BackendError) as upload_error:
        await user_client.vfolders.get("flaky").upload(data, "f.bin", max_attempts=1)
    assert upload_error.value.type == ERR_REQUEST
    assert "uploading 'f.bin' to virtual folder 'flaky'" in upload_error.value.message
    assert "gave up after 1 attempt" in upload_error.value.message

    await user_client.vfolders.get("flaky").upload(data, "g.bin")
    hooks.drop_download_after = 1000
    with pytest.raises(BackendError) as download_error:
        await user_client.vfolders.get("flaky").download(
            "g.bin", tmp_path / "g.bin", max_attempts=1
        )
    assert download_error.value.type == ERR_RESPONSE
    assert "downloading 'g.bin' from virtual folder 'flaky'" in download_error.value.message
    assert not (tmp_path / "g.bin").exists()
    assert list(tmp_path.iterdir()) == []  # the partial file was removed

    # The storage tokens are credentials: they never show in what the errors carry.
    store = app[VFOLDER_STORE_KEY]
    tokens = [*store.uploads, *store.finished, *store.downloads]
    assert tokens
    for error in (upload_error.value, download_error.value):
        text = f"{error} {error!r} {error.url} {error.__cause__!r}"
        assert not any(token in text for token in tokens)


async def test_download_errors_name_the_phase(user_client: Client, tmp_path: Path) -> None:
    await user_client.vfolders.create("errs")
    with pytest.raises(NotFoundError) as missing:
        await user_client.vfolders.get("errs").download("nope.bin", tmp_path / "nope.bin")
    assert missing.value.status == 404
    assert missing.value.title == "File not found"
    assert missing.value.message.startswith("downloading 'nope.bin' from virtual folder 'errs'")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NotFoundError):
        await user_client.vfolders.get("no-such-folder").download("x", tmp_path / "x")


async def test_empty_file(user_client: Client, tmp_path: Path) -> None:
    await user_client.vfolders.create("empty")
    source = tmp_path / "empty.bin"
    source.write_bytes(b"")
    reports: list[tuple[int, int | None]] = []
    assert (
        await user_client.vfolders.get("empty").upload(
            source, progress=lambda *r: reports.append(r)
        )
        == 0
    )
    assert reports == [(0, 0)]
    listing = await user_client.vfolders.get("empty").list_files()
    assert [(i["name"], i["size"]) for i in listing["items"]] == [("empty.bin", 0)]
    back = await user_client.vfolders.get("empty").download("empty.bin", tmp_path / "back.bin")
    assert back.read_bytes() == b""


async def test_upload_from_bytes_replaces(user_client: Client, tmp_path: Path) -> None:
    await user_client.vfolders.create("bytes")
    await user_client.vfolders.get("bytes").upload(b"first version", "v.txt")
    await user_client.vfolders.get("bytes").upload(bytearray(b"second"), "v.txt")
    back = await user_client.vfolders.get("bytes").download("v.txt", tmp_path / "v.txt")
    assert back.read_bytes() == b"second"


async def test_stream_source_of_the_wrong_length(user_client: Client) -> None:
    await user_client.vfolders.create("len")
    with pytest.raises(InvalidArgumentError, match="ended after 10 bytes"):
        await user_client.vfolders.get("len").upload(chunks(b"0123456789"), "s.bin", size=20)
    with pytest.raises(InvalidArgumentError, match="more than size=5"):
        await user_client.vfolders.get("len").upload(chunks(b"0123456789", 3), "t.bin", size=5)


async def test_progress_callback_errors_propagate(user_client: Client) -> None:
    await user_client.vfolders.create("cb")

    def explode(done: int, total: int | None) -> None:
        if done > 0:
            raise KeyError("stop")

    with pytest.raises(KeyError, match="stop"):
        await user_client.vfolders.get("cb").upload(os.urandom(600_000), "x.bin", progress=explode)


async def test_invalid_input(user_client: Client, tmp_path: Path) -> None:
    await user_client.vfolders.create("valid")
    # A name with a slash is refused by the handle, before any call.
    with pytest.raises(InvalidArgumentError, match="invalid virtual folder name"):
        user_client.vfolders.get("a/b")
    cases: list[tuple[str, Any]] = [
        ("create with an empty name", user_client.vfolders.create("")),
        ("mkdir escaping", user_client.vfolders.get("valid").mkdir("../up")),
        ("absolute path", user_client.vfolders.get("valid").list_files("/etc")),
        ("escaping target", user_client.vfolders.get("valid").upload(b"x", "a/../../x")),
        ("missing source", user_client.vfolders.get("valid").upload(tmp_path / "missing.bin")),
        ("directory source", user_client.vfolders.get("valid").upload(tmp_path)),
        ("stream without size", user_client.vfolders.get("valid").upload(chunks(b"x"), "x")),
        ("stream without target", user_client.vfolders.get("valid").upload(chunks(b"x"), size=1)),
        ("bytes without target", user_client.vfolders.get("valid").upload(b"x")),
        ("bad chunk size", user_client.vfolders.get("valid").upload(b"x", "x", chunk_size=0)),
        ("size mismatch", user_client.vfolders.get("valid").upload(b"xy", "x", size=3)),
        ("bad source type", user_client.vfolders.get("valid").upload(42, "x")),  # type: ignore[arg-type]
        ("rename to a path", user_client.vfolders.get("valid").rename_file("a", "b/c")),
        ("no files", user_client.vfolders.get("valid").delete_files([])),
        ("delete escaping", user_client.vfolders.get("valid").delete_files(["ok", ".."])),
        ("download the root", user_client.vfolders.get("valid").download(".", tmp_path)),
        (
            "no destination folder",
            user_client.vfolders.get("valid").download("f", tmp_path / "x" / "y"),
        ),
        ("invite nobody", user_client.vfolders.get("valid").invite([])),
        ("empty invitation id", user_client.vfolders.accept_invitation("")),
    ]
    # A missing or unusable local file is the disk's problem, not the call's: LocalIOError.
    local = {"missing source", "directory source", "no destination folder"}
    for label, call in cases:
        with pytest.raises((InvalidArgumentError, LocalIOError)) as caught:
            await call
        expected = LocalIOError if label in local else InvalidArgumentError
        assert isinstance(caught.value, expected), label
        assert caught.value.type == ERR_REQUEST, label
        assert caught.value.message, label
    # Nothing reached the folder: the checks come before any request.
    assert names(await user_client.vfolders.get("valid").list_files()) == []
    assert list(tmp_path.iterdir()) == []


async def test_handle(user_client: Client, tmp_path: Path) -> None:
    data = user_client.vfolders.get("handled")
    assert isinstance(data, VFolder)
    assert data.name == "handled"
    assert repr(data) == "<VFolder 'handled'>"
    assert (await user_client.vfolders.create(data.name))["name"] == "handled"
    assert (await data.info())["name"] == "handled"
    await data.mkdir("d")
    assert await data.upload(b"hello", "d/h.txt") == 5
    assert names(await data.list_files("d")) == ["h.txt"]
    await data.rename_file("d/h.txt", "g.txt")
    back = await data.download("d/g.txt", tmp_path)
    assert back.read_bytes() == b"hello"
    await data.delete_files(["d"], recursive=True)
    await data.delete()
    with pytest.raises(NotFoundError):
        await data.info()
    with pytest.raises(InvalidArgumentError):
        user_client.vfolders.get("")


async def test_invitations(user_client: Client, admin_client: Client) -> None:
    await user_client.vfolders.create("shared")
    shared = user_client.vfolders.get("shared")
    await shared.upload(b"for admins", "note.txt")
    assert await shared.invite("admin@lablup.com", "ro") == {"invited_ids": ["admin@lablup.com"]}
    sent = (await user_client.vfolders.sent_invitations())["invitations"]
    assert [(i["invitee"], i["perm"], i["state"]) for i in sent] == [
        ("admin@lablup.com", "ro", "pending")
    ]
    received = (await admin_client.vfolders.invitations())["invitations"]
    assert len(received) == 1
    invitation = received[0]
    assert invitation["inviter"] == "user@lablup.com"
    assert invitation["vfolder_name"] == "shared"
    assert await admin_client.vfolders.accept_invitation(invitation["id"]) == {}
    assert (await admin_client.vfolders.invitations())["invitations"] == []

    seen = {entry["name"]: entry for entry in await admin_client.vfolders.list()}
    assert seen["shared"]["is_owner"] is False
    assert seen["shared"]["permission"] == "ro"
    assert names(await admin_client.vfolders.get("shared").list_files()) == ["note.txt"]
    with pytest.raises(NotFoundError):  # read-only: writing calls do not find the folder
        await admin_client.vfolders.get("shared").mkdir("nope")
    with pytest.raises(BadRequestError) as again:
        await user_client.vfolders.get("shared").invite(["admin@lablup.com"])
    assert again.value.title == "The virtual folder already exists with the same name."

    await user_client.vfolders.create("other")
    await user_client.vfolders.get("other").invite(["admin@lablup.com"])
    pending = (await admin_client.vfolders.invitations())["invitations"][0]["id"]
    assert await admin_client.vfolders.delete_invitation(pending) == {}  # rejected
    assert (await admin_client.vfolders.invitations())["invitations"] == []
    with pytest.raises(NotFoundError):
        await admin_client.vfolders.accept_invitation(pending)
    with pytest.raises(NotFoundError):
        await user_client.vfolders.get("other").invite(["nobody@example.com"])


def test_folder_paths() -> None:
    assert folder_path("a//b/./c/") == "a/b/c"
    assert folder_path(".", allow_root=True) == "."
    assert folder_path("", allow_root=True) == "."
    assert folder_path("données/é f+%.txt") == "données/é f+%.txt"
    for bad in ("", ".", "/a", "a/../b", "..", "a\x00b"):
        with pytest.raises(InvalidArgumentError):
            folder_path(bad)


def test_wire_parsers() -> None:
    assert parse_upload_offset("1200") == 1200
    assert parse_upload_offset(" 7 ") == 7
    assert parse_upload_offset(None) is None
    assert parse_upload_offset("-1") is None
    assert parse_upload_offset("12a") is None
    assert parse_content_range("bytes 100-1199/1200") == (100, 1199, 1200)
    assert parse_content_range("bytes 0-9/*") == (0, 9, None)
    assert parse_content_range("bytes */1200") is None
    assert parse_content_range("bytes 9-3/20") is None
    assert parse_content_range("bytes 0-20/20") is None
    assert parse_content_range(None) is None
    date = "Thu, 26 Nov 2026 12:39:04 GMT"
    assert resume_validator({"ETag": '"a-b"', "Last-Modified": date}) == date
    assert resume_validator({"ETag": '"a-b"'}) == '"a-b"'
    assert resume_validator({"ETag": 'W/"a-b"'}) is None


async def test_download_memory_stays_bounded(user_client: Client, tmp_path: Path) -> None:
    await user_client.vfolders.create("memory")
    source = tmp_path / "m.bin"
    digest = make_file(source, 24 * MiB)
    tracemalloc.start()
    try:
        await user_client.vfolders.get("memory").upload(source)
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        back = await user_client.vfolders.get("memory").download("m.bin", tmp_path / "back.bin")
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sha256_of(back) == digest
    # Client and emulator share this process: both stream in small blocks.
    assert upload_peak < 6 * MiB
    assert download_peak < 6 * MiB


async def test_entries_are_typed(user_client: Client) -> None:
    await user_client.vfolders.create("typed-entries")
    try:
        folder = user_client.vfolders.get("typed-entries")
        await folder.upload(b"12345", "data/five.bin")
        top = {entry.name: entry for entry in await folder.entries()}
        assert top["data"].is_dir
        inner = await user_client.vfolders.get("typed-entries").entries("data")
        assert [(e.name, e.size, e.type) for e in inner] == [("five.bin", 5, "FILE")]
        assert inner[0].raw["name"] == "five.bin"
    finally:
        await user_client.vfolders.get("typed-entries").delete()


async def test_download_to_a_folder_path_ending_in_a_slash(
    user_client: Client, tmp_path: Path
) -> None:
    await user_client.vfolders.create("slash")
    await user_client.vfolders.get("slash").upload(b"content", "sub/a.txt")
    # The folder does not exist yet: it is created, never written as a file of that name.
    back = await user_client.vfolders.get("slash").download("sub/a.txt", f"{tmp_path}/downloads/")
    assert back == tmp_path / "downloads" / "a.txt"
    assert back.read_bytes() == b"content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloads"]
    # A file in the way of the folder is a local error.
    (tmp_path / "taken").write_bytes(b"")
    with pytest.raises(LocalIOError):
        await user_client.vfolders.get("slash").download("sub/a.txt", f"{tmp_path}/taken/")
    with pytest.raises(LocalIOError, match="does not exist"):
        await user_client.vfolders.get("slash").download("sub/a.txt", tmp_path / "no" / "a.txt")


async def test_download_modes_follow_the_umask_or_the_replaced_file(
    user_client: Client, tmp_path: Path
) -> None:
    await user_client.vfolders.create("modes")
    await user_client.vfolders.get("modes").upload(b"content", "a.txt")
    old = os.umask(0o022)
    try:
        fresh = await user_client.vfolders.get("modes").download("a.txt", tmp_path / "fresh.txt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    kept = tmp_path / "kept.txt"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    await user_client.vfolders.get("modes").download("a.txt", kept)
    assert (kept.read_bytes(), stat.S_IMODE(kept.stat().st_mode)) == (b"content", 0o640)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.txt", "kept.txt"]


async def test_upload_that_always_progresses_is_not_given_up(
    user_client: Client, hooks: FaultPlan
) -> None:
    await user_client.vfolders.create("progressing")
    data = os.urandom(3 * MiB)
    # Every PATCH is dropped part way (after the proxy stored some of it), six times over:
    # each drop re-arms the hook, five times.
    rearm = iter(range(5))

    class RearmingLog(list[str]):
        def append(self, entry: str) -> None:
            super().append(entry)
            if entry.endswith("dropped") and next(rearm, None) is not None:
                hooks.drop_upload_after = 300_000

    hooks.log = RearmingLog()
    hooks.drop_upload_after = 300_000
    assert (
        await user_client.vfolders.get("progressing").upload(data, "p.bin", max_attempts=2)
        == 3 * MiB
    )
    assert sum(entry.endswith("dropped") for entry in hooks.log) == 6
