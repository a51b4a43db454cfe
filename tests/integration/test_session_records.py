"""Session listing, status history, dependency graph and direct access on the real managers.

On 23.09 (no agent here) the sessions stay PENDING; 26.9's agent starts them (the ``session``
fixture waits for RUNNING). 23.09 has no ``/status-history`` route: the client reads the
history from GraphQL there.
"""

from __future__ import annotations

import pytest

from backendai_aio import Client, InvalidArgumentError, NotFoundError

from ._support import IMAGE, Release, destroy_quietly, session_name


async def test_list_shows_the_callers_session(user_client: Client, release: Release) -> None:
    name = session_name()
    try:
        created = await user_client.sessions.create(IMAGE, name, enqueue_only=True)
        entries = [entry async for entry in user_client.sessions.list(page_size=10)]
        mine = [entry for entry in entries if entry["name"] == name]
        assert len(mine) == 1, [entry["name"] for entry in entries]
        entry = mine[0]
        assert entry["id"] == created["sessionId"]
        assert entry["type"] == "INTERACTIVE"
        assert entry["image"] == "cr.backend.ai/stable/python:3.9-ubuntu20.04"
        assert entry["main_kernel_id"]
        assert entry["terminated_at"] is None
        # A status the session is not in filters it out.
        others = [e["name"] async for e in user_client.sessions.list(status="TERMINATED")]
        assert name not in others
    finally:
        await destroy_quietly(user_client, name)


async def test_list_checks_page_size_before_calling(user_client: Client) -> None:
    with pytest.raises(InvalidArgumentError):
        async for _ in user_client.sessions.list(page_size=101):
            pass


async def test_status_history_of_a_queued_session(user_client: Client, release: Release) -> None:
    name = session_name()
    try:
        await user_client.sessions.create(IMAGE, name, enqueue_only=True)
        history = await user_client.sessions.status_history(name)
        # Both releases record PENDING when the session is enqueued (an ISO 8601 time).
        assert "PENDING" in history
        assert history["PENDING"][:2] == "20"
    finally:
        await destroy_quietly(user_client, name)


async def test_status_history_of_a_running_session(user_client: Client, session: str) -> None:
    history = await user_client.sessions.status_history(session)
    assert {"PENDING", "SCHEDULED", "RUNNING"} <= set(history)
    assert history["PENDING"] <= history["RUNNING"]


async def test_status_history_of_an_unknown_session(user_client: Client) -> None:
    with pytest.raises(NotFoundError):
        await user_client.sessions.status_history(session_name())


async def test_direct_access_info_of_an_interactive_session(
    user_client: Client, release: Release
) -> None:
    name = session_name()
    try:
        await user_client.sessions.create(IMAGE, name, enqueue_only=True)
        # Only SYSTEM (private) sessions have direct access; others answer {}.
        assert await user_client.sessions.direct_access_info(name) == {}
    finally:
        await destroy_quietly(user_client, name)


async def test_dependency_graph_of_a_lone_session(user_client: Client, release: Release) -> None:
    name = session_name()
    try:
        created = await user_client.sessions.create(IMAGE, name, enqueue_only=True)
        graph = await user_client.sessions.dependency_graph(name)
        assert graph["session_id"] == created["sessionId"]
        assert graph["session_name"] == name
        assert graph["depends_on"] == []
        # The kernel status enum as each release prints it.
        prefix = "KernelStatus." if release.is_2309 else ""
        assert graph["status"].startswith(prefix)
        assert graph["status"].removeprefix(prefix).isupper()
    finally:
        await destroy_quietly(user_client, name)
