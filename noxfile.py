"""Development tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s quickstart``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite: the pure core, the emulator and the client end to end."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs, env={"PYTHONDEVMODE": "1"})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff (lint and format) and mypy --strict."""
    session.install("-e", ".[test]", "ruff>=0.8", "mypy>=1.13", "nox")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=PYTHON)
def quickstart(session: nox.Session) -> None:
    """Run examples/quickstart.py (against BACKEND_ENDPOINT, or an emulator it starts)."""
    session.install(".")
    session.run("python", "examples/quickstart.py", *session.posargs)
