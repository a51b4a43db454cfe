from __future__ import annotations

import errno
import json
import pickle
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import backendai_aio
import backendai_aio._errors
from backendai_aio import (
    ERR_REQUEST,
    ERR_RESPONSE,
    ERR_SERVER,
    AuthenticationError,
    BackendError,
    BadRequestError,
    ClientClosedError,
    ConnectTimeoutError,
    GraphQLError,
    InternalServerError,
    InvalidArgumentError,
    LocalIOError,
    NotFoundError,
    PermissionDeniedError,
    RateLimit,
    RateLimitError,
    ReadTimeoutError,
    RequestError,
    ResponseError,
    ServerError,
    UnsupportedServerError,
    UsageError,
)
from backendai_aio._errors import decipher_response, error_from_response
from backendai_aio._gql_call import decipher_graphql
from backendai_aio._transfer.destination import local_error

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
    # The message names the request (its path, never the host or a query string) and shows
    # which field failed.
    assert error.message == (
        "POST /session: 400 Bad Request: Missing or invalid API parameters. "
        '(Input validation error); data: {"name": "does not match"}'
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
        (GraphQLError, ERR_SERVER),
        (ResponseError, ERR_RESPONSE),
        (ReadTimeoutError, ERR_RESPONSE),
        (RequestError, ERR_REQUEST),
        (ConnectTimeoutError, ERR_REQUEST),
        (LocalIOError, ERR_REQUEST),
        (UsageError, ERR_REQUEST),
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
        ConnectTimeoutError("GET http://h/: timed out connecting"),
        ReadTimeoutError("GET http://h/: timed out", maybe_applied=True),
        LocalIOError("cannot write /x", errno=28, filename="/x"),
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


# -- the tree: one drawing, in the module docstring and in docs/errors.md ---------------------

DOCS_ERRORS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def _docstring_tree() -> str:
    doc = backendai_aio._errors.__doc__ or ""
    start = doc.index("```text\n") + len("```text\n")
    return textwrap.dedent(doc[start : doc.index("```", start)]).rstrip("\n")


def _docs_tree() -> str:
    page = DOCS_ERRORS.read_text(encoding="utf-8")
    section = page[page.index("## The tree") :]
    start = section.index("```text\n") + len("```text\n")
    return section[start : section.index("```", start)].rstrip("\n")


def test_the_docs_draw_the_same_tree_as_the_module() -> None:
    assert _docs_tree() == _docstring_tree()


def test_the_drawn_tree_is_the_class_tree() -> None:
    # Each drawn name is a public class whose nearest drawn ancestor is the one above it.
    parents: list[str] = []
    drawn: list[str] = []
    for line in _docstring_tree().splitlines():
        name = re.search(r"(\w+Error)\b", line)
        assert name is not None, line
        depth = 0 if line.startswith("BackendError") else line.index(name.group(1)) // 4
        del parents[depth:]
        cls = getattr(backendai_aio, name.group(1))
        if parents:
            assert issubclass(cls, getattr(backendai_aio, parents[-1])), line
            bases = [base for base in cls.__mro__[1:] if base.__name__ in drawn]
            assert bases[0].__name__ == parents[-1], line
        parents.append(name.group(1))
        drawn.append(name.group(1))
    public = {
        name
        for name in backendai_aio.__all__
        if isinstance(getattr(backendai_aio, name), type)
        and issubclass(getattr(backendai_aio, name), BackendError)
        # The service errors are answers of a call, drawn in docs/services.md.
        and not name.startswith("Service")
    }
    assert set(drawn) == public


def test_misuse_is_not_a_request_failure() -> None:
    # ``except RequestError`` means "the network failed, try later": never a bad argument.
    for cls in (InvalidArgumentError, ClientClosedError, LocalIOError):
        assert not issubclass(cls, RequestError | ResponseError | ServerError), cls
    assert issubclass(InvalidArgumentError, UsageError)
    assert issubclass(ClientClosedError, UsageError)
    assert not issubclass(LocalIOError, UsageError | ValueError)
    assert issubclass(ConnectTimeoutError, RequestError)
    assert issubclass(ReadTimeoutError, ResponseError)
    assert issubclass(GraphQLError, ServerError) and issubclass(UnsupportedServerError, ServerError)


# -- LocalIOError: a BackendError and an OSError -----------------------------------------------


def test_a_local_io_error_is_an_os_error_with_errno_and_filename() -> None:
    error = LocalIOError("cannot write /data/x: No space left", errno=28, filename="/data/x")
    assert isinstance(error, OSError) and isinstance(error, BackendError)
    assert (error.errno, error.filename) == (28, "/data/x")
    assert str(error) == "cannot write /data/x: No space left"
    assert error.type == ERR_REQUEST and not error.maybe_applied
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is LocalIOError
    assert (copy.errno, copy.filename, copy.message) == (28, "/data/x", error.message)
    # ``except OSError`` catches it too, as code written for the standard library expects.
    with pytest.raises(OSError, match="No space left"):
        raise error


def test_local_error_keeps_what_the_os_said() -> None:
    cause = FileNotFoundError(errno.ENOENT, "No such file or directory", "/gone/x.part")
    error = local_error("cannot write to /gone", cause)
    assert isinstance(error, LocalIOError)
    assert error.message == "cannot write to /gone: No such file or directory"
    assert (error.errno, error.filename) == (errno.ENOENT, "/gone/x.part")
    assert error.__cause__ is cause


# -- the mapper: headers, the request's name and the server's data -----------------------------

LIMIT_HEADERS = {
    "X-RateLimit-Limit": "1000",
    "X-RateLimit-Remaining": "0",
    "X-RateLimit-Window": "900",
}


@pytest.mark.parametrize(
    ("headers", "rate_limit", "retry_after"),
    [
        ({**LIMIT_HEADERS, "Retry-After": "5"}, RateLimit(1000, 0, 900), 5.0),
        # Header names are case-insensitive, whatever mapping holds them.
        (
            {"x-ratelimit-limit": "10", "x-ratelimit-window": "60", "retry-after": "2"},
            RateLimit(10, None, 60),
            2.0,
        ),
        (CIMultiDictProxy(CIMultiDict(LIMIT_HEADERS)), RateLimit(1000, 0, 900), None),
        # An HTTP date already past: retry at once.
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None, 0.0),
        ({"Retry-After": "soon", "X-RateLimit-Limit": "many"}, None, None),
        ({}, None, None),
        (None, None, None),
    ],
)
def test_a_429_takes_its_rate_limit_and_retry_after_from_the_headers(
    headers: Mapping[str, str] | None, rate_limit: RateLimit | None, retry_after: float | None
) -> None:
    error = error_from_response(
        429,
        "Too Many Requests",
        "application/problem+json",
        b'{"type": "https://api.backend.ai/probs/too-many-requests", "title": "Rate limit"}',
        method="GET",
        url="http://h/session/x",
        headers=headers,
    )
    assert type(error) is RateLimitError
    assert (error.rate_limit, error.retry_after) == (rate_limit, retry_after)
    assert error.message == "GET /session/x: 429 Too Many Requests: Rate limit"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.rate_limit, copy.retry_after) == (rate_limit, retry_after)


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_other_statuses_ignore_the_rate_limit_headers(status: int) -> None:
    error = error_from_response(
        status, None, None, b"", headers={**LIMIT_HEADERS, "Retry-After": "5"}
    )
    assert not isinstance(error, RateLimitError)
    assert not hasattr(error, "retry_after")


