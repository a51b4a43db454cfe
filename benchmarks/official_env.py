"""The official SDK's own virtual environment, created once under ``benchmarks/.cache/``.

``backend.ai-client==23.9.10`` pins ``aiohttp~=3.8`` and needs Python 3.11 exactly; it is
installed with ``yarl==1.9.4`` because it reads ``yarl.URL._val.netloc`` when signing, which
later yarl releases removed (every signed request then fails). When the environment cannot be
made (no Python 3.11, the registry unreachable, ...) the reason is returned instead, and the
official SDK's column is reported as unavailable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REQUIREMENTS = ("backend.ai-client==23.9.10", "yarl==1.9.4")
_INSTALL_TIMEOUT = 900.0


@dataclass(frozen=True)
class OfficialEnv:
    """Where the official SDK's interpreter is, or why there is none."""

    python: str | None
    reason: str = ""


def _base_python() -> str | None:
    """A Python 3.11 interpreter to create the environment with."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    return shutil.which("python3.11")


def _run(command: list[str], log: Path, timeout: float) -> str | None:
    """Run *command* with its output appended to *log*; describe a failure, else ``None``."""
    with log.open("a", encoding="utf-8") as output:
        output.write(f"$ {' '.join(command)}\n")
        output.flush()
        try:
            completed = subprocess.run(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"timed out after {timeout:.0f} s"
        except OSError as exc:
            return str(exc)
    if completed.returncode != 0:
        lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
        errors = [line for line in lines if "ERROR" in line] or lines[-1:]
        return f"exit status {completed.returncode}: {errors[-1][:300] if errors else ''}"
    return None


def ensure_official_env(cache: Path, *, announce: bool = True) -> OfficialEnv:
    """Create (once) and return the official SDK's environment under *cache*."""
    venv = cache / "official-sdk-23.9.10"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    wanted = "\n".join(REQUIREMENTS)
    if python.exists() and marker.exists() and marker.read_text(encoding="utf-8") == wanted:
        return OfficialEnv(str(python))
    base = _base_python()
    if base is None:
        return OfficialEnv(None, "the official SDK 23.9.10 needs Python 3.11, none found")
    cache.mkdir(parents=True, exist_ok=True)
    log = cache / "official-sdk-install.log"
    log.write_text("", encoding="utf-8")
    if announce:
        print(f"Installing {' '.join(REQUIREMENTS)} into {venv} (once; log: {log}) ...")
    if venv.exists():
        shutil.rmtree(venv)
    failure = _run([base, "-m", "venv", str(venv)], log, 300.0)
    if failure is None:
        failure = _run(
            [str(python), *("-m", "pip", "install", "--quiet"), *REQUIREMENTS],
            log,
            _INSTALL_TIMEOUT,
        )
    if failure is not None:
        return OfficialEnv(None, f"installing {REQUIREMENTS[0]} failed: {failure}")
    marker.write_text(wanted, encoding="utf-8")
    return OfficialEnv(str(python))


def worker_environment() -> dict[str, str]:
    """The environment of client processes: no debug modes that would skew the figures."""
    env = dict(os.environ)
    for name in (
        "PYTHONDEVMODE",
        "PYTHONASYNCIODEBUG",
        "PYTHONTRACEMALLOC",
        "PYTHONWARNINGS",
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONDONTWRITEBYTECODE",
        "VIRTUAL_ENV",
    ):
        env.pop(name, None)
    return env
