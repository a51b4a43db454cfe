"""Shared values and helpers of the integration tier."""

from __future__ import annotations

import contextlib
import secrets

from backendai_aio import Client, NotFoundError

#: Loopback only: the launcher binds the manager to 127.0.0.1.
ENDPOINT = "http://127.0.0.1:8091"
#: The release's example keypairs (public fixtures of Backend.AI, loaded by the launcher).
ADMIN_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
ADMIN_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
USER_ACCESS_KEY = "AKIANABBDUSEREXAMPLE"
USER_SECRET_KEY = "C8qnIo29EZvXkPK_MXcuAakYTy4NYrxwmCEyNPlf"

PROBS = "https://api.backend.ai/probs/"
#: The one image row the launcher loads (``mgr image rescan`` would need the internet).
IMAGE = "python"
#: What the manager behind the launcher reports.
API_VERSION = "v7.20230615"
MANAGER_VERSION = "23.09.10"


def session_name() -> str:
    """A fresh session name: runs sharing a long-lived manager must never collide."""
    return f"aio-it-{secrets.token_hex(6)}"


async def destroy_quietly(client: Client, name: str) -> None:
    """Destroy a session the test created, whether or not it still exists.

    Used in ``finally`` blocks: a test that already destroyed its session (or failed before
    creating it) must not hide its own outcome behind a 404 here.
    """
    with contextlib.suppress(NotFoundError):
        await client.destroy(name, forced=True)
