"""The SSE parser's bounds and ignored fields; the signing key kept for a day and a host."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backendai_aio._signing import SigningKeyCache, derive_signing_key
from backendai_aio._sse import SSEParser

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_a_parser_needs_a_positive_bound() -> None:
    with pytest.raises(ValueError, match="max_event_size must be positive"):
        SSEParser(max_event_size=0)


@pytest.mark.parametrize("value", ["soon", "-5", "1.5", "٣"])
def test_a_retry_that_is_not_a_plain_number_is_ignored(value: str) -> None:
    parser = SSEParser()
    parser.feed(b"retry: 2000\ndata: a\n\n")
    events = parser.feed(f"retry: {value}\ndata: b\n\n".encode())
    assert [(event.data, event.retry) for event in events] == [("b", None)]
    assert parser.retry == 2000


def test_the_signing_key_is_derived_once_per_day_and_host() -> None:
    cache = SigningKeyCache(SECRET)
    morning = datetime(2026, 1, 2, 8, 0, tzinfo=UTC)
    evening = datetime(2026, 1, 2, 20, 0, tzinfo=UTC)
    key = cache.key_for(morning, "127.0.0.1:8081")
    assert key == derive_signing_key(SECRET, morning, "127.0.0.1:8081")
    assert cache.key_for(evening, "127.0.0.1:8081") is key
    next_day = datetime(2026, 1, 3, 0, 0, tzinfo=UTC)
    assert cache.key_for(next_day, "127.0.0.1:8081") == derive_signing_key(
        SECRET, next_day, "127.0.0.1:8081"
    )
    assert cache.key_for(next_day, "other:8081") != cache.key_for(next_day, "127.0.0.1:8081")
    assert SECRET not in repr(cache)


def test_an_unknown_field_is_ignored() -> None:
    parser = SSEParser()
    events = parser.feed(b"event: update\nvendor: x\nbare\ndata: a\n\n")
    assert [(event.event, event.data) for event in events] == [("update", "a")]
