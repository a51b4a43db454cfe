"""Many session event streams on one client: closing them leaves no connection behind.

Connections are this process's sockets whose remote port is the emulator's, read from
``/proc/net/tcp*`` (Linux only; elsewhere these tests are skipped).
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from backendai_aio import BackendError, Client, Timeout
from backendai_aio.emulator import Emulator
from benchmarks.stream_client import StreamSet, connections_to, wait_no_connections

STREAMS = 50

pytestmark = pytest.mark.skipif(connections_to(1) is None, reason="needs /proc/net/tcp")


def _port(emulator: Emulator) -> int:
    port = emulator.config.endpoint_urls[0].port
    assert port is not None
    return port


async def test_closing_many_streams_leaves_no_connection(emulator: Emulator) -> None:
    port = _port(emulator)
    async with Client(emulator.config) as client:
        streams = StreamSet(client, STREAMS)
        await streams.open(timeout=20.0)
        assert len(streams.streams) == STREAMS
        assert not streams.failures
        assert connections_to(port) == STREAMS
        async with Client(emulator.config) as control:
            await control.create_if_not_exists("python", "scale-1")
        assert await streams.wait_for_events(10.0) == STREAMS
        await streams.close(timeout=10.0)
        assert await wait_no_connections(port) == 0
        # The client stays usable after its streams are gone.
        info = await client.get_info("scale-1")
        assert info is not None


async def test_closing_the_client_ends_its_streams_and_connections(emulator: Emulator) -> None:
    port = _port(emulator)
    client = Client(emulator.config)
    streams = StreamSet(client, STREAMS)
    await streams.open(timeout=20.0)
    assert len(streams.streams) == STREAMS
    await client.close()
    async with asyncio.timeout(10):
        await streams.close(timeout=10.0)
    assert await wait_no_connections(port) == 0


async def test_a_call_when_streams_fill_the_pool_fails_within_its_connect_timeout(
    emulator: Emulator,
) -> None:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2))
    try:
        async with Client(emulator.config, session=session) as client:
            streams = StreamSet(client, 2)
            await streams.open(timeout=10.0)
            assert len(streams.streams) == 2
            try:
                async with asyncio.timeout(3):
                    with pytest.raises(BackendError):
                        await client.get_info("nothing", timeout=Timeout(connect=0.5, read=5))
            finally:
                await streams.close(timeout=5.0)
    finally:
        await session.close()
