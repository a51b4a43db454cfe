"""The official-SDK tier: Backend.AI's own client and CLI against the emulator on 127.0.0.1.

Each official SDK runs in a venv of its own, which ``nox -s official`` makes (the SDK's
dependencies clash with the project's, and 26.9.6 needs Python 3.13) and names in
``BACKENDAI_OFFICIAL_SDKS``: a JSON object mapping each SDK version to ``{"python": PATH}``,
or to ``{"skip": REASON}`` when its venv could not be made (no such Python, no package
registry). The tier is left out of the default test run; it runs with ``BACKENDAI_OFFICIAL=1``
(what the nox session sets) or when its folder is named on the command line.

Per SDK, one emulator runs as its own process (``python -m backendai_aio.emulator``) with the
release profile that SDK's manager is; the tests run the SDK's calls through ``driver.py`` in
the SDK's python, and its ``backend.ai`` CLI, and read what they print. An SDK without a venv
is skipped, loudly: a banner at the end of the run says which and why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backendai_aio.emulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "driver.py"
#: Set to ``1`` to select the tier whatever the command line names.
ENABLE_ENV_VAR = "BACKENDAI_OFFICIAL"
#: The venvs, as the nox session made them (see the module docstring).
SDKS_ENV_VAR = "BACKENDAI_OFFICIAL_SDKS"
#: One SDK call or CLI command: an SDK import and a few calls, far less on a warm machine.
COMMAND_TIMEOUT = 120.0


@dataclass(frozen=True)
class Sdk:
    """An official SDK release and the emulator release profile its manager matches."""

    version: str
    release: str
    api_version: str


#: The SDKs the tier runs, oldest first.
SDKS: dict[str, Sdk] = {
    "23.9.10": Sdk("23.9.10", "23.09", "v7.20230615"),
    "26.9.6": Sdk("26.9.6", "26.9", "v9.20250722"),
}

_SKIPPED: dict[str, str] = {}


def _names_the_tier(arg: str, invocation_dir: Path) -> bool:
    path = Path(arg.split("::", 1)[0])
    if not path.is_absolute():
        path = invocation_dir / path
    return path.resolve().is_relative_to(HERE)


def tier_selected(config: pytest.Config) -> bool:
    """Whether this run asked for the tier (environment variable or an explicit path)."""
    if os.environ.get(ENABLE_ENV_VAR) == "1":
        return True
    return any(_names_the_tier(arg, config.invocation_params.dir) for arg in config.args)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave the tier's files out of runs that did not ask for it (plain ``pytest``)."""
    if collection_path.resolve().is_relative_to(HERE) and not tier_selected(config):
        return True
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Repeat each skipped SDK at the very end, where CI logs are read."""
    for version, reason in _SKIPPED.items():
        terminalreporter.write_sep(
            "!", f"official-SDK tier SKIPPED for backend.ai-client {version}", red=True, bold=True
        )
        terminalreporter.write_line(reason, red=True, bold=True)
        terminalreporter.write_sep("!", red=True, bold=True)


def _venv_python(version: str) -> str:
    """The python of *version*'s venv, or a loud skip saying why there is none."""
    listed: dict[str, dict[str, str]] = json.loads(os.environ.get(SDKS_ENV_VAR) or "{}")
    entry = listed.get(version)
    if entry is None:
        reason = f"no venv of backend.ai-client {version}: run `nox -s official`, which makes it"
    elif "python" in entry and Path(entry["python"]).is_file():
        return entry["python"]
    else:
        reason = entry.get("skip") or f"{entry.get('python')} does not exist"
    _SKIPPED[version] = f"OFFICIAL-SDK TIER SKIPPED FOR backend.ai-client {version}: {reason}"
    pytest.skip(_SKIPPED[version])


