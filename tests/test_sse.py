"""The SSE parser, byte by byte."""

from __future__ import annotations

import pytest

from backendai_aio._sse import ServerSentEvent, SSEParser

STREAM = (
    b": keep-alive comment\r\n"
    b"retry: 3000\r\n"
    b"event: session_started\r\n"
    b'data: {"sessionName": "s\xc3\xa9ance",\r\n'
    b'data:  "exitCode": null}\r\n'
    b"id: 42\r\n"
    b"\r\n"
    b"data: plain\n"
    b"\n"
    b"event: server_close\r"
    b"data:\r"
    b"\r"
)
EXPECTED = [
    ServerSentEvent("session_started", '{"sessionName": "séance",\n "exitCode": null}', "42", 3000),
    ServerSentEvent("message", "plain", "42", None),
    ServerSentEvent("server_close", "", "42", None),
]


def test_whole_stream() -> None:
    parser = SSEParser()
    assert parser.feed(STREAM) == EXPECTED
    assert parser.retry == 3000
    assert parser.last_event_id == "42"
    assert EXPECTED[0].json() == {"sessionName": "séance", "exitCode": None}


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
def test_any_split(size: int) -> None:
    parser = SSEParser()
    events = []
    for start in range(0, len(STREAM), size):
        events += parser.feed(STREAM[start : start + size])
    assert events == EXPECTED


def test_event_without_data_is_not_dispatched_and_fields_reset() -> None:
    parser = SSEParser()
    assert parser.feed(b"event: nothing\n\n") == []
    assert parser.feed(b"data: x\n\n") == [ServerSentEvent("message", "x")]
    assert parser.feed(b"data\n\n") == [ServerSentEvent("message", "")]
    assert parser.feed(b"retry: soon\ndata: y\n\n") == [ServerSentEvent("message", "y")]


def test_incomplete_event_waits_for_the_blank_line() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\ndata: b\n") == []
    assert parser.feed(b"\n") == [ServerSentEvent("message", "a\nb")]


def test_reset_drops_a_half_received_event_but_keeps_the_id() -> None:
    parser = SSEParser()
    assert parser.feed(b'id: 7\nretry: 100\nevent: a\ndata: {"b"') == []
    parser.reset()
    assert parser.feed(b'event: x\ndata: {"c": 3}\n\n') == [
        ServerSentEvent("x", '{"c": 3}', "7", None)
    ]
    assert parser.retry == 100
