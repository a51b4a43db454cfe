"""Benchmarks 1 and 4, and the profile: small signed calls, through every contender.

1. ``execute`` (query) and ``get_info`` at concurrency 1 and 32: client CPU per call and
   calls per second, every contender alternately, a fresh process each per repetition.
4. 1,000 concurrent ``execute`` calls through one client: total time, errors and the peak of
   open connections seen by the server, against the client's connector limit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks.contenders import RATIOS, Contender
from benchmarks.environments import ROOT
from benchmarks.processes import BenchError, Server, Worker
from benchmarks.settings import Settings
from benchmarks.stats import rotated, summary

BURST_CALLS = 1000
PLAN = [(w, c) for w in ("execute", "get_info") for c in (1, 32)]


def start(contender: Contender, server: Server, log_dir: Path) -> Worker:
    """A fresh worker process for *contender*."""
    return Worker(
        contender.key,
        contender.label,
        contender.module,
        contender.python,
        server.endpoint,
        log_dir,
    )


def _check_signatures(server: Server, workers: dict[str, Worker]) -> None:
    """Preflight: every contender's requests must carry a valid signature."""
    server.verify(True)
    try:
        for worker in workers.values():
            server.reset()
            answer = worker.request({"op": "check"}, timeout=60)
            if not answer.get("ok"):
                raise BenchError(f"{worker.label} failed its check: {answer}")
            stats = server.stats()
            if stats["bad_signatures"]:
                raise BenchError(
                    f"{worker.label} sent a bad signature: {stats['last_bad_signature']}"
                )
    finally:
        server.verify(False)


def bench_small_calls(
    server: Server, contenders: list[Contender], settings: Settings, log_dir: Path
) -> dict[str, Any]:
    """Client CPU per call and calls per second, every contender alternately.

    Each repetition starts fresh client processes: a process's speed varies by several per
    cent over its whole life (memory layout, hash seed), so one long-lived process per
    contender would let that luck decide the ratio.
    """
    by_key = {contender.key: contender for contender in contenders}
    keys = list(by_key)
    samples: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    describe: dict[str, Any] = {}
    for rep in range(settings.reps):
        order = rotated(keys, rep)
        print(f"  repetition {rep + 1}/{settings.reps} (order: {', '.join(order)})", flush=True)
        workers: dict[str, Worker] = {}
        try:
            for key in order:
                workers[key] = start(by_key[key], server, log_dir)
            if rep == 0:
                _check_signatures(server, workers)
                describe = {key: workers[key].request({"op": "describe"}) for key in order}
            for key in order:
                workers[key].request({"op": "warmup", "calls": settings.warmup_calls})
            for workload, concurrency in PLAN:
                for key in order:
                    answer = workers[key].request(
                        {
                            "op": "calls",
                            "workload": workload,
                            "calls": settings.calls,
                            "concurrency": concurrency,
                        }
                    )
                    if not answer.get("ok"):
                        raise BenchError(f"{by_key[key].label} {workload}: {answer}")
                    samples.setdefault((workload, concurrency, key), []).append(answer)
        finally:
            for worker in workers.values():
                worker.stop()
    rows: list[dict[str, Any]] = []
    for workload, concurrency in PLAN:
        row: dict[str, Any] = {"workload": workload, "concurrency": concurrency}
        per_rep: dict[str, list[float]] = {}
        for key in keys:
            runs = samples[(workload, concurrency, key)]
            cpu = [run["cpu"] / run["calls"] * 1e6 for run in runs]
            per_rep[key] = cpu
            row[key] = {
                "cpu_us_per_call": summary(cpu),
                "calls_per_second": summary([run["calls"] / run["wall"] for run in runs]),
                "errors": sum(run["errors"] for run in runs),
                "first_error": next((r["first_error"] for r in runs if r["first_error"]), ""),
                "samples": runs,
            }
        row["ratios"] = {}
        for top, bottom in RATIOS:
            if top in per_rep and bottom in per_rep:
                pairs = zip(per_rep[top], per_rep[bottom], strict=True)
                row["ratios"][f"{top}/{bottom}"] = summary([a / b for a, b in pairs])
        rows.append(row)
    return {
        "calls_per_run": settings.calls,
        "reps": settings.reps,
        "contenders": keys,
        "rows": rows,
        "describe": describe,
    }


def profile_contenders(
    server: Server,
    contenders: list[Contender],
    settings: Settings,
    log_dir: Path,
    report_dir: Path,
) -> dict[str, Any]:
    """Profile execute and get_info calls of *contenders*, each in a worker of its own."""
    profiles: dict[str, Any] = {}
    for contender in contenders:
        worker = start(contender, server, log_dir)
        try:
            worker.request({"op": "warmup", "calls": settings.warmup_calls})
            for workload, concurrency in PLAN:
                name = f"{contender.key}-{workload}-c{concurrency}"
                answer = worker.request(
                    {
                        "op": "profile",
                        "workload": workload,
                        "calls": max(settings.calls * 4, 8192),
                        "concurrency": concurrency,
                        "text_report": str(report_dir / f"profile-{name}.txt"),
                    }
                )
                if not answer.get("ok"):
                    raise BenchError(f"profiling {contender.label} failed: {answer}")
                answer.pop("ok")
                if answer.get("text_report"):
                    answer["text_report"] = os.path.relpath(answer["text_report"], ROOT)
                answer["contender"] = contender.key
                profiles[name] = answer
        finally:
            worker.stop()
    return profiles


def bench_burst(
    server: Server, contenders: list[Contender], settings: Settings, log_dir: Path
) -> dict[str, Any]:
    """1,000 concurrent execute calls through one client, each in a fresh process."""
    by_key = {contender.key: contender for contender in contenders}
    samples: dict[str, list[dict[str, Any]]] = {key: [] for key in by_key}
    limits: dict[str, Any] = {}
    for rep in range(settings.burst_reps):
        for key in rotated(list(by_key), rep):
            server.wait_idle()
            server.reset()
            worker = start(by_key[key], server, log_dir)
            try:
                answer = worker.request(
                    {"op": "burst", "workload": "execute", "calls": BURST_CALLS}, timeout=600
                )
                limits[key] = worker.request({"op": "describe"}).get("connector_limit")
            finally:
                worker.stop()
            if not answer.get("ok"):
                raise BenchError(f"{by_key[key].label} burst: {answer}")
            answer["peak_connections"] = server.stats()["peak_connections"]
            samples[key].append(answer)
    results: dict[str, Any] = {"calls": BURST_CALLS, "contenders": list(by_key)}
    for key, runs in samples.items():
        results[key] = {
            "wall_seconds": summary([run["wall"] for run in runs]),
            "cpu_seconds": summary([run["cpu"] for run in runs]),
            "errors": sum(run["errors"] for run in runs),
            "first_error": next((run["first_error"] for run in runs if run["first_error"]), ""),
            "peak_connections": max(run["peak_connections"] for run in runs),
            "connector_limit": limits.get(key),
            "samples": runs,
        }
    return results
