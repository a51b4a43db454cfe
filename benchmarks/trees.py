"""Benchmarks 7 and 8: many-file transfers, backendai_aio against the official SDK 26.9.6.

The same trees (many small files, a few large ones) go up and come down through one storage
proxy, once per contender and repetition, each run in a fresh process
(:mod:`benchmarks.tree_worker`), the contenders alternating (the order rotates every
repetition); the wall clock, client CPU and the growth of the client's peak RSS are recorded,
and every ratio (official wall clock over ours) is taken within one repetition.

7. Through the emulator's storage proxy (``python -m backendai_aio.emulator``, release 26.9,
   its files on the scratch file system).
8. Through the real 26.9.6 stack's storage proxy (``integration/realmanager/launch.py
   --release 26.9``): the running one, else started for the run (installed the first time)
   and stopped after it. A full run does this unless ``--no-real-stack``; a quick one only
   with ``--real-stack``.

Uploads go to a fresh folder each run; downloads come from a folder filled once (untimed)
into a fresh local directory. Every run is checked: the folder (or the local directory)
holds every file with its size afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import format_size, pattern_chunk
from benchmarks.environments import ROOT, worker_environment
from benchmarks.processes import BenchError, stop
from benchmarks.stats import rotated, summary

CONTENDERS = ("aio", "official")
LABELS = {"aio": "backendai_aio", "official": "official 26.9.6"}
_RUN_TIMEOUT = 3600.0


class Target:
    """A manager (and its storage proxy) to transfer through: endpoint and keypair."""

    def __init__(self, name: str, endpoint: str, access_key: str, secret_key: str) -> None:
        self.name = name
        self.endpoint = endpoint
        self.access_key = access_key
        self._secret_key = secret_key

    def __repr__(self) -> str:
        return f"<Target {self.name} {self.endpoint}>"

    def job(self) -> dict[str, str]:
        """The connection part of a worker's job."""
        return {
            "endpoint": self.endpoint,
            "access_key": self.access_key,
            "secret_key": self._secret_key,
        }

    async def call(self, action: str, folder: str, local: Path | None = None) -> Any:
        """``create``, ``delete``, ``fill`` (upload *local*) or ``list`` a folder (untimed)."""
        from backendai_aio import Client, ClientConfig

        config = ClientConfig(self.access_key, self._secret_key, self.endpoint)
        async with Client(config) as client:
            if action == "create":
                return await client.vfolders.create(folder)
            handle = client.vfolders.get(folder)
            if action == "fill":
                assert local is not None
                return await handle.upload_tree(local)
            if action == "list":
                return {entry.name: entry.size for entry in await handle.entries()}
            # A 26.9 manager moves a deleted folder to the trash; the names are fresh anyway.
            await handle.delete()
            return None


class EmulatorProcess:
    """The emulator as a child process on 127.0.0.1, its folders under *scratch*."""

    def __init__(self, scratch: Path, log: Path) -> None:
        env = worker_environment()
        env["TMPDIR"] = str(scratch)
        scratch.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            *("-m", "backendai_aio.emulator", "--port", "0", "--release", "26.9"),
            *("--rate-limit", "100000000"),
        ]
        with log.open("a", encoding="utf-8") as output:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=output, text=True
            )
        exports: dict[str, str] = {}
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while len(exports) < 3 and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                stop(self.process)  # type: ignore[arg-type]
                raise BenchError(f"the emulator exited; see {log}")
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value
        if len(exports) < 3:
            stop(self.process)  # type: ignore[arg-type]
            raise BenchError("the emulator did not start within 60 s")
        self.target = Target(
            "emulator",
            exports["BACKEND_ENDPOINT"],
            exports["BACKEND_ACCESS_KEY"],
            exports["BACKEND_SECRET_KEY"],
        )

    def stop(self) -> None:
        """Stop the emulator (by its PID)."""
        stop(self.process)  # type: ignore[arg-type]


_LAUNCHER = ROOT / "integration" / "realmanager" / "launch.py"


