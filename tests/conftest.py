from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from backendai_aio import Client
from backendai_aio.emulator import DEFAULT_SECRET_KEY, Emulator


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(flush_window=0.3, exec_timeout=10.0) as running:
        yield running


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[Client]:
    async with Client(emulator.config) as opened:
        yield opened


@pytest.fixture
def secret_key() -> str:
    return DEFAULT_SECRET_KEY


@pytest.fixture
def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
