"""Server-sent events: session lifecycle events and background task events."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest

from backendai_aio.emulator import Emulator
from backendai_aio.emulator._sessions import REGISTRY_KEY, SessionRegistry

from .wire import PROBS, SSEvent, Wire, invalid, read_sse

CREATION = [
    "session_enqueued",
    "session_scheduled",
    "session_preparing",
    "kernel_preparing",
    "kernel_creating",
    "kernel_started",
    "session_started",
]
TERMINATION = [
    "session_terminating",
    "kernel_terminating",
    "kernel_terminated",
    "session_terminated",
]


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    return {"release": "23.09", "flush_window": 0.2, "sse_ping_interval": 0.3, "exec_timeout": 60.0}


async def events_until(
    response: aiohttp.ClientResponse, last: str, *, pings: list[str] | None = None
) -> list[SSEvent]:
    """Read events until one named *last*; collect the comments in *pings*."""
    seen: list[SSEvent] = []
    async with asyncio.timeout(5):
        async for item in read_sse(response):
            if isinstance(item, str):
                if pings is not None:
                    pings.append(item)
                continue
            seen.append(item)
            if item.event == last:
                return seen
    raise AssertionError(f"the stream ended before {last}: {seen}")


def registry_of(emulator: Emulator) -> SessionRegistry:
    return emulator._app[REGISTRY_KEY]


async def test_session_events_of_a_create_destroy_sequence(admin_wire: Wire) -> None:
    async with admin_wire.request("GET", "/events/session?name=evt-life") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        created = await admin_wire.create_session("evt-life")
        # Another session's events are not for this listener.
        await admin_wire.create_session("evt-other")
        status, _ = await admin_wire.call("DELETE", "/session/evt-life")
        assert status == 200
        events = await events_until(response, "session_terminated")
    assert [e.event for e in events] == CREATION + TERMINATION
    kernel_ids = set()
    for event in events:
        data = event.json()
        assert event.retry is None
        assert data["sessionName"] == "evt-life"
        assert data["sessionId"] == created["sessionId"]
        assert data["ownerAccessKey"] == admin_wire.access_key
        if event.event.startswith("kernel_"):
            assert list(data) == [
                "reason",
                "sessionName",
                "ownerAccessKey",
                "sessionId",
                "exitCode",
                "kernelId",
                "clusterRole",
                "clusterIdx",
            ]
            assert (data["clusterRole"], data["clusterIdx"]) == ("main", 1)
            kernel_ids.add(data["kernelId"])
        else:
            assert list(data) == [
                "reason",
                "sessionName",
                "ownerAccessKey",
                "sessionId",
                "exitCode",
            ]
    assert len(kernel_ids) == 1
    by_name = {e.event: e.json() for e in events}
    assert by_name["session_started"]["exitCode"] is None
    assert by_name["session_terminated"]["reason"] == "user-requested"
    assert by_name["kernel_terminated"]["exitCode"] == 137
    # Compact JSON, as the manager's serializer writes it.
    assert ", " not in events[0].data and '":"' in events[0].data


async def test_session_event_filters(admin_wire: Wire) -> None:
    async with (
        admin_wire.request("GET", "/events/session?scope=session") as sessions_only,
        admin_wire.request("GET", "/events/session?name=evt-scope&scope=kernel") as kernels_only,
    ):
        created = await admin_wire.create_session("evt-scope")
        async with admin_wire.request(
            "GET", f"/events/session?sessionId={created['sessionId']}&name=ignored"
        ) as by_id:
            await admin_wire.call("DELETE", "/session/evt-scope")
            events = await events_until(by_id, "session_terminated")
            assert [e.event for e in events] == TERMINATION
        events = await events_until(sessions_only, "session_terminated")
        assert [e.event for e in events] == [n for n in CREATION + TERMINATION if "session" in n]
        events = await events_until(kernels_only, "kernel_terminated")
        assert [e.event for e in events] == [n for n in CREATION + TERMINATION if "kernel" in n]


async def test_event_streams_ping_and_survive_renames(admin_wire: Wire) -> None:
    await admin_wire.create_session("evt-ren1")
    async with admin_wire.request("GET", "/events/session") as response:
        await admin_wire.call("POST", "/session/evt-ren1/rename", body={"name": "evt-ren2"})
        await asyncio.sleep(0.7)
        await admin_wire.call("DELETE", "/session/evt-ren2")
        pings: list[str] = []
        events = await events_until(response, "session_terminated", pings=pings)
    assert pings and set(pings) == {": ping"}
    assert {e.json()["sessionName"] for e in events} == {"evt-ren2"}


async def test_session_event_parameter_errors(admin_wire: Wire) -> None:
    status, body = await admin_wire.call("GET", "/events/session?scope=everything")
    assert (status, body["msg"]) == (400, "Input validation error")
    assert "scope" in body["data"]
    status, body = await admin_wire.call("GET", "/events/session?sessionId=not-a-uuid")
    assert (status, body["type"]) == (400, PROBS + "invalid-api-params")
    status, body = await admin_wire.call("GET", "/events/session?ownerAccessKey=AKIAOTHERUSER")
    assert (status, body["type"]) == (403, PROBS + "generic-forbidden")
    status, body = await admin_wire.call("GET", "/events/session?group=nowhere")
    assert (status, body["type"], body["title"]) == (
        404,
        PROBS + "object-not-found",
        "No such user group (or project).",
    )


async def test_client_leaving_ends_the_stream(admin_wire: Wire, emulator: Emulator) -> None:
    hub = registry_of(emulator).events
    async with admin_wire.request("GET", "/events/session") as response:
        assert response.status == 200
        await asyncio.sleep(0.1)
        assert hub.listeners == 1
    # The handler notices the disconnection by itself and lets go of its subscription.
    for _ in range(50):
        if hub.listeners == 0:
            break
        await asyncio.sleep(0.05)
    assert hub.listeners == 0


async def test_shutdown_ends_event_streams() -> None:
    emulator = Emulator()
    await emulator.start()
    try:
        async with aiohttp.ClientSession() as session:
            wire = Wire(emulator, session)
            await wire.create_session("evt-shutdown")
            status, body = await wire.call(
                "POST", "/emulator/bgtask", body={"steps": 1000, "interval": 0.05}
            )
            assert status == 200
            async with (
                wire.request("GET", "/events/session") as sessions,
                wire.request("GET", f"/events/background-task?task_id={body['task_id']}") as task,
            ):
                await events_until(task, "bgtask_updated")
                stopping = asyncio.create_task(emulator.stop())
                # Sessions are terminated first, so their events still reach the stream...
                events = await events_until(sessions, "session_terminated")
                assert events[-1].json()["reason"] == "agent-termination"
                # ...then the stream ends.
                assert await sessions.content.read() == b""
                # A running background task is cancelled, and its stream closes properly.
                events = await events_until(task, "server_close")
                assert [e.event for e in events[-2:]] == ["bgtask_cancelled", "server_close"]
                assert events[-2].json() == {"task_id": body["task_id"], "message": ""}
                assert await task.content.read() == b""
            await asyncio.wait_for(stopping, timeout=5)
    finally:
        await emulator.stop()


async def start_task(wire: Wire, **options: Any) -> str:
    status, body = await wire.call("POST", "/emulator/bgtask", body=options)
    assert status == 200, body
    assert list(body) == ["task_id"]
    return str(uuid.UUID(body["task_id"]))


async def task_events(wire: Wire, task_id: str) -> list[SSEvent]:
    async with wire.request("GET", f"/events/background-task?task_id={task_id}") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        events = await events_until(response, "server_close")
        # The stream ends after server_close.
        assert await response.content.read() == b""
    return events


async def test_background_task_events_to_the_end(admin_wire: Wire) -> None:
    task_id = await start_task(admin_wire, steps=3, interval=0.2)
    events = await task_events(admin_wire, task_id)
    assert [e.event for e in events] == [
        "bgtask_updated",
        "bgtask_updated",
        "bgtask_updated",
        "bgtask_done",
        "server_close",
    ]
    for step, event in enumerate(events[:3], start=1):
        assert event.retry == 5
        assert event.json() == {
            "task_id": task_id,
            "message": f"step {step}/3",
            "current_progress": float(step),
            "total_progress": 3.0,
        }
    assert events[3].retry is None
    assert events[3].json() == {"task_id": task_id, "message": ""}
    assert (events[4].data, events[4].retry) == ("{}", None)
    # Asking again after the end gives the final event at once.
    again = await task_events(admin_wire, task_id)
    assert [(e.event, e.data) for e in again] == [(e.event, e.data) for e in events[3:]]


@pytest.mark.parametrize(
    ("outcome", "event", "message"),
    [
        ("failed", "bgtask_failed", "_EmulatedFailure('the emulated task failed as asked')"),
        ("cancelled", "bgtask_cancelled", ""),
    ],
)
async def test_background_task_failure_and_cancellation(
    admin_wire: Wire, outcome: str, event: str, message: str
) -> None:
    task_id = await start_task(admin_wire, steps=1, interval=0.1, outcome=outcome)
    events = await task_events(admin_wire, task_id)
    assert [e.event for e in events][-2:] == [event, "server_close"]
    assert events[-2].json() == {"task_id": task_id, "message": message}


@pytest.mark.corrected_by_real_manager
async def test_background_task_errors(admin_wire: Wire) -> None:
    status, body = await admin_wire.call("GET", f"/events/background-task?task_id={uuid.uuid4()}")
    assert (status, body["type"]) == (404, PROBS + "bgtask-not-found")
    status, body = await admin_wire.call("GET", "/events/background-task?task_id=nope")
    # The real manager words it "cannot convert value to UUID", and refuses unknown keys.
    assert (status, body["data"]) == (400, {"task_id": "cannot convert value to UUID"})
    status, body = await admin_wire.call("GET", "/events/background-task?x=1")
    assert (status, body["data"]) == (
        400,
        {"task_id": "is required", "x": "x is not allowed key"},
    )
    status, body = await admin_wire.call("GET", "/events/background-task")
    assert (status, body["data"]) == (400, {"task_id": "is required"})
    status, body = await admin_wire.call(
        "POST", "/emulator/bgtask", body={"steps": 0, "outcome": "?"}
    )
    assert (status, body["msg"]) == (400, "Input validation error")
    assert set(body["data"]) == {"steps", "outcome"}


async def test_lists_and_objects_are_refused_where_text_goes(admin_wire: Wire) -> None:
    status, body = await admin_wire.call("GET", "/events/session", body={"scope": ["session"]})
    assert (status, body) == (400, invalid({"scope": "value doesn't match any variant"}))
    status, body = await admin_wire.call(
        "POST", "/emulator/bgtask", body={"outcome": ["done"], "steps": [1], "interval": {}}
    )
    assert (status, body) == (
        400,
        invalid(
            {
                "outcome": "value doesn't match any variant",
                "steps": "value is not int",
                "interval": "value is not float",
            }
        ),
    )
    status, body = await admin_wire.call(
        "POST", "/emulator/bgtask", body={"steps": 1001, "interval": -1, "x": 1}
    )
    assert (status, body) == (
        400,
        invalid(
            {
                "steps": "value is greater than 1000",
                "interval": "value is less than 0",
                "x": "x is not allowed key",
            }
        ),
    )
