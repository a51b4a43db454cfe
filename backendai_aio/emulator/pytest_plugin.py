"""A pytest plugin: the ``backendai_emulator`` fixture, for users' own tests.

Installed with the package (entry point ``pytest11``). The emulator runs in a background
thread with its own event loop, so the fixture works with any async test plugin, and with
synchronous tests too::

    async def test_hello(backendai_emulator):
        async with Client(backendai_emulator.config) as client:
            ...
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future

import pytest

from .._config import ClientConfig
from ._app import Emulator

__all__ = ["EmulatorThread", "backendai_emulator"]


class EmulatorThread:
    """An :class:`Emulator` served from a daemon thread's event loop."""

    def __init__(self, **options: object) -> None:
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
        emulator = Emulator(**self._options)  # type: ignore[arg-type]
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

    @property
    def endpoint(self) -> str:
        """The emulator's base URL."""
        assert self._emulator is not None, "the emulator is not running"
        return self._emulator.endpoint

    @property
    def config(self) -> ClientConfig:
        """A client configuration for the emulator."""
        assert self._emulator is not None, "the emulator is not running"
        return self._emulator.config


@pytest.fixture(scope="session")
def backendai_emulator() -> Iterator[EmulatorThread]:
    """A Backend.AI manager emulator on 127.0.0.1, shared by the test session."""
    emulator = EmulatorThread()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
