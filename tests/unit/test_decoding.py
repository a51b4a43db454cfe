from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest

from backendai_aio._decoding import (
    BodyDecodeError,
    decode_body,
    estimate_json_cost,
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


def test_deep_nesting_is_a_decode_error() -> None:
    with pytest.raises(BodyDecodeError, match="nested too deeply"):
        decode_body(200, "application/json", b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(BodyDecodeError, match="nested too deeply"):
        decode_body(
            200, "application/json; charset=utf-8", b'{"a":' * 50_000 + b"1" + b"}" * 50_000
        )


@pytest.mark.parametrize(
    ("unit", "size", "factor"),
    [
        (b"{},", 6, 2),
        (b"[],", 6, 2),
        # Strings are set aside to count again, which costs a few times the body (still far
        # less than the twenty-five times decoding would).
        (b'{"a":[]},', 2, 8),
    ],
)
def test_a_body_costly_to_decode_is_refused_with_little_memory(
    unit: bytes, size: int, factor: int
) -> None:
    body = b"[" + unit * (size * 1024 * 1024 // len(unit)) + b"0]"
    tracemalloc.start()
    try:
        with pytest.raises(BodyDecodeError, match="MiB of memory"):
            decode_body(200, "application/json", body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < factor * len(body)


def _listing(count: int) -> bytes:
    item = {"name": "file000001.txt", "type": "FILE", "size": 12345, "modified": "2024-01-01"}
    return json.dumps({"items": [item] * count}).encode()


@pytest.mark.parametrize(
    "body",
    [
        _listing(80_000),  # about 6 MiB of a realistic answer
        # Structure inside strings is not structure: text full of commas and braces is cheap.
        json.dumps({"logs": "a,b:{[" * 1_000_000}).encode(),
        json.dumps({"files": json.dumps([{"filename": "f", "size": 1}] * 200_000)}).encode(),
    ],
)
def test_large_realistic_bodies_are_decoded(body: bytes) -> None:
    assert decode_body(200, "application/json", body) == json.loads(body)


@pytest.mark.parametrize(
    ("body", "low", "high"),
    [
        (b"[" + b"{}," * 1000 + b"{}]", 1000 * 64, 1000 * 130),
        (b'"x"', 3, 3),
    ],
)
def test_cost_estimates(body: bytes, low: int, high: int) -> None:
    assert low <= estimate_json_cost(body) <= high