def test_decipher_response_passes_the_headers_on() -> None:
    with pytest.raises(RateLimitError) as caught:
        decipher_response(
            429,
            "Too Many Requests",
            None,
            b"",
            method="POST",
            url=URL("http://h/session?owner=x"),
            headers={"Retry-After": "7", **LIMIT_HEADERS},
        )
    assert caught.value.retry_after == 7.0
    assert caught.value.rate_limit == RateLimit(1000, 0, 900)
    assert caught.value.message == "POST /session: 429 Too Many Requests"
    assert caught.value.url == "http://h/session?owner=x"


@pytest.mark.parametrize(
    ("method", "url", "prefix"),
    [
        ("GET", "http://h:8081/session/x", "GET /session/x: "),
        # The query string may carry a token: the message shows the path alone.
        ("GET", "http://h/folders/_/download?token=secret-jwt", "GET /folders/_/download: "),
        ("POST", "http://h/func/session/a%2Fb", "POST /func/session/a%2Fb: "),
        ("DELETE", "http://h", "DELETE /: "),
        ("GET", None, "GET: "),
        (None, None, ""),
    ],
)
def test_a_server_error_names_the_request(method: str | None, url: str | None, prefix: str) -> None:
    error = error_from_response(
        404, "Not Found", "application/problem+json", PROBLEM_404, method=method, url=url
    )
    assert error.message == f"{prefix}404 Not Found: No such session."
    assert (error.method, error.url) == (method, url)
    assert "secret-jwt" not in error.message


