"""Session creation bodies: options newer servers added, folder ids, idempotence, run ids."""

from __future__ import annotations

import re
import uuid

import pytest

from backendai_aio import InvalidArgumentError
from backendai_aio._apiversion import parse_api_version
from backendai_aio._session_options import (
    build_create_body,
    create_is_idempotent,
    generate_run_id,
)

V9 = parse_api_version("v9.20250722")
V8 = parse_api_version("v8.20240315")
V5 = parse_api_version("v5.20191215")


@pytest.mark.parametrize(
    ("option", "since"),
    [("priority", "v8.20240915"), ("job_priority", "v9.20250722"), ("mount_ids", "v9.20250722")],
)
def test_an_option_newer_than_the_server_is_refused_before_sending(option: str, since: str) -> None:
    with pytest.raises(
        InvalidArgumentError, match=re.escape(f"{option} needs API {since} or later")
    ):
        build_create_body(V8, "python:3.11", "s-1", {option: 1})


def test_cluster_mode_needs_v6() -> None:
    with pytest.raises(InvalidArgumentError, match=r"cluster_mode needs API v6\.20200815"):
        build_create_body(V5, "python:3.11", "s-1", {"cluster_mode": "multi-node"})
    body = build_create_body(V9, "python:3.11", "s-1", {"cluster_mode": "multi-node"})
    assert body["cluster_mode"] == "multi-node"


def test_folder_and_network_ids_go_as_text() -> None:
    folder = uuid.UUID("12345678-1234-5678-1234-567812345678")
    body = build_create_body(
        V9,
        "python:3.11",
        "s-1",
        {
            "mount_ids": [folder, "other"],
            "mount_id_map": {folder: "/home/work/data"},
            "attach_network": folder,
        },
    )
    assert body["config"] == {
        "mount_ids": [str(folder), "other"],
        "mount_id_map": {str(folder): "/home/work/data"},
        "attach_network": str(folder),
    }
    # Already text: sent as given.
    as_text = build_create_body(V9, "python:3.11", "s-1", {"attach_network": "net-1"})
    assert as_text["config"] == {"attach_network": "net-1"}


def test_options_left_unset_send_no_config() -> None:
    body = build_create_body(V9, "python:3.11", "s-1", {"resources": None, "tag": None})
    assert body == {"image": "python:3.11", "name": "s-1"}


@pytest.mark.parametrize(
    ("options", "idempotent"),
    [({}, True), ({"reuse_if_exists": True}, True), ({"reuse_if_exists": False}, False)],
)
def test_only_a_get_or_create_may_be_retried(options: dict[str, object], idempotent: bool) -> None:
    assert create_is_idempotent(options) is idempotent


def test_run_ids_are_fresh_hex() -> None:
    ids = {generate_run_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(re.fullmatch(r"[0-9a-f]{16}", run_id) for run_id in ids)
