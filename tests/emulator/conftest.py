"""Fixtures of the emulator's wire-level tests: a running emulator and signed raw callers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from backendai_aio.emulator import USER_ACCESS_KEY, USER_SECRET_KEY, Emulator

from .wire import Wire


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    # The wire-level answers here were checked against a real 23.09 manager: its profile
    # gives them (test_emulator_releases.py covers what 26.9 answers otherwise).
    async with Emulator(release="23.09", flush_window=0.2, exec_timeout=10.0) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def admin(emulator: Emulator, http: aiohttp.ClientSession) -> Wire:
    return Wire(emulator, http)


@pytest.fixture
def user(emulator: Emulator, http: aiohttp.ClientSession) -> Wire:
    return Wire(emulator, http, access_key=USER_ACCESS_KEY, secret_key=USER_SECRET_KEY)
