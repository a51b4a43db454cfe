"""``client.sessions``: one namespace object, and the flat calls that delegate to it."""

from __future__ import annotations

import pytest

from backendai_aio import Client, NotFoundError, Sessions


def test_the_namespace_is_one_object_per_client(admin_client: Client) -> None:
    assert isinstance(admin_client.sessions, Sessions)
    assert admin_client.sessions is admin_client.sessions
    assert repr(admin_client.sessions) == f"<Sessions endpoint={str(admin_client.endpoint)!r}>"


@pytest.mark.parametrize(
    "name",
    [
        "run",
        "stream_execute",
        "upload",
        "download",
        "download_single",
        "download_single_to",
        "list_files",
        "list_entries",
        "rename",
    ],
)
def test_calls_that_moved_are_only_on_the_namespace(name: str) -> None:
    assert not hasattr(Client, name)
    assert callable(getattr(Sessions, name))


async def test_the_flat_calls_answer_as_the_namespace(admin_client: Client) -> None:
    created = await admin_client.sessions.create("python", "namespace-1")
    assert created["created"] is True
    again = await admin_client.create_if_not_exists("python", "namespace-1")
    assert (again["created"], again["sessionId"]) == (False, created["sessionId"])

    flat = await admin_client.execute("namespace-1", None, "query", "print(6 * 7)")
    step = await admin_client.sessions.execute("namespace-1", None, "query", "print(6 * 7)")
    assert flat["result"]["console"] == step["result"]["console"] == [["stdout", "42\n"]]

    info = await admin_client.sessions.info("namespace-1")
    assert info["status"] == "RUNNING"
    assert info["numQueriesExecuted"] == 2
    assert (await admin_client.get_info("namespace-1"))["image"] == info["image"]
    logs = await admin_client.sessions.logs("namespace-1")
    assert logs == await admin_client.get_logs("namespace-1")
    assert logs["result"]["logs"] == "42\n42\n"

    completion = await admin_client.sessions.complete("namespace-1", "pri")
    assert completion["result"]["completions"] == ["print("]

    await admin_client.sessions.destroy("namespace-1")
    with pytest.raises(NotFoundError):
        await admin_client.sessions.info("namespace-1")