def test_the_servers_data_is_shown_bounded() -> None:
    fields = {f"field_{n}": "is required" for n in range(100)}
    body = json.dumps({"title": "Invalid API parameters.", "data": fields}).encode()
    error = error_from_response(
        400, "Bad Request", "application/problem+json", body, method="POST", url="http://h/session"
    )
    assert error.message.startswith(
        'POST /session: 400 Bad Request: Invalid API parameters.; data: {"field_0": "is required"'
    )
    assert error.message.endswith("...") and len(error.message) < 300
    assert error.data == fields
    # No data, or empty data, adds nothing.
    empties: tuple[Any, ...] = (None, {}, [])
    for empty in empties:
        body = json.dumps({"title": "Bad.", "data": empty}).encode()
        assert error_from_response(400, None, "application/json", body).message == "400: Bad."


# -- GraphQL: one mapping for Client.query and the namespaces ----------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (["not", "an", "object"], "POST /admin/gql: the GraphQL answer is not an object"),
        ({"data": None}, "POST /admin/gql: the GraphQL answer has no data"),
        (
            {"errors": [{"message": "Cannot query field 'x' on type 'Queries'."}]},
            "POST /admin/gql: GraphQL error: Cannot query field 'x' on type 'Queries'.",
        ),
        (
            {
                "data": {"agents": None},
                "errors": [
                    {"message": "Forbidden operation.", "path": ["agents", 0, "id"]},
                    {"message": "Forbidden operation.", "path": ["agents", 1, "id"]},
                ],
            },
            "POST /admin/gql: GraphQL error: Forbidden operation. (at agents.0.id) (and 1 more)",
        ),
        ({"errors": "boom"}, "POST /admin/gql: GraphQL error: boom"),
    ],
)
def test_graphql_errors_map_to_graphql_error(body: Any, message: str) -> None:
    with pytest.raises(GraphQLError) as caught:
        decipher_graphql(body, url="http://h/admin/gql")
    error = caught.value
    assert error.message == message
    assert (error.status, error.method, error.url, error.body) == (
        200,
        "POST",
        "http://h/admin/gql",
        body,
    )
    if isinstance(body, Mapping) and body.get("errors"):
        assert error.data == body["errors"]


def test_a_graphql_answer_gives_its_data() -> None:
    data = {"keypair": {"access_key": "AK"}}
    assert decipher_graphql({"data": data}, url="/admin/gql") == data
    # Errors win over partial data.
    with pytest.raises(GraphQLError):
        decipher_graphql({"data": data, "errors": [{"message": "x"}]}, url="/admin/gql")
