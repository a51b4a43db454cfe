"""Development tasks.

``nox -s quickstart`` runs the quickstart, ``nox -s tests`` the suite on every supported Python
found (3.11, 3.12, 3.13: on PATH, or built by pyenv), ``nox -s lint`` the linters and type
checkers, ``nox -s docs`` builds the site; ``nox -s coverage``, ``nox -s tests-oldest`` and
``nox -s wheel`` measure coverage against its gate, run the suite on the oldest declared
dependencies and against the built wheel; ``nox -s integration`` runs the real-manager tier,
``nox -s official`` the official SDK and CLI against the emulator, and ``nox -s bench`` the
benchmarks. Without any supported Python every session fails, loudly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
# A session whose interpreter is missing fails instead of being skipped with exit status 0.
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
#: The supported interpreters, oldest first, from the project's classifiers.
SUPPORTED: list[str] = nox.project.python_versions(PYPROJECT)


def _runs(executable: str | Path) -> bool:
    """Whether *executable* starts (a pyenv shim of a version not selected exits 127)."""
    try:
        subprocess.run([executable, "-c", ""], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _pyenv_build(version: str) -> Path | None:
    """The newest pyenv build of *version* (``3.12`` -> ``<root>/versions/3.12.1``), if any."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    builds: list[tuple[int, Path]] = []
    for folder in (root / "versions").glob(f"{version}.*"):
        patch = folder.name[len(version) + 1 :]
        if patch.isdigit() and (folder / "bin" / f"python{version}").is_file():
            builds.append((int(patch), folder))
    return max(builds)[1] if builds else None


def _find_interpreters() -> list[str]:
    """The supported versions that can run here, oldest first.

    A version counts when nox is running on it, when ``pythonX.Y`` on PATH starts, or when
    pyenv has built it: pyenv's shims only run the versions selected with ``pyenv global`` or
    ``pyenv local``, so the build's own bin folder is put at the front of PATH, for nox to find.
    """
    found = []
    for version in SUPPORTED:
        if version == f"{sys.version_info.major}.{sys.version_info.minor}":
            found.append(version)
            continue
        on_path = shutil.which(f"python{version}")
        if on_path is not None and _runs(on_path):
            found.append(version)
            continue
        build = _pyenv_build(version)
        if build is not None and _runs(build / "bin" / f"python{version}"):
            os.environ["PATH"] = os.pathsep.join([str(build / "bin"), os.environ.get("PATH", "")])
            found.append(version)
    return found


INTERPRETERS = _find_interpreters()
#: ``tests`` runs on each interpreter found; every other session on the oldest one found.
#: With none found they are declared without an interpreter, so that they fail in
#: :func:`_require_interpreter` with a message saying what to install.
MATRIX: list[str] | bool = INTERPRETERS or False
OLDEST: str | bool = INTERPRETERS[0] if INTERPRETERS else False


def _require_interpreter(session: nox.Session) -> None:
    if not INTERPRETERS:
        session.error(
            f"no supported Python found: install one of Python {', '.join(SUPPORTED)} (as "
            f"python3.X on PATH, or with pyenv) and run the session again"
        )


def _pytest(session: nox.Session, *args: str, **env: str) -> None:
    session.run("pytest", *args, *session.posargs, env={"PYTHONDEVMODE": "1", **env})


@nox.session(python=MATRIX)
def tests(session: nox.Session) -> None:
    """The whole test suite (the pure core, the emulator, the client end to end), per Python."""
    _require_interpreter(session)
    session.install("-e", ".[test,examples]")
    _pytest(session)


@nox.session(python=OLDEST)
def lint(session: nox.Session) -> None:
    """Ruff (lint and format), mypy --strict, and pyright on the package, tests and examples."""
    _require_interpreter(session)
    session.install("-e", ".[test,examples]", "ruff>=0.8", "mypy>=1.13", "pyright>=1.1.390", "nox")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("pyright")


@nox.session(python=OLDEST)
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ (MkDocs, warnings as errors)."""
    _require_interpreter(session)
    session.install(
        "-e", ".", "mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.27", "ruff>=0.8"
    )
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        "site",
        *session.posargs,
        env={"NO_MKDOCS_2_WARNING": "1"},
    )


@nox.session(python=OLDEST)
def quickstart(session: nox.Session) -> None:
    """Run examples/quickstart.py (against BACKEND_ENDPOINT, or an emulator it starts)."""
    _require_interpreter(session)
    session.install(".")
    session.run("python", "examples/quickstart.py", *session.posargs)


# The modules that only decide (no I/O): each must be covered entirely.
PURE_MODULES = (
    "_apiversion",
    "_backoff",
    "_call_policy",
    "_clock",
    "_config",
    "_config_values",
    "_decoding",
    "_errors",
    "_ratelimits",
    "_results",
    "_retries",
    "_session_options",
    "_signing",
    "_sse",
    "_timeouts",
    "_version",
    # The transfers package's pure modules.
    "policy",
    "range_resume",
    "tarsafe",
    "tree_archives",
    "tus_resume",
)
PURE_GATE = 100.0
CLIENT_GATE = 95.0


def _percent(summaries: list[dict[str, int]]) -> float:
    """Coverage's own figure: covered lines and branches over all lines and branches."""
    covered = sum(s["covered_lines"] + s["covered_branches"] for s in summaries)
    total = sum(s["num_statements"] + s["num_branches"] for s in summaries)
    return 100.0 * covered / total if total else 100.0


