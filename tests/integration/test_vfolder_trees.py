"""Whole directories through the real manager and its storage proxy: a small tree round trip."""

from __future__ import annotations

import os
from pathlib import Path

from backendai_aio import Client

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
