"""A corner of the SSE parser: an ``id`` field holding NUL is ignored, as the standard says."""

from __future__ import annotations

from backendai_aio._sse import SSEParser


def test_an_id_with_nul_keeps_the_last_event_id() -> None:
    parser = SSEParser()
    parser.feed(b"id: 7\ndata: a\n\n")
    events = parser.feed(b"id: 8\x009\ndata: b\n\n")
    assert [event.data for event in events] == ["b"]
    assert parser.last_event_id == "7"
