"""Real-manager answers (tests/samples/*.json) replayed through the pure error mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backendai_aio import InternalServerError, NotFoundError, NotSupportedError, ServerError
from backendai_aio._errors import decipher_response, error_from_response

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PROBS = "https://api.backend.ai/probs/"


def load(name: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text("utf-8"))
    return sample


def wire_body(sample: dict[str, Any]) -> bytes:
    return json.dumps(sample["body"]).encode()


def test_every_sample_is_in_a_table() -> None:
    names = {path.stem for path in SAMPLES.glob("*.json")}
    assert names == set(ERRORS) | set(VERSIONS)


#: sample -> (exception class, problem type, title, msg)
ERRORS: dict[str, tuple[type[ServerError], str, str, str | None]] = {
    "23.09-session-not-found": (
        NotFoundError,
        PROBS + "object-not-found",
        "No such session.",
        "Session (id=nosuch) does not exist.",
    ),
    "26.9-session-not-found": (
        NotFoundError,
        PROBS + "entity-not-found",
        "Entity not found.",
        "No SessionRow matches the given key",
    ),
    "26.9-restart-not-implemented": (
        InternalServerError,
        PROBS + "not-implemented",
        "This API is not implemented.",
        "Session restart is no longer supported. "
        "Terminate the session and enqueue a new one instead.",
    ),
    "23.09-url-not-found": (NotFoundError, PROBS + "url-not-found", "Unknown URL path.", None),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_answers_map_to_their_exception(name: str) -> None:
    sample = load(name)
    cls, problem_type, title, msg = ERRORS[name]
    url = "http://127.0.0.1:8091" + sample["path"]
    error = error_from_response(
        sample["status"],
        sample["reason"],
        sample["content_type"],
        wire_body(sample),
        method=sample["method"],
        url=url,
    )
    assert type(error) is cls
    assert (error.status, error.problem_type, error.title, error.msg) == (
        sample["status"],
        problem_type,
        title,
        msg,
    )
    assert error.body == sample["body"]
    assert (error.method, error.url) == (sample["method"], url)
    assert error.message.startswith(
        f"{sample['method']} {sample['path']}: {sample['status']} {sample['reason']}: {title}"
    )
    if msg is not None:
        assert f"({msg})" in error.message
    # decipher_response raises the same mapping for the complete response.
    with pytest.raises(cls) as raised:
        decipher_response(
            sample["status"], sample["reason"], sample["content_type"], wire_body(sample)
        )
    assert raised.value.problem_type == problem_type


def test_the_501_of_restart_is_left_to_the_call_to_name() -> None:
    # The pure mapping gives a 501 as an InternalServerError like any 5xx; restart() is what
    # turns this one into a NotSupportedError, whose message says what to do instead.
    sample = load("26.9-restart-not-implemented")
    error = error_from_response(
        sample["status"], sample["reason"], sample["content_type"], wire_body(sample)
    )
    assert not isinstance(error, NotSupportedError)


#: sample -> (API version, manager release)
VERSIONS = {
    "23.09-version": ("v7.20230615", "23.09.10"),
    "26.9-version": ("v9.20250722", "26.9.6"),
}


@pytest.mark.parametrize("name", sorted(VERSIONS))
def test_version_answers_decode_to_their_body(name: str) -> None:
    sample = load(name)
    decoded = decipher_response(
        sample["status"], sample["reason"], sample["content_type"], wire_body(sample)
    )
    assert decoded == {"version": VERSIONS[name][0], "manager": VERSIONS[name][1]}
