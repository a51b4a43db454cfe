"""Watch a compute session's lifecycle events while it is created and destroyed.

Run it as::

    python examples/events.py

It opens the session event stream (server-sent events), then creates a session, runs a line of
code in it and destroys it, printing each event as it arrives until ``session_terminated``.
It talks to ``BACKEND_ENDPOINT`` when it is set, else to a local emulator it starts itself;
``BACKEND_IMAGE`` picks the image (default ``python``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys

from backendai_aio import BackendError, Client
from backendai_aio.emulator import configured_or_emulated

# Events after which the session is gone.
FINAL_EVENTS = frozenset({"session_terminated", "session_cancelled", "session_failure"})


async def lifecycle(client: Client, name: str, image: str) -> None:
    """Create a session, run a line of code in it, destroy it."""
    await client.create_if_not_exists(image, name)
    result = await client.sessions.run(name, "print('hello from', __name__)")
    print(f"  (ran code: {result.stdout.strip()!r})")
    await client.destroy(name)


async def main() -> None:
    """Print the events of one session's life."""
    image = os.environ.get("BACKEND_IMAGE", "python")
    name = f"events-{secrets.token_hex(4)}"
    async with configured_or_emulated(announce=print) as config, Client(config) as client:
        # Open the stream first, so that no event of the new session is missed.
        async with client.events.session(name=name, scope="session") as events:
            print(f"Watching session {name}")
            # If the lifecycle fails, the task group stops the watching loop too.
            async with asyncio.timeout(120), asyncio.TaskGroup() as group:
                group.create_task(lifecycle(client, name, image))
                async for event in events:
                    print(f"{event.name:<20} reason={event.data.get('reason')!r}")
                    if event.name in FINAL_EVENTS:
                        break
    print("Done")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except* BackendError as failures:
        error = failures.exceptions[0]
        sys.exit(f"Backend.AI call failed: {error}")
