"""A pytest plugin: emulator fixtures for users' own tests.

Installed with the package (entry point ``pytest11``). The emulator runs in a background
thread with its own event loop, so the fixtures work with any async test plugin (in
pytest-asyncio's strict mode too) and with synchronous tests:

```python
@pytest.mark.asyncio  # not needed with asyncio_mode = "auto"
async def test_hello(backendai_emulator):
    async with Client(backendai_emulator.config) as client:
        ...
```

Two fixtures, two scopes:

- ``backendai_emulator`` (scope ``session``): one emulator shared by every test of the run,
  started on first use. Sessions, folders and the variables of their code stay from one test
  to the next: destroy what a test creates, or use names of its own.
- ``backendai_emulator_isolated`` (scope ``function``): a fresh emulator for each test,
  stopped at its end, so nothing a test leaves behind reaches another.

The emulated release is chosen with the ``--backendai-emulator-release`` option or the
``backendai_emulator_release`` ini setting (both fixtures), and per test with the
``backendai_emulator`` marker, which also takes the other
[`Emulator`][backendai_aio.emulator.Emulator] arguments
(isolated fixture only):

```python
@pytest.mark.backendai_emulator(release="23.09")
def test_old_manager(backendai_emulator_isolated): ...
```
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Final, Self

import pytest

from .._config import ClientConfig
from ._app import Emulator

__all__ = [
    "EmulatorThread",
    "backendai_emulator",
    "backendai_emulator_isolated",
]

_RELEASE_OPTION: Final = "backendai_emulator_release"
_MARKER: Final = "backendai_emulator"


def _takes_release() -> bool:
    return "release" in inspect.signature(Emulator).parameters


class EmulatorThread:
    """An [`Emulator`][backendai_aio.emulator.Emulator] served from a daemon thread's event loop.

    *options* are [`Emulator`][backendai_aio.emulator.Emulator]'s keyword arguments. Use it as a
    context manager, or call `start` and `stop`.
    """

    def __init__(self, **options: Any) -> None:
        if options.get("release") is None:
            options.pop("release", None)
        elif not _takes_release():
            raise ValueError("this emulator emulates one release only: release= is not taken")
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="backendai-emulator", daemon=True
        )
        self._emulator: Emulator | None = None

    def start(self) -> None:
        """Start the thread and the emulator in it; return once it is listening.

        If the emulator cannot start, the thread and its loop are stopped before the error
        propagates.
        """
        self._thread.start()
        started: Future[Emulator] = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            self._emulator = started.result(timeout=30)
        except BaseException:
            started.cancel()
            self._stop_loop()
            raise

    async def _start(self) -> Emulator:
        emulator = Emulator(**self._options)
        await emulator.start()
        return emulator

    def stop(self) -> None:
        """Stop the emulator (terminating its sessions) and the thread; again does nothing."""
        if self._emulator is not None:
            asyncio.run_coroutine_threadsafe(self._emulator.stop(), self._loop).result(timeout=30)
            self._emulator = None
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the emulator is listening."""
        return self._emulator is not None

    @property
    def options(self) -> Mapping[str, Any]:
        """The [`Emulator`][backendai_aio.emulator.Emulator] arguments it was made with."""
        return dict(self._options)

    def _running(self) -> Emulator:
        if self._emulator is None:
            raise RuntimeError("the emulator is not running")
        return self._emulator

    @property
    def emulator(self) -> Emulator:
        """The `Emulator` itself (its methods are for its own thread's loop)."""
        return self._running()

    @property
    def endpoint(self) -> str:
        """The emulator's base URL."""
        return self._running().endpoint

    @property
    def config(self) -> ClientConfig:
        """A client configuration for the emulator (the superadmin's keypair)."""
        return self._running().config

    @property
    def user_config(self) -> ClientConfig:
        """A client configuration for the example plain user's keypair."""
        return self._running().user_config

    @property
    def session_config(self) -> ClientConfig:
        """A client configuration for the emulated webserver (``endpoint_type="session"``)."""
        return self._running().session_config

    def __repr__(self) -> str:
        if self._emulator is None:
            state = "stopped" if self._loop.is_closed() else "not started"
            return f"<EmulatorThread {state} options={self._options!r}>"
        return f"<EmulatorThread running {self._emulator!r}>"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--backendai-emulator-release`` and ``backendai_emulator_release``."""
    help_text = "the Backend.AI release the emulator fixtures emulate, e.g. 23.09 or 26.9"
    parser.getgroup("backendai-aio").addoption(
        "--backendai-emulator-release", dest=_RELEASE_OPTION, default=None, help=help_text
    )
    parser.addini(_RELEASE_OPTION, help_text, default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``backendai_emulator`` marker."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**options): the Emulator arguments (release=, api_version=, ...) of "
        "this test's backendai_emulator_isolated",
    )


def _emulator_options(config: pytest.Config, marker: pytest.Mark | None = None) -> dict[str, Any]:
    """The `Emulator` arguments chosen by the command line, the ini file and *marker*.

    The marker wins over the option, which wins over the ini setting.
    """
    release = config.getoption(_RELEASE_OPTION) or config.getini(_RELEASE_OPTION) or None
    options: dict[str, Any] = {} if release is None else {"release": str(release)}
    if marker is not None:
        if marker.args:
            pytest.fail(f"@pytest.mark.{_MARKER} takes keyword arguments only", pytrace=False)
        options.update(marker.kwargs)
    return options


def _started(options: dict[str, Any]) -> EmulatorThread:
    try:
        emulator = EmulatorThread(**options)
        emulator.start()
    except (TypeError, ValueError) as error:
        # An unknown argument or value of the marker or option: say which, briefly.
        pytest.fail(f"the emulator cannot be made with {options!r}: {error}", pytrace=False)
    return emulator


@pytest.fixture(scope="session")
def backendai_emulator(pytestconfig: pytest.Config) -> Iterator[EmulatorThread]:
    """A Backend.AI manager emulator on 127.0.0.1, shared by the whole test session."""
    emulator = _started(_emulator_options(pytestconfig))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def backendai_emulator_isolated(request: pytest.FixtureRequest) -> Iterator[EmulatorThread]:
    """A fresh Backend.AI manager emulator on 127.0.0.1 for this test alone."""
    marker = request.node.get_closest_marker(_MARKER)
    emulator = _started(_emulator_options(request.config, marker))
    try:
        yield emulator
    finally:
        emulator.stop()
