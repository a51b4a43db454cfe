"""The exception tree, and the mapping from a failed response to an exception (pure).

Every failure raises a [`BackendError`][backendai_aio.BackendError] (docs/errors.md: this tree):

```text
BackendError                      (root: catch this)
├── ServerError                   ERR_SERVER: the server answered, and refused or failed
│   ├── BadRequestError           400 (invalid parameters, session already exists, ...)
│   │   └── RunInProgressError    400: the session still runs earlier code
│   ├── AuthenticationError       401 (unknown key, signature mismatch)
│   ├── PermissionDeniedError     403
│   ├── NotFoundError             404 (no such session, image, URL)
│   ├── RateLimitError            429 (.rate_limit, .retry_after)
│   ├── InternalServerError       5xx (including a proxy's HTML 502/504 page)
│   │   └── NotSupportedError     501: the server no longer offers the call
│   ├── GraphQLError              200 with an errors list
│   └── UnsupportedServerError    the server's API version is too old
├── RequestError                  ERR_REQUEST: nothing was answered (refused, DNS, TLS, reset)
│   └── ConnectTimeoutError       timed out connecting, or before the request went out
├── ResponseError                 ERR_RESPONSE: the answer was cut short, undecodable, refused
│   ├── ReadTimeoutError          sent, and no answer in time: the server may have acted
│   └── RunDeadlineError          run() passed its deadline or its number of steps
├── LocalIOError                  ERR_REQUEST: a local source or destination file (an OSError)
├── UsageError                    ERR_REQUEST: the call itself is wrong; nothing was sent
│   ├── InvalidArgumentError      bad arguments or configuration (also a ValueError)
│   └── ClientClosedError         the client was used after close()
├── TreeTransferError             a file of upload_tree()/download_tree() failed (.path)
└── InputRequiredError            the code asked for input and run() had no on_input
```

Every error carries the request's ``method`` and ``url`` where there was one, and
``maybe_applied``: whether the server may have acted on it (then do not simply send again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from ._decoding import BodyDecodeError, decode_body
from ._error_parts import (
    DECODE_FAILURES,
    describe_decode_failure,
    problem_fields,
    rate_limit_fields,
)
from ._ratelimits import RateLimit

__all__ = [
    "ERR_REQUEST",
    "ERR_RESPONSE",
    "ERR_SERVER",
    "AuthenticationError",
    "BackendError",
    "BadRequestError",
    "ClientClosedError",
    "ConnectTimeoutError",
    "ErrorType",
    "GraphQLError",
    "InputRequiredError",
    "InsecureTLSWarning",
    "InternalServerError",
    "InvalidArgumentError",
    "LocalIOError",
    "NotFoundError",
    "NotSupportedError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReadTimeoutError",
    "RequestError",
    "ResponseError",
    "RunDeadlineError",
    "RunInProgressError",
    "ServerError",
    "UnsupportedServerError",
    "UsageError",
    "decipher_response",
    "describe_decode_failure",
    "error_from_response",
]

ErrorType = Literal["ERR_SERVER", "ERR_RESPONSE", "ERR_REQUEST"]
ERR_SERVER: Final = "ERR_SERVER"
ERR_RESPONSE: Final = "ERR_RESPONSE"
ERR_REQUEST: Final = "ERR_REQUEST"


class BackendError(Exception):
    """The root of every error this package raises for a failed call.

    Attributes are ``None`` where they are unknown (a refused connection has no status).
    """

    #: Which side failed: ``ERR_SERVER``, ``ERR_RESPONSE`` or ``ERR_REQUEST``.
    type: ErrorType = ERR_SERVER
    # The default for an error unpickled from a version that did not record it.
    maybe_applied: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        problem_type: str | None = None,
        title: str | None = None,
        msg: str | None = None,
        data: Any = None,
        body: Any = None,
        method: str | None = None,
        url: str | None = None,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(message)
        #: A human-readable summary: the request, the status and the server's details.
        self.message = message
        #: The HTTP status of the response, if one arrived.
        self.status = status
        #: The RFC 7807 problem type URL, e.g. ``https://api.backend.ai/probs/auth-failed``.
        self.problem_type = problem_type
        #: The problem title, e.g. ``"No such session."``.
        self.title = title
        #: The server's extra message (``msg`` in the problem body).
        self.msg = msg
        #: The server's extra data (``data`` in the problem body), e.g. per-field errors.
        self.data = data
        #: The decoded response body, if any.
        self.body = body
        #: The request's HTTP method, if a request was made.
        self.method = method
        #: The request's URL, if a request was made.
        self.url = url
        #: Whether the request went out and no complete answer came (the server may have
        #: acted on it); ``False`` when nothing was sent or the server answered.
        self.maybe_applied = maybe_applied

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        # One shape for every error, whatever is known: the message, then the same fields.
        return (
            f"{type(self).__name__}({self.message!r}, type={self.type!r}, "
            f"status={self.status!r}, maybe_applied={self.maybe_applied!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only state survives pickling (for multiprocessing and task results).
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[BackendError], message: str, state: dict[str, Any]) -> BackendError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    for name, value in state.items():
        # setattr, not __dict__: OSError's errno and filename live in slots.
        setattr(error, name, value)
    return error


class ServerError(BackendError):
    """The server answered, and refused or failed the call (ERR_SERVER).

    The message names the request and shows what the server said:
    ``GET /session/x: 404 Not Found: No such session.``, followed by the server's ``data``
    (which field failed) cut to a bounded length.
    """

    type: ErrorType = ERR_SERVER


class BadRequestError(ServerError):
    """400: the server refused the request's parameters."""