def _launch(command: str, timeout: float) -> subprocess.CompletedProcess[str] | str:
    try:
        return subprocess.run(
            [sys.executable, str(_LAUNCHER), "--release", "26.9", command],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"launch.py {command} failed: {exc}"


def real_stack_target() -> Target | str:
    """The running 26.9.6 stack, or why there is none."""
    running = _launch("status", 60)  # exit 0 only when every daemon runs
    if isinstance(running, str) or running.returncode != 0:
        return "the 26.9.6 stack is not running (launch.py --release 26.9 status)"
    done = _launch("env", 60)
    if isinstance(done, str):
        return done
    exports = {}
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exports[name] = value.strip().strip("'\"")
    keys = ("BACKEND_ENDPOINT", "BACKEND_ACCESS_KEY")
    secret = exports.get("BACKEND_SECRET_KEY") or exports.get("BACKEND_SECRET")
    if done.returncode != 0 or not all(key in exports for key in keys) or not secret:
        return f"the 26.9.6 stack is not up (launch.py --release 26.9 env: exit {done.returncode})"
    return Target("real 26.9.6", exports["BACKEND_ENDPOINT"], exports["BACKEND_ACCESS_KEY"], secret)


@contextlib.contextmanager
def real_stack() -> Iterator[Target | str]:
    """The 26.9.6 stack, started (installed first if needed) when it is not up, or why not.

    A stack this started is stopped again at the end; one that was running stays.
    """
    target = real_stack_target()
    if not isinstance(target, str):
        yield target
        return
    print(" starting the real 26.9.6 stack (launch.py; the first time installs it) ...")
    started = _launch("start", 45 * 60)
    try:
        if isinstance(started, str) or started.returncode != 0:
            tail = started if isinstance(started, str) else started.stdout[-600:]
            yield f"launch.py --release 26.9 start failed: {tail.strip()}"
        else:
            yield real_stack_target()
    finally:
        _launch("stop", 120)


def make_tree(root: Path, count: int, size: int) -> list[str]:
    """*count* files of *size* bytes in *root* (flat, so that both clients take it as is)."""
    root.mkdir(parents=True, exist_ok=True)
    chunk = pattern_chunk()
    names = [f"f{index:05}.bin" for index in range(count)]
    for index, name in enumerate(names):
        path = root / name
        if path.exists() and path.stat().st_size == size:
            continue
        with path.open("wb") as file:
            # A distinct first block per file, so that no two files are the same.
            file.write(index.to_bytes(8, "big"))
            remaining = size - 8
            while remaining > 0:
                piece = chunk[: min(len(chunk), remaining)]
                file.write(piece)
                remaining -= len(piece)
    return names


def _run_worker(python: str, job: dict[str, Any], log: Path) -> dict[str, Any]:
    with log.open("a", encoding="utf-8") as output:
        done = subprocess.run(
            [python, "-m", "benchmarks.tree_worker", json.dumps(job)],
            cwd=ROOT,
            env=worker_environment(),
            stdout=subprocess.PIPE,
            stderr=output,
            text=True,
            timeout=_RUN_TIMEOUT,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    answer: dict[str, Any] = json.loads(lines[-1]) if lines else {"ok": False, "error": "no answer"}
    return answer


def _check_local(local: Path, names: list[str], size: int) -> None:
    for name in names:
        path = local / name
        if not path.is_file() or path.stat().st_size != size:
            raise BenchError(f"download check: {path} missing or of the wrong size")


def bench_tree_case(
    target: Target,
    pythons: dict[str, str],
    case: tuple[str, int, int],
    reps: int,
    scratch: Path,
    log_dir: Path,
) -> dict[str, Any]:
    """Upload and download one tree (*case*: label, file count, file size) *reps* times."""
    label, count, size = case
    source = scratch / f"tree-{count}x{size}"
    names = make_tree(source, count, size)
    results: dict[str, Any] = {"files": count, "file_size": size, "bytes": count * size}
    filled = f"bench-tree-src-{secrets.token_hex(4)}"
    asyncio.run(target.call("create", filled))
    try:
        asyncio.run(target.call("fill", filled, source))
        for op in ("upload", "download"):
            samples: dict[str, list[dict[str, Any]]] = {key: [] for key in pythons}
            for rep in range(reps):
                for key in rotated([k for k in CONTENDERS if k in pythons], rep):
                    job: dict[str, Any] = {**target.job(), "contender": key, "op": op}
                    job["files"] = names
                    if op == "upload":
                        folder = f"bench-tree-up-{secrets.token_hex(4)}"
                        asyncio.run(target.call("create", folder))
                        job.update(folder=folder, local=str(source))
                    else:
                        folder = filled
                        local = scratch / f"down-{key}"
                        shutil.rmtree(local, ignore_errors=True)
                        local.mkdir(parents=True)
                        job.update(folder=folder, local=str(local))
                    try:
                        answer = _run_worker(pythons[key], job, log_dir / f"tree-{key}.log")
                        if not answer.get("ok"):
                            raise BenchError(f"{LABELS[key]} {op} {label}: {answer.get('error')}")
                        if op == "upload":
                            listed = asyncio.run(target.call("list", folder))
                            if listed != dict.fromkeys(names, size):
                                raise BenchError(f"{LABELS[key]} {op}: the folder misses files")
                        else:
                            _check_local(Path(job["local"]), names, size)
                    finally:
                        if op == "upload":
                            asyncio.run(target.call("delete", folder))
                        else:
                            shutil.rmtree(job["local"], ignore_errors=True)
                    samples[key].append(answer)
                    print(
                        f"  {target.name} {label} {op} {rep + 1}/{reps} {LABELS[key]}: "
                        f"{answer['wall']:.2f} s, peak RSS +{answer['rss_growth'] / (1 << 20):.1f}"
                        " MiB",
                        flush=True,
                    )
            entry: dict[str, Any] = {}
            for key, runs in samples.items():
                entry[key] = {
                    "wall": summary([run["wall"] for run in runs]),
                    "cpu": summary([run["cpu"] for run in runs]),
                    "rss_growth": summary([run["rss_growth"] for run in runs]),
                    "samples": runs,
                }
            if samples.get("official") and samples.get("aio"):
                pairs = zip(samples["official"], samples["aio"], strict=True)
                entry["speedup"] = summary([o["wall"] / a["wall"] for o, a in pairs])
            results[op] = entry
    finally:
        asyncio.run(target.call("delete", filled))
    return results


def bench_trees(
    target: Target,
    pythons: dict[str, str],
    cases: list[tuple[str, int, int]],
    reps: int,
    scratch: Path,
    log_dir: Path,
) -> dict[str, Any]:
    """Every case through *target*; the source trees are removed afterwards."""
    results: dict[str, Any] = {
        "target": target.name,
        "endpoint": target.endpoint,
        "reps": reps,
        "interpreters": pythons,
        "cases": {},
    }
    try:
        for case in cases:
            print(
                f" {target.name}: {case[1]} files of {format_size(case[2])} ({case[0]})",
                flush=True,
            )
            results["cases"][case[0]] = bench_tree_case(
                target, pythons, case, reps, scratch, log_dir
            )
    finally:
        for path in scratch.glob("tree-*"):
            shutil.rmtree(path, ignore_errors=True)
    return results


def scratch_for_trees(base: Path) -> Path:
    """A folder of its own under *base* for the trees and the emulator's files."""
    path = base / f"trees-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path
