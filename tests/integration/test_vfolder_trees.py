"""Whole directories through the real manager and its storage proxy: a small tree round trip."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import aiohttp

from backendai_aio import Client, ClientConfig

from ._support import USER_ACCESS_KEY, USER_SECRET_KEY, Release
from .test_vfolders import temporary_folder


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "top.txt": b"top\n",
        "empty.bin": b"",
        "a/one.bin": os.urandom(300_000),
        "a/b/two.bin": os.urandom(70_000),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "a" / "empty_dir").mkdir()
    return files


async def test_tree_round_trip(user_client: Client, tmp_path: Path) -> None:
    files = _tree(tmp_path / "src")
    total = sum(len(data) for data in files.values())
    async with temporary_folder(user_client) as name:
        folder = user_client.vfolders.get(name)
        reports: list[int] = []
        sent = await folder.upload_tree(
            tmp_path / "src", "tree", concurrency=3, progress=lambda d, t: reports.append(d)
        )
        assert sent.bytes == total and reports[-1] == total
        assert reports == sorted(set(reports))
        names = {entry.name for entry in await folder.entries("tree/a")}
        assert names == {"one.bin", "b", "empty_dir"}
        back = await folder.download_tree("tree", tmp_path / "dst", concurrency=3)
        assert sorted(back.files) == sorted(files) and back.bytes == total
        for rel, data in files.items():
            assert (tmp_path / "dst" / rel).read_bytes() == data
        assert (tmp_path / "dst" / "a" / "empty_dir").is_dir()


async def test_many_small_files_come_in_archives_from_26_9(
    release: Release, tmp_path: Path
) -> None:
    files = {f"many/f{index:03}.txt": b"%d\n" % index * 100 for index in range(40)}
    files |= {"many/z dir/spaced \u00fc.txt": b"unicode", "big.bin": os.urandom(1_100_000)}
    for rel, data in files.items():
        (tmp_path / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / rel).write_bytes(data)
    paths: list[str] = []

    async def sent(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        paths.append(params.url.path)

    tracing = aiohttp.TraceConfig()
    tracing.on_request_start.append(sent)
    config = ClientConfig(USER_ACCESS_KEY, USER_SECRET_KEY, release.endpoint)
    async with (
        aiohttp.ClientSession(trace_configs=[tracing]) as http,
        Client(config, session=http) as client,
    ):
        async with temporary_folder(client) as name:
            folder = client.vfolders.get(name)
            await folder.upload_tree(tmp_path / "src")
            paths.clear()
            back = await folder.download_tree("", tmp_path / "dst")
    assert sorted(back.files) == sorted(files)
    for rel, data in files.items():
        assert (tmp_path / "dst" / rel).read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == ["big.bin", "many"]
    archives = sum(path.endswith("/download-archive") for path in paths)
    singles = sum(path.endswith("/download") for path in paths)
    # 26.9 sends the 41 small files in one archive; 23.09 serves no archives.
    assert (archives, singles) == ((0, 42) if release.is_2309 else (1, 1))
