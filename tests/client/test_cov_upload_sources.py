"""What an upload reads from, and where a download lands, on the emulator."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backendai_aio import Client, InvalidArgumentError, LocalIOError
from backendai_aio.emulator import Emulator


@pytest.fixture
async def folder_client() -> AsyncIterator[Client]:
    async with Emulator() as emulator, Client(emulator.config) as client:
        await client.vfolders.create("data")
        yield client


async def _stored(client: Client, path: str, tmp_path: Path) -> bytes:
    back = await client.vfolders.get("data").download(path, tmp_path / "back" / "")
    return back.read_bytes()


async def test_a_destination_name_too_long_is_a_local_error(
    folder_client: Client, tmp_path: Path
) -> None:
    await folder_client.vfolders.get("data").upload(b"x", "x.bin")
    with pytest.raises(LocalIOError, match="File name too long"):
        await asyncio.wait_for(
            folder_client.vfolders.get("data").download("x.bin", tmp_path / ("n" * 300)), 10
        )
    with pytest.raises(LocalIOError, match="cannot create the destination folder"):
        await asyncio.wait_for(
            folder_client.vfolders.get("data").download("x.bin", f"{tmp_path}/{'n' * 300}/"), 10
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("source", "size", "error", "message"),
    [
        ("", None, InvalidArgumentError, "invalid source path ''"),
        ("/dev/null", None, LocalIOError, "not a regular file: /dev/null"),
        ("/" + "n" * 300, None, LocalIOError, "File name too long"),
        (42, None, InvalidArgumentError, "not int"),
    ],
)
async def test_unusable_sources_are_refused(
    folder_client: Client, source: object, size: int | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await asyncio.wait_for(
            folder_client.vfolders.get("data").upload(source, "x.bin", size=size),  # type: ignore[arg-type]
            10,
        )
    assert (await folder_client.vfolders.get("data").list_files())["items"] == []


async def test_a_file_of_another_size_than_said_is_refused(
    folder_client: Client, tmp_path: Path
) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(b"12345")
    with pytest.raises(InvalidArgumentError, match=r"size=4 but .*a\.bin holds 5 bytes"):
        await folder_client.vfolders.get("data").upload(source, size=4)
    with pytest.raises(InvalidArgumentError, match="size=4 but the source holds 5 bytes"):
        await folder_client.vfolders.get("data").upload(b"12345", "a.bin", size=4)


async def test_a_stream_yielding_something_other_than_bytes_is_refused(
    folder_client: Client,
) -> None:
    async def chunks() -> AsyncIterator[object]:
        yield b"ab"
        yield "cd"

    with pytest.raises(InvalidArgumentError, match="yielded str, not bytes"):
        await folder_client.vfolders.get("data").upload(chunks(), "x.bin", size=4)  # type: ignore[arg-type]


class _Chunks:
    """An async iterator with no ``aclose``: not a generator."""

    def __init__(self, *chunks: bytes) -> None:
        self._chunks = list(chunks)

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        if not self._chunks:
            raise StopAsyncIteration
        return self._chunks.pop(0)


async def test_a_plain_async_iterator_is_a_source(folder_client: Client, tmp_path: Path) -> None:
    assert (
        await folder_client.vfolders.get("data").upload(_Chunks(b"he", b"llo"), "x.bin", size=5)
        == 5
    )
    assert await _stored(folder_client, "x.bin", tmp_path) == b"hello"


async def test_a_file_is_read_without_positional_reads_where_there_are_none(
    folder_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(600 * 1024)
    source = tmp_path / "a.bin"
    source.write_bytes(data)
    monkeypatch.delattr(os, "pread")
    assert await folder_client.vfolders.get("data").upload(source, chunk_size=256 * 1024) == len(
        data
    )
    monkeypatch.undo()
    assert await _stored(folder_client, "a.bin", tmp_path) == data
