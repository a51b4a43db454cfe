"""One many-file transfer in a fresh process: ``python -m benchmarks.tree_worker JSON``.

The JSON argument names the contender (``aio`` or ``official``), the endpoint and keypair, the
folder, the operation (``upload`` or ``download``), the local directory and the tree's
relative file paths. The process opens its client (untimed), runs the transfer, and prints one
JSON line: the wall clock and client CPU of the transfer alone and the growth of the peak RSS
while it ran. ``backendai_aio`` uses ``upload_tree`` / ``download_tree``; the official SDK
(``backend.ai-client`` 26.9.6, in its own venv) its ``VFolder.upload`` / ``download`` with the
list of files, as its users call it. Only the standard library is imported here; the
contender's own package is imported on use.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.common import read_memory_status, reset_peak_rss

Run = Callable[[], Awaitable[None]]


async def _aio(job: dict[str, Any], measure: Callable[[Run], Awaitable[dict[str, Any]]]) -> Any:
    from backendai_aio import Client, ClientConfig

    config = ClientConfig(job["access_key"], job["secret_key"], job["endpoint"])
    async with Client(config) as client:
        await client.vfolders.get(job["folder"]).info()  # connect and negotiate, untimed
        folder = client.vfolders.get(job["folder"])
        concurrency = job.get("concurrency", 8)

        async def run() -> None:
            if job["op"] == "upload":
                await folder.upload_tree(job["local"], concurrency=concurrency)
            else:
                await folder.download_tree("", job["local"], concurrency=concurrency)

        return await measure(run)


async def _official(
    job: dict[str, Any], measure: Callable[[Run], Awaitable[dict[str, Any]]]
) -> Any:
    from ai.backend.client.config import APIConfig  # type: ignore[import-not-found]
    from ai.backend.client.session import AsyncSession  # type: ignore[import-not-found]

    config = APIConfig(
        endpoint=job["endpoint"],
        endpoint_type="api",
        access_key=job["access_key"],
        secret_key=job["secret_key"],
    )
    async with AsyncSession(config=config) as session:
        folder = session.VFolder(job["folder"])
        await folder.update_id_by_name()  # the lookup every call makes first, untimed here
        files = job["files"]

        async def run() -> None:
            # The SDK prints a line per uploaded file: with no sys.stdout, print() drops it.
            with contextlib.redirect_stdout(None):
                if job["op"] == "upload":
                    await folder.upload(files, basedir=job["local"])
                else:
                    await folder.download(files, basedir=job["local"])

        return await measure(run)


async def _measure(run: Run) -> dict[str, Any]:
    gc.collect()
    exact = reset_peak_rss()
    baseline = read_memory_status().get("VmRSS", 0)
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    await run()
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    peak = read_memory_status().get("VmHWM", 0)
    return {
        "ok": True,
        "wall": wall,
        "cpu": cpu,
        "rss_growth": max(0, peak - baseline),
        "rss_method": "VmHWM reset" if exact else "VmHWM since start",
    }


def main() -> int:
    """Run the transfer the JSON argument describes; print its figures as one JSON line."""
    job = json.loads(sys.argv[1])
    runner = _aio if job["contender"] == "aio" else _official
    try:
        answer = asyncio.run(runner(job, _measure))
    except Exception as exc:
        traceback.print_exc()
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    print(json.dumps(answer), flush=True)
    return 0 if answer.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
