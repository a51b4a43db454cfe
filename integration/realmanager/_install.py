"""Installing: Debian packages and the releases' venvs, telling registry failures apart."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from _base import (
    APT_PACKAGES,
    LauncherError,
    RegistryUnreachableError,
    State,
    is_root,
    run_streamed,
    say,
)

EXIT_REGISTRY_UNREACHABLE = 3

#: Output of apt-get / pip meaning "the registry or a package could not be had", as opposed
#: to a bug of ours; such install failures exit with EXIT_REGISTRY_UNREACHABLE.
REGISTRY_FAILURE_PATTERNS = re.compile(
    "|".join(
        (
            # apt-get
            r"Failed to fetch",
            r"Could not resolve",
            r"Temporary failure resolving",
            r"Unable to locate package",
            r"has no installation candidate",
            r"Unable to connect to",
            r"Could not connect to",
            r"Connection failed",
            r"Connection timed out",
            r"Some index files failed to download",
            # pip
            r"No matching distribution found",
            r"Could not find a version that satisfies",
            r"Failed to establish a new connection",
            r"NewConnectionError",
            r"Max retries exceeded",
            r"ReadTimeoutError",
            r"ConnectTimeoutError",
            r"Temporary failure in name resolution",
            r"Name or service not known",
            r"Network is unreachable",
            r"ProxyError",
            r"SSLError",
            r"HTTP error [45]\d\d",
            r"Could not fetch URL",
        )
    )
)


def dpkg_installed(package: str) -> bool:
    """Whether a Debian package is installed (fast: no apt cache needed)."""
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return proc.returncode == 0 and proc.stdout.strip() == "install ok installed"


@contextlib.contextmanager
def services_not_autostarted() -> Iterator[None]:
    """Keep apt from starting the packages' own services while installing.

    Those would listen on the default ports (PostgreSQL 5432, Redis 6379, etcd 2379); we run
    our own instances on ours. The standard way is a ``policy-rc.d`` answering 101 ("action
    forbidden"): Docker-style images already ship one; we add (then remove) ours if none.
    """
    path = Path("/usr/sbin/policy-rc.d")
    if path.exists():
        yield
        return
    path.write_text("#!/bin/sh\n# temporary, from backendai_aio's realmanager launcher\nexit 101\n")
    path.chmod(0o755)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def apt_install(packages: Sequence[str], state: State) -> None:
    """``apt-get install``, running ``apt-get update`` first only if needed."""
    if not is_root():
        raise LauncherError(f"Debian packages {list(packages)} are missing; installing needs root")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install_cmd = ["apt-get", "install", "-y", "-q", *packages]
    log = state.log("install")
    with services_not_autostarted():
        code, output = run_streamed(install_cmd, log=log, env=env)
        if code == 0:
            return
        say("apt-get install failed; running apt-get update and trying again")
        code, output = run_streamed(["apt-get", "update", "-q"], log=log, env=env)
        if code != 0:
            raise RegistryUnreachableError(f"apt-get update failed (exit {code}); see {log}")
        code, output = run_streamed(install_cmd, log=log, env=env)
    if code != 0:
        registry = REGISTRY_FAILURE_PATTERNS.search(output)
        error = RegistryUnreachableError if registry else LauncherError
        raise error(f"apt-get install {' '.join(packages)} failed (exit {code}); see {log}")


def ensure_system_packages(state: State) -> None:
    """PostgreSQL, Redis and etcd from Debian's packages (skipped when installed)."""
    missing = [p for p in APT_PACKAGES if not dpkg_installed(p)]
    if not missing:
        say(f"Debian packages present: {', '.join(APT_PACKAGES)}")
        return
    say(f"installing Debian packages: {', '.join(missing)}")
    apt_install(APT_PACKAGES, state)


PYTHON_PROBE = (
    "import sys; print('%d.%d' % sys.version_info[:2]); "
    "print(getattr(sys, '_base_executable', sys.executable))"
)


def python_candidates(state: State) -> list[str]:
    """Where to look for the release's Python, most specific first.

    ``$<release's python variable>``, the interpreter running this script, ``pythonX.Y`` on
    PATH, pyenv's builds of that minor version (our machines have them; the shim works only
    when pyenv selects the version), then the usual absolute paths.
    """
    major, minor = state.release.python
    name = f"python{major}.{minor}"
    candidates: list[str] = []
    if override := os.environ.get(state.release.python_env_var):
        candidates.append(override)
    if sys.version_info[:2] == state.release.python:
        candidates.append(sys.executable)
    if found := shutil.which(name):
        candidates.append(found)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    pyenv_builds = sorted(pyenv_root.glob(f"versions/{major}.{minor}.*/bin/{name}"), reverse=True)
    candidates += [str(p) for p in pyenv_builds]
    candidates += [f"/usr/bin/{name}", f"/usr/local/bin/{name}"]
    return list(dict.fromkeys(candidates))


def find_python(state: State) -> Path:
    """An interpreter of exactly the release's minor version, as its *base* executable.

    Asking each candidate for its base executable makes the venv point at a real
    interpreter, not at a pyenv shim or at another venv that may go away.
    """
    wanted = "{}.{}".format(*state.release.python)
    candidates = python_candidates(state)
    for candidate in candidates:
        try:
            proc = subprocess.run(
                [candidate, "-c", PYTHON_PROBE], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        lines = proc.stdout.split()
        if proc.returncode == 0 and len(lines) == 2 and lines[0] == wanted:
            return Path(lines[1])
    raise LauncherError(
        f"no Python {wanted} interpreter found (tried {', '.join(candidates)}). Backend.AI "
        f"{state.release.label} needs exactly {wanted}: install one (pyenv, or Debian's "
        f"python{wanted}) or point ${state.release.python_env_var} at it."
    )


def fingerprint(constraints: Path, requirements: Sequence[str]) -> dict[str, str]:
    """What a venv is built from; when it changes (new pins, version) the venv is rebuilt."""
    return {
        "constraints_sha256": hashlib.sha256(constraints.read_bytes()).hexdigest(),
        "requirements": " ".join(requirements),
    }


def venv_ready(venv: Path, wanted: dict[str, str]) -> bool:
    """Whether the venv's marker matches what we would install and its python still runs."""
    try:
        recorded = json.loads((venv / ".realmanager-installed.json").read_text())
    except (OSError, ValueError):
        return False
    if any(recorded.get(k) != v for k, v in wanted.items()):
        return False
    python = venv / "bin" / "python"
    if not os.access(python, os.X_OK):
        return False
    return subprocess.run([python, "-c", "pass"], capture_output=True).returncode == 0


def ensure_venv(
    state: State, venv: Path, constraints: Path, requirements: Sequence[str], what: str
) -> None:
    """A venv at ``venv`` with ``requirements`` under ``constraints`` (skipped when built).

    The pins matter: without them pip picks a current yarl, and 23.09's manager answers 500
    to every routed request ("Host '127.0.0.1:8091' cannot contain ':'").
    """
    wanted = fingerprint(constraints, requirements)
    if venv_ready(venv, wanted):
        say(f"{what} venv present: {venv}")
        return
    python = find_python(state)
    say(f"building the {what} venv with {python}")
    if venv.exists():
        shutil.rmtree(venv)  # stale or half-built: start over
    venv.parent.mkdir(parents=True, exist_ok=True)
    log = state.log("install")
    code, output = run_streamed([python, "-m", "venv", venv], log=log)
    if code != 0 and "ensurepip" in output and str(python).startswith("/usr/bin/"):
        # Debian ships venv support apart from its python3.X package.
        apt_install(["python{}.{}-venv".format(*state.release.python)], state)
        shutil.rmtree(venv, ignore_errors=True)
        code, output = run_streamed([python, "-m", "venv", venv], log=log)
    if code != 0:
        raise LauncherError(f"creating the venv with {python} failed; see {log}")
    pip: list[str | Path] = [venv / "bin" / "python", "-m", "pip", "install"]
    pip += ["--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
    pip += ["-c", constraints, *requirements]
    code, output = run_streamed(pip, log=log)
    if code != 0:
        registry = REGISTRY_FAILURE_PATTERNS.search(output)
        error = RegistryUnreachableError if registry else LauncherError
        raise error(f"pip install of the {what} venv failed (exit {code}); see {log}")
    marker = {**wanted, "python": str(python)}
    (venv / ".realmanager-installed.json").write_text(json.dumps(marker, indent=2) + "\n")


def install(state: State) -> None:
    """Everything that needs a registry: Debian packages, then the venv. Idempotent."""
    ensure_system_packages(state)
    release = state.release
    constraints = release.data_dir / release.constraints
    ensure_venv(state, state.venv, constraints, release.requirements, f"{release.label} manager")
