"""Path segments of a call are checked before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest

from backendai_aio import Client, ClientConfig, InvalidArgumentError

NOWHERE = "http://127.0.0.1:9"  # nothing listens: a call that sent anything would fail


@pytest.mark.parametrize("session_id", [123, None, b"s-1"])
async def test_a_session_id_that_is_not_text_is_refused(session_id: Any) -> None:
    async with Client(ClientConfig("AK", "SK", NOWHERE)) as client:
        with pytest.raises(InvalidArgumentError, match="a path segment must be a string, not"):
            await client.get_info(session_id)
