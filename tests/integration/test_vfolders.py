"""Virtual folders through the real manager and its storage proxy (tus uploads, ranged GETs)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import tracemalloc
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from backendai_aio import BadRequestError, Client, NotFoundError
from backendai_aio._transfer.progress import TransferProgress
from backendai_aio._transfer.ranged import Download
from backendai_aio._transfer.sources import PathSource
from backendai_aio._transfer.tus import Upload

from ._support import Release

MiB = 1024 * 1024
FILTER_STATUS_FAILED = "https://api.backend.ai/probs/vfolder-filter-status-failed"


def folder_name() -> str:
    """A fresh folder name: runs sharing a long-lived manager must never collide."""
    return f"aio-it-vf-{secrets.token_hex(6)}"


@contextlib.asynccontextmanager
async def temporary_folder(client: Client) -> AsyncIterator[str]:
    """Create a folder for one test and delete it afterwards, whatever happened."""
    name = folder_name()
    await client.vfolders.create(name)
    try:
        yield name
    finally:
        # BadRequestError: 23.09 refuses to delete a folder it is still deleting.
        with contextlib.suppress(NotFoundError, BadRequestError):
            await client.vfolders.get(name).delete()


def make_file(path: Path, size: int) -> str:
    """Write *size* random bytes to *path* in 1 MiB blocks; return their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for start in range(0, size, MiB):
            block = os.urandom(min(MiB, size - start))
            file.write(block)
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def names(listing: Mapping[str, Any]) -> list[str]:
    return sorted(item["name"] for item in listing["items"])


def num_files(info: Mapping[str, Any], release: Release) -> Any:
    """The folder's entry count: ``num_files`` on 23.09, ``numFiles`` on 26.9."""
    return info["num_files" if release.is_2309 else "numFiles"]


async def test_64_mib_cycle(user_client: Client, release: Release, tmp_path: Path) -> None:
    size = 64 * MiB
    source = tmp_path / "big.bin"
    digest = make_file(source, size)
    uploaded: list[int] = []
    async with temporary_folder(user_client) as name:
        info = await user_client.vfolders.get(name).info()
        assert info["name"] == name
        assert num_files(info, release) == 0
        assert name in [entry["name"] for entry in await user_client.vfolders.list()]
        hosts = await user_client.vfolders.list_hosts()
        assert hosts["default"] in hosts["allowed"]
        await user_client.vfolders.get(name).mkdir("data/raw", parents=True)

        tracemalloc.start()
        try:
            stored = await user_client.vfolders.get(name).upload(
                source,
                "data/raw/",
                progress=lambda done, total: uploaded.append(done),
            )
            _, upload_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            back = await user_client.vfolders.get(name).download(
                "data/raw/big.bin", tmp_path / "back.bin"
            )
            _, download_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert stored == size
        assert uploaded[-1] == size
        # Streamed in blocks: far below the file's 64 MiB.
        assert upload_peak < 16 * MiB, upload_peak
        assert download_peak < 16 * MiB, download_peak
        assert sha256_of(back) == digest

        listing = await user_client.vfolders.get(name).list_files("data/raw")
        assert [(item["name"], item["size"], item["type"]) for item in listing["items"]] == [
            ("big.bin", size, "FILE")
        ]
        info = await user_client.vfolders.get(name).info()
        # The vfs backend counts directories as entries, with their own sizes.
        assert num_files(info, release) == 3  # data, data/raw, big.bin
        assert info["used_bytes"] >= size

        await user_client.vfolders.get(name).rename_file("data/raw/big.bin", "renamed.bin")
        assert names(await user_client.vfolders.get(name).list_files("data/raw")) == ["renamed.bin"]
        if release.is_2309:
            with pytest.raises(BadRequestError) as is_dir:
                await user_client.vfolders.get(name).delete_files(["data"])
            assert is_dir.value.msg == "Is a directory"
        else:
            # 26.9 answers a non-recursive delete of a directory with success, and keeps it.
            assert await user_client.vfolders.get(name).delete_files(["data"]) == {"msg": ""}
            assert names(await user_client.vfolders.get(name).list_files()) == ["data"]
        await user_client.vfolders.get(name).delete_files(["data"], recursive=True)
        assert names(await user_client.vfolders.get(name).list_files()) == []

        await user_client.vfolders.get(name).delete()
        await assert_deleted(user_client, release, name)


