"""Property tests of the pure core: any input gives a value or a BackendError, nothing else."""

# ruff: noqa: PT017 (the property is about which exception comes, checked in the except)

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from backendai_aio import BackendError, ResponseError, ServerError
from backendai_aio._decoding import (
    _STRING,
    BodyDecodeError,
    _structure_cost,
    _structure_outside_strings,
    decode_body,
)
from backendai_aio._errors import decipher_response, error_from_response
from backendai_aio._sse import MAX_RETRY_MS, ServerSentEvent, SSEParser

content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/problem+json",
            "application/json; charset=utf-8",
            "application/json; charset=latin-1",
            "application/json; charset=bogus",
            "text/html",
            "text/plain; charset=utf-16",
            "application/octet-stream",
            "multipart/mixed; boundary=x",
            "",
        ]
    ),
    st.text(max_size=60),
)
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_like.map(lambda value: repr(value).replace("'", '"').encode()),
    st.fixed_dictionaries(
        {"type": st.text(max_size=30), "title": json_like, "msg": json_like, "data": json_like}
    ).map(lambda value: repr(value).replace("'", '"').encode()),
)
statuses = st.integers(min_value=100, max_value=599)


@given(statuses, content_types, bodies)
def test_decipher_gives_a_value_or_a_backend_error(
    status: int, content_type: str | None, body: bytes
) -> None:
    try:
        decipher_response(status, "Reason", content_type, body, method="GET", url="http://h/")
    except ServerError as error:
        assert status >= 400
        assert error.status == status
        assert str(error)
    except ResponseError as error:
        assert status < 400
        assert error.status == status


@given(st.integers(min_value=400, max_value=599), content_types, bodies)
def test_error_mapper_never_raises(status: int, content_type: str | None, body: bytes) -> None:
    error = error_from_response(status, None, content_type, body)
    assert isinstance(error, BackendError)
    assert error.status == status
    assert error.message.startswith(str(status))
    for field in (error.problem_type, error.title, error.msg):
        assert field is None or isinstance(field, str)


@given(statuses, content_types, st.binary(max_size=300))
def test_decoder_gives_a_value_or_a_decode_error(
    status: int, content_type: str | None, body: bytes
) -> None:
    try:
        value = decode_body(status, content_type, body)
    except BodyDecodeError:
        return
    assert value is None or isinstance(value, str | bytes | int | float | bool | list | dict)


json_texts = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='{}[],:"\\ab\u00e9', max_size=12),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(alphabet='{[,:"\\x', max_size=6), inner, max_size=5)
    ),
    max_leaves=30,
)


def _naive_structure(body: bytes) -> int:
    # Strip every string at once (the costly way), then count.
    return _structure_cost(_STRING.sub(b'""', body))


@given(json_texts, st.integers(min_value=1, max_value=40))
def test_windowed_structure_count_matches_the_whole_body(value: object, window: int) -> None:
    body = json.dumps(value).encode()
    assert _structure_outside_strings(body, window) == _naive_structure(body)


@given(st.integers(min_value=1, max_value=3000))
def test_deep_nesting_is_a_decode_error_or_a_value(depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    try:
        value = decode_body(200, "application/json", body)
    except BodyDecodeError:
        return
    assert isinstance(value, list)


sse_lines = st.lists(
    st.one_of(
        st.text(alphabet="abc: \u00e9", max_size=12).map(lambda text: "data: " + text),
        st.sampled_from(["", ": comment", "event: e", "id: 7", "retry: 12", "retry: " + "9" * 30]),
    ),
    max_size=30,
)


@given(sse_lines, st.sampled_from(["\n", "\r\n", "\r"]), st.lists(st.integers(1, 50), max_size=20))
def test_sse_events_do_not_depend_on_how_bytes_are_split(
    lines: list[str], newline: str, cuts: list[int]
) -> None:
    stream = (newline.join(lines) + newline).encode()
    whole = SSEParser().feed(stream)
    parser = SSEParser()
    split: list[ServerSentEvent] = []
    position = 0
    for cut in cuts:
        split += parser.feed(stream[position : position + cut])
        position += cut
    split += parser.feed(stream[position:])
    assert split == whole
    assert all(event.retry is None or 0 <= event.retry <= MAX_RETRY_MS for event in whole)
