"""Session events from the real manager, for a session that stays pending (no agent runs)."""

from __future__ import annotations

import asyncio

from backendai_aio import Client, Event

from ._support import IMAGE, destroy_quietly, session_name

_ENDINGS = frozenset({"kernel_cancelled", "session_cancelled", "session_terminated"})


async def test_events_of_a_pending_session(user_client: Client) -> None:
    name = session_name()
    seen: list[Event] = []
    try:
        async with user_client.events.session(name=name) as events:
            created = await user_client.create_if_not_exists(IMAGE, name, enqueue_only=True)
            assert created["status"] == "PENDING"

            await user_client.destroy(name, forced=True)

            async def collect() -> None:
                # With no agent to schedule it, 23.09 announces a pending session only when
                # it goes: its kernel is cancelled ("force-terminated").
                async for event in events:
                    seen.append(event)
                    if event.name in _ENDINGS:
                        return

            await asyncio.wait_for(collect(), timeout=60)
    finally:
        await destroy_quietly(user_client, name)
    assert seen[-1].name in _ENDINGS
    assert seen[-1].data["reason"] == "force-terminated"
    for event in seen:
        assert event.data["sessionName"] == name
        assert event.data["sessionId"] == created["sessionId"]
        assert event.data["ownerAccessKey"] == "AKIANABBDUSEREXAMPLE"


async def test_session_id_filter_on_the_client(user_client: Client) -> None:
    wanted, other = session_name(), session_name()
    try:
        first = await user_client.create_if_not_exists(IMAGE, wanted, enqueue_only=True)
        async with user_client.events.session(session_id=first["sessionId"]) as events:
            await user_client.create_if_not_exists(IMAGE, other, enqueue_only=True)
            await user_client.destroy(other, forced=True)
            await user_client.destroy(wanted, forced=True)

            async def first_event() -> Event:
                async for event in events:
                    return event
                raise AssertionError("the stream ended without an event")

            event = await asyncio.wait_for(first_event(), timeout=60)
        assert event.data["sessionId"] == first["sessionId"]
    finally:
        await destroy_quietly(user_client, wanted)
        await destroy_quietly(user_client, other)


async def test_events_by_name_carry_that_session_only(user_client: Client) -> None:
    wanted, other = session_name(), session_name()
    seen: list[Event] = []
    try:
        # Subscribed before either session exists (26.9 answers 404 at once to a filter
        # naming an unknown session, so a client must still make this work).
        async with user_client.events.session(name=wanted) as events:
            await user_client.create_if_not_exists(IMAGE, other, enqueue_only=True)
            await user_client.create_if_not_exists(IMAGE, wanted, enqueue_only=True)
            await user_client.destroy(other, forced=True)
            await asyncio.sleep(1)  # the other session's endings are on their way
            await user_client.destroy(wanted, forced=True)

            async def collect() -> None:
                async for event in events:
                    seen.append(event)
                    if event.data.get("sessionName") == wanted and event.name in _ENDINGS:
                        return

            await asyncio.wait_for(collect(), timeout=60)
    finally:
        await destroy_quietly(user_client, wanted)
        await destroy_quietly(user_client, other)
    assert seen
    assert {event.data["sessionName"] for event in seen} == {wanted}
