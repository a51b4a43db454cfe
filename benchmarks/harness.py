"""The benchmark harness: starts the server and the client processes, measures, reports.

``python -m benchmarks [--quick] [--size 64MiB] [--only 1,4] [--profile] ...`` (``nox -s bench
-- ...`` passes the same options). Each contender runs in its own client process (a fresh one
every repetition) and is measured alternately with the others (the order rotates every
repetition) against the same server process; figures are medians over the repetitions with
their spread (min-max), and every ratio is taken within one repetition before the median.

1. Small signed calls (``execute`` query, ``get_info``) at concurrency 1 and 32: client CPU
   per call and calls per second; raw aiohttp (the floor), backendai_aio, the official SDK.
2. / 3. ``download_single`` and ``upload`` of ``--size`` bytes (default 1 GiB): throughput
   and the growth of the client's peak RSS; raw aiohttp and backendai_aio.
4. 1,000 concurrent ``execute`` calls through one client: total time, errors, and the peak
   of open connections seen by the server, against the client's connector limit.
5. Import time of ``backendai_aio`` against ``import aiohttp``, in fresh interpreters.

The table goes to stdout and everything (with the raw samples) to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import format_size, parse_size, pattern_chunk
from benchmarks.official_env import ensure_official_env, worker_environment

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
DEFAULT_CACHE = BENCH_DIR / ".cache"
RESULTS_DIR = BENCH_DIR / "results"

#: Contender ids, in table order. ``raw_legacy`` is the floor again, run on the official
#: SDK's interpreter and aiohttp 3.8: it tells how much of the official SDK's cost is its
#: older aiohttp rather than its own code.
CONTENDERS = ("raw", "aio", "official", "raw_legacy")
LABELS = {
    "raw": "raw aiohttp",
    "aio": "backendai_aio",
    "official": "official 23.9.10",
    "raw_legacy": "raw on official venv",
}
#: The module (``benchmarks.contender_<module>``) each contender runs.
MODULES = {"raw": "raw", "aio": "aio", "official": "official", "raw_legacy": "raw"}
OFFICIAL_API_VERSION = "v7.20230615"
LATEST_API_VERSION = "v9.20250722"

TARGET_CPU_RATIO = 1.10
TARGET_OFFICIAL_FACTOR = 2.0
TARGET_THROUGHPUT_RATIO = 0.9
TARGET_RSS_GROWTH = 32 << 20
TARGET_IMPORT_RATIO = 1.2
BURST_CALLS = 1000


@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    calls: int
    reps: int
    size: int
    transfer_reps: int
    burst_reps: int
    import_reps: int
    warmup_calls: int


FULL = Settings(
    calls=2048,
    reps=11,
    size=1 << 30,
    transfer_reps=7,
    burst_reps=5,
    import_reps=21,
    warmup_calls=256,
)
QUICK = Settings(
    calls=1024,
    reps=5,
    size=256 << 20,
    transfer_reps=3,
    burst_reps=2,
    import_reps=7,
    warmup_calls=256,
)


class BenchError(RuntimeError):
    """The harness cannot go on (a process failed to start, a preflight check failed)."""


# -- processes ----------------------------------------------------------------------------------


class _LineReader:
    """Read JSON lines from a child's stdout with a timeout (select on the raw pipe)."""

    def __init__(self, process: subprocess.Popen[bytes], name: str, log: Path) -> None:
        assert process.stdout is not None
        self._process = process
        self._fd = process.stdout.fileno()
        self._buffer = b""
        self._name = name
        self._log = log

    def read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{self._name}: no answer within {timeout:.0f} s")
            readable, _, _ = select.select([self._fd], [], [], min(remaining, 1.0))
            if not readable:
                continue
            data = os.read(self._fd, 65536)
            if not data:
                raise BenchError(
                    f"{self._name} exited (status {self._process.wait()}); "
                    f"see {self._log}: {_tail(self._log)}"
                )
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a child we started, by its PID: terminate, then kill after *grace* seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


