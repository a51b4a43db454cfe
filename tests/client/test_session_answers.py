"""The typed answers of destroy, restart and interrupt, against the emulator's releases."""

from __future__ import annotations

import pytest

from backendai_aio import Client, NotSupportedError

from ..conftest import make_emulator


@pytest.mark.parametrize("release", ["23.09", "26.9"])
async def test_destroy_restart_interrupt_answers(release: str) -> None:
    async with make_emulator(release=release) as emulator, Client(emulator.config) as client:
        await client.create_if_not_exists("python", "answers")
        await client.interrupt("answers")  # 204: None by its type
        if release == "23.09":
            await client.restart("answers")
        else:
            with pytest.raises(NotSupportedError, match="destroy the session"):
                await client.restart("answers")
        assert await client.destroy("answers") == {"stats": {"status": "terminated"}}
        await client.create_if_not_exists("python", "answers-2")
        # 23.09 answers a recursive destroy with a bare list: it comes back under "stats",
        # the shape 26.9 sends and every other destroy has.
        stats = [{"status": "terminated"}] if release == "23.09" else {"status": "terminated"}
        assert await client.sessions.destroy("answers-2", recursive=True) == {"stats": stats}
