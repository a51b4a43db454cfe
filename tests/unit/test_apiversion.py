from __future__ import annotations

import pytest

from backendai_aio import LATEST_API_VERSION, OLDEST_API_VERSION, SUPPORTED_API_VERSIONS
from backendai_aio._apiversion import ApiVersion, negotiate, parse_api_version


def test_parse_and_order() -> None:
    assert parse_api_version("v9.20250722") == ApiVersion(9, "20250722")
    assert str(parse_api_version(" v7.20230615 ")) == "v7.20230615"
    ordered = [parse_api_version(v) for v in SUPPORTED_API_VERSIONS]
    assert ordered == sorted(ordered)
    assert (OLDEST_API_VERSION, LATEST_API_VERSION) == ("v5.20191215", "v9.20250722")


@pytest.mark.parametrize("text", ["", "9.20250722", "v9", "v9.2025", "vX.20250722", "v9.20250722x"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not an API version"):
        parse_api_version(text)


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("v9.20250722", "v9.20250722"),
        ("v10.20270101", "v9.20250722"),
        ("v7.20230615", "v7.20230615"),
        ("v8.20240915", "v8.20240915"),
        ("v5.20191215", "v5.20191215"),
    ],
)
def test_negotiate(server: str, expected: str) -> None:
    assert negotiate(server) == expected


@pytest.mark.parametrize("server", ["v4.20190615", "v3.20170615", "garbage"])
def test_negotiate_refuses_old_or_invalid(server: str) -> None:
    with pytest.raises(ValueError):
        negotiate(server)
