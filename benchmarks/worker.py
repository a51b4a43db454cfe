"""One client process: a contender driven by the harness, one JSON command per line.

``python -m benchmarks.worker --contender raw|aio|official --endpoint URL`` opens the
contender (which negotiates the API version), prints ``{"ok": true, "ready": ...}`` and then
answers each JSON line read on stdin with one JSON line on stdout. Client CPU is this
process's :func:`time.process_time` around the measured work only, so the interpreter's
start-up, the imports and the harness's pauses never count.

Commands (``op``): ``check``, ``warmup``, ``calls``, ``burst``, ``download``, ``upload``,
``profile``, ``describe``, ``quit``. Only the standard library is imported here: the
contender's module brings its own dependencies, so the official SDK's interpreter can run
this file too.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from benchmarks.common import NotAvailableError, read_memory_status, reset_peak_rss

WORKLOADS = ("execute", "get_info")
_WARMUP_TRANSFER = 4 << 20


class Contender(Protocol):
    """What each ``benchmarks.contender_*`` module's ``create(endpoint)`` returns."""

    async def open(self) -> None:
        """Open the client (including the API version negotiation)."""

    def call(self, workload: str) -> Callable[[], Awaitable[Any]]:
        """The zero-argument coroutine function making one call of *workload*."""
        ...

    async def download(self, size: int, dest: str) -> int:
        """Download *size* bytes into *dest*; return the byte count written."""
        ...

    async def upload(self, source: str) -> None:
        """Upload the file *source*."""

    def describe(self) -> dict[str, Any]:
        """Versions and settings."""
        ...

    async def close(self) -> None:
        """Release everything."""


def _describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