class AuthenticationError(ServerError):
    """401: unknown access key, signature mismatch or missing credentials."""


class PermissionDeniedError(ServerError):
    """403: the keypair may not do this."""


class NotFoundError(ServerError):
    """404: no such session, image, folder or URL."""


class RateLimitError(ServerError):
    """429: the keypair's API rate limit was reached (raised once retries are exhausted)."""

    def __init__(
        self,
        message: str,
        *,
        rate_limit: RateLimit | None = None,
        retry_after: float | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message, **fields)
        #: The ``X-RateLimit-*`` values of the refusing response, if it carried them.
        self.rate_limit = rate_limit
        #: The server's ``Retry-After``, in seconds, if it sent one.
        self.retry_after = retry_after


class InternalServerError(ServerError):
    """5xx: the server, or a proxy in front of it, failed."""


class NotSupportedError(InternalServerError):
    """501: the server's release no longer offers the call (the message says what instead)."""


class GraphQLError(ServerError):
    """The GraphQL endpoint answered ``errors`` (with HTTP 200); ``data`` holds them.

    The message names the first error's message and, when the server gave one, its path
    (the field that failed); ``body`` is the whole answer, partial ``data`` included.
    """


class UnsupportedServerError(ServerError):
    """The server's API version is older than this client supports (ERR_SERVER)."""


class RequestError(BackendError):
    """No answer came: refused, DNS, TLS, or the connection failed (ERR_REQUEST).

    ``maybe_applied`` says whether the request went out: a connection closed after the
    request was sent may have been acted on.
    """

    type: ErrorType = ERR_REQUEST


class ConnectTimeoutError(RequestError):
    """Connecting timed out, or the call's deadline passed before the request went out.

    Nothing of this attempt was sent (``maybe_applied`` is ``False``): sending again is safe.
    """


class ResponseError(BackendError):
    """Reading, decoding or following the response failed (ERR_RESPONSE)."""

    type: ErrorType = ERR_RESPONSE


class ReadTimeoutError(ResponseError):
    """The request went out and no (complete) answer came in time.

    The read limit or the call's deadline passed; ``maybe_applied`` is ``True``: the server
    may be acting on the request, so only an idempotent call is safe to send again.
    """


