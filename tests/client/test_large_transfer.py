"""A 256 MiB round trip through a session, in constant memory.

The emulator runs in its own process, so the peak RSS measured here is the client's alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backendai_aio import Client, ClientConfig
from backendai_aio.emulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

SIZE = 256 * 1024 * 1024
MIB = 1024 * 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets the peak resident set size (VmHWM) of this process.
    Path("/proc/self/clear_refs").write_text("5")


@pytest.fixture
async def emulator_process() -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backendai_aio.emulator",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
            assert line, "the emulator exited early"
            if line.startswith("export BACKEND_ENDPOINT="):
                yield line.strip().partition("=")[2]
                break
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
async def test_256_mib_round_trip_in_constant_memory(emulator_process: str, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    with source.open("wb") as file:
        for _ in range(SIZE // (4 * MIB)):
            file.write(os.urandom(4 * MIB))
    expected = _hash_file(source)
    config = ClientConfig(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, emulator_process)
    async with Client(config) as client:
        await client.create_if_not_exists("python", "big-transfer")
        _reset_peak_rss()
        baseline = _status_kib("VmRSS")
        await client.sessions.upload("big-transfer", [source], basedir=tmp_path)
        single = tmp_path / "single.bin"
        assert await client.sessions.download_single_to("big-transfer", "big.bin", single) == SIZE
        archive_dest = tmp_path / "via-tar"
        assert await client.sessions.download("big-transfer", ["big.bin"], archive_dest) == [
            "big.bin"
        ]
        growth_mib = (_status_kib("VmHWM") - baseline) / 1024
        await client.destroy("big-transfer")
    assert _hash_file(single) == expected
    assert _hash_file(archive_dest / "big.bin") == expected
    assert growth_mib < 64, f"peak RSS grew by {growth_mib:.1f} MiB"
