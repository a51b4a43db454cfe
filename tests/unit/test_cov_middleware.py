"""The signing middleware's hand-made headers: many hosts, relative URLs, other origins."""

from __future__ import annotations

from datetime import datetime

import pytest
from yarl import URL

from backendai_aio import InvalidArgumentError, ResponseError, SigningMiddleware
from backendai_aio._signing import sign

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
VERSION = "v9.20250722"


def _expected(headers: dict[str, str], url: URL) -> str:
    signature = sign(
        secret_key=SECRET,
        method="GET",
        path_qs=url.raw_path_qs,
        date=datetime.fromisoformat(headers["Date"]),
        host=headers["Host"],
        content_type="application/json",
        api_version=VERSION,
        date_header=headers["Date"],
    )
    return f"BackendAI signMethod=HMAC-SHA256, credential=AK:{signature}"


def test_headers_stay_right_for_more_hosts_than_are_remembered() -> None:
    signer = SigningMiddleware("AK", SECRET, VERSION)
    for port in range(1000, 1200):
        url = URL(f"http://127.0.0.1:{port}/session/s-1?x=1")
        headers = signer.headers_for("GET", url)
        assert headers["Host"] == f"127.0.0.1:{port}"
        assert headers["Authorization"] == _expected(headers, url)
        assert headers["X-BackendAI-Version"] == VERSION


def test_a_relative_url_cannot_be_signed() -> None:
    signer = SigningMiddleware("AK", SECRET, VERSION)
    with pytest.raises(InvalidArgumentError, match="cannot sign a relative URL: /session"):
        signer.headers_for("GET", URL("/session"))


def test_another_origin_is_not_signed() -> None:
    signer = SigningMiddleware("AK", SECRET, VERSION, origins=["http://127.0.0.1:8081"])
    assert "Authorization" in signer.headers_for("GET", URL("http://127.0.0.1:8081/x"))
    with pytest.raises(ResponseError, match="not signed for an origin other than the configured"):
        signer.headers_for("GET", URL("http://127.0.0.1:9999/x"))
    assert SECRET not in repr(signer)
