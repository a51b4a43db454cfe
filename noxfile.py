"""Development tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s quickstart``, ``nox -s docs``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite: the pure core, the emulator and the client end to end."""
    session.install("-e", ".[test,examples]")
    session.run("pytest", *session.posargs, env={"PYTHONDEVMODE": "1"})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff (lint and format), mypy --strict, and pyright on the package and examples."""
    session.install("-e", ".[test]", "ruff>=0.8", "mypy>=1.13", "pyright>=1.1.390", "nox")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("pyright")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ (MkDocs, warnings as errors)."""
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


@nox.session(python=PYTHON)
def quickstart(session: nox.Session) -> None:
    """Run examples/quickstart.py (against BACKEND_ENDPOINT, or an emulator it starts)."""
    session.install(".")
    session.run("python", "examples/quickstart.py", *session.posargs)


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """The integration tier: the client against a real Backend.AI manager on 127.0.0.1.

    tests/integration starts the manager with integration/realmanager/launch.py (installing it
    first if needed, which takes root and package registries) and stops it afterwards unless
    it was already running. Without a reachable registry the tier is skipped, loudly.
    """
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "tests/integration",
        *session.posargs,
        env={"PYTHONDEVMODE": "1", "BACKENDAI_INTEGRATION": "1"},
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The benchmarks (benchmarks/): the table on stdout, JSON in benchmarks/results/.

    ``nox -s bench -- --quick`` for a short run; ``-- --help`` lists the options. The official
    SDK is installed into its own venv under benchmarks/.cache/ on the first run.
    """
    session.install("-e", ".", "pyinstrument>=4.6")
    session.run(
        "python",
        "-m",
        "benchmarks",
        *session.posargs,
        env={"PYTHONDEVMODE": "", "PYTHONASYNCIODEBUG": ""},
    )
