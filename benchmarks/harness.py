"""The benchmark harness: prepares the interpreters, runs the benchmarks, reports.

``python -m benchmarks [--quick] [--size 64MiB] [--only 1,4] [--profile] ...`` (``nox -s bench
-- ...`` passes the same options). Each contender runs in its own client process (a fresh one
every repetition) and is measured alternately with the others (the order rotates every
repetition) against the same server process; figures are medians over the repetitions with
their spread (min-max), and every ratio is taken within one repetition before the median.

1. Small signed calls (:mod:`benchmarks.calls`) on Python 3.11 and 3.13: raw aiohttp (the
   floor), backendai_aio, the official SDK 23.9.10 (3.11) and 26.9.6 (3.13).
2. / 3. Streaming ``download_single`` and ``upload`` (:mod:`benchmarks.transfers`).
4. 1,000 concurrent ``execute`` calls through one client (:mod:`benchmarks.calls`).
5. Import time against ``import aiohttp`` (:mod:`benchmarks.imports`).
6. 1,000 concurrent session event streams on one client (:mod:`benchmarks.streams`).
7. / 8. Many-file transfers (``upload_tree`` / ``download_tree`` against the official SDK
   26.9.6) through the emulator's storage proxy and, with ``--real-stack``, the real 26.9.6
   stack's (:mod:`benchmarks.trees`).

The interpreters other than the harness's own are virtual environments made once under
``benchmarks/.cache/`` (:mod:`benchmarks.environments`). The table goes to stdout and
everything (with the raw samples) to a JSON file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.calls import bench_burst, bench_small_calls, profile_contenders
from benchmarks.common import format_size, parse_size
from benchmarks.contenders import make
from benchmarks.environments import AIO_313, OFFICIAL_23, OFFICIAL_26, ROOT, EnvSpec, ensure_env
from benchmarks.imports import bench_imports
from benchmarks.processes import Server
from benchmarks.settings import FULL, QUICK
from benchmarks.streams import bench_streams
from benchmarks.targets import render, targets
from benchmarks.transfers import bench_transfers, scratch_dir
from benchmarks.tree_report import report_trees, tree_targets
from benchmarks.trees import EmulatorProcess, Target, bench_trees, real_stack, scratch_for_trees

BENCH_DIR = ROOT / "benchmarks"
DEFAULT_CACHE = BENCH_DIR / ".cache"
RESULTS_DIR = BENCH_DIR / "results"
OFFICIAL_API_VERSION = "v7.20230615"
LATEST_API_VERSION = "v9.20250722"


def _machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            names = (line.split(":", 1)[1] for line in cpuinfo if line.startswith("model name"))
            model = next(names, "").strip()
    except OSError:
        pass
    try:
        load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        load = "unknown"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor() or "unknown",
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load": load,
    }


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of backendai_aio against raw aiohttp and the official SDK.",
    )
    parser.add_argument("--quick", action="store_true", help="a short run (a few minutes)")
    parser.add_argument(
        "--size", type=parse_size, help="transfer size (default 1GiB; quick 256MiB)"
    )
    parser.add_argument("--reps", type=int, help="repetitions of benchmark 1")
    parser.add_argument("--calls", type=int, help="calls per run of benchmark 1")
    parser.add_argument("--streams", type=int, help="event streams of benchmark 6 (1000)")
    parser.add_argument(
        "--only",
        default="1,2,3,4,5,6,7,8",
        help="benchmarks to run, e.g. 1,6 (2 and 3 go together)",
    )
    parser.add_argument(
        "--tree-full",
        action="store_true",
        help="benchmarks 7 and 8 with the large files at 64 MiB in a quick run too (else 8 MiB)",
    )
    parser.add_argument("--tree-reps", type=int, help="repetitions of benchmarks 7 and 8")
    parser.add_argument(
        "--real-stack",
        action="store_true",
        help="benchmark 8 in a quick run too (through the real 26.9.6 stack, started if needed)",
    )
    parser.add_argument(
        "--no-real-stack",
        action="store_true",
        help="leave out benchmark 8 (the real 26.9.6 stack, integration/realmanager)",
    )
    parser.add_argument("--no-official", action="store_true", help="leave out the official SDK")
    parser.add_argument("--no-313", action="store_true", help="leave out Python 3.13")
    parser.add_argument("--profile", action="store_true", help="profile the calls of benchmark 1")
    parser.add_argument("--api-version", help="the version the server announces")
    parser.add_argument("--output", type=Path, help="the JSON results file")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--scratch-dir", type=Path, help="where transfers put their files (default: /dev/shm)"
    )
    return parser.parse_args(argv)


def _interpreters(
    args: argparse.Namespace, cache: Path, unavailable: dict[str, str]
) -> dict[str, str]:
    """Contender key to interpreter path, making the virtual environments they need."""
    pythons = {"raw": sys.executable, "aio": sys.executable}

    def add(spec: EnvSpec, keys: tuple[str, ...]) -> None:
        env = ensure_env(spec, cache)
        if env.python is None:
            for key in keys:
                unavailable[key] = env.reason
            print(f"{spec.name} unavailable: {env.reason}")
        else:
            pythons.update(dict.fromkeys(keys, env.python))

    if args.no_313:
        unavailable["aio313"] = "left out (--no-313)"
    else:
        add(AIO_313, ("raw313", "aio313"))
    if args.no_official:
        unavailable["official"] = "left out (--no-official)"
    else:
        add(OFFICIAL_23, ("official23", "raw_legacy"))
        if not args.no_313:
            add(OFFICIAL_26, ("official26",))
    return pythons


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; print the table and save the JSON results."""
    args = _parse_args(argv)
    base = QUICK if args.quick else FULL
    calls = args.calls if args.calls else base.calls
    settings = dataclasses.replace(
        base,
        calls=max(32, calls // 32 * 32),
        reps=args.reps or base.reps,
        size=args.size or base.size,
        streams=args.streams or base.streams,
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

    unavailable: dict[str, str] = {}
    pythons = _interpreters(args, cache, unavailable)
    contenders = make(pythons)
    official = any(c.module == "official" for c in contenders) and bool(selected & {"1", "4"})
    api_version = args.api_version or (OFFICIAL_API_VERSION if official else LATEST_API_VERSION)
    started = time.monotonic()
    results: dict[str, Any] = {
        "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
        "mode": "quick" if args.quick else "full",
        "settings": dataclasses.asdict(settings),
        "machine": _machine(),
        "interpreters": pythons,
        "server_api_version": api_version,
        "unavailable": unavailable,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    failures: dict[str, str] = {}
    results["failures"] = failures

    def attempt(key: str, run: Callable[[], Any]) -> None:
        # One benchmark failing (a process that would not start) does not lose the others.
        try:
            value = run()
        except Exception as exc:  # a bug or a refused connection too: the rest still runs
            failures[key] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
            print(f"benchmark {key} failed: {exc}", file=sys.stderr, flush=True)
        else:
            if value is not None:
                results[key] = value

    server = Server(api_version, log_dir)
    try:
        if "1" in selected:
            print("Benchmark 1: small signed calls", flush=True)
            attempt("small_calls", lambda: bench_small_calls(server, contenders, settings, log_dir))
        if args.profile:
            print("Profiling backendai_aio and the floor", flush=True)
            ours = [c for c in contenders if c.module in ("aio", "raw") and c.key != "raw_legacy"]
            attempt(
                "profile",
                lambda: profile_contenders(server, ours, settings, log_dir, RESULTS_DIR),
            )
        if "2" in selected:
            print(f"Benchmarks 2 and 3: streaming {format_size(settings.size)}", flush=True)
            scratch = scratch_dir(args.scratch_dir, cache, settings.size)
            pair = [c for c in contenders if c.key in ("raw", "aio")]
            attempt("transfers", lambda: bench_transfers(server, pair, settings, scratch, log_dir))
        if "4" in selected:
            print("Benchmark 4: 1,000 concurrent calls", flush=True)
            keys = ("raw", "aio", "official23", "official26")
            burst = [c for c in contenders if c.key in keys]
            attempt("burst", lambda: bench_burst(server, burst, settings, log_dir))
        if "6" in selected:
            print(f"Benchmark 6: {settings.streams} event streams on one client", flush=True)
            attempt(
                "streams", lambda: bench_streams(settings.streams, settings.stream_reps, log_dir)
            )
    finally:
        server.stop()
    if selected & {"7", "8"}:
        attempt(
            "trees", lambda: _run_trees(args, selected, pythons, settings, cache, log_dir, results)
        )
    if "5" in selected:
        print("Benchmark 5: import time", flush=True)
        interpreters = {"3.11": sys.executable}
        if "aio313" in pythons:
            interpreters["3.13"] = pythons["aio313"]
        attempt("imports", lambda: bench_imports(interpreters, settings.import_reps))
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["duration_seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = targets(results) + tree_targets(results)
    print(render(results))
    for section, number in (("trees_emulator", "7"), ("trees_real", "8")):
        if section in results:
            print("\n" + "\n".join(report_trees(number, results[section])))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults saved to {output} ({results['duration_seconds']:.0f} s)")
    return 1 if failures else 0


def _bench_real_stack(
    target: Target | str,
    pythons: dict[str, str],
    cases: list[tuple[str, int, int]],
    reps: int,
    scratch: Path,
    log_dir: Path,
    results: dict[str, Any],
) -> None:
    if isinstance(target, str):
        results["trees_real"] = {"skipped": target}
        print(f"Benchmark 8 (real 26.9.6 storage proxy) skipped: {target}", flush=True)
        return
    print("Benchmark 8: many-file transfers, real 26.9.6 storage proxy", flush=True)
    results["trees_real"] = bench_trees(target, pythons, cases, reps, scratch, log_dir)


def _run_trees(
    args: argparse.Namespace,
    selected: set[str],
    pythons: dict[str, str],
    settings: Any,
    cache: Path,
    log_dir: Path,
    results: dict[str, Any],
) -> None:
    """Benchmarks 7 and 8: the same trees through the emulator, then the real stack."""
    official = pythons.get("official26")
    if official is None and not args.no_official:
        official = ensure_env(OFFICIAL_26, cache).python  # also with --no-313
    if official is None:
        reason = "the official SDK 26.9.6 is unavailable (see --no-official, benchmarks/.cache)"
        for section in ("trees_emulator", "trees_real"):
            results[section] = {"skipped": reason}
        print(f"Benchmarks 7 and 8 skipped: {reason}")
        return
    # The same interpreter as the official SDK's when there is one (3.13), else the harness's.
    tree_pythons = {"aio": pythons.get("aio313", pythons["aio"]), "official": official}
    large = (64 if args.tree_full or not args.quick else 8) << 20
    cases = [("small", 1000, 64 << 10), ("large", 8, large)]
    reps = args.tree_reps or settings.tree_reps
    scratch = scratch_for_trees(args.scratch_dir or scratch_dir(None, cache, 4 * 8 * large))
    try:
        if "7" in selected:
            print("Benchmark 7: many-file transfers, emulator storage proxy", flush=True)
            emulator = EmulatorProcess(scratch / "emulator", log_dir / "tree-emulator.log")
            try:
                results["trees_emulator"] = bench_trees(
                    emulator.target, tree_pythons, cases, reps, scratch, log_dir
                )
            finally:
                emulator.stop()
        if "8" in selected:
            if args.no_real_stack or (args.quick and not args.real_stack):
                why = "--no-real-stack" if args.no_real_stack else "a quick run (add --real-stack)"
                results["trees_real"] = {"skipped": why}
                print(f"Benchmark 8 (real 26.9.6 storage proxy) skipped: {why}", flush=True)
            else:
                with real_stack() as target:
                    _bench_real_stack(target, tree_pythons, cases, reps, scratch, log_dir, results)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
