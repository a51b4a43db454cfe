from __future__ import annotations

from typing import Any

import pytest

from backendai_aio._decoding import (
    BodyDecodeError,
    decode_body,
    is_json_media_type,
    parse_content_type,
)


@pytest.mark.parametrize(
    ("status", "content_type", "body", "expected"),
    [
        (200, "application/json", b'{"a": 1}', {"a": 1}),
        (200, "application/json; charset=utf-8", b"[1, 2]", [1, 2]),
        (404, "application/problem+json", b'{"type": "t"}', {"type": "t"}),
        (200, "application/vnd.api+json", b"true", True),
        (200, "text/json", b'"s"', "s"),
        (200, "APPLICATION/JSON", b"3", 3),
        (200, "text/plain", b"hello", "hello"),
        (200, "text/html; charset=latin-1", "café".encode("latin-1"), "café"),
        (200, "text/plain; charset=no-such-codec", b"ok", "ok"),
        (200, "text/plain", b"\xff", "\ufffd"),
        (200, "application/octet-stream", b"\x00\x01", b"\x00\x01"),
        (200, None, b"raw", b"raw"),
        (200, "", b"raw", b"raw"),
        (204, "application/json", b"", None),
        (204, "application/json", b"ignored", None),
        (200, "application/json", b"", None),
    ],
)
def test_decode_body(status: int, content_type: str | None, body: bytes, expected: Any) -> None:
    assert decode_body(status, content_type, body) == expected


@pytest.mark.parametrize("body", [b"{", b'{"a": 1', b"not json", b"\xff\xfe", b'{"a": 1}garbage'])
def test_invalid_json_raises(body: bytes) -> None:
    with pytest.raises(BodyDecodeError, match="invalid JSON"):
        decode_body(200, "application/json", body)


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        ("application/json", True),
        ("application/problem+json", True),
        ("text/json", True),
        ("application/jsonp", False),
        ("text/plain", False),
        ("", False),
    ],
)
def test_is_json_media_type(media_type: str, expected: bool) -> None:
    assert is_json_media_type(media_type) is expected


def test_parse_content_type() -> None:
    assert parse_content_type('Text/HTML; Charset="UTF-8"; q=1') == ("text/html", "UTF-8")
    assert parse_content_type(None) == ("", None)
    assert parse_content_type("application/json") == ("application/json", None)


@pytest.mark.parametrize("charset", ["rot13", "base64", "hex", "zlib"])
def test_non_text_codecs_fall_back_to_utf8(charset: str) -> None:
    assert decode_body(200, f"text/plain; charset={charset}", b"ok") == "ok"
    assert decode_body(200, f"application/json; charset={charset}", b"[1]") == [1]


def test_multibyte_text_codecs_are_kept() -> None:
    assert decode_body(200, "text/plain; charset=utf-16", "héllo".encode("utf-16")) == "héllo"