class LocalIOError(BackendError, OSError):
    """A local file or folder of a transfer could not be read or written (ERR_REQUEST).

    The path, its permissions or the disk is at fault, not the server. It is an ``OSError``
    too: ``errno`` and ``filename`` are set when known, and the original ``OSError`` (if
    any) is the ``__cause__``.
    """

    type: ErrorType = ERR_REQUEST

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        filename: str | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message, **fields)
        self.errno = errno
        self.filename = filename

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__, errno=self.errno, filename=self.filename)
        return (_rebuild, (type(self), self.message, state))


class UsageError(BackendError):
    """The call itself is wrong: fix the code, not the network (ERR_REQUEST).

    Nothing was sent, and sending the same call again fails the same way.
    """

    type: ErrorType = ERR_REQUEST


class InvalidArgumentError(UsageError, ValueError):
    """The call's arguments or the configuration are invalid; nothing was sent."""


class ClientClosedError(UsageError):
    """The client was used after ``close()``."""


class InsecureTLSWarning(UserWarning):
    """TLS certificate verification is switched off (``ssl=False``)."""


_STATUS_CLASSES: Final[Mapping[int, type[ServerError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
}


def error_from_response(
    status: int,
    reason: str | None,
    content_type: str | None,
    body: bytes,
    *,
    method: str | None = None,
    url: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> ServerError:
    """Build the exception for a failure status, from whatever body the server sent.

    A problem+json body gives ``problem_type``, ``title``, ``msg`` and ``data``, an HTML or
    text page a one-line snippet; a 429 takes ``rate_limit`` and ``retry_after`` from
    *headers* (``X-RateLimit-*``, ``Retry-After``). Never raises.
    """
    message, fields = problem_fields(status, reason, content_type, body, method=method, url=url)
    if status == 429:
        return RateLimitError(message, **fields, **rate_limit_fields(headers))
    cls = InternalServerError if status >= 500 else _STATUS_CLASSES.get(status, ServerError)
    return cls(message, **fields)


def decipher_response(
    status: int,
    reason: str | None,
    content_type: str | None,
    body: bytes,
    *,
    method: str | None = None,
    url: object = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """Turn a complete response into its decoded body, or raise the matching BackendError.

    A failure status raises the [`ServerError`][backendai_aio.ServerError] of `error_from_response`
    (given the response's *headers*); a body that its Content-Type says is JSON but is not raises
    [`ResponseError`][backendai_aio.ResponseError]. *url* (a string or a ``yarl.URL``) is turned
    into text only for an error.
    """
    if status >= 400:
        text = None if url is None else str(url)
        raise error_from_response(
            status, reason, content_type, body, method=method, url=text, headers=headers
        )
    try:
        return decode_body(status, content_type, body)
    except DECODE_FAILURES as exc:
        text = None if url is None else str(url)
        detail = exc if isinstance(exc, BodyDecodeError) else describe_decode_failure(exc)
        raise ResponseError(
            f"{method} {text}: {detail}",
            status=status,
            method=method,
            url=text,
            maybe_applied=True,
        ) from exc


# -- failures of the run loop (Sessions.run) ----------------------------------------------------


class RunInProgressError(BadRequestError):
    """400: the session is still running earlier code, so it refused new code.

    Wait for that run to end, or stop it with ``client.interrupt(session)``.
    """


class InputRequiredError(BackendError):
    """The code asked for input and `Sessions.run` was given no ``on_input``.

    The run was interrupted; `prompt` holds what the code printed as its prompt. Its
    ``type`` is ``ERR_REQUEST``: the call, not the server, must change (pass ``on_input``).
    """

    type: ErrorType = ERR_REQUEST

    def __init__(self, message: str, *, prompt: str = "", **fields: Any) -> None:
        super().__init__(message, **fields)
        #: What the code printed before asking (its prompt).
        self.prompt = prompt


class RunDeadlineError(ResponseError):
    """`Sessions.run` gave up: the run outlived its deadline or its number of steps.

    The run was interrupted.
    """
