from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from backendai_aio import DEFAULT_ENDPOINT, Client, ClientConfig, InvalidArgumentError, Timeout
from backendai_aio._config_values import override_storage_proxy

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


# -- control characters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("access", "secret", "match"),
    [
        ("AK\r\nX-Evil: 1", "SK", "the access key contains a control character"),
        ("AK", "S\nK", "the secret key contains a control character"),
        ("A\x00K", "SK", "the access key"),
        ("AK", "SK\x7f1", "the secret key"),
    ],
)
def test_control_characters_in_keys_are_refused(access: str, secret: str, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match) as caught:
        ClientConfig(access, secret, "http://h")
    # The message never shows the value, which may be a secret.
    assert secret not in str(caught.value) or secret == "SK"


def test_keys_read_from_a_file_keep_working() -> None:
    # A trailing newline (a key read from a file) is surrounding whitespace, not content.
    config = ClientConfig("AK\n", "SK\r\n", "http://h")
    assert (config.access_key, config.secret_key) == ("AK", "SK")


@pytest.mark.parametrize("signature", ["my-app/1.0\r\nX-Evil: 1", "a\tb", "\x00", 42])
def test_bad_agent_signatures_are_refused_at_construction(signature: object) -> None:
    with pytest.raises(InvalidArgumentError, match="agent_signature"):
        Client(ClientConfig("AK", "SK", "http://h"), signature)  # type: ignore[arg-type]


# -- the official SDK's settings ----------------------------------------------------------------

KEYS = {"BACKEND_ACCESS_KEY": "AK", "BACKEND_SECRET_KEY": "SK"}


def test_official_settings_from_env() -> None:
    config = ClientConfig.from_env(
        {
            **KEYS,
            "BACKEND_DOMAIN": "research",
            "BACKEND_GROUP": "myproject",
            "BACKEND_VFOLDER_MOUNTS": "data, models,,data",
            "BACKEND_SKIP_SSLCERT_VALIDATION": "Yes",
            "BACKEND_CONNECTION_TIMEOUT": "2.5",
            "BACKEND_READ_TIMEOUT": "0",
            "BACKEND_OVERRIDE_STORAGE_PROXY": "http://sp:6021=10.0.0.5,https://b=c:1",
        }
    )
    assert (config.domain, config.group) == ("research", "myproject")
    assert config.vfolder_mounts == ("data", "models")
    assert config.skip_sslcert_validation is True
    assert (config.connection_timeout, config.read_timeout) == (2.5, 0.0)
    assert config.timeout == Timeout(connect=2.5, read=None)
    assert config.storage_proxy_address_map == {"http://sp:6021": "10.0.0.5", "https://b": "c:1"}
    assert "group='myproject'" in repr(config) and "<hidden>" in repr(config)
    assert config != ClientConfig.from_env(KEYS)


