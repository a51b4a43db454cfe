"""App services of real sessions: what 26.9.6 with its dummy agent serves, and 23.09's 404.

The dummy agent's kernels (the release's kernel runner as a local process) declare no service
ports, and the stack has no app proxy: ``apps`` answers an empty list, ``start_service`` the
manager's 503 "No coordinator configured for this resource group", and ``shutdown_service``
204 (the manager passes it on without checking the app). The terminal's websocket opens, but
the runner serves no terminal: no output comes. 23.09 runs no agent here, so only the unknown
session's 404 is asked of it.
"""

from __future__ import annotations

import asyncio

import pytest

from backendai_aio import (
    Client,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    ReadTimeoutError,
)

from ._support import Release, session_name


async def test_an_unknown_sessions_apps_are_not_found(
    user_client: Client, release: Release
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await user_client.sessions.apps(session_name())
    slug, title = release.session_not_found
    assert caught.value.problem_type == f"https://api.backend.ai/probs/{slug}"
    assert caught.value.title == title


async def test_a_session_without_service_ports(user_client: Client, session: str) -> None:
    assert await user_client.sessions.apps(session) == []
    with pytest.raises(InvalidArgumentError, match=r"serves no app 'jupyter' \(it serves: none\)"):
        async with user_client.sessions.tunnel(session, app="jupyter"):
            pass


async def test_start_service_needs_an_app_proxy(user_client: Client, session: str) -> None:
    with pytest.raises(InternalServerError) as caught:
        await user_client.sessions.start_service(session, "jupyter", envs={"A": "1"})
    assert caught.value.status == 503
    assert caught.value.problem_type == "https://api.backend.ai/probs/service-unavailable"
    assert caught.value.msg == "No coordinator configured for this resource group"
    # Answered 204: nothing to return, nothing raised.
    await user_client.sessions.shutdown_service(session, "jupyter")


async def test_the_runner_serves_no_terminal_output(user_client: Client, session: str) -> None:
    async with asyncio.timeout(30), user_client.sessions.pty(session) as terminal:
        await terminal.resize(24, 80)
        await terminal.write("echo hello\n")
        with pytest.raises(ReadTimeoutError):
            await terminal.read_until(b"hello", timeout=3)
        assert not terminal.closed
    assert terminal.closed
