from __future__ import annotations

import pickle
import re

import pytest

from backendai_aio import (
    ERR_REQUEST,
    ERR_RESPONSE,
    ERR_SERVER,
    AuthenticationError,
    BackendError,
    BadRequestError,
    ClientClosedError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestError,
    ResponseError,
    ServerError,
    UnsupportedServerError,
)
from backendai_aio._errors import decipher_response, error_from_response

PROBLEM_404 = (
    b'{"type": "https://api.backend.ai/probs/object-not-found", "title": "No such session."}'
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (405, ServerError),
        (409, ServerError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
    ],
)
def test_status_picks_the_subclass(status: int, cls: type[ServerError]) -> None:
    error = error_from_response(status, None, "application/problem+json", b"{}")
    assert type(error) is cls
    assert error.type == ERR_SERVER
    assert error.status == status
    assert isinstance(error, BackendError)


def test_problem_json_fields() -> None:
    body = (
        b'{"type": "https://api.backend.ai/probs/invalid-api-params",'
        b' "title": "Missing or invalid API parameters.", "msg": "Input validation error",'
        b' "data": {"name": "does not match"}}'
    )
    error = error_from_response(
        400, "Bad Request", "application/problem+json", body, method="POST", url="http://h/session"
    )
    assert error.problem_type == "https://api.backend.ai/probs/invalid-api-params"
    assert error.title == "Missing or invalid API parameters."
    assert error.msg == "Input validation error"
    assert error.data == {"name": "does not match"}
    assert error.method == "POST" and error.url == "http://h/session"
    assert error.message == (
        "400 Bad Request: Missing or invalid API parameters. (Input validation error)"
    )
    assert str(error) == error.message


def test_404_problem() -> None:
    error = error_from_response(404, "Not Found", "application/problem+json", PROBLEM_404)
    assert isinstance(error, NotFoundError)
    assert error.title == "No such session."
    assert error.msg is None and error.data is None
    assert error.message == "404 Not Found: No such session."


def test_html_502_page_from_a_proxy() -> None:
    page = (
        b"<html><head><title>502 Bad Gateway</title></head>\n"
        b"<body><h1>Bad Gateway</h1></body></html>"
    )
    error = error_from_response(502, "Bad Gateway", "text/html", page)
    assert isinstance(error, InternalServerError)
    assert error.type == ERR_SERVER and error.status == 502
    assert error.title is None and error.problem_type is None
    assert "Bad Gateway" in error.message and "<" not in error.message
    assert error.body == page.decode()


def test_invalid_json_under_a_json_type_still_maps_to_the_status() -> None:
    error = error_from_response(500, None, "application/json", b"{oops")
    assert isinstance(error, InternalServerError)
    assert error.message == "500: {oops"


def test_long_text_is_shortened() -> None:
    error = error_from_response(503, None, "text/plain", b"x" * 5000)
    assert len(error.message) < 250 and error.message.endswith("...")


def test_non_object_json_and_empty_bodies() -> None:
    assert error_from_response(400, None, "application/json", b"[1]").title is None
    assert error_from_response(401, "Unauthorized", None, b"").message == "401 Unauthorized"
    assert error_from_response(418, None, "application/octet-stream", b"\x00").status == 418


@pytest.mark.parametrize(
    ("cls", "error_type"),
    [
        (ServerError, ERR_SERVER),
        (UnsupportedServerError, ERR_SERVER),
        (ResponseError, ERR_RESPONSE),
        (RequestError, ERR_REQUEST),
        (InvalidArgumentError, ERR_REQUEST),
        (ClientClosedError, ERR_REQUEST),
    ],
)
def test_error_types(cls: type[BackendError], error_type: str) -> None:
    assert cls("m").type == error_type


def test_invalid_argument_is_also_a_value_error() -> None:
    assert issubclass(InvalidArgumentError, ValueError)


def test_errors_pickle_with_their_fields() -> None:
    error = error_from_response(404, "Not Found", "application/problem+json", PROBLEM_404)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is NotFoundError
    assert (copy.status, copy.title, copy.message) == (404, "No such session.", error.message)


def test_repr_names_type_and_status() -> None:
    error = error_from_response(404, "Not Found", "application/problem+json", PROBLEM_404)
    assert repr(error) == (
        "NotFoundError('404 Not Found: No such session.', type='ERR_SERVER', status=404, "
        "maybe_applied=False)"
    )


@pytest.mark.parametrize(
    "error",
    [
        error_from_response(404, "Not Found", "application/problem+json", PROBLEM_404),
        ResponseError("GET http://h/: timed out", maybe_applied=True),
        RequestError("GET http://h/: cannot connect"),
        InvalidArgumentError("bad"),
        ClientClosedError("closed"),
        UnsupportedServerError("old"),
    ],
)
def test_every_error_has_one_repr_shape(error: BackendError) -> None:
    # The same fields in the same order, whether a status is known or not.
    shape = re.fullmatch(
        r"(\w+)\('.*', type='(ERR_\w+)', status=(\d+|None), maybe_applied=(True|False)\)",
        repr(error),
    )
    assert shape is not None, repr(error)
    assert shape.group(1) == type(error).__name__
    assert shape.group(2) == error.type
    assert pickle.loads(pickle.dumps(error)).maybe_applied == error.maybe_applied


def test_a_deeply_nested_body_never_escapes_as_recursion_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ResponseError, match="GET http://h/x") as caught:
        decipher_response(200, "OK", "application/json", deep, method="GET", url="http://h/x")
    assert caught.value.status == 200 and caught.value.maybe_applied
    failed = error_from_response(500, None, "application/json", deep)
    assert isinstance(failed, InternalServerError) and len(failed.message) < 300
