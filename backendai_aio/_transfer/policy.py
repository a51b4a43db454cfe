"""Decisions of resumable transfers, as plain functions and state (no I/O).

- `Stalls` decides when a transfer gives up: after *max_attempts* consecutive
  failures **without progress** between them. A transfer that fails often but gets further
  each time goes on; one whose server keeps losing what it received (answering offset 0
  again and again) stops.
- `next_upload_offset` checks a tus ``PATCH`` answer.
- `range_plan` reads a download answer's status and ``Content-Range`` into what to do
  with the body, and `after_416` what a ``416`` means.
- `token_refused` decides whether a tree upload asks again for a file's upload token.
"""

from __future__ import annotations

import copy
import enum
from typing import Final, NamedTuple

import aiohttp

from .._backoff import jittered_backoff
from .._errors import (
    BackendError,
    ClientClosedError,
    InternalServerError,
    InvalidArgumentError,
    RequestError,
    ResponseError,
    ServerError,
)
from .protocol import ContentRange

__all__ = [
    "BodyPlan",
    "ProtocolViolation",
    "RangeAction",
    "Stalls",
    "after_416",
    "attempts",
    "backoff",
    "failures_in_a_row",
    "in_phase",
    "next_upload_offset",
    "range_plan",
    "resumable",
    "token_refused",
]

# Statuses of the storage proxy after which a transfer step is tried again: a busy or
# overloaded server (408, 423, 429, 502-504), or a tus offset conflict (409), which a HEAD
# resolves.
_RESUMABLE_STATUSES: Final = frozenset({408, 409, 423, 429, 502, 503, 504})
# The backoff's first ceiling and its cap, in seconds.
_BACKOFF_BASE: Final = 0.1
_BACKOFF_CAP: Final = 2.0
# How many times a tree upload asks again for one file's upload token.
_TOKEN_RETRIES: Final = 3


class ProtocolViolation(ResponseError):
    """The storage proxy answered something no correct server sends; not tried again."""


def backoff(failures: int, unit: float) -> float:
    """Seconds to wait before try *failures* + 1 of a transfer step.

    The client-wide jittered, capped backoff (from 0.1 s, doubling, at most 2 s); *unit* is
    the random draw in ``[0, 1)``, passed in to keep this pure. The jitter spreads the
    retries of many transfers that lost the same storage proxy at the same moment.
    """
    return jittered_backoff(max(failures, 1), base=_BACKOFF_BASE, cap=_BACKOFF_CAP, unit=unit)


def attempts(count: int) -> str:
    """``"1 attempt"``, ``"3 attempts"``."""
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def resumable(error: BackendError) -> bool:
    """Whether trying the transfer step again may succeed."""
    if isinstance(error, InvalidArgumentError | ClientClosedError | ProtocolViolation):
        return False
    if isinstance(error, ServerError):
        return error.status in _RESUMABLE_STATUSES
    if isinstance(error.__cause__, aiohttp.ClientSSLError):
        return False
    return isinstance(error, RequestError | ResponseError)


def token_refused(error: BackendError, retries: int) -> bool:
    """Whether a file's upload is started again after *error*, *retries* restarts so far.

    Only a 5xx answer to ``request-upload`` qualifies: no token was issued and no byte
    sent, so asking again is safe. The 26.9.6 storage proxy fails a token now and then
    when uploads to one folder overlap (a race around its ``.upload`` directory).
    """
    return (
        retries < _TOKEN_RETRIES
        and isinstance(error, InternalServerError)
        and error.method == "POST"
        and str(error.url or "").endswith("/request-upload")
    )


def failures_in_a_row(failures: int, best: int, best_at_failure: int) -> int:
    """The count of failures without progress, once one more failure happened.

    *failures* is the count so far, *best* the furthest position reached, *best_at_failure*
    the furthest one at the previous failure (-1 before any): progress since then starts
    the count anew.
    """
    return 1 if best > best_at_failure else failures + 1


class Stalls:
    """Counts a transfer's failures without progress in between.

    `advanced` records every position the server confirms (or the bytes written);
    `failed` counts a failure and says whether to try again. A failure after which
    the furthest position is beyond the one at the previous failure starts the count anew.
    """

    def __init__(self, max_attempts: int) -> None:
        #: Consecutive failures without progress allowed before giving up.
        self.max_attempts = max_attempts
        #: The furthest position reached.
        self.best = 0
        #: Failures since the last progress (0 before any).
        self.count = 0
        self._at_last_failure = -1

    def advanced(self, position: int) -> None:
        """Record that the transfer reached *position*."""
        self.best = max(self.best, position)

    def failed(self) -> bool:
        """Count a failure; whether to try again."""
        self.count = failures_in_a_row(self.count, self.best, self._at_last_failure)
        self._at_last_failure = self.best
        return self.count < self.max_attempts


def next_upload_offset(offset: int, length: int, total: int, answered: int | None) -> int | None:
    """The offset after a ``PATCH`` of *length* bytes from *offset*; ``None`` if impossible.

    A server that answers no ``Upload-Offset`` took the whole body. An answer going
    backwards, past the total, or not forward although bytes were sent is impossible.
    """
    new = offset + length if answered is None else answered
    if not offset <= new <= total or (new == offset and length):
        return None
    return new


class RangeAction(enum.Enum):
    """What to do with a download answer's body."""

    #: Write the body after the bytes already written.
    APPEND = "append"
    #: Truncate what was written and write the body from the start (a full answer).
    RESTART = "restart"


class BodyPlan(NamedTuple):
    """What a download answer's body holds."""

    action: RangeAction
    #: The position of the body's first byte in the file.
    first: int
    #: The bytes the body must hold, when known.
    length: int | None
    #: The file's total size, when known.
    total: int | None


def range_plan(
    status: int, content_range: ContentRange | None, content_length: int | None, written: int
) -> BodyPlan:
    """Plan the body of an answer to a request for the bytes from *written* on.

    Raise `ProtocolViolation` for a ``206`` whose range is not the one asked for.
    """
    if status == 206:
        if content_range is None or content_range.first != written:
            raise ProtocolViolation(f"a range that does not start at byte {written}")
        span = content_range.last - content_range.first + 1
        if content_length is not None and content_length != span:
            raise ProtocolViolation(
                f"a body of {content_length} bytes for the {span}-byte range "
                f"{content_range.first}-{content_range.last}"
            )
        return BodyPlan(RangeAction.APPEND, written, span, content_range.length)
    # A full answer: the server ignored the range, or the file changed since.
    action = RangeAction.RESTART if written else RangeAction.APPEND
    return BodyPlan(action, 0, content_length, content_length)


def after_416(written: int, total: int | None) -> bool:
    """After ``416 Range Not Satisfiable``: whether the file is complete (else: restart).

    It is when every byte had arrived before the connection broke; otherwise the file
    shrank or changed, and only a fresh download tells what it holds now.
    """
    return bool(written) and written == total


_REDACTED: Final = "<token>"


def in_phase(error: BackendError, phase: str, secret: str) -> BackendError:
    """A copy of *error* (same class and details) whose message starts with *phase*.

    The storage token is masked wherever it could have slipped into the text; the copy is
    to be raised ``from None``, because the original (and aiohttp's exception under it)
    names the URL with the token, and a traceback would print it.
    """
    phased = copy.copy(error)
    message = f"{phase}: {error.message}".replace(secret, _REDACTED)
    phased.message = message
    phased.args = (message,)
    if isinstance(phased.url, str):
        phased.url = phased.url.replace(secret, _REDACTED)
    return phased
