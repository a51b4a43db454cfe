"""Sessions that reach RUNNING: 26.9.6 with its dummy agent (23.09 has no agent here).

The dummy agent starts no container; the launcher gives each kernel the release's own kernel
runner as a local process instead (``test_execute.py`` runs code through it). Its logs are the
runner's console. The launcher's keep-alive patch makes the agent report each running kernel
as a live container; without it the agent's cleaner drops every session about 60 s after it
started.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator

import pytest

from backendai_aio import BackendError, Client, Event, SessionInfo

from ._support import (
    IMAGE,
    Release,
    assert_restart_unsupported,
    destroy_quietly,
    session_name,
)

#: Bounds: sessions reach RUNNING about 12 s after the create call on 2 cores.
RUNNING_TIMEOUT = 60.0
#: Longer than the agent's kernel-registry cleaner period (60 s).
SURVIVES_CLEANER = 65.0


@pytest.fixture
def agent_release(release: Release) -> Release:
    """The release, if an agent runs beside its manager (else the test is skipped)."""
    if not release.has_agent:
        pytest.skip(f"{release.manager_version} runs no agent here: sessions stay PENDING")
    return release


async def wait_status(
    client: Client, name: str, wanted: str, timeout: float = RUNNING_TIMEOUT
) -> SessionInfo:
    """Poll the session's info until its status is *wanted* (bounded); return the info."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        info = await client.get_info(name)
        if info["status"] == wanted:
            return info
        assert info["status"] not in {"ERROR", "CANCELLED", "TERMINATED"}, info
        assert loop.time() < deadline, f"{name} is {info['status']} after {timeout:.0f}s"
        await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def running_session(client: Client) -> AsyncIterator[str]:
    """A session created for one test, RUNNING when yielded, destroyed afterwards."""
    name = session_name()
    try:
        await client.create_if_not_exists(IMAGE, name, enqueue_only=True)
        await wait_status(client, name, "RUNNING")
        yield name
    finally:
        await destroy_quietly(client, name)


async def test_lifecycle_and_its_events(user_client: Client, agent_release: Release) -> None:
    name = session_name()
    seen: list[Event] = []

    async def collect(events: AsyncIterable[Event], until: str) -> None:
        async for event in events:
            # Filtered here as well: which events a server sends for a name varies by release.
            if event.data.get("sessionName") == name:
                seen.append(event)
                if event.name == until:
                    return

    try:
        async with user_client.events.session(name=name) as events:
            created = await user_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
            await asyncio.wait_for(collect(events, "session_started"), RUNNING_TIMEOUT)
            info = await user_client.get_info(name)
            assert info["status"] == "RUNNING"
            assert info["image"] == "cr.backend.ai/stable/python:3.9-ubuntu20.04"
            assert info["terminationTime"] is None

            destroyed = await user_client.destroy(name)
            assert destroyed == {"stats": {"status": "terminated"}}
            await asyncio.wait_for(collect(events, "session_terminated"), RUNNING_TIMEOUT)
    finally:
        await destroy_quietly(user_client, name)
    kinds = [event.name for event in seen]
    for kind in ("kernel_started", "session_started", "kernel_terminated", "session_terminated"):
        assert kind in kinds, kinds
    assert kinds.index("session_started") < kinds.index("kernel_terminated")
    assert kinds[-1] == "session_terminated"
    for event in seen:
        assert event.data["sessionId"] == created["sessionId"]
        assert event.data["ownerAccessKey"] == "AKIANABBDUSEREXAMPLE"
    # The user asks; the scheduler carries it out and says so.
    assert seen[-1].data["reason"] == "triggered-by-scheduler"


async def test_calls_on_a_running_session(user_client: Client, agent_release: Release) -> None:
    async with running_session(user_client) as name:
        # The runner's console: it says which container services it could not start.
        logs = await user_client.get_logs(name)
        assert set(logs) == {"result"} and set(logs["result"]) == {"logs"}
        assert "python-kernel" in logs["result"]["logs"]
        # The 26.9.6 python runner implements no completion: an empty list, finished.
        completed = await user_client.complete(name, "pri")
        assert completed == {"result": {"status": "finished", "error": None, "suggestions": []}}
        await user_client.interrupt(name)  # an empty answer
        await user_client.sessions.upload(name, {"hello.txt": b"hello\n"})
        info = await user_client.get_info(name)
        assert info["status"] == "RUNNING"


async def test_running_session_outlives_the_agents_cleaner(
    user_client: Client, agent_release: Release
) -> None:
    async with running_session(user_client) as name:
        await asyncio.sleep(SURVIVES_CLEANER)
        assert (await user_client.get_info(name))["status"] == "RUNNING"


async def test_two_running_sessions_are_kept_apart(
    user_client: Client, agent_release: Release
) -> None:
    async with running_session(user_client) as first, running_session(user_client) as second:
        first_info = await user_client.get_info(first)
        second_info = await user_client.get_info(second)
        assert first_info["status"] == second_info["status"] == "RUNNING"
        await user_client.destroy(first)
        assert (await user_client.get_info(second))["status"] == "RUNNING"


async def test_restart_is_refused_with_what_to_do(
    user_client: Client, agent_release: Release
) -> None:
    async with running_session(user_client) as name:
        with pytest.raises(BackendError) as exc_info:
            await user_client.restart(name)
        assert_restart_unsupported(exc_info.value)
        # Refused, not half-done: the session runs on.
        assert (await user_client.get_info(name))["status"] == "RUNNING"
