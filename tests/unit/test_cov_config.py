"""Corners of the configuration: refused settings, equality, storage-proxy overrides."""

from __future__ import annotations

import pytest
from yarl import URL

from backendai_aio import ClientConfig, InvalidArgumentError
from backendai_aio._config_values import check_agent_signature, parse_storage_proxy_overrides


def test_an_unknown_endpoint_type_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="endpoint_type is 'api' or 'session', not 'x'"):
        ClientConfig("AK", "SK", endpoint_type="x")  # type: ignore[arg-type]


def test_an_unknown_endpoint_type_in_the_environment_is_refused() -> None:
    env = {"BACKEND_ACCESS_KEY": "AK", "BACKEND_SECRET_KEY": "SK", "BACKEND_ENDPOINT_TYPE": "web"}
    with pytest.raises(InvalidArgumentError, match="BACKEND_ENDPOINT_TYPE is 'api' or 'session'"):
        ClientConfig.from_env(env)


def test_a_session_endpoint_type_from_the_environment_needs_no_keypair() -> None:
    config = ClientConfig.from_env({"BACKEND_ENDPOINT_TYPE": "session"})
    assert (config.endpoint_type, config.access_key, config.secret_key) == ("session", "", "")


def test_equality_and_hash() -> None:
    one = ClientConfig("AK", "SK", "http://127.0.0.1:8081")
    same = ClientConfig("AK", "SK", "http://127.0.0.1:8081/")
    assert one == same and hash(one) == hash(same)
    assert one != ClientConfig("AK", "other", "http://127.0.0.1:8081")
    assert one != ClientConfig("AK", "SK", "http://127.0.0.1:8081", domain="d")
    # Not a configuration: compared by the other side, so never equal.
    assert one != "AK"
    assert len({one, same}) == 1


def test_storage_proxy_url_applies_the_configured_map() -> None:
    config = ClientConfig(
        "AK", "SK", storage_proxy_address_map={"http://proxy:6021": "127.0.0.1:7000"}
    )
    handed_out = URL("http://proxy:6021/upload?token=t")
    assert config.storage_proxy_url(handed_out) == URL("http://127.0.0.1:7000/upload?token=t")
    assert ClientConfig("AK", "SK").storage_proxy_url(handed_out) == handed_out


@pytest.mark.parametrize("side", ["host:abc", "host:99999", "[::1", "ftp://proxy"])
def test_an_override_that_is_no_address_is_refused(side: str) -> None:
    with pytest.raises(InvalidArgumentError, match="is not an http\\(s\\) URL nor a host name"):
        parse_storage_proxy_overrides({"http://proxy:6021": side})
    with pytest.raises(InvalidArgumentError, match="BACKEND_OVERRIDE_STORAGE_PROXY"):
        parse_storage_proxy_overrides(f"{side}=127.0.0.1:7000")


def test_overrides_that_are_neither_text_nor_a_mapping_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="is a mapping, not list"):
        parse_storage_proxy_overrides(["proxy=127.0.0.1"])  # type: ignore[arg-type]


def test_agent_signature_is_optional_text_without_controls() -> None:
    assert check_agent_signature(None) is None
    assert check_agent_signature(" my-app/1.0 ") == "my-app/1.0"
    with pytest.raises(InvalidArgumentError, match="agent_signature contains a control character"):
        check_agent_signature("my-app\r\nX-Injected: 1")