async def assert_deleted(client: Client, release: Release, name: str) -> None:
    """23.09 deletes a folder; 26.9 (since 24.03) moves it to the trash, name still taken."""
    if release.is_2309:
        # 23.09 answers the DELETE at once and removes the folder in a background task;
        # until that ends, the folder is "deleting" and its calls answer 400.
        for _ in range(100):
            with pytest.raises((NotFoundError, BadRequestError)) as answer:
                await client.vfolders.get(name).info()
            if isinstance(answer.value, NotFoundError):
                assert answer.value.title == "No such virtual folder."
                return
            assert answer.value.problem_type == FILTER_STATUS_FAILED
            await asyncio.sleep(0.1)
        pytest.fail(f"{name} was not deleted within 10 s")
    else:
        assert (await client.vfolders.get(name).info())["status"] == "delete-pending"


async def test_delete_then_create_again(user_client: Client, release: Release) -> None:
    name = folder_name()
    await user_client.vfolders.create(name)
    await user_client.vfolders.get(name).delete()
    await assert_deleted(user_client, release, name)
    if release.is_2309:
        # The name is free again at once.
        created = await user_client.vfolders.create(name)
        assert created["name"] == name
        await user_client.vfolders.get(name).delete()
        return
    # In the trash the name stays taken: creating it again is refused until it is purged.
    with pytest.raises(BadRequestError) as exc_info:
        await user_client.vfolders.create(name)
    error = exc_info.value
    assert error.problem_type == "https://api.backend.ai/probs/invalid-api-params"
    assert error.msg is not None and "already exists" in error.msg
    listed = [entry for entry in await user_client.vfolders.list() if entry["name"] == name]
    assert [entry["status"] for entry in listed] == ["delete-pending"]


async def test_non_ascii_cycle(user_client: Client, tmp_path: Path) -> None:
    file_name = "données é 日本 a+b%20c.bin"
    data = os.urandom(300_000)
    source = tmp_path / file_name
    source.write_bytes(data)
    async with temporary_folder(user_client) as name:
        folder = user_client.vfolders.get(name)
        await folder.upload(source, "dossier é/")
        assert names(await folder.list_files()) == ["dossier é"]
        listing = await folder.list_files("dossier é")
        assert [(i["name"], i["size"]) for i in listing["items"]] == [(file_name, len(data))]
        back = await folder.download(f"dossier é/{file_name}", tmp_path / "out.bin")
        assert back.read_bytes() == data
        await folder.rename_file(f"dossier é/{file_name}", "ünïcode + space.bin")
        back = await folder.download("dossier é/ünïcode + space.bin", tmp_path)
        assert back.name == "ünïcode + space.bin"
        assert back.read_bytes() == data


async def test_stream_and_empty_uploads(user_client: Client, tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 11)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 100_000):
            yield data[start : start + 100_000]

    async with temporary_folder(user_client) as name:
        await user_client.vfolders.get(name).upload(
            chunks(), "s.bin", size=len(data), chunk_size=MiB
        )
        await user_client.vfolders.get(name).upload(b"", "empty.bin")
        listing = await user_client.vfolders.get(name).list_files()
        sizes = {item["name"]: item["size"] for item in listing["items"]}
        assert sizes == {"s.bin": len(data), "empty.bin": 0}
        back = await user_client.vfolders.get(name).download("s.bin", tmp_path / "s.bin")
        assert back.read_bytes() == data
        empty = await user_client.vfolders.get(name).download("empty.bin", tmp_path / "e.bin")
        assert empty.read_bytes() == b""


async def test_download_errors(user_client: Client, tmp_path: Path) -> None:
    async with temporary_folder(user_client) as name:
        with pytest.raises(NotFoundError) as missing:
            await user_client.vfolders.get(name).download("nope.bin", tmp_path / "nope.bin")
        assert missing.value.title == "File not found"
        assert missing.value.problem_type == ("https://api.backend.ai/probs/storage/file-not-found")
        assert missing.value.message.startswith("downloading 'nope.bin' from virtual folder")
        assert list(tmp_path.iterdir()) == []


async def test_invitations(user_client: Client, admin_client: Client, release: Release) -> None:
    async with temporary_folder(user_client) as name:
        invited = await user_client.vfolders.get(name).invite(["admin@lablup.com"], "ro")
        assert invited == {"invited_ids": ["admin@lablup.com"]}
        sent = (await user_client.vfolders.sent_invitations())["invitations"]
        assert any(inv["vfolder_name"] == name for inv in sent)
        received = [
            inv
            for inv in (await admin_client.vfolders.invitations())["invitations"]
            if inv["vfolder_name"] == name
        ]
        # 26.9 leaves an open invitation's `state` empty (23.09: "pending").
        state = "pending" if release.is_2309 else ""
        assert [(inv["inviter"], inv["perm"], inv["state"]) for inv in received] == [
            ("user@lablup.com", "ro", state)
        ]
        await admin_client.vfolders.accept_invitation(received[0]["id"])
        if release.is_2309:
            shared = {entry["name"]: entry for entry in await admin_client.vfolders.list()}
            assert shared[name]["is_owner"] is False
            assert shared[name]["permission"] == "ro"
        else:
            # 26.9 lists a folder shared by invitation no more and knows it only by its id.
            assert name not in [entry["name"] for entry in await admin_client.vfolders.list()]
            folder_id = received[0]["vfolder_id"]
            info = await admin_client.vfolders.get(folder_id).info()
            # The invitee's permission is the invitation's; 26.9 calls every reader an owner.
            assert (info["name"], info["is_owner"], info["permission"]) == (name, True, "ro")
        with pytest.raises(NotFoundError):
            await admin_client.vfolders.accept_invitation(received[0]["id"])