class Server:
    """The stand-in manager, a child process on 127.0.0.1."""

    def __init__(self, api_version: str, log_dir: Path) -> None:
        self.log = log_dir / "server.log"
        with self.log.open("w", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.server", "--api-version", api_version],
                cwd=ROOT,
                env=worker_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        try:
            ready = _LineReader(self.process, "the server", self.log).read(30.0)
        except BaseException:
            _stop(self.process)
            raise
        self.api_version = api_version
        self.endpoint = f"http://127.0.0.1:{ready['port']}"

    def control(self, method: str, path: str) -> dict[str, Any]:
        """Call one of the server's ``/_bench/...`` endpoints."""
        request = urllib.request.Request(self.endpoint + path, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        answer: dict[str, Any] = json.loads(body) if body else {}
        return answer

    def stats(self) -> dict[str, Any]:
        """The server's counters."""
        return self.control("GET", "/_bench/stats")

    def reset(self) -> None:
        """Zero the server's counters."""
        self.control("POST", "/_bench/reset")

    def verify(self, on: bool) -> None:
        """Switch signature verification on or off."""
        self.control("POST", f"/_bench/verify?on={int(on)}")

    def wait_idle(self, timeout: float = 20.0) -> None:
        """Wait until no client connection is open (a stopped worker's are closing)."""
        deadline = time.monotonic() + timeout
        while self.stats()["open_connections"] > 0 and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server process."""
        _stop(self.process)


class Worker:
    """A contender's client process (:mod:`benchmarks.worker`)."""

    def __init__(self, contender: str, python: str, endpoint: str, log_dir: Path) -> None:
        self.contender = contender
        self.log = log_dir / f"worker-{contender}.log"
        with self.log.open("a", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                [
                    python,
                    *("-m", "benchmarks.worker"),
                    *("--contender", MODULES[contender]),
                    *("--endpoint", endpoint),
                ],
                cwd=ROOT,
                env=worker_environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        self._reader = _LineReader(self.process, f"the {LABELS[contender]} worker", self.log)
        try:
            ready = self._reader.read(120.0)
        except BaseException:
            _stop(self.process)
            raise
        if not ready.get("ok"):
            _stop(self.process)
            raise BenchError(f"{LABELS[contender]} did not start: {ready.get('error')}")

    def request(self, command: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
        """Send one command and wait for its answer."""
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()
        return self._reader.read(timeout)

    def stop(self) -> None:
        """Ask the worker to quit, then stop it by its PID if it lingers."""
        if self.process.poll() is None and self.process.stdin is not None:
            try:
                self.process.stdin.write(b'{"op": "quit"}\n')
                self.process.stdin.flush()
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        _stop(self.process)


# -- statistics ---------------------------------------------------------------------------------


def _summary(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def _rotated(items: Sequence[str], rep: int) -> list[str]:
    shift = rep % len(items) if items else 0
    return list(items[shift:]) + list(items[:shift])


# -- benchmark 1: small signed calls ------------------------------------------------------------


def _check_signatures(server: Server, workers: dict[str, Worker]) -> None:
    """Preflight: every contender's requests must carry a valid signature."""
    server.verify(True)
    try:
        for name, worker in workers.items():
            server.reset()
            answer = worker.request({"op": "check"}, timeout=60)
            if not answer.get("ok"):
                raise BenchError(f"{LABELS[name]} failed its check: {answer}")
            stats = server.stats()
            if stats["bad_signatures"]:
                raise BenchError(
                    f"{LABELS[name]} sent a bad signature: {stats['last_bad_signature']}"
                )
    finally:
        server.verify(False)


def bench_small_calls(
    server: Server,
    pythons: dict[str, str],
    settings: Settings,
    log_dir: Path,
) -> dict[str, Any]:
    """Client CPU per call and calls per second, every contender alternately.

    Each repetition starts fresh client processes: a process's speed varies by several per
    cent over its whole life (memory layout, hash seed), so one long-lived process per
    contender would let that luck decide the ratio.
    """
    contenders = [name for name in CONTENDERS if name in pythons]
    plan = [(w, c) for w in ("execute", "get_info") for c in (1, 32)]
    samples: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    describe: dict[str, Any] = {}
    for rep in range(settings.reps):
        order = _rotated(contenders, rep)
        print(f"  repetition {rep + 1}/{settings.reps} (order: {', '.join(order)})")
        workers: dict[str, Worker] = {}
        try:
            for name in order:
                workers[name] = Worker(name, pythons[name], server.endpoint, log_dir)
            if rep == 0:
                _check_signatures(server, workers)
                describe = {name: workers[name].request({"op": "describe"}) for name in order}
            for name in order:
                workers[name].request({"op": "warmup", "calls": settings.warmup_calls})
            for workload, concurrency in plan:
                for name in order:
                    answer = workers[name].request(
                        {
                            "op": "calls",
                            "workload": workload,
                            "calls": settings.calls,
                            "concurrency": concurrency,
                        }
                    )
                    if not answer.get("ok"):
                        raise BenchError(f"{LABELS[name]} {workload}: {answer}")
                    samples.setdefault((workload, concurrency, name), []).append(answer)
        finally:
            for worker in workers.values():
                worker.stop()
    rows: list[dict[str, Any]] = []
    for workload, concurrency in plan:
        row: dict[str, Any] = {"workload": workload, "concurrency": concurrency}
        per_rep: dict[str, list[float]] = {}
        for name in contenders:
            runs = samples[(workload, concurrency, name)]
            cpu = [run["cpu"] / run["calls"] * 1e6 for run in runs]
            rate = [run["calls"] / run["wall"] for run in runs]
            per_rep[name] = cpu
            row[name] = {
                "cpu_us_per_call": _summary(cpu),
                "calls_per_second": _summary(rate),
                "errors": sum(run["errors"] for run in runs),
                "first_error": next((r["first_error"] for r in runs if r["first_error"]), ""),
                "samples": runs,
            }
        row["ratios"] = {}
        for name in contenders:
            if name != "raw":
                ratios = [a / b for a, b in zip(per_rep[name], per_rep["raw"], strict=True)]
                row["ratios"][f"{name}/raw"] = _summary(ratios)
        for slower, faster in (("official", "aio"), ("official", "raw_legacy")):
            if slower in contenders and faster in contenders:
                pairs = zip(per_rep[slower], per_rep[faster], strict=True)
                row["ratios"][f"{slower}/{faster}"] = _summary([a / b for a, b in pairs])
        rows.append(row)
    return {"calls_per_run": settings.calls, "reps": settings.reps, "rows": rows, **describe}


# -- profile ------------------------------------------------------------------------------------


def profile_contenders(
    server: Server, python: str, settings: Settings, log_dir: Path, report_dir: Path
) -> dict[str, Any]:
    """Profile execute calls of backendai_aio and of the floor, each in a worker of its own."""
    profiles: dict[str, Any] = {}
    for name in ("aio", "raw"):
        worker = Worker(name, python, server.endpoint, log_dir)
        try:
            worker.request({"op": "warmup", "calls": settings.warmup_calls})
            for concurrency in (1, 32):
                answer = worker.request(
                    {
                        "op": "profile",
                        "workload": "execute",
                        "calls": max(settings.calls * 4, 8192),
                        "concurrency": concurrency,
                        "text_report": str(report_dir / f"profile-{name}-c{concurrency}.txt"),
                    }
                )
                if not answer.get("ok"):
                    raise BenchError(f"profiling {LABELS[name]} failed: {answer}")
                answer.pop("ok")
                if answer.get("text_report"):
                    answer["text_report"] = os.path.relpath(answer["text_report"], ROOT)
                profiles[f"{name} c{concurrency}"] = answer
        finally:
            worker.stop()
    return profiles


# -- benchmarks 2 and 3: streaming transfers ----------------------------------------------------


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
    server: Server, python: str, settings: Settings, scratch: Path, log_dir: Path
) -> dict[str, Any]:
    """Throughput and peak RSS growth of download_single and upload, raw vs backendai_aio."""
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
                for name in ["raw"] if rep < 0 else _rotated(["raw", "aio"], rep):
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
                    worker = Worker(name, python, server.endpoint, log_dir)
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
                        raise BenchError(f"{LABELS[name]} {kind}: {answer}")
                    moved = answer["bytes"] if kind == "download" else stats["uploaded_bytes"]
                    if kind == "upload":
                        moved -= min(size, 4 << 20)  # the warm-up upload's bytes
                    if moved != size:
                        raise BenchError(f"{LABELS[name]} {kind}: moved {moved} of {size} bytes")
                    answer["throughput"] = size / answer["wall"]
                    if rep < 0:
                        continue
                    samples[name].append(answer)
                    print(
                        f"  {kind} {rep + 1}/{settings.transfer_reps} {LABELS[name]}: "
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
                    "throughput": _summary([run["throughput"] for run in runs]),
                    "rss_growth": _summary([run["rss_growth"] for run in runs]),
                    "cpu_seconds": _summary([run["cpu"] for run in runs]),
                    "rss_method": runs[0]["rss_method"] if runs else None,
                    "samples": runs,
                }
            if "aio" not in unavailable and samples["aio"] and samples["raw"]:
                pairs = zip(samples["aio"], samples["raw"], strict=False)
                entry["ratio"] = _summary([a["throughput"] / r["throughput"] for a, r in pairs])
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


# -- benchmark 4: 1,000 concurrent calls --------------------------------------------------------


def bench_burst(
    server: Server, pythons: dict[str, str], settings: Settings, log_dir: Path
) -> dict[str, Any]:
    """1,000 concurrent execute calls through one client, each in a fresh process."""
    contenders = [name for name in ("raw", "aio", "official") if name in pythons]
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    limits: dict[str, Any] = {}
    for rep in range(settings.burst_reps):
        for name in _rotated(contenders, rep):
            server.wait_idle()
            server.reset()
            worker = Worker(name, pythons[name], server.endpoint, log_dir)
            try:
                answer = worker.request(
                    {"op": "burst", "workload": "execute", "calls": BURST_CALLS}, timeout=600
                )
                limits[name] = worker.request({"op": "describe"}).get("connector_limit")
            finally:
                worker.stop()
            if not answer.get("ok"):
                raise BenchError(f"{LABELS[name]} burst: {answer}")
            answer["peak_connections"] = server.stats()["peak_connections"]
            samples[name].append(answer)
    results: dict[str, Any] = {"calls": BURST_CALLS}
    for name in contenders:
        runs = samples[name]
        results[name] = {
            "wall_seconds": _summary([run["wall"] for run in runs]),
            "cpu_seconds": _summary([run["cpu"] for run in runs]),
            "errors": sum(run["errors"] for run in runs),
            "first_error": next((run["first_error"] for run in runs if run["first_error"]), ""),
            "peak_connections": max(run["peak_connections"] for run in runs),
            "connector_limit": limits.get(name),
            "samples": runs,
        }
    return results


# -- benchmark 5: import time -------------------------------------------------------------------


_IMPORT_PROBE = (
    "import time; started = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - started)"
)


def _import_once(module: str) -> float:
    completed = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE.format(module=module)],
        cwd=BENCH_DIR,
        env=worker_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(completed.stdout.strip())


def _imported_modules(module: str) -> dict[str, int]:
    """Self import time (microseconds) of every module that ``import module`` loads."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=BENCH_DIR,
        env=worker_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules: dict[str, int] = {}
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, _cumulative, name = line[len("import time:") :].split("|", 2)
        modules[name.strip()] = int(self_us)
    return modules


def bench_imports(settings: Settings) -> dict[str, Any]:
    """Import time of backendai_aio and of aiohttp, alternately, in fresh interpreters."""
    modules = ("aiohttp", "backendai_aio")
    times: dict[str, list[float]] = {module: [] for module in modules}
    for rep in range(settings.import_reps):
        for module in _rotated(list(modules), rep):
            times[module].append(_import_once(module))
    ratios = [a / b for a, b in zip(times["backendai_aio"], times["aiohttp"], strict=True)]
    aiohttp_modules = _imported_modules("aiohttp")
    ours = _imported_modules("backendai_aio")
    extra = {name: us for name, us in ours.items() if name not in aiohttp_modules}
    top_extra = sorted(extra.items(), key=lambda item: -item[1])[:10]
    return {
        "aiohttp_ms": _summary([t * 1e3 for t in times["aiohttp"]]),
        "backendai_aio_ms": _summary([t * 1e3 for t in times["backendai_aio"]]),
        "ratio": _summary(ratios),
        "extra_modules": len(extra),
        "extra_self_ms": sum(extra.values()) / 1e3,
        "top_extra_modules_ms": [(name, us / 1e3) for name, us in top_extra],
        "samples": times,
    }


# -- report -------------------------------------------------------------------------------------


def _fmt(summary: dict[str, float] | None, pattern: str, scale: float = 1.0) -> str:
    if summary is None:
        return "-"
    median = pattern.format(summary["median"] * scale)
    low, high = pattern.format(summary["min"] * scale), pattern.format(summary["max"] * scale)
    return f"{median} [{low}-{high}]"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


_RATIO_LABELS = {
    "aio/raw": "aio / raw",
    "official/raw": "official / raw",
    "official/aio": "official / aio",
    "raw_legacy/raw": "raw on official venv / raw",
    "official/raw_legacy": "official / raw on official venv",
}


def _report_small(small: dict[str, Any], unavailable: dict[str, str]) -> list[str]:
    rows = small["rows"]
    names = [name for name in CONTENDERS if name in rows[0]]
    out = [
        f"Benchmark 1: small signed calls, client CPU per call in us, median [min-max] of "
        f"{small['reps']} runs of {small['calls_per_run']} calls",
        "",
    ]
    table = []
    for row in rows:
        cells = [row["workload"], str(row["concurrency"])]
        cells += [_fmt(row[name]["cpu_us_per_call"], "{:.0f}") for name in names]
        table.append(cells)
    out.append(_table(["call", "conc"] + [LABELS[name] for name in names], table))
    out += ["", "CPU ratios, median [min-max] of the per-repetition ratios", ""]
    keys = [key for key in _RATIO_LABELS if key in rows[0]["ratios"]]
    table = []
    for row in rows:
        cells = [row["workload"], str(row["concurrency"])]
        cells += [_fmt(row["ratios"][key], "{:.2f}x") for key in keys]
        table.append(cells)
    out.append(_table(["call", "conc"] + [_RATIO_LABELS[key] for key in keys], table))
    out += ["", "Calls per second (wall clock, server included), median [min-max]", ""]
    table = []
    for row in rows:
        cells = [row["workload"], str(row["concurrency"])]
        cells += [_fmt(row[name]["calls_per_second"], "{:.0f}") for name in names]
        table.append(cells)
    out.append(_table(["call", "conc"] + [LABELS[name] for name in names], table))
    errors = {name: sum(row[name]["errors"] for row in rows) for name in names}
    out.append(f"errors: {', '.join(f'{LABELS[n]} {e}' for n, e in errors.items())}")
    versions = ", ".join(
        f"{LABELS[name]} on aiohttp {small[name].get('aiohttp')}" for name in names if name in small
    )
    out.append(f"versions: {versions}")
    if "official" in unavailable:
        out.append(f"{LABELS['official']}: unavailable ({unavailable['official']})")
    return out


def _report_transfers(transfers: dict[str, Any]) -> list[str]:
    size = format_size(transfers["size"])
    out = [
        f"Benchmarks 2 and 3: streaming {size} (files in {transfers['scratch_dir']}), "
        "median [min-max]",
        "",
    ]
    table = []
    for kind in ("download", "upload"):
        entry = transfers.get(kind, {})
        for name in ("raw", "aio"):
            data = entry.get(name, {})
            if "unavailable" in data:
                table.append([kind, LABELS[name], "not available yet", "-", "-", "-"])
                continue
            ratio = ""
            if name == "aio" and "ratio" in entry:
                ratio = f"{_fmt(entry['ratio'], '{:.2f}x')}, best {entry['best_ratio']:.2f}x"
            table.append(
                [
                    kind,
                    LABELS[name],
                    _fmt(data.get("throughput"), "{:.0f}", 1 / (1 << 20)),
                    ratio,
                    _fmt(data.get("rss_growth"), "{:.1f}", 1 / (1 << 20)),
                    _fmt(data.get("cpu_seconds"), "{:.2f}"),
                ]
            )
    headers = ["transfer", "client", "MiB/s", "vs raw", "peak RSS growth MiB", "CPU s"]
    out.append(_table(headers, table))
    for kind in ("download", "upload"):
        reason = transfers.get(kind, {}).get("aio", {}).get("unavailable")
        if reason:
            out.append(f"{kind}: backendai_aio {reason}")
    return out


def _report_burst(burst: dict[str, Any]) -> list[str]:
    out = [f"Benchmark 4: {burst['calls']} concurrent execute calls through one client", ""]
    table = []
    for name in CONTENDERS:
        if name not in burst:
            continue
        data = burst[name]
        table.append(
            [
                LABELS[name],
                _fmt(data["wall_seconds"], "{:.2f}"),
                _fmt(data["cpu_seconds"], "{:.2f}"),
                str(data["errors"]),
                f"{data['peak_connections']} / {data['connector_limit']}",
            ]
        )
    headers = ["client", "total s", "client CPU s", "errors", "peak conns / limit"]
    out.append(_table(headers, table))
    return out


def _report_imports(imports: dict[str, Any]) -> list[str]:
    out = [
        "Benchmark 5: import time in a fresh interpreter, ms, median [min-max]",
        "",
        _table(
            ["import", "ms", "vs aiohttp"],
            [
                ["aiohttp", _fmt(imports["aiohttp_ms"], "{:.1f}"), ""],
                [
                    "backendai_aio",
                    _fmt(imports["backendai_aio_ms"], "{:.1f}"),
                    _fmt(imports["ratio"], "{:.2f}x"),
                ],
            ],
        ),
        f"modules backendai_aio loads beyond aiohttp's: {imports['extra_modules']}, "
        f"{imports['extra_self_ms']:.1f} ms of self time; top: "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in imports["top_extra_modules_ms"][:5]),
    ]
    return out


def _own(attribution: list[dict[str, Any]]) -> float:
    owners = ("backendai_aio/", "benchmarks/contender_")
    return float(sum(row["us_per_call"] for row in attribution if row["owner"].startswith(owners)))


def _report_profile(profiles: dict[str, Any]) -> list[str]:
    out = [
        "Profile of execute calls (pyinstrument; each sample charged to the nearest frame of",
        "the client's own code, of aiohttp, or else 'other': event loop and driver), us/call",
        "",
    ]
    keys = [key for key, profile in profiles.items() if profile.get("attribution")]
    if not keys:
        return [*out, "(pyinstrument is not installed: see the JSON for cProfile's figures)"]
    table = []
    for key in keys:
        profile = profiles[key]
        attribution = profile["attribution"]
        by_owner = {row["owner"]: row["us_per_call"] for row in attribution}
        name, concurrency = key.split(" ")
        table.append(
            [
                LABELS[name],
                concurrency.lstrip("c"),
                f"{profile['cpu_us_per_call']:.0f}",
                f"{_own(attribution):.1f}",
                f"{by_owner.get('aiohttp', 0.0):.1f}",
                f"{by_owner.get('other', 0.0):.1f}",
            ]
        )
    headers = ["client", "conc", "CPU/call", "own code", "aiohttp", "other"]
    out += [_table(headers, table), ""]
    for key in keys:
        if not key.startswith("aio"):
            continue
        rows = [
            [row["owner"], f"{row['share'] * 100:.1f}%", f"{row['us_per_call']:.1f}"]
            for row in profiles[key]["attribution"]
            if row["owner"].startswith("backendai_aio") and row["share"] >= 0.002
        ]
        out.append(_table([f"backendai_aio, execute {key.split(' ')[1]}", "share", "us"], rows))
        out.append("")
    reports = [profiles[key]["text_report"] for key in keys if profiles[key].get("text_report")]
    out.append(f"call trees: {', '.join(reports)}")
    return out


def _targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """Each target of the performance issue: measured figure and verdict."""
    targets: list[dict[str, str]] = []

    def add(name: str, verdict: str, measured: str) -> None:
        targets.append({"target": name, "verdict": verdict, "measured": measured})

    small = results.get("small_calls")
    if small:
        worst = max(small["rows"], key=lambda row: row["ratios"]["aio/raw"]["median"])
        ratio = worst["ratios"]["aio/raw"]["median"]
        add(
            f"B1 backendai_aio CPU/call <= {TARGET_CPU_RATIO:.2f}x raw (every call, median)",
            "met" if ratio <= TARGET_CPU_RATIO else "NOT MET",
            f"worst {ratio:.2f}x ({worst['workload']}, concurrency {worst['concurrency']})",
        )
        if "official/aio" in worst["ratios"]:
            least = min(small["rows"], key=lambda row: row["ratios"]["official/aio"]["median"])
            factor = least["ratios"]["official/aio"]["median"]
            add(
                f"B1 official SDK CPU/call >= {TARGET_OFFICIAL_FACTOR:.1f}x backendai_aio",
                "met" if factor >= TARGET_OFFICIAL_FACTOR else "NOT MET",
                f"least {factor:.2f}x ({least['workload']}, concurrency {least['concurrency']})",
            )
        else:
            add("B1 official SDK CPU/call >= 2x backendai_aio", "n/a", "official SDK unavailable")
    transfers = results.get("transfers")
    if transfers:
        for number, kind in (("B2", "download"), ("B3", "upload")):
            entry = transfers[kind]
            aio = entry["aio"]
            if "unavailable" in aio:
                add(f"{number} {kind} >= 0.9x raw throughput", "n/a", aio["unavailable"])
                add(f"{number} {kind} peak RSS growth <= 32 MiB", "n/a", aio["unavailable"])
                continue
            ratio = entry["ratio"]["median"]
            add(
                f"{number} {kind} >= {TARGET_THROUGHPUT_RATIO}x raw throughput",
                "met" if ratio >= TARGET_THROUGHPUT_RATIO else "NOT MET",
                f"{ratio:.2f}x median (best runs: {entry['best_ratio']:.2f}x)",
            )
            growth = aio["rss_growth"]["max"]
            add(
                f"{number} {kind} peak RSS growth <= 32 MiB",
                "met" if growth <= TARGET_RSS_GROWTH else "NOT MET",
                f"{growth / (1 << 20):.1f} MiB (worst run)",
            )
    burst = results.get("burst")
    if burst and "aio" in burst:
        aio = burst["aio"]
        add("B4 1,000 concurrent calls: 0 errors", "met" if aio["errors"] == 0 else "NOT MET", "")
        targets[-1]["measured"] = f"{aio['errors']} errors"
        limit = aio["connector_limit"]
        within = limit is None or aio["peak_connections"] <= limit
        add(
            "B4 peak open connections <= connector limit",
            "met" if within else "NOT MET",
            f"{aio['peak_connections']} / {limit}",
        )
    imports = results.get("imports")
    if imports:
        ratio = imports["ratio"]["median"]
        add(
            f"B5 import backendai_aio <= {TARGET_IMPORT_RATIO}x import aiohttp",
            "met" if ratio <= TARGET_IMPORT_RATIO else "NOT MET",
            f"{ratio:.2f}x",
        )
    return targets


def render(results: dict[str, Any]) -> str:
    """The whole report as printed."""
    machine = results["machine"]
    out = [
        "",
        f"backendai_aio benchmarks ({results['mode']} run, {results['finished']})",
        f"machine: {machine['cpus']} CPUs ({machine['cpu_model']}), Python "
        f"{machine['python']}, {machine['platform']}",
        f"server: benchmarks/server.py on 127.0.0.1, API {results['server_api_version']}",
        "",
    ]
    unavailable = results.get("unavailable", {})
    sections: list[tuple[str, Callable[[Any], list[str]]]] = [
        ("small_calls", lambda data: _report_small(data, unavailable)),
        ("transfers", _report_transfers),
        ("burst", _report_burst),
        ("imports", _report_imports),
        ("profile", _report_profile),
    ]
    for key, reporter in sections:
        if key in results:
            out += [*reporter(results[key]), ""]
    out.append("Targets")
    for target in results["targets"]:
        verdict = f"[{target['verdict']}]".ljust(10)
        out.append(f"  {verdict} {target['target']}: {target['measured']}")
    return "\n".join(out)


# -- main ---------------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            names = (line.split(":", 1)[1] for line in cpuinfo if line.startswith("model name"))
            model = next(names, "").strip()
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor() or "unknown",
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of backendai_aio against raw aiohttp and the official SDK.",
    )
    parser.add_argument("--quick", action="store_true", help="a short run (about 2 minutes)")
    parser.add_argument(
        "--size", type=parse_size, help="transfer size (default 1GiB; quick 256MiB)"
    )
    parser.add_argument("--reps", type=int, help="repetitions of benchmark 1")
    parser.add_argument("--calls", type=int, help="calls per run of benchmark 1")
    parser.add_argument(
        "--only", default="1,2,3,4,5", help="benchmarks to run, e.g. 1,4 (2 and 3 go together)"
    )
    parser.add_argument("--no-official", action="store_true", help="leave out the official SDK")
    parser.add_argument("--profile", action="store_true", help="profile backendai_aio's calls")
    parser.add_argument("--api-version", help="the version the server announces")
    parser.add_argument("--output", type=Path, help="the JSON results file")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--scratch-dir", type=Path, help="where transfers put their files (default: /dev/shm)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; print the table and save the JSON results."""
    args = _parse_args(argv)
    base = QUICK if args.quick else FULL
    calls = args.calls if args.calls else base.calls
    settings = Settings(
        calls=max(32, calls // 32 * 32),
        reps=args.reps or base.reps,
        size=args.size or base.size,
        transfer_reps=base.transfer_reps,
        burst_reps=base.burst_reps,
        import_reps=base.import_reps,
        warmup_calls=base.warmup_calls,
    )
    selected = {part.strip() for part in args.only.split(",") if part.strip()}
    if selected & {"2", "3"}:
        selected |= {"2", "3"}
    cache: Path = args.cache_dir
    log_dir = cache / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    default_output = RESULTS_DIR / ("latest-quick.json" if args.quick else "latest.json")
    output: Path = args.output or default_output

    pythons = {"raw": sys.executable, "aio": sys.executable}
    unavailable: dict[str, str] = {}
    if args.no_official:
        unavailable["official"] = "left out (--no-official)"
    elif selected & {"1", "4"}:
        env = ensure_official_env(cache)
        if env.python is None:
            unavailable["official"] = env.reason
            print(f"official SDK unavailable: {env.reason}")
        else:
            pythons["official"] = env.python
            if "1" in selected:
                pythons["raw_legacy"] = env.python
    api_version = args.api_version or (
        OFFICIAL_API_VERSION if "official" in pythons else LATEST_API_VERSION
    )
    started = time.monotonic()
    results: dict[str, Any] = {
        "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
        "mode": "quick" if args.quick else "full",
        "settings": settings.__dict__,
        "machine": _machine(),
        "server_api_version": api_version,
        "unavailable": unavailable,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    server = Server(api_version, log_dir)
    try:
        if "1" in selected:
            print("Benchmark 1: small signed calls")
            results["small_calls"] = bench_small_calls(server, pythons, settings, log_dir)
        if args.profile:
            print("Profiling backendai_aio and the floor")
            results["profile"] = profile_contenders(
                server, sys.executable, settings, log_dir, RESULTS_DIR
            )
        if "2" in selected:
            print(f"Benchmarks 2 and 3: streaming {format_size(settings.size)}")
            scratch = scratch_dir(args.scratch_dir, cache, settings.size)
            results["transfers"] = bench_transfers(
                server, sys.executable, settings, scratch, log_dir
            )
        if "4" in selected:
            print(f"Benchmark 4: {BURST_CALLS} concurrent calls")
            results["burst"] = bench_burst(server, pythons, settings, log_dir)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        server.stop()
    if "5" in selected:
        print("Benchmark 5: import time")
        results["imports"] = bench_imports(settings)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["duration_seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = _targets(results)
    print(render(results))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults saved to {output} ({results['duration_seconds']:.0f} s)")
    return 0