def child_environment(**extra: str) -> dict[str, str]:
    """The environment of the SDK's and the emulator's processes.

    The suite's development-mode settings are for this project's code: in the SDK they would
    only print its own deprecation warnings among the output the tests read.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONDEVMODE", "PYTHONWARNINGS", "VIRTUAL_ENV", "PYTHONPATH")
        and not k.startswith("BACKEND_")
    }
    return {**env, "PYTHONWARNINGS": "ignore", **extra}


@dataclass(frozen=True)
class Target:
    """An official SDK's venv and the emulator it talks to."""

    sdk: Sdk
    python: str
    endpoint: str
    home: Path

    @property
    def cli(self) -> str:
        """The SDK's ``backend.ai`` command."""
        return str(Path(self.python).parent / "backend.ai")

    def env(self) -> dict[str, str]:
        """What the SDK reads its configuration from: the emulator and its example admin."""
        return child_environment(
            BACKEND_ENDPOINT=self.endpoint,
            BACKEND_ENDPOINT_TYPE="api",
            BACKEND_ACCESS_KEY=DEFAULT_ACCESS_KEY,
            BACKEND_SECRET_KEY=DEFAULT_SECRET_KEY,
            # The CLI keeps state (the last session, a cookie jar) under the home folder.
            HOME=str(self.home),
        )

    def run(
        self, *args: str, cwd: Path | None = None, answer: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run *args* (a command of the venv) with the SDK's configuration.

        *answer* is typed at the command's prompt (a confirmation); else it reads nothing.
        """
        return subprocess.run(
            args,
            cwd=cwd or self.home,
            env=self.env(),
            input=answer,
            stdin=subprocess.DEVNULL if answer is None else None,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def backend_ai(
        self, *args: str, cwd: Path | None = None, answer: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the CLI: ``backend.ai ARGS`` (in *cwd*, typing *answer* at its prompt)."""
        return self.run(self.cli, *args, cwd=cwd, answer=answer)

    def call(self, scenario: str, work: Path, name: str) -> dict[str, Any]:
        """Run a scenario of ``driver.py`` in the SDK's python; what it printed, decoded."""
        done = self.run(self.python, str(DRIVER), scenario, str(work), name, cwd=work)
        assert done.returncode == 0, f"driver {scenario} failed:\n{done.stdout}\n{done.stderr}"
        answers: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        assert answers["sdk"] == self.sdk.version
        return answers


@pytest.fixture(scope="session", params=list(SDKS))
def sdk(request: pytest.FixtureRequest) -> Sdk:
    """An official SDK release (parametrized: every test runs once per SDK)."""
    return SDKS[request.param]


@pytest.fixture(scope="session")
def target(sdk: Sdk, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The SDK's venv and an emulator of the matching release, started for the SDK's tests."""
    python = _venv_python(sdk.version)
    command = [sys.executable, "-m", "backendai_aio.emulator", "--port", "0"]
    command += ["--release", sdk.release, "--flush-window", "0.3", "--exec-timeout", "20"]
    process = subprocess.Popen(
        command,
        env=child_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    # What the emulator prints after its endpoint is read too, so that a full pipe never
    # blocks it.
    drain = threading.Thread(target=process.stdout.read, daemon=True)
    with process, process.stdout:
        try:
            endpoint = _read_endpoint(process)
            drain.start()
            yield Target(sdk, python, endpoint, tmp_path_factory.mktemp(f"home-{sdk.version}"))
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if drain.is_alive():
                drain.join(timeout=30)


def _read_endpoint(process: subprocess.Popen[str]) -> str:
    """The endpoint the emulator prints (``export BACKEND_ENDPOINT=...``)."""
    assert process.stdout is not None
    seen: list[str] = []
    # The emulator prints its export lines at once; readline returns "" if it exits instead.
    for line in iter(process.stdout.readline, ""):
        seen.append(line)
        if line.startswith("export BACKEND_ENDPOINT="):
            return line.split("=", 1)[1].strip()
    pytest.fail(f"the emulator exited before listening:\n{''.join(seen)}", pytrace=False)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A scratch folder for one test's files."""
    return tmp_path
