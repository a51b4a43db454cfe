"""Benchmarks 2 and 3: ``download_single`` and ``upload`` of one large file, streamed.

Throughput and the growth of the client's peak RSS, raw aiohttp against backendai_aio on the
harness's interpreter, in fresh processes, alternately, after an untimed warm-up.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from benchmarks.calls import start
from benchmarks.common import pattern_chunk
from benchmarks.contenders import Contender, label
from benchmarks.processes import BenchError, Server
from benchmarks.settings import Settings
from benchmarks.stats import rotated, summary


def _write_pattern_file(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    chunk = pattern_chunk()
    with path.open("wb") as file:
        remaining = size
        while remaining > 0:
            piece = chunk if remaining >= len(chunk) else chunk[:remaining]
            file.write(piece)
            remaining -= len(piece)


def scratch_dir(requested: Path | None, cache: Path, size: int) -> Path:
    """Where transfers write and read their files.

    A memory file system (``/dev/shm``) when it has room: a disk's write-back would make the
    download's throughput depend on the disk rather than on the client. The files written
    there do not count in the client's RSS.
    """
    if requested is not None:
        return requested
    shm = Path("/dev/shm")
    try:
        usage = shutil.disk_usage(shm)
    except OSError:
        return cache / "scratch"
    if os.access(shm, os.W_OK) and usage.free > 3 * size + (1 << 30):
        return shm / f"backendai-aio-bench-{os.getpid()}"
    return cache / "scratch"


def bench_transfers(
    server: Server,
    contenders: list[Contender],
    settings: Settings,
    scratch: Path,
    log_dir: Path,
) -> dict[str, Any]:
    """Throughput and peak RSS growth of download_single and upload, raw vs backendai_aio."""
    by_key = {contender.key: contender for contender in contenders}
    size = settings.size
    scratch.mkdir(parents=True, exist_ok=True)
    source = scratch / "upload.bin"
    warmup_source = scratch / "upload-warmup.bin"
    _write_pattern_file(source, size)
    _write_pattern_file(warmup_source, min(size, 4 << 20))
    results: dict[str, Any] = {"size": size, "scratch_dir": str(scratch)}
    try:
        for kind in ("download", "upload"):
            samples: dict[str, list[dict[str, Any]]] = {"raw": [], "aio": []}
            unavailable: dict[str, str] = {}
            # Repetition -1 is an untimed warm-up: the first gigabyte written to a fresh file
            # system costs the kernel more than the next ones, whoever writes it.
            for rep in range(-1, settings.transfer_reps):
                for name in ["raw"] if rep < 0 else rotated(["raw", "aio"], rep):
                    if name in unavailable:
                        continue
                    dest = scratch / f"download-{name}.bin"
                    command: dict[str, Any] = {"op": kind, "size": size}
                    if kind == "download":
                        command["dest"] = str(dest)
                    else:
                        command["source"] = str(source)
                        command["warmup_source"] = str(warmup_source)
                    server.wait_idle()
                    worker = start(by_key[name], server, log_dir)
                    try:
                        server.reset()
                        answer = worker.request(command, timeout=1800)
                        stats = server.stats()
                    finally:
                        worker.stop()
                        dest.unlink(missing_ok=True)
                    if "unavailable" in answer:
                        unavailable[name] = answer["unavailable"]
                        continue
                    if not answer.get("ok"):
                        raise BenchError(f"{label(name)} {kind}: {answer}")
                    moved = answer["bytes"] if kind == "download" else stats["uploaded_bytes"]
                    if kind == "upload":
                        moved -= min(size, 4 << 20)  # the warm-up upload's bytes
                    if moved != size:
                        raise BenchError(f"{label(name)} {kind}: moved {moved} of {size} bytes")
                    answer["throughput"] = size / answer["wall"]
                    if rep < 0:
                        continue
                    samples[name].append(answer)
                    print(
                        f"  {kind} {rep + 1}/{settings.transfer_reps} {label(name)}: "
                        f"{answer['throughput'] / (1 << 20):.0f} MiB/s, "
                        f"peak RSS +{answer['rss_growth'] / (1 << 20):.1f} MiB"
                    )
            entry: dict[str, Any] = {}
            for name in ("raw", "aio"):
                if name in unavailable:
                    entry[name] = {"unavailable": unavailable[name]}
                    continue
                runs = samples[name]
                entry[name] = {
                    "throughput": summary([run["throughput"] for run in runs]),
                    "rss_growth": summary([run["rss_growth"] for run in runs]),
                    "cpu_seconds": summary([run["cpu"] for run in runs]),
                    "rss_method": runs[0]["rss_method"] if runs else None,
                    "samples": runs,
                }
            if "aio" not in unavailable and samples["aio"] and samples["raw"]:
                pairs = zip(samples["aio"], samples["raw"], strict=False)
                entry["ratio"] = summary([a["throughput"] / r["throughput"] for a, r in pairs])
                # Best of each: the least disturbed runs, a steadier estimate on a noisy host.
                best = [max(run["throughput"] for run in samples[name]) for name in ("aio", "raw")]
                entry["best_ratio"] = best[0] / best[1]
            results[kind] = entry
    finally:
        source.unlink(missing_ok=True)
        warmup_source.unlink(missing_ok=True)
        if scratch.name.startswith("backendai-aio-bench-"):
            shutil.rmtree(scratch, ignore_errors=True)
    return results
