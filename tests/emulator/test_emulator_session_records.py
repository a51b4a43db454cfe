"""The emulator's session record routes on the wire, as each release answers them."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from backendai_aio.emulator import Emulator

from ..conftest import make_emulator
from .wire import PROBS, Wire


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    # The routes 23.09 lacks are checked on an emulator of their own below.
    return {"release": "26.9", "flush_window": 0.2}


async def _wire_for(release: str, http: aiohttp.ClientSession) -> tuple[Emulator, Wire]:
    emulator = make_emulator(release=release)
    await emulator.start()
    return emulator, Wire(emulator, http)


async def test_23_09_has_no_status_history_nor_imagify(http: aiohttp.ClientSession) -> None:
    emulator, wire = await _wire_for("23.09", http)
    try:
        await wire.create_session("old-release")
        status, body = await wire.call("GET", "/session/old-release/status-history")
        assert (status, body["type"]) == (404, PROBS + "url-not-found")
        status, body = await wire.call(
            "POST", "/session/old-release/imagify", body={"image_name": "x"}
        )
        assert (status, body["type"]) == (404, PROBS + "url-not-found")
    finally:
        await emulator.stop()


async def test_status_history_on_26_9(admin_wire: Wire) -> None:
    await admin_wire.create_session("history-wire")
    status, body = await admin_wire.call("GET", "/session/history-wire/status-history")
    assert status == 200
    assert list(body) == ["PENDING", "SCHEDULED", "PREPARING", "RUNNING"]


async def test_commit_refuses_a_session_not_running(admin_wire: Wire) -> None:
    await admin_wire.create_session("commit-wire")
    status, body = await admin_wire.call("GET", "/session/commit-wire/commit")
    assert (status, body["status"]) == (200, "ready")
    status, body = await admin_wire.call("DELETE", "/session/commit-wire")
    assert status == 200
    status, body = await admin_wire.call("POST", "/session/commit-wire/commit")
    assert status == 404  # a destroyed session is no longer found by name


async def test_imagify_checks_its_body(admin_wire: Wire) -> None:
    await admin_wire.create_session("imagify-wire")
    status, body = await admin_wire.call(
        "POST", "/session/imagify-wire/imagify", body={"image_name": "bad name!"}
    )
    assert (status, body["type"]) == (400, PROBS + "invalid-api-params")
    status, body = await admin_wire.call(
        "POST",
        "/session/imagify-wire/imagify",
        body={"image_name": "ok", "image_visibility": "project"},
    )
    assert (status, body["msg"]) == (400, "Unsupported visibility scope project")


async def test_task_logs_by_kernel_id(admin_wire: Wire) -> None:
    await admin_wire.create_session("logs-wire")
    assert await admin_wire.run("logs-wire", "print('logged')") == "logged\n"
    query = "{ compute_session_list(limit: 5, offset: 0) { items { main_kernel_id } } }"
    status, listing = await admin_wire.call("POST", "/admin/gql", body={"query": query})
    assert status == 200
    kernel_id = listing["data"]["compute_session_list"]["items"][0]["main_kernel_id"]
    async with admin_wire.request("GET", f"/session/_/logs?taskId={kernel_id}") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert await response.text() == "logged\n"
    status, body = await admin_wire.call(
        "GET", "/session/_/logs?session_name=00000000-0000-0000-0000-000000000000"
    )
    assert (status, body["type"]) == (404, PROBS + "object-not-found")
    status, body = await admin_wire.call("GET", "/session/_/logs?session_name=nope")
    assert (status, body["type"]) == (400, PROBS + "invalid-api-params")