# -- resumption against the real storage proxy, through a relay that breaks once ------------


class CuttingRelay:
    """Relay TCP connections to the storage proxy, breaking one after *budget* bytes.

    *upstream* counts the bytes going to the proxy (a PATCH body), otherwise the bytes coming
    back (a download). The first connection to exceed the budget is aborted both ways.
    """

    def __init__(self, budget: int, *, upstream: bool, proxy_port: int) -> None:
        self.budget: int | None = budget
        self.proxy_port = proxy_port
        self.upstream = upstream
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> URL:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return URL.build(scheme="http", host="127.0.0.1", port=port)

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.proxy_port)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, counted=self.upstream, ends=(writer, up_writer)),
                self._pump(up_reader, writer, counted=not self.upstream, ends=(writer, up_writer)),
            )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for end in (writer, up_writer):
                end.close()
            self._tasks.discard(task)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        *,
        counted: bool,
        ends: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        passed = 0
        while data := await source.read(65536):
            if counted and self.budget is not None and passed + len(data) > self.budget:
                sink.write(data[: self.budget - passed])
                await sink.drain()
                self.budget = None
                self.cuts += 1
                await asyncio.sleep(0.1)  # let the cut-off bytes reach the other side
                for end in ends:
                    end.transport.abort()
                return
            passed += len(data)
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()


async def test_upload_resumes_through_the_real_proxy(
    user_client: Client, release: Release, tmp_path: Path
) -> None:
    size = 12 * MiB
    source_path = tmp_path / "resume.bin"
    digest = make_file(source_path, size)
    async with temporary_folder(user_client) as name:
        ticket = await user_client._transport.call(
            "POST",
            user_client._transport.url("folders", name, "request-upload"),
            json={"path": "resume.bin", "size": size},
        )
        relay = CuttingRelay(3 * MiB, upstream=True, proxy_port=release.storage_proxy_port)
        async with relay as relay_url:
            upload_url = relay_url.with_path(URL(ticket["url"]).path)
            upload = Upload(
                user_client._transport, name, "resume.bin", upload_url, ticket["token"], 30
            )
            source = PathSource(source_path.open("rb"), size, str(source_path))
            try:
                await upload.run(source, TransferProgress(None, size), 8 * MiB, 5)
            finally:
                await source.aclose()
        assert relay.cuts == 1
        back = await user_client.vfolders.get(name).download("resume.bin", tmp_path / "back.bin")
        assert sha256_of(back) == digest


async def test_download_resumes_through_the_real_proxy(
    user_client: Client, release: Release, tmp_path: Path
) -> None:
    size = 12 * MiB
    source_path = tmp_path / "resume.bin"
    digest = make_file(source_path, size)
    async with temporary_folder(user_client) as name:
        await user_client.vfolders.get(name).upload(source_path)
        ticket = await user_client._transport.call(
            "POST",
            user_client._transport.url("folders", name, "request-download"),
            json={"path": "resume.bin"},
        )
        relay = CuttingRelay(5 * MiB, upstream=False, proxy_port=release.storage_proxy_port)
        back = tmp_path / "back.bin"
        async with relay as relay_url:
            download_url = relay_url.with_path(URL(ticket["url"]).path)
            download = Download(
                user_client._transport, name, "resume.bin", download_url, ticket["token"], 30
            )
            with back.open("wb") as file:
                written = await download.run(file, None, 5)
        assert relay.cuts == 1
        assert written == size
        assert sha256_of(back) == digest


async def test_typed_entries_from_the_real_manager(user_client: Client) -> None:
    async with temporary_folder(user_client) as name:
        folder = user_client.vfolders.get(name)
        await folder.upload(b"x" * 1234, "sub/file.bin")
        top = await folder.entries()
        assert [(entry.name, entry.is_dir) for entry in top] == [("sub", True)]
        (entry,) = await folder.entries("sub")
        assert (entry.name, entry.size, entry.type) == ("file.bin", 1234, "FILE")
        assert entry.modified is not None
