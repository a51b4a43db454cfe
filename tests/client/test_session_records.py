"""``client.sessions``: listing, status history, commits, task logs and templates.

Each test runs against both release profiles of the emulator; where the releases differ
(23.09 has no status-history nor imagify route) the client's answer is the same or says why.
"""

from __future__ import annotations

import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from backendai_aio import Client, InvalidArgumentError, NotFoundError, NotSupportedError

pytestmark = pytest.mark.parametrize("emulator_options", ["23.09", "26.9"], indirect=True)


@pytest.fixture
def emulator_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"release": request.param}


async def test_list_pages_through_every_session(client: Client) -> None:
    for index in range(3):
        await client.sessions.create("python", f"listed-{index}")
    await client.sessions.destroy("listed-0")
    entries = [entry async for entry in client.sessions.list(page_size=1)]
    names = [entry["name"] for entry in entries]
    # The newest first, a terminated one still listed with its last status.
    assert names == ["listed-2", "listed-1", "listed-0"]
    assert [entry["status"] for entry in entries] == ["RUNNING", "RUNNING", "TERMINATED"]
    assert all(uuid.UUID(entry["main_kernel_id"]) for entry in entries)
    running = [e["name"] async for e in client.sessions.list(status="RUNNING")]
    assert running == ["listed-2", "listed-1"]
    over = [e["name"] async for e in client.sessions.list(status=["TERMINATED", "CANCELLED"])]
    assert over == ["listed-0"]


async def test_list_checks_its_page_size(client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="page_size"):
        async for _ in client.sessions.list(page_size=0):
            pass


async def test_status_history_records_each_change(client: Client) -> None:
    await client.sessions.create("python", "history-1")
    history = await client.sessions.status_history("history-1")
    assert list(history)[:3] == ["PENDING", "SCHEDULED", "PREPARING"]
    assert "RUNNING" in history and "TERMINATED" not in history
    assert sorted(history.values()) == list(history.values())
    await client.sessions.destroy("history-1")
    # The terminated session stays listed, with its last status.
    terminated = [e["name"] async for e in client.sessions.list(status="TERMINATED")]
    assert terminated == ["history-1"]


async def test_status_history_of_an_unknown_session(client: Client) -> None:
    with pytest.raises(NotFoundError):
        await client.sessions.status_history("no-such-session")


async def test_dependency_graph_and_direct_access(client: Client, emulator: Any) -> None:
    created = await client.sessions.create("python", "graph-1")
    graph = await client.sessions.dependency_graph("graph-1")
    assert graph["session_id"] == created["sessionId"]
    assert graph["session_name"] == "graph-1"
    assert graph["depends_on"] == []
    expected = "KernelStatus.RUNNING" if emulator.release == "23.09" else "RUNNING"
    assert graph["status"] == expected
    assert await client.sessions.direct_access_info("graph-1") == {}


async def test_commit_writes_the_work_folder(client: Client) -> None:
    await client.sessions.create("python", "commit-1")
    await client.sessions.run("commit-1", "open('kept.txt', 'w').write('committed')")
    commit = await client.sessions.commit("commit-1")
    async with client.events.background_task(commit["bgtask_id"]) as events:
        async for event in events:
            if event.name != "bgtask_updated":
                assert event.name == "bgtask_done"
                break
    status = await client.sessions.commit_status("commit-1")
    assert status["status"] == "ready"
    assert status["kernel"] == commit["kernel"]
    path = Path(commit["path"])
    assert path.name.endswith(".tar.gz") and "_commit-1_" in path.name
    with tarfile.open(path) as archive:
        member = archive.extractfile("./kept.txt")
        assert member is not None
        assert member.read() == b"committed"


async def test_imagify_runs_a_background_task(client: Client, emulator: Any) -> None:
    await client.sessions.create("python", "imagify-1")
    if emulator.release == "23.09":
        with pytest.raises(NotSupportedError, match=r"24\.03"):
            await client.sessions.imagify("imagify-1", "my-python")
        return
    task_id = await client.sessions.imagify("imagify-1", "my-python")
    seen, message = [], ""
    async with client.events.background_task(task_id) as events:
        async for event in events:
            seen.append(event.name)
            if event.name != "bgtask_updated":
                message = event.data["message"]
                break
    assert seen[-1] == "bgtask_done"
    assert "customized_" in message


async def test_task_logs_stream_what_the_session_printed(client: Client) -> None:
    await client.sessions.create("python", "batch-1")
    await client.sessions.run("batch-1", "print('é' * 5000)")
    async with client.sessions.task_logs("batch-1") as chunks:
        text = "".join([chunk async for chunk in chunks])
    assert text == "é" * 5000 + "\n"


async def test_create_from_template_with_overrides(client: Client) -> None:
    template = {
        "api_version": "6",
        "kind": "taskTemplate",
        "metadata": {"name": "py-template"},
        "spec": {"kernel": {"image": "python:3.11", "environ": {"FROM": "template"}}},
    }
    template_id = (await client.templates.create(template))[0]["id"]
    created = await client.sessions.create_from_template(
        template_id, "templated-1", environ={"EXTRA": "override"}
    )
    assert (created["sessionName"], created["status"]) == ("templated-1", "RUNNING")
    info = await client.sessions.info("templated-1")
    assert info["image"] == "python:3.11"
    # The template's environment, with the call's added (the info shows the stored text).
    assert info["environ"] == repr({"FROM": "template", "EXTRA": "override"})


async def test_create_from_an_unknown_template(client: Client) -> None:
    with pytest.raises(NotFoundError):
        await client.sessions.create_from_template(uuid.uuid4().hex, "templated-2")