def test_unset_official_settings_change_nothing() -> None:
    config = ClientConfig.from_env({**KEYS, "BACKEND_GROUP": "", "BACKEND_DOMAIN": ""})
    assert (config.domain, config.group, config.vfolder_mounts) == (None, None, ())
    assert config.skip_sslcert_validation is False
    assert config.timeout == Timeout()
    assert config.storage_proxy_address_map == {}
    assert repr(config) == (
        "ClientConfig(access_key='AK', secret_key=<hidden>, "
        "endpoint='https://api.backend.ai', endpoint_type='api')"
    )
    assert config.session_options({"tag": "t"}) == {"tag": "t"}


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("SKIP_SSLCERT_VALIDATION", "maybe", "BACKEND_SKIP_SSLCERT_VALIDATION is yes"),
        ("CONNECTION_TIMEOUT", "ten", "BACKEND_CONNECTION_TIMEOUT is a finite number"),
        ("READ_TIMEOUT", "-1", "BACKEND_READ_TIMEOUT"),
        ("READ_TIMEOUT", "nan", "BACKEND_READ_TIMEOUT"),
        ("READ_TIMEOUT", "inf", "BACKEND_READ_TIMEOUT"),
        ("OVERRIDE_STORAGE_PROXY", "http://a", "FROM=TO"),
        ("OVERRIDE_STORAGE_PROXY", "=b", "FROM=TO"),
        ("OVERRIDE_STORAGE_PROXY", "ftp://a=b", "not an http"),
        ("OVERRIDE_STORAGE_PROXY", "a=http://", "not an http"),
        ("GROUP", "my\nproject", "the group contains a control character"),
        ("DOMAIN", "d\rx", "the domain"),
        ("VFOLDER_MOUNTS", "a,b\x00", "BACKEND_VFOLDER_MOUNTS"),
    ],
)
def test_bad_official_settings_fail_at_construction(name: str, value: str, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        ClientConfig.from_env({**KEYS, f"BACKEND_{name}": value})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"connection_timeout": -1}, "connection_timeout"),
        ({"read_timeout": True}, "read_timeout"),
        ({"skip_sslcert_validation": "yes"}, "skip_sslcert_validation"),
        ({"vfolder_mounts": 3}, "vfolder_mounts"),
        ({"storage_proxy_address_map": {"a": ""}}, "FROM=TO"),
        ({"group": 7}, "the group must be a string"),
    ],
)
def test_bad_official_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        ClientConfig("AK", "SK", **kwargs)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"group": "g", "domain": "d", "mounts": ["m1", "m2"]}),
        ({"group": None}, {"group": "g", "domain": "d", "mounts": ["m1", "m2"]}),
        (
            {"group": "own", "domain": "mine", "mounts": ("m2", "x")},
            {"group": "own", "domain": "mine", "mounts": ["m2", "x", "m1"]},
        ),
    ],
)
def test_session_options_apply_the_defaults(
    options: dict[str, Any], expected: dict[str, Any]
) -> None:
    config = ClientConfig("AK", "SK", group="g", domain="d", vfolder_mounts=["m1", "m2"])
    assert config.session_options(options) == expected
    assert "group" not in options or options["group"] in (None, "own")  # not modified


@pytest.mark.parametrize(
    ("url", "overrides", "expected"),
    [
        # The official rule: the whole URL as the manager hands it out.
        (
            "http://sp:6021/upload",
            {"http://sp:6021/upload": "http://1.2.3.4:80/up"},
            "http://1.2.3.4/up",
        ),
        # An origin, or a host with or without a port; the target replaces what it names.
        ("http://sp:6021/upload", {"http://sp:6021": "10.0.0.5"}, "http://10.0.0.5:6021/upload"),
        (
            "http://sp:6021/upload",
            {"sp:6021": "https://proxy.example"},
            "https://proxy.example/upload",
        ),
        ("http://sp:6021/upload", {"sp": "10.0.0.5:7000"}, "http://10.0.0.5:7000/upload"),
        ("https://SP/download", {"sp": "[::1]:8443"}, "https://[::1]:8443/download"),
        ("http://sp:6021/upload", {"http://sp:6021/": "h"}, "http://h:6021/upload"),
        # No overrides: the URL is used as it is.
        ("http://sp:6021/upload", {}, "http://sp:6021/upload"),
    ],
)
def test_storage_proxy_overrides(url: str, overrides: dict[str, str], expected: str) -> None:
    assert str(override_storage_proxy(URL(url), overrides)) == expected


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://sp:6021/upload", "https://sp:6021"),
        ("http://sp:6021/upload", "sp:6022"),
        ("http://sp:6021/upload", "other"),
        ("http://sp:6021/upload", "http://sp:6021/download"),
    ],
)
def test_storage_proxy_overrides_that_do_not_match(url: str, key: str) -> None:
    with pytest.raises(InvalidArgumentError, match="none matches the storage proxy http://sp:6021"):
        override_storage_proxy(URL(url), {key: "elsewhere"})
