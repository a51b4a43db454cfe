"""The exception tree, and the mapping from a failed response to an exception (pure).

Every failure of a call raises a [`BackendError`][backendai_aio.BackendError]; its ``type`` says
which side failed, as in the original JavaScript client:

```text
BackendError                      (root: catch this)
├── ServerError                   ERR_SERVER: the server answered a failure status
│   ├── BadRequestError           400 (invalid parameters, session already exists, ...)
│   │   └── RunInProgressError    400: the session still runs earlier code
│   ├── AuthenticationError       401 (unknown key, signature mismatch)
│   ├── PermissionDeniedError     403
│   ├── NotFoundError             404 (no such session, image, URL)
│   ├── RateLimitError            429
│   ├── InternalServerError       5xx (including a proxy's HTML 502/504 page)
│   │   └── NotSupportedError     501: the server no longer offers the call
│   └── GraphQLError              200 with an ``errors`` list (`_account`)
├── UnsupportedServerError        ERR_SERVER: the server's API version is too old
├── ResponseError                 ERR_RESPONSE: reading or decoding the response failed
│   └── RunDeadlineError          ``run()`` passed its deadline or its number of steps
├── InputRequiredError            the code asked for input and ``run()`` had no ``on_input``
└── RequestError                  ERR_REQUEST: sending failed (refused, DNS, TLS, timeout)
    ├── InvalidArgumentError      the call's arguments or configuration are invalid
    │   └── LocalIOError          a local file or folder of a transfer failed
    └── ClientClosedError         the client was used after ``close()``
```

Every error carries ``maybe_applied``: whether the request may have reached the server and
been acted on (a non-idempotent call must then not simply be sent again).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal

from ._decoding import BodyDecodeError, decode_body
from ._ratelimits import RateLimit

__all__ = [
    "ERR_REQUEST",
    "ERR_RESPONSE",
    "ERR_SERVER",
    "AuthenticationError",
    "BackendError",
    "BadRequestError",
    "ClientClosedError",
    "ErrorType",
    "InsecureTLSWarning",
    "InternalServerError",
    "InvalidArgumentError",
    "LocalIOError",
    "NotFoundError",
    "NotSupportedError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestError",
    "ResponseError",
    "ServerError",
    "UnsupportedServerError",
    "decipher_response",
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
        #: A human-readable summary: the status and the server's details where there are any.
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
        #: The request's HTTP method.
        self.method = method
        #: The request's URL.
        self.url = url
        #: ``True`` when the request went out and no complete answer came back, so the server
        #: may have acted on it; ``False`` when nothing was sent, or the server answered (its
        #: status says what happened).
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
    error.__dict__.update(state)
    return error


class ServerError(BackendError):
    """The server answered a failure status (ERR_SERVER)."""

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

    #: The ``X-RateLimit-*`` values of the refusing response, if it carried them.
    rate_limit: RateLimit | None = None
    #: The server's ``Retry-After``, in seconds, if it sent one.
    retry_after: float | None = None


class InternalServerError(ServerError):
    """5xx: the server, or a proxy in front of it, failed."""


class NotSupportedError(InternalServerError):
    """501: the server's release no longer offers the call (the message says what instead)."""


class UnsupportedServerError(BackendError):
    """The server's API version is older than this client supports (ERR_SERVER)."""

    type: ErrorType = ERR_SERVER


class ResponseError(BackendError):
    """Reading or decoding the response failed (ERR_RESPONSE)."""

    type: ErrorType = ERR_RESPONSE


class RequestError(BackendError):
    """Sending the request failed: refused, DNS, TLS, timeout while connecting (ERR_REQUEST).

    A connection closed after the request went out is one too, with ``maybe_applied`` set:
    the server may have acted on it.
    """

    type: ErrorType = ERR_REQUEST


class InvalidArgumentError(RequestError, ValueError):
    """The call's arguments or the configuration are invalid; nothing was sent."""


class LocalIOError(InvalidArgumentError):
    """A local file or folder of a transfer could not be read or written.

    The path, its permissions or the disk is at fault, not the server; the original
    ``OSError`` is the ``__cause__``.
    """


class ClientClosedError(RequestError):
    """The client was used after ``close()``."""


class InsecureTLSWarning(UserWarning):
    """TLS certificate verification is switched off (``ssl=False``)."""


