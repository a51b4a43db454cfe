"""Benchmark 5: import time of ``backendai_aio`` against ``import aiohttp``, fresh interpreters.

Each import is timed in a new interpreter (``time.perf_counter`` around the import
statement), the two alternately; the ratio is taken per repetition, then its median. The
modules that ``backendai_aio`` loads beyond aiohttp's come from ``-X importtime``.
"""

from __future__ import annotations

import subprocess
from typing import Any

from benchmarks.environments import ROOT, worker_environment
from benchmarks.stats import rotated, summary

_PROBE = (
    "import time; started = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - started)"
)


def _import_once(python: str, module: str) -> float:
    completed = subprocess.run(
        [python, "-c", _PROBE.format(module=module)],
        cwd=ROOT,
        env=worker_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(completed.stdout.strip())


def _imported_modules(python: str, module: str) -> dict[str, int]:
    """Self import time (microseconds) of every module that ``import module`` loads."""
    completed = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
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


def _one_interpreter(python: str, reps: int) -> dict[str, Any]:
    modules = ("aiohttp", "backendai_aio")
    times: dict[str, list[float]] = {module: [] for module in modules}
    _import_once(python, "backendai_aio")  # untimed: writes the bytecode caches
    for rep in range(reps):
        for module in rotated(list(modules), rep):
            times[module].append(_import_once(python, module))
    ratios = [a / b for a, b in zip(times["backendai_aio"], times["aiohttp"], strict=True)]
    aiohttp_modules = _imported_modules(python, "aiohttp")
    ours = _imported_modules(python, "backendai_aio")
    extra = {name: us for name, us in ours.items() if name not in aiohttp_modules}
    top_extra = sorted(extra.items(), key=lambda item: -item[1])[:10]
    return {
        "python": python,
        "aiohttp_ms": summary([t * 1e3 for t in times["aiohttp"]]),
        "backendai_aio_ms": summary([t * 1e3 for t in times["backendai_aio"]]),
        "ratio": summary(ratios),
        "extra_modules": len(extra),
        "extra_self_ms": sum(extra.values()) / 1e3,
        "top_extra_modules_ms": [(name, us / 1e3) for name, us in top_extra],
        "samples": times,
    }


def bench_imports(pythons: dict[str, str], reps: int) -> dict[str, Any]:
    """Import times on each interpreter of *pythons* (``"3.11"`` to its path)."""
    return {version: _one_interpreter(python, reps) for version, python in pythons.items()}
