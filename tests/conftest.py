"""The suite's shared fixtures: one emulator factory and clients and raw callers named by role.

``emulator`` is a running emulator, one per test, built by :func:`make_emulator` from
``emulator_options``: a module or a folder's conftest that needs another configuration (a
release, a flush window) overrides ``emulator_options``, and a test that needs a second
emulator calls :func:`make_emulator` itself. ``admin_client`` and ``user_client`` are clients
of the emulator's superadmin and user keypairs; ``admin_wire`` and ``user_wire`` sign raw
requests by hand for the same keypairs (see ``tests/emulator/wire.py``).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from backendai_aio import Client
from backendai_aio.emulator import DEFAULT_SECRET_KEY, USER_ACCESS_KEY, USER_SECRET_KEY, Emulator

from .emulator.wire import Wire

#: The suite's emulator settings: output flushed and runaway code stopped sooner than by default.
EMULATOR_DEFAULTS: dict[str, Any] = {"flush_window": 0.3, "exec_timeout": 10.0}


def make_emulator(**options: Any) -> Emulator:
    """An emulator (start it with ``async with``): the suite's defaults, then *options*."""
    return Emulator(**{**EMULATOR_DEFAULTS, **options})


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """The options :func:`make_emulator` gets for ``emulator``; override to change them."""
    return {}


@pytest.fixture
async def emulator(emulator_options: dict[str, Any]) -> AsyncIterator[Emulator]:
    async with make_emulator(**emulator_options) as running:
        yield running


@pytest.fixture
async def admin_client(emulator: Emulator) -> AsyncIterator[Client]:
    """A client of the emulator's superadmin keypair (its default one)."""
    async with Client(emulator.config) as opened:
        yield opened


@pytest.fixture
def client(admin_client: Client) -> Client:
    """The former name of ``admin_client`` (the same client), for tests written before it."""
    return admin_client


@pytest.fixture
async def user_client(emulator: Emulator) -> AsyncIterator[Client]:
    """A client of the emulator's user keypair."""
    async with Client(emulator.user_config) as opened:
        yield opened


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, for raw requests."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def admin_wire(emulator: Emulator, http: aiohttp.ClientSession) -> Wire:
    """Raw requests signed by hand with the superadmin keypair."""
    return Wire(emulator, http)


@pytest.fixture
def user_wire(emulator: Emulator, http: aiohttp.ClientSession) -> Wire:
    """Raw requests signed by hand with the user keypair."""
    return Wire(emulator, http, access_key=USER_ACCESS_KEY, secret_key=USER_SECRET_KEY)


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
