"""Compute sessions on a manager without agents: they are queued and stay PENDING."""

from __future__ import annotations

import pytest

from backendai_aio import Client, NotFoundError

from ._support import IMAGE, destroy_quietly, session_name


async def test_enqueue_info_destroy(admin_client: Client) -> None:
    name = session_name()
    try:
        created = await admin_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
        assert created["sessionName"] == name
        assert created["status"] == "PENDING"
        assert created["created"] is True
        assert created["servicePorts"] == []
        assert isinstance(created["sessionId"], str) and created["sessionId"]

        info = await admin_client.get_info(name)
        assert info["status"] == "PENDING"
        # The alias `python` resolves to the canonical image reference the launcher loaded.
        assert info["image"] == "cr.backend.ai/stable/python:3.9-ubuntu20.04"
        assert info["numQueriesExecuted"] == 0
        assert info["terminationTime"] is None

        destroyed = await admin_client.destroy(name)
        assert destroyed == {"stats": {"status": "terminated"}}
        with pytest.raises(NotFoundError) as exc_info:
            await admin_client.get_info(name)
        assert exc_info.value.title == "No such session."
        with pytest.raises(NotFoundError):
            await admin_client.destroy(name)
    finally:
        await destroy_quietly(admin_client, name)


async def test_create_if_not_exists_reuses(admin_client: Client) -> None:
    name = session_name()
    try:
        first = await admin_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
        again = await admin_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
        assert first["created"] is True
        assert again["created"] is False
        assert again["sessionId"] == first["sessionId"]
        assert again["sessionName"] == name
        assert again["status"] == "PENDING"
    finally:
        await destroy_quietly(admin_client, name)


async def test_generated_name(admin_client: Client) -> None:
    created = await admin_client.create_if_not_exists(IMAGE, enqueue_only=True)
    name = created["sessionName"]
    try:
        assert created["created"] is True
        assert (await admin_client.get_info(name))["status"] == "PENDING"
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