@nox.session(python=OLDEST)
def coverage(session: nox.Session) -> None:
    """The suite under coverage (lines and branches, child processes too), against the gate.

    ``coverage run`` starts before pytest, so the modules that the package's own pytest plugin
    imports early are measured as well (``pytest --cov`` would start too late for them). Gate:
    every pure module 100%, the client package (all but the emulator) at least 95%; the
    emulator is reported.
    """
    _require_interpreter(session)
    session.install("-e", ".[test,examples]", "coverage>=7.10")
    data = Path(session.create_tmp()).resolve() / "coverage"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    # Child processes (the emulator's CLI, the examples) write their data next to the parent's
    # whatever their working folder.
    env = {"COVERAGE_FILE": str(data / ".coverage")}
    session.run(
        "coverage", "run", "-m", "pytest", *session.posargs, env={**env, "PYTHONDEVMODE": "1"}
    )
    session.run("coverage", "combine", "--quiet", env=env)
    package = "backendai_aio"
    session.log("The emulator (reported, not gated):")
    session.run("coverage", "report", f"--include={package}/emulator/*", env=env)
    session.log("The client package:")
    session.run("coverage", "report", f"--omit={package}/emulator/*", env=env)
    report = data / "coverage.json"
    session.run("coverage", "json", "--quiet", "-o", str(report), env=env)
    files: dict[str, dict[str, int]] = {
        Path(name).as_posix(): entry["summary"]
        for name, entry in json.loads(report.read_text())["files"].items()
    }
    client = {name: s for name, s in files.items() if "/emulator/" not in name}
    pure = {name: s for name, s in client.items() if Path(name).stem in PURE_MODULES}
    failures = [
        f"{name}: {_percent([s]):.1f}% (pure module, gate {PURE_GATE:.0f}%)"
        for name, s in sorted(pure.items())
        if _percent([s]) < PURE_GATE
    ]
    client_total = _percent(list(client.values()))
    if client_total < CLIENT_GATE:
        short = [name for name, s in sorted(client.items()) if _percent([s]) < CLIENT_GATE]
        failures.append(
            f"client package: {client_total:.1f}% (gate {CLIENT_GATE:.0f}%); under it: "
            + ", ".join(short)
        )
    if failures:
        session.error("coverage under the gate:\n  " + "\n  ".join(failures))
    session.log(f"coverage gate passed: client package {client_total:.1f}%, pure modules 100%")


def _oldest_pins() -> list[str]:
    """``name==X`` for each runtime dependency, X being its declared lower bound."""
    pins = []
    for requirement in PYPROJECT["project"]["dependencies"]:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", requirement)
        if match is None:
            raise ValueError(f"dependency without a plain lower bound: {requirement!r}")
        pins.append(f"{match[1]}=={match[2]}")
    return pins


@nox.session(name="tests-oldest", python=OLDEST)
def tests_oldest(session: nox.Session) -> None:
    """The suite on the oldest supported Python with each dependency at its declared minimum."""
    _require_interpreter(session)
    pins = _oldest_pins()
    session.install("-e", ".[test,examples]", *pins)
    session.run("python", "-m", "pip", "check")
    session.run("python", "-m", "pip", "list", "--exclude-editable")
    _pytest(session)


@nox.session(python=OLDEST, reuse_venv=False)
def wheel(session: nox.Session) -> None:
    """Build the sdist and, from it, the wheel; run the sdist's tests against the wheel installed.

    The tests run in the unpacked sdist with its copy of the package removed, so they import the
    installed wheel: a module, ``py.typed``, the pytest plugin's entry point or a packaged file
    missing from the wheel (or a test file missing from the sdist) fails here.
    """
    _require_interpreter(session)
    session.install("build>=1.2")
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist), ".")
    (sdist,) = dist.glob("*.tar.gz")
    (built,) = dist.glob("*.whl")
    unpacked = tmp / "sdist"
    shutil.rmtree(unpacked, ignore_errors=True)
    with tarfile.open(sdist) as archive:
        # The extraction filters came with 3.11.4; on an older 3.11 the archive is our own build.
        if hasattr(tarfile, "data_filter"):
            archive.extractall(unpacked, filter="data")
        else:
            archive.extractall(unpacked)
    (tree,) = unpacked.iterdir()
    shutil.rmtree(tree / "backendai_aio")
    session.install(f"{built}[test,examples]")
    session.chdir(tree)
    _pytest(session, "-p", "no:cacheprovider", BACKENDAI_AIO_INSTALLED="1")


