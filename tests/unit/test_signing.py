from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from backendai_aio._signing import (
    EMPTY_BODY_SHA256,
    SigningKeyCache,
    authorization_header,
    bare_media_type,
    derive_signing_key,
    format_date,
    sign,
    sign_with_key,
    string_to_sign,
)

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
VECTOR_DATE = datetime.fromisoformat("2024-03-15T12:34:56+00:00")


def test_spec_test_vector() -> None:
    signature = sign(
        secret_key=SECRET_KEY,
        method="POST",
        path_qs="/session",
        date=VECTOR_DATE,
        date_header="2024-03-15T12:34:56+00:00",
        host="api.example.com:8443",
        content_type="application/json",
        api_version="v9.20250722",
    )
    assert signature == "646ea453d8b3769711d8f704fd2cc9ddceb7b05aabe8d7617f725aeb270eccf7"


def test_default_date_header_is_the_iso_format() -> None:
    common = dict(
        secret_key=SECRET_KEY,
        method="post",
        path_qs="/session",
        date=VECTOR_DATE,
        host="api.example.com:8443",
        content_type="application/json; charset=utf-8",
        api_version="v9.20250722",
    )
    # Lower-case method and a charset parameter sign the same as the canonical request.
    assert sign(**common) == "646ea453d8b3769711d8f704fd2cc9ddceb7b05aabe8d7617f725aeb270eccf7"  # type: ignore[arg-type]


def test_string_to_sign_has_seven_lines_and_the_empty_body_hash() -> None:
    text = string_to_sign(
        method="get",
        path_qs="/folders/a%20b?path=%2Bx",
        date_header="D",
        host="h:1",
        content_type="Application/JSON; charset=utf-8",
        api_version="v7.20230615",
    )
    assert text.split("\n") == [
        "GET",
        "/folders/a%20b?path=%2Bx",
        "D",
        "host:h:1",
        "content-type:application/json",
        "x-backendai-version:v7.20230615",
        EMPTY_BODY_SHA256,
    ]
    assert EMPTY_BODY_SHA256.startswith("e3b0c442") and EMPTY_BODY_SHA256.endswith("b855")


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", "application/json"),
        ("application/json; charset=utf-8", "application/json"),
        ("multipart/form-data; boundary=xyz", "multipart/form-data"),
        (" TEXT/Plain ", "text/plain"),
        ("", ""),
    ],
)
def test_bare_media_type(content_type: str, expected: str) -> None:
    assert bare_media_type(content_type) == expected


def test_signing_day_follows_the_date_header_timezone() -> None:
    # 23:30 UTC on the 15th is already the 16th in UTC+9: the key must differ.
    utc = datetime(2024, 3, 15, 23, 30, tzinfo=UTC)
    seoul = utc.astimezone(timezone(timedelta(hours=9)))
    assert derive_signing_key(SECRET_KEY, utc, "h") != derive_signing_key(SECRET_KEY, seoul, "h")
    assert derive_signing_key(SECRET_KEY, utc, "h") != derive_signing_key(SECRET_KEY, utc, "h:80")


def test_format_date_requires_a_timezone() -> None:
    assert format_date(VECTOR_DATE) == "2024-03-15T12:34:56+00:00"
    with pytest.raises(ValueError, match="timezone"):
        format_date(datetime(2024, 3, 15))


def test_key_cache_matches_fresh_derivation_and_hides_the_secret() -> None:
    cache = SigningKeyCache(SECRET_KEY)
    for day in range(3):
        moment = VECTOR_DATE + timedelta(days=day)
        for host in ("a", "b:8080"):
            assert cache.key_for(moment, host) == derive_signing_key(SECRET_KEY, moment, host)
    assert SECRET_KEY not in repr(cache)
    key = cache.key_for(VECTOR_DATE, "api.example.com:8443")
    assert (
        sign_with_key(
            key,
            method="POST",
            path_qs="/session",
            date_header="2024-03-15T12:34:56+00:00",
            host="api.example.com:8443",
            content_type="application/json",
            api_version="v9.20250722",
        )
        == "646ea453d8b3769711d8f704fd2cc9ddceb7b05aabe8d7617f725aeb270eccf7"
    )


def test_authorization_header_format() -> None:
    assert authorization_header(ACCESS_KEY, "abc") == (
        "BackendAI signMethod=HMAC-SHA256, credential=AKIAIOSFODNN7EXAMPLE:abc"
    )


def test_the_middleware_signs_only_for_its_origins() -> None:
    from yarl import URL

    from backendai_aio import ResponseError, SigningMiddleware

    signer = SigningMiddleware(
        ACCESS_KEY, SECRET_KEY, "v9.20250722", origins=["https://api.example.com:8443/base/"]
    )
    assert "Authorization" in signer.headers_for("GET", URL("https://api.example.com:8443/x"))
    default_port = SigningMiddleware(ACCESS_KEY, SECRET_KEY, "v", origins=["http://h:80"])
    assert "Authorization" in default_port.headers_for("GET", URL("http://H/x"))
    for foreign in (
        "http://api.example.com:8443/x",  # a downgrade to plain http
        "https://api.example.com/x",  # another port
        "https://evil.example.com:8443/x",
    ):
        with pytest.raises(ResponseError, match="not signed") as caught:
            signer.headers_for("GET", URL(foreign))
        assert SECRET_KEY not in repr(caught.value)
    # Without origins, any origin is signed (the middleware used on its own).
    anywhere = SigningMiddleware(ACCESS_KEY, SECRET_KEY, "v9.20250722")
    assert "Authorization" in anywhere.headers_for("GET", URL("https://evil.example.com/x"))
