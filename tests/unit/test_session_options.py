from __future__ import annotations

import pytest

from backendai_aio import InvalidArgumentError
from backendai_aio._apiversion import parse_api_version
from backendai_aio._session_options import (
    build_create_body,
    generate_session_name,
    validate_session_name,
)

V9 = parse_api_version("v9.20250722")
V7 = parse_api_version("v7.20230615")
V5 = parse_api_version("v5.20191215")


def test_v6_and_later_wire_names() -> None:
    body = build_create_body(
        V7,
        "python:3.11",
        "my-session",
        {
            "type": "batch",
            "enqueue_only": True,
            "max_wait_seconds": 10,
            "reuse_if_exists": False,
            "tag": "t",
            "group": "default",
            "domain": "default",
            "resources": {"cpu": 1, "mem": "1g"},
            "resource_opts": {"shmem": "64m"},
            "mounts": ["data"],
            "environ": {"A": "1"},
            "scaling_group": "default",
            "cluster_size": 2,
            "cluster_mode": "single-node",
            "startup_command": "python main.py",
            "bootstrap_script": None,
        },
    )
    assert body == {
        "image": "python:3.11",
        "name": "my-session",
        "type": "batch",
        "enqueueOnly": True,
        "maxWaitSeconds": 10,
        "reuseIfExists": False,
        "tag": "t",
        "group": "default",
        "domain": "default",
        "cluster_size": 2,
        "cluster_mode": "single-node",
        "startupCommand": "python main.py",
        "config": {
            "resources": {"cpu": 1, "mem": "1g"},
            "resource_opts": {"shmem": "64m"},
            "mounts": ["data"],
            "environ": {"A": "1"},
            "scaling_group": "default",
        },
    }


def test_v5_keeps_cluster_size_in_config_in_camel_case() -> None:
    body = build_create_body(V5, "python", "abcd", {"cluster_size": 2, "scaling_group": "g"})
    assert body == {
        "image": "python",
        "name": "abcd",
        "config": {"clusterSize": 2, "scalingGroup": "g"},
    }
    with pytest.raises(InvalidArgumentError, match="cluster_mode needs API v6"):
        build_create_body(V5, "python", "abcd", {"cluster_mode": "multi-node"})


def test_raw_config_is_merged() -> None:
    body = build_create_body(V9, "python", "abcd", {"config": {"x": 1}, "environ": {"A": "1"}})
    assert body["config"] == {"x": 1, "environ": {"A": "1"}}


def test_unknown_option_and_bad_input() -> None:
    with pytest.raises(InvalidArgumentError, match=r"unknown session option.*enqueueOnly"):
        build_create_body(V9, "python", "abcd", {"enqueueOnly": True})
    with pytest.raises(InvalidArgumentError, match="image"):
        build_create_body(V9, "", "abcd", {})
    with pytest.raises(InvalidArgumentError, match="config"):
        build_create_body(V9, "python", "abcd", {"config": [1]})


@pytest.mark.parametrize("name", ["abcd", "a" * 64, "my_session-1.x", "_abc"])
def test_valid_names(name: str) -> None:
    assert validate_session_name(name) == name


@pytest.mark.parametrize("name", ["abc", "a" * 65, "-abc", "abc-", "ab cd", "séance", "a/bcd"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid session name"):
        validate_session_name(name)


def test_generated_names_are_valid_and_distinct() -> None:
    names = {generate_session_name() for _ in range(100)}
    assert len(names) == 100
    for name in names:
        validate_session_name(name)
