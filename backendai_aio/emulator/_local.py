"""The configured cluster, or a local emulator when none is configured."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from .._config import ClientConfig
from ._app import Emulator

__all__ = ["configured_or_emulated"]


@asynccontextmanager
async def configured_or_emulated(
    *,
    environ: Mapping[str, str] | None = None,
    announce: Callable[[str], object] | None = None,
) -> AsyncIterator[ClientConfig]:
    """Yield the configured cluster's configuration, or a local emulator's.

    ``ClientConfig.from_env()`` when ``BACKEND_ENDPOINT`` is set; otherwise an emulator is
    started on 127.0.0.1 and runs until the block ends. *announce* (``print``, a logger's
    ``info``) is told when an emulator is started, so that a program says what it talks to.
    """
    env = os.environ if environ is None else environ
    if env.get("BACKEND_ENDPOINT"):
        yield ClientConfig.from_env(env)
        return
    async with Emulator() as emulator:
        if announce is not None:
            announce(f"No BACKEND_ENDPOINT set: using a local emulator at {emulator.endpoint}")
        yield emulator.config
