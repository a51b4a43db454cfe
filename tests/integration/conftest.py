"""The integration tier: the client against real Backend.AI managers on 127.0.0.1.

The tier needs a real manager, which ``integration/realmanager/launch.py`` installs and starts
(minutes the first time, with root and package registries), so it is left out of the default
test run. It runs when asked for: with ``BACKENDAI_INTEGRATION=1`` in the environment (what
``nox -s integration`` does) or when its folder or one of its files is named on the command
line (``pytest tests/integration``).

Every test runs once per release (the ``release`` fixture): 23.09.10 and 26.9.6, each a
stack of its own on its own ports. ``BACKENDAI_INTEGRATION_RELEASES`` (comma-separated, e.g.
``26.9``) narrows the list. Each release's stack is started once per test session and stopped
when its tests are done, only if this session started it: a stack that was already running is
left running. When the launcher cannot reach a package registry (exit code 3) that release's
tests are skipped, loudly; any other launcher failure fails the run.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backendai_aio import Client, ClientConfig

from ._support import (
    ADMIN_ACCESS_KEY,
    ADMIN_SECRET_KEY,
    IMAGE,
    RELEASES,
    RUNNING_TIMEOUT,
    USER_ACCESS_KEY,
    USER_SECRET_KEY,
    Release,
    destroy_quietly,
    session_name,
)

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
LAUNCHER = PROJECT_ROOT / "integration" / "realmanager" / "launch.py"

#: Set to ``1`` to select the tier whatever the command line names.
ENABLE_ENV_VAR = "BACKENDAI_INTEGRATION"
#: Which releases to run against (comma-separated keys of RELEASES); all by default.
RELEASES_ENV_VAR = "BACKENDAI_INTEGRATION_RELEASES"

#: The launcher's exit code for "a package registry could not be reached".
LAUNCHER_REGISTRY_UNREACHABLE = 3
#: A cold install (apt packages and a release's venv) takes minutes; a warm start seconds.
LAUNCHER_START_TIMEOUT = 1800.0
LAUNCHER_STOP_TIMEOUT = 300.0
#: Per-test budget, counted on the test function only (see pytest_collection_modifyitems).
TEST_TIMEOUT = 120.0


# ----------------------------------------------------------------------------- selection


def _names_the_tier(arg: str, invocation_dir: Path) -> bool:
    """Whether a command-line argument (``path[::node]``) points into this folder."""
    path = Path(arg.split("::", 1)[0])
    if not path.is_absolute():
        path = invocation_dir / path
    return path.resolve().is_relative_to(HERE)


def tier_selected(config: pytest.Config) -> bool:
    """Whether this run asked for the tier (environment variable or an explicit path)."""
    if os.environ.get(ENABLE_ENV_VAR) == "1":
        return True
    invocation_dir = config.invocation_params.dir
    return any(_names_the_tier(arg, invocation_dir) for arg in config.args)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave the tier's files out of runs that did not ask for it (plain ``pytest``)."""
    if collection_path.resolve().is_relative_to(HERE) and not tier_selected(config):
        return True
    return None  # no opinion: the other ignore rules (--ignore, ...) still apply


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Time the tier's test functions only, not the fixtures.

    The first test's setup starts the manager, which may mean installing it (minutes): with
    the suite's default timeout that would fail the first test. The launcher bounds itself
    (LAUNCHER_START_TIMEOUT), and the clients bound their connections.
    """
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT, func_only=True))


# ----------------------------------------------------------------------------- the manager


@dataclass
class _TierStatus:
    """Why releases were skipped (for the end-of-run banner) or failed to start."""

    skip_reasons: dict[str, str] = field(default_factory=dict)
    #: A release whose stack failed to start is not started again for each of its tests.
    failures: dict[str, str] = field(default_factory=dict)


_STATUS = _TierStatus()


def selected_releases() -> list[str]:
    """The releases this run covers, from ``BACKENDAI_INTEGRATION_RELEASES`` or all."""
    wanted = os.environ.get(RELEASES_ENV_VAR, "").strip()
    if not wanted:
        return list(RELEASES)
    keys = [key.strip() for key in wanted.split(",") if key.strip()]
    unknown = [key for key in keys if key not in RELEASES]
    if unknown:
        raise pytest.UsageError(f"{RELEASES_ENV_VAR}: unknown release(s) {unknown}")
    return keys


def _launcher(release: str, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``launch.py --release R <command>``, capturing stdout and stderr together."""
    # The manager is a third-party program: the suite's development-mode settings (asyncio
    # debug mode, warnings shown) are for this project's code and would only slow it down.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDEVMODE", "PYTHONWARNINGS")}
    try:
        return subprocess.run(
            [sys.executable, str(LAUNCHER), "--release", release, command],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.output if isinstance(exc.output, str) else ""
        pytest.fail(
            f"`launch.py --release {release} {command}` did not finish in {timeout:.0f}s:\n"
            f"{_tail(output)}",
            pytrace=False,
        )


def _tail(output: str, lines: int = 60) -> str:
    return "\n".join(output.rstrip().splitlines()[-lines:])


@pytest.fixture(scope="session", params=selected_releases())
def release(request: pytest.FixtureRequest) -> Iterator[Release]:
    """A release whose real stack runs, started for this session if needed.

    Parametrized: every test that uses it (through ``real_manager`` or the clients) runs
    once per release. pytest groups the tests by release, so one stack runs at a time.
    """
    key: str = request.param
    if key in _STATUS.skip_reasons:
        pytest.skip(_STATUS.skip_reasons[key])
    if key in _STATUS.failures:
        pytest.fail(_STATUS.failures[key], pytrace=False)
    # `status` exits 0 only when every component runs: then someone else owns the stack
    # and it must outlive this test session.
    already_running = _launcher(key, "status", timeout=60).returncode == 0
    if not already_running:
        started = _launcher(key, "start", timeout=LAUNCHER_START_TIMEOUT)
        if started.returncode == LAUNCHER_REGISTRY_UNREACHABLE:
            # A machine without registry access cannot install the release: that is not a
            # failure of the client, but it must never pass silently for a green run.
            _STATUS.skip_reasons[key] = (
                f"REAL-MANAGER INTEGRATION TIER SKIPPED FOR {key}: the launcher could not "
                "reach a package registry to install the Backend.AI release (launch.py "
                f"exit 3). Launcher output:\n{_tail(started.stdout, 20)}"
            )
            pytest.skip(_STATUS.skip_reasons[key])
        if started.returncode != 0:
            _STATUS.failures[key] = (
                f"`launch.py --release {key} start` failed (exit {started.returncode}):\n"
                f"{_tail(started.stdout)}"
            )
            pytest.fail(_STATUS.failures[key], pytrace=False)
    yield RELEASES[key]
    if not already_running:
        stopped = _launcher(key, "stop", timeout=LAUNCHER_STOP_TIMEOUT)
        if stopped.returncode != 0:
            pytest.fail(
                f"`launch.py --release {key} stop` failed (exit {stopped.returncode}):\n"
                f"{_tail(stopped.stdout)}",
                pytrace=False,
            )


@pytest.fixture
def real_manager(release: Release) -> str:
    """The endpoint of the release's running manager."""
    return release.endpoint


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Repeat a skip of the whole tier at the very end, where CI logs are read."""
    for key, reason in _STATUS.skip_reasons.items():
        terminalreporter.write_sep(
            "!", f"real-manager integration tier SKIPPED for {key}", red=True, bold=True
        )
        terminalreporter.write_line(reason, red=True, bold=True)
        terminalreporter.write_sep("!", red=True, bold=True)


# ----------------------------------------------------------------------------- clients


@pytest.fixture
async def admin_client(real_manager: str) -> AsyncIterator[Client]:
    """A client with the superadmin keypair."""
    async with Client(ClientConfig(ADMIN_ACCESS_KEY, ADMIN_SECRET_KEY, real_manager)) as client:
        yield client


@pytest.fixture
async def user_client(real_manager: str) -> AsyncIterator[Client]:
    """A client with a plain user's keypair."""
    async with Client(ClientConfig(USER_ACCESS_KEY, USER_SECRET_KEY, real_manager)) as client:
        yield client


@pytest.fixture
async def session(user_client: Client, release: Release) -> AsyncIterator[str]:
    """A RUNNING session with a real kernel runner, destroyed afterwards.

    Only 26.9 runs an agent here (with the release's own kernel runner behind it): on 23.09
    the test is skipped.
    """
    if not release.has_agent:
        pytest.skip(f"{release.manager_version} runs no agent here: no code runs")
    name = session_name()
    try:
        await user_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RUNNING_TIMEOUT
        while (status := (await user_client.get_info(name))["status"]) != "RUNNING":
            assert status not in {"ERROR", "CANCELLED", "TERMINATED"}, status
            assert loop.time() < deadline, f"{name} is {status} after {RUNNING_TIMEOUT:.0f}s"
            await asyncio.sleep(0.5)
        yield name
    finally:
        await destroy_quietly(user_client, name)
