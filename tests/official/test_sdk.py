"""The official SDK's calls (its synchronous ``Session``) against the emulator."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from backendai_aio.emulator import USER_ACCESS_KEY

from .conftest import Target


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def test_session_lifecycle(target: Target, work: Path) -> None:
    name = _name("official")
    answers = target.call("session", work, name)
    assert (answers["created"], answers["created_again"]) == (True, False)
    # A variable defined by one execute is there for the next: one interpreter per session.
    assert answers["define"] == {**answers["define"], "status": "finished", "stdout": ""}
    assert (answers["use"]["status"], answers["use"]["stdout"]) == ("finished", "42\n")
    assert answers["error"]["stderr"].endswith("ValueError: boom\n")
    assert answers["read_uploaded"]["stdout"] == "hello from the official SDK\n"
    assert "hello.txt" in answers["files"]
    assert answers["downloaded"] == "made in the session\n"
    assert answers["info"]["status"] == "RUNNING"
    assert answers["info"]["image"].endswith("python:3.9-ubuntu20.04")
    assert answers["info"]["domainName"] == "default"
    assert answers["logs_type"] == "str"
    assert answers["destroyed"] is True
    # Destroyed: the CLI's listing no longer shows it.
    assert name not in target.backend_ai("ps").stdout


def test_folder_lifecycle(target: Target, work: Path) -> None:
    name = _name("official-folder")
    answers = target.call("folder", work, name)
    assert answers["created_name"] == name
    assert name in answers["listed"]
    assert answers["files"] == ["data.csv"]
    assert answers["downloaded"] == "a,b\n1,2\n"
    assert name not in answers["listed_after_delete"]


def test_presets(target: Target, work: Path) -> None:
    answers = target.call("presets", work, "-")
    assert "cpu01-small" in answers["names"]
    assert answers["checked_names"] == answers["names"]
    assert answers["has_remaining"] is True


def test_graphql_keypair_and_images(target: Target, work: Path) -> None:
    answers = target.call("graphql", work, "-")
    assert answers["keypair"] == {
        "access_key": "AKIAIOSFODNN7EXAMPLE",
        "is_admin": True,
        "is_active": True,
    }
    assert "stable/python" in answers["image_names"]


@pytest.mark.parametrize(
    ("password", "authenticated"), [("C8qnIo29", True), ("not-the-password", False)]
)
def test_webserver_login_over_http(
    target: Target, work: Path, password: str, authenticated: bool
) -> None:
    # 26.9 encrypts the login body over plain HTTP (``X-BackendAI-Encoded``); 23.9 sends JSON.
    answers = target.call("webserver", work, f"user@lablup.com:{password}")
    assert answers["authenticated"] is authenticated
    if not authenticated:
        # The emulator decrypted the body and checked the password it carried.
        assert answers["data"]["details"] == "User credential mismatch."
        return
    assert answers["data"]["access_key"] == USER_ACCESS_KEY
    # The calls after the login go through /func/ as the logged-in user.
    assert answers["keypair"] == {"access_key": USER_ACCESS_KEY, "is_admin": False}
    assert "cpu01-small" in answers["presets"]
    if target.sdk.version.startswith("26."):
        # A non-login call whose body the SDK's own encryption made: the emulator decrypts
        # it as the webserver does for every request marked X-BackendAI-Encoded.
        assert answers["encrypted_query"] == {
            "data": {"keypair": {"access_key": USER_ACCESS_KEY, "is_admin": False}}
        }
