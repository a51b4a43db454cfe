"""Bodies a hostile server may send: odd charsets, strings cut by the scan window, far dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from yarl import URL

from backendai_aio import InputRequiredError, NotFoundError, ResponseError
from backendai_aio._decoding import _structure_outside_strings, decode_body
from backendai_aio._errors import decipher_response, describe_decode_failure, error_from_response
from backendai_aio._retries import parse_retry_after


@pytest.mark.parametrize("charset", ["undefined", "idna", '"a\0b"'])
def test_a_text_body_in_a_charset_that_cannot_decode_is_a_response_error(charset: str) -> None:
    with pytest.raises(ResponseError, match="GET http://h/x: the body could not be decoded") as c:
        decipher_response(
            200, "OK", f"text/plain; charset={charset}", b"\xffab", method="GET", url="http://h/x"
        )
    assert c.value.maybe_applied


def test_a_failure_page_in_such_a_charset_is_read_as_utf8() -> None:
    error = error_from_response(502, "Bad Gateway", "text/html; charset=undefined", b"<p>down</p>")
    assert str(error).startswith("502 Bad Gateway: down")
    assert error.status == 502


def test_describe_decode_failure() -> None:
    assert describe_decode_failure(RecursionError()) == "the body nests too deeply to decode"
    assert describe_decode_failure(ValueError("x" * 500)) == (
        f"the body could not be decoded (ValueError: {'x' * 200})"
    )


def test_an_unterminated_string_longer_than_a_window_ends_the_scan() -> None:
    # The window cuts the string; with no closing quote the rest is invalid JSON, which
    # decoding itself reports: the estimate only counts what comes before.
    assert _structure_outside_strings(b'[1,2,"abcdef', window_size=4) == (
        _structure_outside_strings(b"[1,2,", window_size=4)
    )
    assert _structure_outside_strings(b'"abcdef', window_size=2) == 0
    # A closed string longer than the window is skipped whole, what follows counted.
    assert _structure_outside_strings(b'"abcdef",{}', window_size=2) == (
        _structure_outside_strings(b",{}")
    )


def test_a_json_body_is_decoded_whatever_its_unknown_charset() -> None:
    assert decode_body(200, "application/json; charset=nonesuch", b'{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    "header", ["Fri, 31 Dec 9999 23:59:59 -2359", "Fri, 31 Dec 9999 23:59:59 +2359"]
)
def test_a_retry_after_date_far_ahead_is_a_long_wait(header: str) -> None:
    seconds = parse_retry_after(header, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert seconds is not None and seconds > 2.5e11


def test_input_required_error_keeps_the_prompt() -> None:
    error = InputRequiredError("the code asked for input", prompt="name? ")
    assert (error.prompt, str(error).startswith("the code asked for input")) == ("name? ", True)
    assert InputRequiredError("m").prompt == ""


def test_a_failure_status_raises_the_error_naming_the_call() -> None:
    body = b'{"type": "https://api.backend.ai/probs/session-not-found", "title": "No session"}'
    with pytest.raises(NotFoundError, match="404 Not Found: No session") as caught:
        decipher_response(
            404, "Not Found", "application/problem+json", body, method="GET", url=URL("http://h/s")
        )
    assert (caught.value.url, caught.value.method) == ("http://h/s", "GET")
    assert caught.value.problem_type == "https://api.backend.ai/probs/session-not-found"