_STATUS_CLASSES: Final[Mapping[int, type[ServerError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}

# What decoding a server-controlled body may raise besides BodyDecodeError: a deeply nested
# JSON document exhausts the recursion limit, odd numbers overflow. The body is the server's
# fault, so each is a ResponseError naming the call, never a bare exception.
_DECODE_FAILURES: Final = (BodyDecodeError, ValueError, RecursionError, OverflowError, TypeError)


def describe_decode_failure(exc: BaseException) -> str:
    """One line for a body that could not be decoded."""
    if isinstance(exc, RecursionError):
        return "the body nests too deeply to decode"
    return f"the body could not be decoded ({type(exc).__name__}: {str(exc)[:200]})"


_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
_SNIPPET_LENGTH = 200


def _server_error_class(status: int) -> type[ServerError]:
    if status >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status, ServerError)


def _snippet(text: str) -> str:
    """Reduce an HTML or text error page to one short line."""
    flat = _SPACES.sub(" ", _TAGS.sub(" ", text)).strip()
    return flat if len(flat) <= _SNIPPET_LENGTH else flat[: _SNIPPET_LENGTH - 3] + "..."


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def error_from_response(
    status: int,
    reason: str | None,
    content_type: str | None,
    body: bytes,
    *,
    method: str | None = None,
    url: str | None = None,
) -> ServerError:
    """Build the exception for a failure status, from whatever body the server sent.

    A problem+json body gives ``problem_type``, ``title``, ``msg`` and ``data``; an HTML or
    text page (a proxy's 502, say) gives a one-line snippet in the message. Never raises.
    """
    try:
        decoded = decode_body(status, content_type, body)
    except _DECODE_FAILURES:
        decoded = body.decode("utf-8", errors="replace")
    problem_type = title = msg = None
    data: Any = None
    detail = ""
    if isinstance(decoded, Mapping):
        problem_type = _optional_str(decoded.get("type"))
        title = _optional_str(decoded.get("title"))
        msg = _optional_str(decoded.get("msg"))
        data = decoded.get("data")
        detail = " ".join(part for part in (title, f"({msg})" if msg else None) if part)
    elif isinstance(decoded, bytes):
        detail = _snippet(decoded.decode("utf-8", errors="replace"))
    elif decoded is not None:
        detail = _snippet(str(decoded))
    head = f"{status} {reason}" if reason else str(status)
    message = f"{head}: {detail}" if detail else head
    return _server_error_class(status)(
        message,
        status=status,
        problem_type=problem_type,
        title=title,
        msg=msg,
        data=data,
        body=decoded,
        method=method,
        url=url,
    )


def decipher_response(
    status: int,
    reason: str | None,
    content_type: str | None,
    body: bytes,
    *,
    method: str | None = None,
    url: object = None,
) -> Any:
    """Turn a complete response into its decoded body, or raise the matching BackendError.

    A failure status raises the [`ServerError`][backendai_aio.ServerError] of `error_from_response`;
    a body that its Content-Type says is JSON but is not raises
    [`ResponseError`][backendai_aio.ResponseError]. *url* (a string or a ``yarl.URL``) is turned
    into text only for an error.
    """
    if status >= 400:
        text = None if url is None else str(url)
        raise error_from_response(status, reason, content_type, body, method=method, url=text)
    try:
        return decode_body(status, content_type, body)
    except _DECODE_FAILURES as exc:
        text = None if url is None else str(url)
        detail = exc if isinstance(exc, BodyDecodeError) else describe_decode_failure(exc)
        raise ResponseError(
            f"{method} {text}: {detail}",
            status=status,
            method=method,
            url=text,
            maybe_applied=True,
        ) from exc


# -- failures of the run loop (Client.run) ----------------------------------------------------

__all__ += ["InputRequiredError", "RunDeadlineError", "RunInProgressError"]


class RunInProgressError(BadRequestError):
    """400: the session is still running earlier code, so it refused new code.

    Wait for that run to end, or stop it with ``client.interrupt(session)``.
    """


class InputRequiredError(BackendError):
    """The code asked for input and `Client.run` was given no ``on_input``.

    The run was interrupted; `prompt` holds what the code printed as its prompt. Its
    ``type`` is ``ERR_REQUEST``: the call, not the server, must change (pass ``on_input``).
    """

    type: ErrorType = ERR_REQUEST

    def __init__(self, message: str, *, prompt: str = "", **fields: Any) -> None:
        super().__init__(message, **fields)
        #: What the code printed before asking (its prompt).
        self.prompt = prompt


class RunDeadlineError(ResponseError):
    """`Client.run` gave up: the run outlived its deadline or its number of steps.

    The run was interrupted.
    """