@nox.session(python=OLDEST)
def integration(session: nox.Session) -> None:
    """The integration tier: the client against a real Backend.AI manager on 127.0.0.1.

    tests/integration starts the manager with integration/realmanager/launch.py (installing it
    first if needed, which takes root and package registries) and stops it afterwards unless
    it was already running. Without a reachable registry the tier is skipped, loudly.
    """
    _require_interpreter(session)
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "tests/integration",
        *session.posargs,
        env={"PYTHONDEVMODE": "1", "BACKENDAI_INTEGRATION": "1"},
    )


#: The official SDKs of the official tier: (version, Python, requirements). 23.9.10 reads
#: ``yarl.URL._val.netloc`` when signing, which yarl releases after 1.9 removed; 26.9.6 needs
#: Python 3.13 and gets the versions a working 26.9.6 installation uses.
OFFICIAL_SDKS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("23.9.10", "3.11", ("backend.ai-client==23.9.10", "yarl==1.9.4")),
    (
        "26.9.6",
        "3.13",
        (
            "backend.ai-client==26.9.6",
            "-c",
            str(ROOT / "benchmarks" / "constraints-official-26.9.6.txt"),
        ),
    ),
)
OFFICIAL_CACHE = ROOT / ".nox" / "official-sdks"


def _base_python(version: str) -> str | None:
    """A Python *version* interpreter that starts: pyenv's build, else ``pythonX.Y`` on PATH."""
    build = _pyenv_build(version)
    candidates = [build / "bin" / f"python{version}"] if build is not None else []
    on_path = shutil.which(f"python{version}")
    candidates += [Path(on_path)] if on_path is not None else []
    return next((str(c) for c in candidates if _runs(c)), None)


def _official_sdk_venv(
    session: nox.Session, version: str, python: str, reqs: tuple[str, ...]
) -> dict[str, str]:
    """``{"python": PATH}`` of the SDK's venv (made once per requirements), or ``{"skip": why}``.

    The venv is reused while its requirements (the constraints file's text included) stay the
    same; a venv that cannot be made is reported, not raised: the tier then skips that SDK.
    """
    venv = OFFICIAL_CACHE / f"backend.ai-client-{version}"
    executable = venv / "bin" / "python"
    marker = venv / ".installed"
    wanted = "\n".join(reqs)
    if "-c" in reqs:
        wanted += "\n" + Path(reqs[reqs.index("-c") + 1]).read_text(encoding="utf-8")
    if executable.is_file() and marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return {"python": str(executable)}
    base = _base_python(python)
    if base is None:
        return {"skip": f"no Python {python} found (on PATH or built by pyenv)"}
    shutil.rmtree(venv, ignore_errors=True)
    session.log(f"making {venv} with {' '.join(reqs)}")
    # pip needs none of the development-mode settings, and must not see the nox venv.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDEVMODE", "VIRTUAL_ENV")}
    for command in (
        [base, "-m", "venv", str(venv)],
        [str(executable), "-m", "pip", "install", "--quiet", *reqs],
    ):
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=1800, env=env
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return {"skip": f"`{' '.join(command[:4])} ...` failed: {exc}"}
        if done.returncode != 0:
            lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
            errors = [line for line in lines if "ERROR" in line] or lines[-3:]
            return {"skip": f"`{' '.join(command[:4])} ...` failed: " + " | ".join(errors[-3:])}
    marker.write_text(wanted, encoding="utf-8")
    return {"python": str(executable)}


@nox.session(python=OLDEST)
def official(session: nox.Session) -> None:
    """The official-SDK tier: Backend.AI's own SDK and CLI against the emulator on 127.0.0.1.

    Each official SDK gets a venv of its own under .nox/official-sdks/ (made on the first
    run, with a package registry); an SDK whose venv cannot be made is skipped, loudly.
    """
    _require_interpreter(session)
    session.install("-e", ".[test]")
    sdks = {
        version: _official_sdk_venv(session, version, python, reqs)
        for version, python, reqs in OFFICIAL_SDKS
    }
    for version, entry in sdks.items():
        if "skip" in entry:
            session.warn(f"OFFICIAL SDK {version} SKIPPED: {entry['skip']}")
    session.run(
        "pytest",
        "tests/official",
        *session.posargs,
        env={
            "PYTHONDEVMODE": "1",
            "BACKENDAI_OFFICIAL": "1",
            "BACKENDAI_OFFICIAL_SDKS": json.dumps(sdks),
        },
    )


@nox.session(python=OLDEST)
def bench(session: nox.Session) -> None:
    """The benchmarks (benchmarks/): the table on stdout, JSON in benchmarks/results/.

    ``nox -s bench -- --quick`` for a short run; ``-- --help`` lists the options. The official
    SDK is installed into its own venv under benchmarks/.cache/ on the first run. A full run
    includes benchmark 8 through the real 26.9.6 stack, started (and installed the first time)
    by integration/realmanager/launch.py when it is not up; ``-- --no-real-stack`` leaves it out.
    """
    _require_interpreter(session)
    # The emulator extra: benchmarks 6 and 7 run against the emulator.
    session.install("-e", ".[emulator]", "pyinstrument>=4.6")
    session.run(
        "python",
        "-m",
        "benchmarks",
        *session.posargs,
        env={"PYTHONDEVMODE": "", "PYTHONASYNCIODEBUG": ""},
    )
