"""The SSE parser, byte by byte."""

from __future__ import annotations

import gc
import time

import pytest

from backendai_aio._sse import MAX_RETRY_MS, ServerSentEvent, SSELimitError, SSEParser, parse_retry

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


def test_a_long_line_in_small_chunks_is_parsed_in_linear_time() -> None:
    parser = SSEParser(max_event_size=16 * 1024 * 1024)
    piece = b"x" * 1024
    started = time.process_time()
    assert parser.feed(b"data: ") == []
    for _ in range(8 * 1024):  # 8 MiB in 1 KiB chunks
        assert parser.feed(piece) == []
    events = parser.feed(b"\n\n")
    assert len(events) == 1
    assert len(events[0].data) == 8 * 1024 * 1024
    # Linear: about 10 ms of CPU; re-joining the line per chunk would copy some 32 GiB.
    assert time.process_time() - started < 2


def _parse_lines(count: int) -> float:
    parser = SSEParser()
    body = b"data: x\n\n" * count + b"data: end\r\n\r\n"
    # CPU time of this process, without the collector's pauses (which grow with the number of
    # live objects, not with the parser's work).
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        events = parser.feed(body)
        elapsed = time.process_time() - started
    finally:
        gc.enable()
    assert len(events) == count + 1
    assert events[-1].data == "end"
    return elapsed


def test_many_lines_in_one_chunk_are_parsed_in_linear_time() -> None:
    # Four times the lines take about four times the CPU (sixteen if quadratic); the best of
    # three rounds keeps a busy machine's noise out.
    small = min(_parse_lines(25_000) for _ in range(3))
    large = min(_parse_lines(100_000) for _ in range(3))
    assert large < 10 * small


def test_a_line_past_the_bound_raises_with_the_events_before_it() -> None:
    parser = SSEParser(max_event_size=100)
    with pytest.raises(SSELimitError, match="line longer than 1124") as caught:
        parser.feed(b"data: a\n\ndata: " + b"z" * 2000)
    assert caught.value.events == [ServerSentEvent("message", "a")]
    parser.reset()
    assert parser.feed(b"data: b\n\n") == [ServerSentEvent("message", "b")]


def test_a_partial_line_is_bounded_across_chunks() -> None:
    parser = SSEParser(max_event_size=100)
    for _ in range(11):
        parser.feed(b"y" * 100)
    with pytest.raises(SSELimitError, match="line longer"):
        parser.feed(b"y" * 100)


def test_an_event_past_the_bound_raises() -> None:
    parser = SSEParser(max_event_size=20)
    assert parser.feed(b"data: 0123456789\ndata: 012345678\n\n") == [
        ServerSentEvent("message", "0123456789\n012345678")
    ]
    with pytest.raises(SSELimitError, match="event larger than 20"):
        parser.feed(b"data: 0123456789\ndata: 0123456789\n\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("1500", 1500),
        ("60000", 60_000),
        ("60001", MAX_RETRY_MS),
        ("3600000", MAX_RETRY_MS),
        ("1" + "0" * 400, MAX_RETRY_MS),
        ("9" * 5000, MAX_RETRY_MS),
        ("", None),
        ("-5", None),
        ("1.5", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits are digits, but not ASCII ones
    ],
)
def test_retry_values(value: str, expected: int | None) -> None:
    assert parse_retry(value) == expected
