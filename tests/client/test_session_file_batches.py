"""Session file transfers past the manager's per-request limits: split into bounded batches."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from backendai_aio import (
    Client,
    ClientConfig,
    InternalServerError,
    InvalidArgumentError,
    LocalIOError,
    ServerError,
)
from backendai_aio._transfer.batches import in_batches, run_bounded

from ..app_servers import app_server, root_app
from ..conftest import make_emulator


@pytest.mark.parametrize("release", ["23.09", "26.9"])
async def test_the_emulator_refuses_what_one_request_cannot_carry(release: str) -> None:
    async with make_emulator(release=release) as emulator, Client(emulator.config) as client:
        await client.create_if_not_exists("python", "limits")
        files = {f"f{index}.txt": b"x" for index in range(5)}
        await client.sessions.upload("limits", files)
        # Six paths in one request: the release's own answer.
        with pytest.raises(ServerError) as caught:
            await client.request(
                "POST" if release == "26.9" else "GET",
                "/session/limits/download",
                json={"files": [*files, "f0.txt"]},
            )
        if release == "23.09":
            assert isinstance(caught.value, InternalServerError)
            assert caught.value.status == 500
        else:
            assert caught.value.status == 400
            assert caught.value.msg == "Too many files (maximum 5 files allowed)"


@pytest.mark.parametrize("release", ["23.09", "26.9"])
@pytest.mark.parametrize("concurrency", [1, 3])
async def test_many_files_round_trip_in_batches(
    tmp_path: Path, release: str, concurrency: int
) -> None:
    files = {f"d/f{index:02}.txt": f"file {index}".encode() for index in range(47)}
    async with make_emulator(release=release) as emulator, Client(emulator.config) as client:
        await client.create_if_not_exists("python", "many")
        reports: list[tuple[int, int | None]] = []
        await client.sessions.upload(
            "many",
            files,
            concurrency=concurrency,
            progress=lambda done, total: reports.append((done, total)),
        )
        total = sum(map(len, files.values()))
        assert reports[-1] == (total, total)
        names = await client.sessions.download(
            "many", list(files), tmp_path / "out", concurrency=concurrency
        )
    # In the order asked for, whatever finished first (archives hold base names).
    assert names == [Path(name).name for name in files]
    for name, data in files.items():
        assert (tmp_path / "out" / Path(name).name).read_bytes() == data


@asynccontextmanager
async def counting_manager() -> AsyncIterator[tuple[Client, list[int], list[int]]]:
    """A manager that counts the parts of each upload and the uploads in flight."""
    app = root_app()
    parts: list[int] = []
    peaks: list[int] = [0]
    in_flight = 0

    async def upload(request: web.Request) -> web.Response:
        nonlocal in_flight
        in_flight += 1
        peaks[0] = max(peaks[0], in_flight)
        try:
            reader = await request.multipart()
            count = 0
            while await reader.next() is not None:
                count += 1
            await asyncio.sleep(0.05)  # long enough for the other batches to arrive
            parts.append(count)
        finally:
            in_flight -= 1
        if count > 20:
            return web.json_response({"title": "Too many files"}, status=400)
        return web.Response(status=204)

    app.router.add_post("/session/{name}/upload", upload)
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        yield client, parts, peaks


@pytest.mark.parametrize(("count", "concurrency", "peak"), [(20, 4, 1), (21, 4, 2), (90, 2, 2)])
async def test_uploads_carry_at_most_twenty_files(count: int, concurrency: int, peak: int) -> None:
    async with counting_manager() as (client, parts, peaks):
        files = {f"f{index}": b"." for index in range(count)}
        await client.sessions.upload("s", files, concurrency=concurrency)
    assert sorted(parts, reverse=True) == [len(batch) for batch in in_batches(range(count), 20)]
    assert peaks == [peak]


@pytest.mark.parametrize("concurrency", [0, -1, 1.5, True, "2"])
async def test_concurrency_must_be_a_positive_whole_number(
    tmp_path: Path, concurrency: object
) -> None:
    async with counting_manager() as (client, parts, _):
        with pytest.raises(InvalidArgumentError, match="concurrency must be a whole number"):
            await client.sessions.upload("s", {"a": b"a"}, concurrency=concurrency)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="concurrency must be a whole number"):
            await client.sessions.download("s", ["a"], tmp_path, concurrency=concurrency)  # type: ignore[arg-type]
    assert parts == []


async def test_a_failing_batch_cancels_the_others_and_is_raised() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def job(index: int) -> int:
        started.append(index)
        if index == 1:
            raise LookupError("batch 1 failed")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(index)
            raise
        return index

    jobs = [lambda index=index: job(index) for index in range(5)]
    with pytest.raises(LookupError, match="batch 1 failed"):
        await asyncio.wait_for(run_bounded(jobs, 2), 5)
    assert started == [0, 1]  # the failure stopped the rest from starting
    assert cancelled == [0]

    async def quick(index: int) -> int:
        await asyncio.sleep(0)
        return index

    assert await run_bounded([functools.partial(quick, index) for index in range(3)], 8) == [
        0,
        1,
        2,
    ]


async def test_sources_that_fail_between_or_during_batches(tmp_path: Path) -> None:
    paths = [tmp_path / f"f{index}.txt" for index in range(21)]
    for path in paths:
        path.write_bytes(b"12345")

    def grow_the_last(done: int, total: int | None) -> None:
        # Batch 1 is being sent; the 21st file (batch 2) is opened only afterwards.
        paths[-1].write_bytes(b"123456789")

    async def not_bytes() -> AsyncIterator[bytes]:
        yield "text"  # type: ignore[misc]

    async with counting_manager() as (client, parts, _):
        with pytest.raises(LocalIOError, match="changed size from 5 to 9 bytes"):
            await client.sessions.upload(
                "s", paths, basedir=tmp_path, concurrency=1, progress=grow_the_last
            )
        with pytest.raises(InvalidArgumentError, match="yielded str, not bytes"):
            await asyncio.wait_for(client.sessions.upload("s", {"a": not_bytes()}), 10)
    assert parts[0] == 20
