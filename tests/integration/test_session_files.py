"""A session's files through the real 26.9.6 stack: bytes into and out of ``/home/work``.

The launcher's dummy agent keeps each kernel's ``/home/work`` in a folder of its own (the
docker agent's scratch layout) and answers the file calls there with the docker kernel's
answer shapes, so upload, listing, download and ``download_single`` move real bytes that the
kernel's code reads and writes. 23.09 has no agent here: these tests are skipped there.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from backendai_aio import BackendError, Client

from ._support import STEP_TIMEOUT, query

#: Every byte value, and more than one read chunk of the code below.
PAYLOAD = bytes(range(256)) * 300
TEXT = "line one\nline two, ünïcode\n".encode()
UPPER = TEXT.decode().upper().encode()


async def read_single(client: Client, session: str, path: str) -> bytes:
    """Every byte of one file of the session, through ``download_single``."""
    chunks = []
    async with client.sessions.download_single(session, path) as stream:
        while chunk := await stream.read():
            chunks.append(chunk)
    return b"".join(chunks)


async def test_upload_list_files_run_and_download(
    user_client: Client, session: str, tmp_path: Path
) -> None:
    await asyncio.wait_for(
        user_client.sessions.upload(session, {"data.bin": PAYLOAD, "notes/a.txt": TEXT}),
        STEP_TIMEOUT,
    )

    listing = await asyncio.wait_for(user_client.sessions.list_files(session, "."), STEP_TIMEOUT)
    assert listing["errors"] == ""
    entries = {entry["filename"]: entry for entry in json.loads(listing["files"])}
    assert entries["data.bin"]["size"] == len(PAYLOAD)
    assert entries["data.bin"]["mode"].startswith("-")
    assert entries["notes"]["mode"].startswith("d")
    typed = {
        entry.name: entry for entry in await user_client.sessions.list_entries(session, "notes")
    }
    assert typed["a.txt"].type == "FILE" and typed["a.txt"].size == len(TEXT)

    # The kernel's code sees the uploaded bytes in its working folder, and writes its own.
    code = (
        "import hashlib\n"
        "print(hashlib.sha256(open('data.bin', 'rb').read()).hexdigest())\n"
        "_ = open('notes/out.txt', 'w').write(open('notes/a.txt').read().upper())"
    )
    ran = await query(user_client, session, code)
    assert ran["exitCode"] == 0, ran["console"]
    assert ran["console"][0] == ["stdout", hashlib.sha256(PAYLOAD).hexdigest() + "\n"]

    assert await read_single(user_client, session, "data.bin") == PAYLOAD
    assert await read_single(user_client, session, "notes/out.txt") == UPPER

    # download() fetches tar archives: a file by its name, a folder with what it holds.
    names = await asyncio.wait_for(
        user_client.sessions.download(session, ["data.bin", "notes"], tmp_path), STEP_TIMEOUT
    )
    assert "data.bin" in names
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD
    assert (tmp_path / "notes" / "a.txt").read_bytes() == TEXT
    assert (tmp_path / "notes" / "out.txt").read_bytes() == UPPER


async def test_files_of_a_missing_path(user_client: Client, session: str) -> None:
    # The docker kernel's listing of a missing folder: no files, the failure as its errors.
    listing = await asyncio.wait_for(
        user_client.sessions.list_files(session, "nowhere"), STEP_TIMEOUT
    )
    assert listing["files"] == ""
    assert "No such file or directory" in listing["errors"]
    assert await user_client.sessions.list_entries(session, "nowhere") == []
    with pytest.raises(BackendError):
        await asyncio.wait_for(read_single(user_client, session, "nowhere.bin"), STEP_TIMEOUT)


async def test_files_outside_the_work_folder_are_refused(user_client: Client, session: str) -> None:
    with pytest.raises(BackendError):
        await asyncio.wait_for(
            read_single(user_client, session, "../../../etc/hostname"), STEP_TIMEOUT
        )
    with pytest.raises(BackendError):
        await asyncio.wait_for(user_client.sessions.list_files(session, "../.."), STEP_TIMEOUT)


async def test_more_files_than_one_request_takes(
    user_client: Client, session: str, tmp_path: Path
) -> None:
    # The manager takes 20 files per upload request and 5 paths per download request: 23
    # files and 7 paths go in batches, transparently.
    files = {f"batch/f{index:02}.txt": f"file {index}\n".encode() for index in range(23)}
    await asyncio.wait_for(user_client.sessions.upload(session, files), STEP_TIMEOUT)
    names = {entry.name for entry in await user_client.sessions.list_entries(session, "batch")}
    assert names == {f"f{index:02}.txt" for index in range(23)}
    wanted = [f"batch/f{index:02}.txt" for index in range(7)]
    await asyncio.wait_for(
        user_client.sessions.download(session, wanted, dest=tmp_path, concurrency=2),
        STEP_TIMEOUT,
    )
    for index in range(7):
        assert (tmp_path / f"f{index:02}.txt").read_bytes() == files[wanted[index]]
