"""Many session event streams on one client: what each costs, and what closing leaves.

``python -m benchmarks.stream_client --endpoint URL --streams 1000 --connector default``
opens that many ``Client.events.session()`` streams at once on one :class:`Client`, each
followed by a task of its own (as an application would), against the emulator; it then
starts one compute session so that every stream must deliver an event, closes every stream
with ``EventStream.close()``, and prints one JSON line: how many opened and in how long,
the growth of the process's RSS per open stream, whether every stream saw the event, and
the client's TCP connections to the server before and after the close.

``--connector default`` is the client as created (aiohttp's pool of 100 connections: the
streams beyond it wait for a free connection, bounded here by ``--open-timeout``);
``--connector unlimited`` injects an ``aiohttp.ClientSession`` whose connector has no limit.
Connections are read from ``/proc/net/tcp*`` (Linux): sockets of this process whose remote
port is the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import sys
import time
from typing import Any

import aiohttp

from backendai_aio import Client, ClientConfig, EventStream
from benchmarks.common import ACCESS_KEY, SECRET_KEY, read_memory_status

_CLOSED_STATES = {"06", "07", "0A"}  # TIME_WAIT, CLOSE, LISTEN: no connection held


def _own_socket_inodes() -> set[str]:
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def connections_to(port: int) -> int | None:
    """Count this process's TCP connections to remote port *port* (``None``: not Linux)."""
    inodes = _own_socket_inodes()
    count = 0
    found = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as file:
                lines = file.read().splitlines()[1:]
        except OSError:
            continue
        found = True
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] not in _CLOSED_STATES and fields[9] in inodes:
                count += 1
    return count if found else None


class StreamSet:
    """*count* session event streams on *client*, each read by a task of its own."""

    def __init__(self, client: Client, count: int) -> None:
        self._client = client
        self.count = count
        self.streams: list[EventStream] = []
        self.received = [0] * count
        self.failures: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._open_tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def _follow(self, index: int) -> None:
        try:
            async with self._client.events.session() as stream:
                self.streams.append(stream)
                task = asyncio.current_task()
                if task is not None:
                    self._open_tasks.add(task)
                if self._closing:  # opened while the others were being closed
                    stream.close()
                async for _event in stream:
                    self.received[index] += 1
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}"[:300])

    async def open(self, timeout: float) -> float:
        """Start every stream; wait until all are open or *timeout*; return the seconds."""
        started = time.perf_counter()
        self._tasks = [asyncio.create_task(self._follow(i)) for i in range(self.count)]
        deadline = started + timeout
        while len(self.streams) + len(self.failures) < self.count:
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.01)
        return time.perf_counter() - started

    async def wait_for_events(self, timeout: float) -> int:
        """Wait until every open stream received an event; return how many did."""
        deadline = time.perf_counter() + timeout
        while sum(1 for n in self.received if n) < len(self.streams):
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.01)
        return sum(1 for n in self.received if n)

    async def close(self, timeout: float = 30.0) -> float:
        """Close every stream (tasks still waiting to open are cancelled); return seconds."""
        started = time.perf_counter()
        self._closing = True
        for task in self._tasks:
            if not task.done() and task not in self._open_tasks:
                task.cancel()  # still waiting for a connection from the pool
        for stream in self.streams:
            stream.close()
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), timeout)
        return time.perf_counter() - started


async def wait_no_connections(port: int, timeout: float = 5.0, at_most: int = 0) -> int | None:
    """Wait until this process holds at most *at_most* connections to *port*; return them."""
    deadline = time.perf_counter() + timeout
    count = connections_to(port)
    while count is not None and count > at_most and time.perf_counter() < deadline:
        await asyncio.sleep(0.02)
        count = connections_to(port)
    return count


async def _blocked_call(client: Client, seconds: float) -> str:
    """Try one plain call on *client*; describe how it went within *seconds*."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            await client.get_info("stream-scale")
    except TimeoutError:
        return f"still waiting for a connection after {seconds:g} s"
    except Exception as exc:
        return f"answered in {time.perf_counter() - started:.2f} s ({type(exc).__name__})"
    return f"answered in {time.perf_counter() - started:.2f} s"


async def measure(endpoint: str, count: int, connector: str, open_timeout: float) -> dict[str, Any]:
    """Open *count* streams on one client, make them deliver an event, close them.

    The compute session whose events the streams must deliver is started by a second,
    short-lived client, so that a pool the streams fill does not hold it up and its
    connection is gone before this process's connections are counted again.
    """
    config = ClientConfig(ACCESS_KEY, SECRET_KEY, endpoint)
    port = config.endpoint_urls[0].port or 80
    session = None
    if connector == "unlimited":
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    try:
        async with Client(config, session=session) as client:
            await client.get_server_version()
            pool = client.http_session.connector if client.http_session is not None else None
            limit = pool.limit if pool is not None else None
            connections_before = connections_to(port)
            gc.collect()
            baseline = read_memory_status().get("VmRSS", 0)
            streams = StreamSet(client, count)
            open_seconds = await streams.open(open_timeout)
            gc.collect()
            rss_open = read_memory_status().get("VmRSS", 0)
            opened = len(streams.streams)
            connections_open = connections_to(port) or 0
            plain_call = await _blocked_call(client, 3.0)
            # What the client holds beyond its streams: the plain call's pooled connection.
            others = (connections_to(port) or 0) - connections_open
            async with Client(config) as control:
                await control.create_if_not_exists("python", "stream-scale")
            delivered = await streams.wait_for_events(30.0)
            close_seconds = await streams.close()
            connections_after = await wait_no_connections(port, at_most=others)
    finally:
        if session is not None:
            await session.close()
    connections_after_client = await wait_no_connections(port)
    async with Client(config) as control:
        await control.destroy("stream-scale")
    return {
        "connector": connector,
        "connector_limit": limit,
        "streams": count,
        "opened": opened,
        "open_seconds": open_seconds,
        "failures": len(streams.failures),
        "first_failure": streams.failures[0] if streams.failures else "",
        "rss_growth": rss_open - baseline,
        "rss_per_stream": (rss_open - baseline) / opened if opened else None,
        "plain_call_while_open": plain_call,
        "delivered": delivered,
        "connections_before": connections_before,
        "connections_other": others,
        "connections_open": connections_open,
        "close_seconds": close_seconds,
        "connections_after_close": connections_after,
        "connections_after_client_close": connections_after_client,
    }


def main(argv: list[str] | None = None) -> None:
    """Measure once and print the JSON line."""
    parser = argparse.ArgumentParser(description="Many session event streams on one client.")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--connector", choices=("default", "unlimited"), default="default")
    parser.add_argument("--open-timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.endpoint, args.streams, args.connector, args.open_timeout))
    sys.stdout.write(json.dumps({"ok": True, **result}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
