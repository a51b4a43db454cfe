"""Shared values and helpers of the integration tier."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

from backendai_aio import BackendError, Client, ExecuteAnswer, NotFoundError
from backendai_aio._middleware import SigningMiddleware

#: The release's example keypairs (public fixtures of Backend.AI, loaded by the launcher).
ADMIN_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
ADMIN_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
USER_ACCESS_KEY = "AKIANABBDUSEREXAMPLE"
USER_SECRET_KEY = "C8qnIo29EZvXkPK_MXcuAakYTy4NYrxwmCEyNPlf"

PROBS = "https://api.backend.ai/probs/"
#: The one image row the launcher loads (``mgr image rescan`` would need the internet).
IMAGE = "python"


@dataclass(frozen=True)
class Release:
    """A release the tier runs against, and what it answers where releases differ."""

    key: str  # the launcher's `--release`
    endpoint: str  # loopback only: the launcher binds every daemon to 127.0.0.1
    api_version: str
    manager_version: str
    #: Whether an agent runs (26.9's dummy backend): sessions then reach RUNNING.
    has_agent: bool
    #: The 404 of an unknown session: (problem slug, title).
    session_not_found: tuple[str, str]
    #: The storage proxy's client-facing port (uploads and downloads go there directly).
    storage_proxy_port: int

    @property
    def is_2309(self) -> bool:
        """The older release (no agent; 23.09's error bodies)."""
        return self.key == "23.09"

    def session_not_found_msg(self, name: str) -> str:
        """The ``msg`` of an unknown session's 404: 23.09 quotes the name back, 26.9 not."""
        return (
            f"Session (id={name}) does not exist."
            if self.is_2309
            else ("No SessionRow matches the given key")
        )


RELEASES = {
    "23.09": Release(
        key="23.09",
        endpoint="http://127.0.0.1:8091",
        api_version="v7.20230615",
        manager_version="23.09.10",
        has_agent=False,
        session_not_found=("object-not-found", "No such session."),
        storage_proxy_port=6021,
    ),
    "26.9": Release(
        key="26.9",
        endpoint="http://127.0.0.1:9091",
        api_version="v9.20250722",
        manager_version="26.9.6",
        has_agent=True,
        session_not_found=("entity-not-found", "Entity not found."),
        storage_proxy_port=9021,
    ),
}


def session_name() -> str:
    """A fresh session name: runs sharing a long-lived manager must never collide."""
    return f"aio-it-{secrets.token_hex(6)}"


def assert_restart_unsupported(error: BaseException) -> None:
    """26.9 answers every restart with 501: the caller learns that, and what to do instead.

    Whether the client sends the call (and relays the 501) or refuses it itself knowing the
    release, the error is a BackendError that says restarts are not supported any more.
    """
    assert isinstance(error, BackendError)
    assert error.status in (501, None)
    assert "no longer supported" in str(error).lower()


async def destroy_quietly(client: Client, name: str) -> None:
    """Destroy a session the test created, whether or not it still exists.

    Used in ``finally`` blocks: a test that already destroyed its session (or failed before
    creating it) must not hide its own outcome behind a 404 here.
    """
    with contextlib.suppress(NotFoundError):
        await client.destroy(name, forced=True)


#: How long a new session may take to reach RUNNING (about 12 s on an idle machine).
RUNNING_TIMEOUT = 60.0
#: Each step of a run (the runner answers within a second or two on 2 cores).
STEP_TIMEOUT = 60.0


async def until_done(client: Client, name: str, answer: ExecuteAnswer) -> dict[str, Any]:
    """Follow ``continued`` answers with ``continue`` calls until the run is not running."""
    result = answer["result"]
    console = list(result.get("console") or [])
    while result["status"] == "continued":
        answer = await asyncio.wait_for(
            client.execute(name, result["runId"], "continue", ""), STEP_TIMEOUT
        )
        result = answer["result"]
        console += result.get("console") or []
    return {**result, "console": console}


async def query(client: Client, name: str, code: str) -> dict[str, Any]:
    """Run *code* in query mode to its end; the last answer with the whole console."""
    answer = await asyncio.wait_for(client.execute(name, None, "query", code), STEP_TIMEOUT)
    return await until_done(client, name, answer)


def signer_of(client: Client) -> SigningMiddleware:
    """The signing middleware of a keypair client (reached inside, to skew its clock)."""
    signer = client._transport.auth.signer
    assert signer is not None
    return signer
