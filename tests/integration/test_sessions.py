"""Queued compute sessions: they stay PENDING on 23.09 (no agent), 26.9's agent starts them."""

from __future__ import annotations

import asyncio

import pytest

from backendai_aio import Client, NotFoundError

from ._support import IMAGE, Release, destroy_quietly, session_name

#: Where a session created with `enqueue_only` may be when first looked at on 26.9.
STARTING = frozenset({"PENDING", "SCHEDULED", "PREPARING", "PULLING", "PREPARED", "CREATING"})


async def wait_gone(client: Client, name: str, timeout: float = 30.0) -> NotFoundError:
    """Look the session up until it is unknown (bounded); return that NotFoundError."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            info = await client.get_info(name)
        except NotFoundError as exc:
            return exc
        # Any status for a moment (26.9 may still show the scheduler's SCHEDULED): the
        # destroy is carried out when the scheduler gets to it; gone within the bound.
        assert asyncio.get_running_loop().time() < deadline, f"{name} still {info['status']}"
        await asyncio.sleep(0.5)


def queued(release: Release) -> frozenset[str]:
    """The statuses a just-queued session may show on the release."""
    return frozenset({"PENDING"}) if release.is_2309 else STARTING


async def test_enqueue_info_destroy(admin_client: Client, release: Release) -> None:
    name = session_name()
    try:
        created = await admin_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
        assert created["sessionName"] == name
        assert created["status"] == "PENDING"
        assert created["created"] is True
        assert created.get("servicePorts") == []
        assert isinstance(created["sessionId"], str) and created["sessionId"]

        info = await admin_client.get_info(name)
        # 26.9's agent schedules it at once: it may have left PENDING already.
        assert info["status"] in queued(release)
        # The alias `python` resolves to the canonical image reference the launcher loaded.
        assert info["image"] == "cr.backend.ai/stable/python:3.9-ubuntu20.04"
        assert info["numQueriesExecuted"] == 0
        assert info["terminationTime"] is None

        destroyed = await admin_client.destroy(name)
        # 23.09 says "terminated" of a pending session; 26.9 "cancelled" (still pending) or
        # "terminated" (already scheduled).
        statuses = {"terminated"} if release.is_2309 else {"cancelled", "terminated"}
        assert destroyed["stats"]["status"] in statuses
        # A scheduled session is TERMINATING for a moment before it is gone.
        exc_info = await wait_gone(admin_client, name)
        assert exc_info.title == release.session_not_found[1]
        with pytest.raises(NotFoundError):
            await admin_client.destroy(name)
    finally:
        await destroy_quietly(admin_client, name)


async def test_create_if_not_exists_reuses(admin_client: Client, release: Release) -> None:
    name = session_name()
    try:
        first = await admin_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
        again = await admin_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
        assert first["created"] is True
        assert again["created"] is False
        assert again["sessionId"] == first["sessionId"]
        assert again["sessionName"] == name
        assert again["status"] in queued(release)
    finally:
        await destroy_quietly(admin_client, name)


async def test_generated_name(admin_client: Client, release: Release) -> None:
    created = await admin_client.create_if_not_exists(IMAGE, enqueue_only=True)
    name = created["sessionName"]
    try:
        assert created["created"] is True
        assert (await admin_client.get_info(name))["status"] in queued(release)
    finally:
        await destroy_quietly(admin_client, name)


async def test_sessions_belong_to_their_keypair(admin_client: Client, user_client: Client) -> None:
    name = session_name()
    try:
        admins = await admin_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
        # Session names are per owner: the user neither sees the admin's session nor
        # reuses it, but gets one of their own under the same name.
        with pytest.raises(NotFoundError):
            await user_client.get_info(name)
        users = await user_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
        assert users["created"] is True
        assert users["sessionId"] != admins["sessionId"]
        user_info = await user_client.get_info(name)
        admin_info = await admin_client.get_info(name)
        assert user_info["userId"] != admin_info["userId"]
    finally:
        await destroy_quietly(user_client, name)
        await destroy_quietly(admin_client, name)
