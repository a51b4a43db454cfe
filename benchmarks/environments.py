"""The interpreters the contenders run on: virtual environments made once under ``.cache/``.

The harness runs on one interpreter (the nox session's, Python 3.11); the others are made
here, each in its own venv, and reused while their requirements stay the same:

- ``backendai_aio`` and the raw floor on Python 3.13: the package (editable, so the tree
  under test is what runs) and pyinstrument;
- the official SDK 23.9.10 on Python 3.11, with ``yarl==1.9.4`` (it reads
  ``yarl.URL._val.netloc`` when signing, which later yarl releases removed: every signed
  request then fails);
- the official SDK 26.9.6 on Python 3.13, with the versions a working 26.9.6 installation
  uses (``benchmarks/constraints-official-26.9.6.txt``).

An interpreter is found under pyenv's root (``$PYENV_ROOT`` or ``~/.pyenv``), else as
``python3.X`` on ``PATH`` (not a pyenv shim). When an environment cannot be made (no such
Python, the registry unreachable, ...) the reason is returned instead, and its columns are
reported as unavailable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_INSTALL_TIMEOUT = 1200.0
CONSTRAINTS_26 = ROOT / "benchmarks" / "constraints-official-26.9.6.txt"


@dataclass(frozen=True)
class EnvSpec:
    """One virtual environment: its directory name, base interpreter and requirements."""

    name: str
    python_version: str
    requirements: tuple[str, ...]
    constraints: Path | None = None


OFFICIAL_23 = EnvSpec("official-sdk-23.9.10", "3.11", ("backend.ai-client==23.9.10", "yarl==1.9.4"))
OFFICIAL_26 = EnvSpec("official-sdk-26.9.6", "3.13", ("backend.ai-client==26.9.6",), CONSTRAINTS_26)
AIO_313 = EnvSpec("aio-py3.13", "3.13", ("-e", str(ROOT), "pyinstrument>=4.6"))


@dataclass(frozen=True)
class Env:
    """Where an environment's interpreter is, or why there is none."""

    python: str | None
    reason: str = ""


def find_python(version: str) -> str | None:
    """A Python *version* (``3.13``) interpreter: this one, pyenv's, or one on ``PATH``.

    pyenv's shims on ``PATH`` answer only for the versions pyenv has made active, so the
    interpreter under pyenv's root is preferred to them, and a shim is never returned.
    """
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = sorted((root / "versions").glob(f"{version}.*/bin/python{version}"))
    if candidates:
        return str(candidates[-1])
    found = shutil.which(f"python{version}")
    if found and "/shims/" not in found.replace(os.sep, "/"):
        return found
    return None


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
                env=worker_environment(),
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


def ensure_env(spec: EnvSpec, cache: Path, *, announce: bool = True) -> Env:
    """Create (once) and return the environment *spec* under *cache*."""
    venv = cache / spec.name
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    wanted = "\n".join(spec.requirements)
    if spec.constraints is not None:
        wanted += "\n-c " + spec.constraints.read_text(encoding="utf-8")
    if python.exists() and marker.exists() and marker.read_text(encoding="utf-8") == wanted:
        return Env(str(python))
    base = find_python(spec.python_version)
    if base is None:
        return Env(None, f"{spec.name} needs Python {spec.python_version}, none found")
    cache.mkdir(parents=True, exist_ok=True)
    log = cache / f"{spec.name}-install.log"
    log.write_text("", encoding="utf-8")
    if announce:
        print(f"Installing {' '.join(spec.requirements)} into {venv} (once; log: {log}) ...")
    if venv.exists():
        shutil.rmtree(venv)
    failure = _run([base, "-m", "venv", str(venv)], log, 300.0)
    if failure is None:
        extra = ["-c", str(spec.constraints)] if spec.constraints is not None else []
        failure = _run(
            [str(python), *("-m", "pip", "install", "--quiet"), *spec.requirements, *extra],
            log,
            _INSTALL_TIMEOUT,
        )
    if failure is not None:
        return Env(None, f"installing {spec.requirements[0]} failed: {failure}")
    marker.write_text(wanted, encoding="utf-8")
    return Env(str(python))


def worker_environment() -> dict[str, str]:
    """The environment of child processes: no debug modes that would skew the figures."""
    env = dict(os.environ)
    for name in (
        "PYTHONDEVMODE",
        "PYTHONASYNCIODEBUG",
        "PYTHONTRACEMALLOC",
        "PYTHONWARNINGS",
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONDONTWRITEBYTECODE",
        "VIRTUAL_ENV",
        "PYTHONHOME",
    ):
        env.pop(name, None)
    return env
