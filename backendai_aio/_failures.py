"""Failures before an answer, as aiohttp and the OS report them, turned into BackendErrors.

Each message names the call and the phase, and says whether the request went out: when
nothing was sent, sending again is safe; when it was sent and no answer came, the server may
have acted on it (``maybe_applied``), and only an idempotent call may be sent again blindly.
"""

from __future__ import annotations

import asyncio
from typing import Final

import aiohttp
from yarl import URL

from ._errors import BackendError, ConnectTimeoutError, ReadTimeoutError, RequestError
from ._timeouts import Timeout

__all__ = [
    "MAYBE_APPLIED",
    "NOTHING_SENT",
    "TRANSPORT_ERRORS",
    "deadline_passed",
    "describe_failure",
    "is_deadline",
    "nothing_sent",
    "retriable_before_response",
    "transport_error",
]

#: Failures of the transport, as aiohttp and the OS report them.
TRANSPORT_ERRORS: Final = (aiohttp.ClientError, asyncio.TimeoutError, OSError)

#: The wording of a failure after which the server certainly received nothing.
NOTHING_SENT: Final = "nothing was sent"
#: The wording of a failure after which the server may have acted on the request.
MAYBE_APPLIED: Final = "the request was sent and the server may have acted on it"


def describe_failure(exc: BaseException) -> str:
    """Name an exception and its text in one line, for an error message."""
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


def _limit(seconds: float | None) -> str:
    return "no limit" if seconds is None else f"limit {seconds:g} s"


def nothing_sent(exc: BaseException) -> bool:
    """Nothing reached the server: the connection itself could not be made."""
    # aiohttp reports a deadline that passes while connecting as a ConnectionTimeoutError.
    return isinstance(
        exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError | aiohttp.InvalidURL
    )


def retriable_before_response(exc: BaseException) -> bool:
    """A failure before any response that a retry may cure (not TLS, not a read timeout)."""
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.SocketTimeoutError):
        return False
    return nothing_sent(exc) or isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError
    )


def is_deadline(exc: BaseException) -> bool:
    """A timeout from the whole-call timer, not from a connect or read limit."""
    return isinstance(exc, asyncio.TimeoutError) and not isinstance(exc, aiohttp.ServerTimeoutError)


def transport_error(
    exc: BaseException,
    method: str,
    target: URL,
    limits: Timeout,
    *,
    out_of_time: bool = False,
) -> BackendError:
    """Describe a failure before any response, naming the phase and what was sent.

    *out_of_time* says the call's deadline had passed when it failed, so a timeout is the
    deadline's, whichever limit aiohttp names.
    """
    where = f"{method} {target}"
    deadline = f"the call's deadline (total {_limit(limits.total)})"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        phase = (
            f"{deadline} passed while connecting"
            if out_of_time
            else f"timed out connecting (connect {_limit(limits.connect)})"
        )
        return ConnectTimeoutError(
            f"{where}: {phase}; {NOTHING_SENT}", method=method, url=str(target)
        )
    if isinstance(exc, asyncio.TimeoutError):
        # The request went out (or part of it): the server may be working on it.
        if out_of_time or is_deadline(exc):
            phase = f"timed out: {deadline} passed before the response"
        else:
            phase = f"timed out waiting for the response (read {_limit(limits.read)})"
        return ReadTimeoutError(
            f"{where}: {phase}; {MAYBE_APPLIED}",
            method=method,
            url=str(target),
            maybe_applied=True,
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        phase = f"TLS failed: {describe_failure(exc)}"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        phase = f"cannot connect: {describe_failure(exc)}"
    elif nothing_sent(exc):
        phase = f"invalid URL: {describe_failure(exc)}"
    else:
        # A connection was made, and closed (or failed) before a response: whether the
        # server read the request, and acted on it, cannot be known from here.
        return RequestError(
            f"{where}: the connection failed before a response: {describe_failure(exc)}; "
            f"{MAYBE_APPLIED}",
            method=method,
            url=str(target),
            maybe_applied=True,
        )
    return RequestError(f"{where}: {phase}; {NOTHING_SENT}", method=method, url=str(target))


def deadline_passed(
    method: str, target: URL, limits: Timeout, attempts: int, unanswered: bool
) -> BackendError:
    """The call's deadline passed between attempts, or before the first (*attempts* = 0).

    *unanswered* says an earlier attempt went out and got no answer, so it may have been
    applied (a `ReadTimeoutError`); otherwise every attempt was answered or never
    sent, and nothing more goes out (a `ConnectTimeoutError`).
    """
    head = f"{method} {target}: timed out: the call's deadline (total {_limit(limits.total)})"
    if unanswered:
        return ReadTimeoutError(
            f"{head} passed; {MAYBE_APPLIED}", method=method, url=str(target), maybe_applied=True
        )
    if attempts:
        return ConnectTimeoutError(
            f"{head} passed before another attempt", method=method, url=str(target)
        )
    return ConnectTimeoutError(
        f"{head} passed before the request; {NOTHING_SENT}", method=method, url=str(target)
    )