async def _run_calls(
    call: Callable[[], Awaitable[Any]], calls: int, concurrency: int
) -> dict[str, Any]:
    """Make *calls* calls from *concurrency* tasks; time the client's CPU and the wall clock."""
    per_task = max(1, calls // concurrency)
    errors = 0
    first_error = ""

    async def loop() -> None:
        nonlocal errors, first_error
        for _ in range(per_task):
            try:
                await call()
            except Exception as exc:
                errors += 1
                first_error = first_error or _describe_error(exc)

    gc.collect()
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    if concurrency == 1:
        await loop()
    else:
        await asyncio.gather(*(loop() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    return {
        "calls": per_task * concurrency,
        "cpu": cpu,
        "wall": wall,
        "errors": errors,
        "first_error": first_error,
    }


async def _burst(call: Callable[[], Awaitable[Any]], calls: int) -> dict[str, Any]:
    """Start *calls* calls at once through the one client and wait for all of them."""
    gc.collect()
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    results = await asyncio.gather(*(call() for _ in range(calls)), return_exceptions=True)
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    failures = [result for result in results if isinstance(result, BaseException)]
    return {
        "calls": calls,
        "cpu": cpu,
        "wall": wall,
        "errors": len(failures),
        "first_error": _describe_error(failures[0]) if failures else "",
    }


async def _transfer(run: Callable[[], Awaitable[int | None]], size: int) -> dict[str, Any]:
    """Time one transfer and the growth of this process's peak RSS while it ran."""
    gc.collect()
    exact = reset_peak_rss()
    baseline = read_memory_status().get("VmRSS", 0)
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    moved = await run()
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    peak = read_memory_status().get("VmHWM", 0)
    if not exact:
        import resource

        peak = max(peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {
        "bytes": size if moved is None else moved,
        "cpu": cpu,
        "wall": wall,
        "rss_baseline": baseline,
        "rss_growth": max(0, peak - baseline),
        "rss_method": "VmHWM reset" if exact else "ru_maxrss (not reset: an upper bound)",
    }


def _short_location(filename: str, function: str) -> str:
    """``package/file.py:function`` for a profiled function, shortened for the table."""
    if filename == "~":
        return f"<built-in>:{function}"
    path = filename.replace(os.sep, "/")
    for marker in ("/backendai_aio/", "/benchmarks/", "/site-packages/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker != "/site-packages/":
                path = marker.strip("/") + "/" + path
            break
    else:
        path = "stdlib:" + "/".join(path.rsplit("/", 2)[-2:])
    return f"{path}:{function}"


def _cprofile_rows(profiler: Any, calls: int) -> list[dict[str, Any]]:
    """Self CPU time per function from cProfile, as shares, with calls per benchmark call."""
    import pstats

    raw_stats: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    raw_stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    entries: dict[str, list[float]] = {}
    for (filename, _line, function), (_cc, ncalls, tottime, _ct, _callers) in raw_stats.items():
        entry = entries.setdefault(_short_location(filename, function), [0.0, 0.0])
        entry[0] += tottime
        entry[1] += ncalls
    total = sum(entry[0] for entry in entries.values()) or 1.0
    ranked = sorted(entries.items(), key=lambda item: -item[1][0])
    return [
        {"function": key, "self_share": tottime / total, "calls_per_call": ncalls / calls}
        for key, (tottime, ncalls) in ranked
    ]


def _attribute(root: Any) -> dict[str, float]:
    """Split a pyinstrument call tree's time by owner.

    Each sample goes to the nearest enclosing frame that belongs to the client under test
    (``backendai_aio/file.py:function``, or a ``benchmarks/contender_*.py`` function for the
    others) or to aiohttp (``aiohttp``); samples under neither
    go to ``other`` (the event loop, the benchmark's driver), and the wait in the selector
    to ``idle``. So a backendai_aio function's figure is its own code plus what it calls
    directly (the standard library, yarl, ...) but not the aiohttp request it wraps; the
    middleware, which aiohttp calls, counts for itself.
    """
    buckets: dict[str, float] = {}
    stack: list[tuple[Any, str]] = [(root, "other")]
    while stack:
        frame, owner = stack.pop()
        path = (frame.file_path or "").replace(os.sep, "/")
        if "/backendai_aio/" in path or "/benchmarks/contender_" in path:
            owner = _short_location(path, frame.function)
        elif "/aiohttp/" in path:
            owner = "aiohttp"
        elif path == "<built-in>" and frame.function.endswith(("poll", "select")):
            owner = "idle"
        children = list(frame.children)
        own = frame.time - sum(child.time for child in children)
        buckets[owner] = buckets.get(owner, 0.0) + max(own, 0.0)
        stack.extend((child, owner) for child in children)
    return buckets


async def _profile(
    contender: Contender, workload: str, calls: int, concurrency: int, text_report: str
) -> dict[str, Any]:
    """Profile *calls* calls: pyinstrument's attribution (when installed) and cProfile."""
    import cProfile

    call = contender.call(workload)
    await _run_calls(call, concurrency * 4, concurrency)
    plain = await _run_calls(call, calls, concurrency)
    cpu_per_call = plain["cpu"] / plain["calls"]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    await _run_calls(call, calls, concurrency)
    profiler.disable()
    result: dict[str, Any] = {
        "workload": workload,
        "concurrency": concurrency,
        "calls": plain["calls"],
        "cpu_us_per_call": cpu_per_call * 1e6,
        "cprofile_top_self": _cprofile_rows(profiler, plain["calls"])[:30],
        "attribution": None,
        "text_report": None,
    }
    try:
        from pyinstrument import Profiler  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return result
    sampler = Profiler(interval=0.0001, async_mode="disabled")
    sampler.start()
    await _run_calls(call, calls, concurrency)
    session = sampler.stop()
    buckets = _attribute(session.root_frame(trim_stem=False))
    buckets.pop("idle", None)
    active = sum(buckets.values()) or 1.0
    result["attribution"] = [
        {
            "owner": owner,
            "share": seconds / active,
            "us_per_call": seconds / active * cpu_per_call * 1e6,
        }
        for owner, seconds in sorted(buckets.items(), key=lambda item: -item[1])
    ]
    with open(text_report, "w", encoding="utf-8") as report:  # noqa: ASYNC230 (not timed)
        report.write(sampler.output_text(unicode=True, color=False, show_all=False))
    result["text_report"] = text_report
    return result


async def _handle(contender: Contender, command: dict[str, Any]) -> dict[str, Any]:
    op = command["op"]
    if op == "check":
        answers = {}
        for workload in WORKLOADS:
            answer = await contender.call(workload)()
            answers[workload] = json.dumps(answer, default=str)[:300]
        return {"answers": answers}
    if op == "warmup":
        for workload in WORKLOADS:
            for concurrency in (1, 32):
                await _run_calls(contender.call(workload), command["calls"], concurrency)
        return {}
    if op == "calls":
        call = contender.call(command["workload"])
        concurrency = command["concurrency"]
        # Untimed: refill the connection pool, which may have idled out between runs.
        await _run_calls(call, concurrency * 2, concurrency)
        return await _run_calls(call, command["calls"], concurrency)
    if op == "burst":
        call = contender.call(command["workload"])
        await call()
        return await _burst(call, command["calls"])
    if op == "download":
        size, dest = command["size"], command["dest"]
        await contender.download(min(size, _WARMUP_TRANSFER), dest)
        return await _transfer(lambda: contender.download(size, dest), size)
    if op == "upload":
        warmup_source, source = command["warmup_source"], command["source"]
        await contender.upload(warmup_source)

        async def upload() -> None:
            await contender.upload(source)

        return await _transfer(upload, command["size"])
    if op == "profile":
        return await _profile(
            contender,
            command["workload"],
            command["calls"],
            command["concurrency"],
            command["text_report"],
        )
    if op == "describe":
        return contender.describe()
    raise ValueError(f"unknown command {op!r}")


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """Open the contender, then answer commands until ``quit`` or the end of stdin."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--contender", required=True, choices=("raw", "aio", "official"))
    parser.add_argument("--endpoint", required=True)
    args = parser.parse_args(argv)
    module = importlib.import_module(f"benchmarks.contender_{args.contender}")
    contender: Contender = module.create(args.endpoint)
    with asyncio.Runner() as runner:
        try:
            runner.run(contender.open())
        except Exception as exc:
            _reply({"ok": False, "error": _describe_error(exc)})
            return
        _reply({"ok": True, "ready": True, "pid": os.getpid()})
        try:
            for line in sys.stdin:
                command = json.loads(line)
                if command["op"] == "quit":
                    break
                try:
                    result = runner.run(_handle(contender, command))
                except NotAvailableError as exc:
                    _reply({"ok": False, "unavailable": str(exc)})
                except Exception as exc:
                    traceback.print_exc()
                    _reply({"ok": False, "error": _describe_error(exc)})
                else:
                    _reply({"ok": True, **result})
        finally:
            runner.run(contender.close())


if __name__ == "__main__":
    main()
