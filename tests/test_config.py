from __future__ import annotations

import pytest

from backendai_aio import DEFAULT_ENDPOINT, ClientConfig, InvalidArgumentError

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_defaults_and_repr_hides_the_secret() -> None:
    config = ClientConfig("AKIAIOSFODNN7EXAMPLE", SECRET)
    assert config.endpoint == DEFAULT_ENDPOINT == "https://api.backend.ai"
    assert config.secret_key == SECRET
    for text in (repr(config), str(config)):
        assert SECRET not in text and "<hidden>" in text


def test_from_env_and_js_alias() -> None:
    env = {
        "BACKEND_ACCESS_KEY": "AK",
        "BACKEND_SECRET_KEY": "SK",
        "BACKEND_ENDPOINT": "http://127.0.0.1:8091/",
    }
    config = ClientConfig.from_env(env)
    assert (config.access_key, config.secret_key) == ("AK", "SK")
    assert str(config.endpoint_url) == "http://127.0.0.1:8091/"
    assert ClientConfig.create_from_env(env) == config
    no_endpoint = ClientConfig.from_env({"BACKEND_ACCESS_KEY": "AK", "BACKEND_SECRET_KEY": "SK"})
    assert no_endpoint.endpoint == DEFAULT_ENDPOINT


def test_from_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND_ACCESS_KEY", "AK2")
    monkeypatch.setenv("BACKEND_SECRET_KEY", "SK2")
    monkeypatch.delenv("BACKEND_ENDPOINT", raising=False)
    assert ClientConfig.from_env().access_key == "AK2"


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"BACKEND_SECRET_KEY": "SK"}, "access key"),
        ({"BACKEND_ACCESS_KEY": "AK"}, "secret key"),
        ({"BACKEND_ACCESS_KEY": "", "BACKEND_SECRET_KEY": "SK"}, "access key"),
    ],
)
def test_missing_keys_fail_at_construction(env: dict[str, str], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        ClientConfig.from_env(env)


@pytest.mark.parametrize(
    "endpoint",
    ["ftp://h", "127.0.0.1:8091", "http://", "http://user:pw@h", "http://h/?q=1", "http://h/#f"],
)
def test_invalid_endpoints(endpoint: str) -> None:
    with pytest.raises(InvalidArgumentError, match="endpoint"):
        ClientConfig("AK", "SK", endpoint)


def test_endpoint_path_prefix_is_kept() -> None:
    assert ClientConfig("AK", "SK", "https://h/api").endpoint_url.path == "/api/"
    assert ClientConfig("AK", "SK", "https://h").endpoint_url.path == "/"


def test_several_endpoints() -> None:
    config = ClientConfig("AK", "SK", "http://a:1, http://b:2/x ,")
    assert [str(u) for u in config.endpoint_urls] == ["http://a:1/", "http://b:2/x/"]
    assert config.endpoint_url == config.endpoint_urls[0]
    with pytest.raises(InvalidArgumentError, match="no endpoint"):
        ClientConfig("AK", "SK", " , ")


@pytest.mark.parametrize(
    ("access", "secret", "endpoint", "match"),
    [
        (None, None, "http://h", "access key"),
        ("   ", "x", "http://h", "access key"),
        ("a", "b", "http://h:99999", "endpoint"),
        ("a", "b", "http://[::1", "endpoint"),
        ("a", "b", 42, "endpoint"),
    ],
)
def test_bad_values_are_invalid_arguments(
    access: object, secret: object, endpoint: object, match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        ClientConfig(access, secret, endpoint)  # type: ignore[arg-type]


def test_session_mode_needs_no_keypair() -> None:
    config = ClientConfig(endpoint="http://h", endpoint_type="session")
    assert config.access_key == ""
    assert config.endpoint_type == "session"
