"""What a call does after each attempt: answer, retry, move on, re-sign, follow, or stop.

A plain function of what happened (`Outcome`), what the call did so far
(`Tally`), what the call may do (`CallRules`) and the time left before its
deadline, so every rule of the request loop can be read, and tested, as a table. Nothing
here does I/O; the request loop in `_transport` carries the decisions out.
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple

from yarl import URL

from ._retries import RetryPolicy

__all__ = [
    "MAX_REDIRECTS",
    "Action",
    "CallRules",
    "Decision",
    "Outcome",
    "Redirect",
    "Tally",
    "decide",
    "origin_key",
    "redirect_for",
]

# The records below are named tuples, not frozen dataclasses: as immutable, and much
# cheaper to define (at import) and to make (several per call).

#: Redirects followed within one call (all to the origin the call was sent to).
MAX_REDIRECTS: Final = 5

_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})


class Action(enum.Enum):
    """What the request loop does next."""

    #: The answer is the call's result (a success, or a status for the caller to map).
    ANSWER = "answer"
    #: End the call with the attempt's error (``Decision.why`` may say why now).
    FAIL = "fail"
    #: Send again, at once, to the next configured endpoint.
    MOVE = "move"
    #: Send again after ``Decision.delay`` seconds.
    RETRY = "retry"
    #: Sign with the measured clock offset and send again, at once.
    CORRECT_CLOCK = "correct-clock"
    #: Send to the redirect's target (same origin), at once.
    REDIRECT = "redirect"


class Redirect(NamedTuple):
    """Where a 3xx answer points, and how the request changes on the way."""

    url: URL
    method: str
    #: Whether the body goes along (307, 308, and 301/302 other than POST).
    keeps_body: bool
    #: Whether *url* has the scheme, host and port the request was sent to.
    same_origin: bool
    #: ``False`` when the ``Location`` is no usable URL (*url* is then the request's own).
    valid: bool = True


class Outcome(NamedTuple):
    """What one attempt produced."""

    #: The response's status; ``None`` when no response came.
    status: int | None = None
    #: No response, and certainly nothing sent: the connection could not be made.
    nothing_sent: bool = False
    #: No response, from a failure that trying again may cure (not TLS, not a read timeout).
    retriable: bool = False
    #: The ``Retry-After`` of a 429 or 503, in seconds.
    retry_after: float | None = None
    #: The measured clock offset, when the answer is the manager's clock-skew refusal.
    clock_offset: float | None = None
    #: Where a redirect points; ``None`` when the answer is no redirect (or has no target).
    redirect: Redirect | None = None


class Tally(NamedTuple):
    """What the call has done so far."""

    retries: int = 0
    moves: int = 0
    redirects: int = 0
    clock_corrected: bool = False


class CallRules(NamedTuple):
    """What one call may do, fixed when it starts."""

    retry: RetryPolicy
    #: Idempotent, with a body that can be sent again.
    may_retry: bool = False
    #: The URL is the manager's (relative), so another configured endpoint may serve it.
    may_move: bool = False
    endpoints: int = 1
    #: Signed with a keypair, with a body that can be sent again.
    may_correct_clock: bool = False
    #: The body can be sent again (bytes, text or none).
    replayable: bool = True


class Decision(NamedTuple):
    """The next step; *delay* for `Action.RETRY`, *why* for `Action.FAIL`."""

    action: Action
    delay: float = 0.0
    why: str = ""


_ANSWER: Final = Decision(Action.ANSWER)
_FAIL: Final = Decision(Action.FAIL)
_OUT_OF_TIME: Final = Decision(Action.FAIL, why="the call's deadline passed")


def decide(outcome: Outcome, tally: Tally, rules: CallRules, remaining: float | None) -> Decision:
    """The next step after an attempt, *remaining* seconds before the deadline (``None``: none).

    No step that sends again starts once the deadline has passed, and no wait ends past it:
    a ``Retry-After`` or backoff longer than what is left ends the call with its error now.
    """
    status = outcome.status
    if status is not None and status < 400:
        if status not in _REDIRECT_STATUSES or outcome.redirect is None:
            return _ANSWER
        return _redirect(outcome.redirect, tally, rules, remaining)
    if remaining is not None and remaining <= 0:
        return _OUT_OF_TIME
    if status is None:
        if outcome.nothing_sent and rules.may_move and tally.moves < rules.endpoints - 1:
            return Decision(Action.MOVE)
        if outcome.retriable and rules.may_retry and tally.retries < rules.retry.max_retries:
            return _wait(rules.retry.delay(tally.retries + 1), remaining)
        return _FAIL
    if outcome.clock_offset is not None and rules.may_correct_clock and not tally.clock_corrected:
        return Decision(Action.CORRECT_CLOCK)
    if (
        rules.may_retry
        and tally.retries < rules.retry.max_retries
        and status in rules.retry.retry_statuses
    ):
        retry_after = outcome.retry_after if status in (429, 503) else None
        return _wait(rules.retry.delay(tally.retries + 1, retry_after), remaining)
    return _FAIL


def _wait(delay: float, remaining: float | None) -> Decision:
    if remaining is not None and delay >= remaining:
        return Decision(
            Action.FAIL,
            why=f"waiting {delay:.3g} s to try again would pass the call's deadline",
        )
    return Decision(Action.RETRY, delay=delay)


def _redirect(
    redirect: Redirect, tally: Tally, rules: CallRules, remaining: float | None
) -> Decision:
    # Credentials (the signature, a storage token, a login) are meant for the origin the
    # call was sent to: a redirect elsewhere, or from https to http, is not followed.
    if not redirect.valid:
        return Decision(Action.FAIL, why="redirected to an unusable location, not followed")
    if not redirect.same_origin:
        return Decision(
            Action.FAIL,
            why=f"redirected to another origin ({redirect.url.origin()}), not followed",
        )
    if tally.redirects >= MAX_REDIRECTS:
        return Decision(Action.FAIL, why=f"more than {MAX_REDIRECTS} redirects")
    if redirect.keeps_body and not rules.replayable:
        return Decision(Action.FAIL, why="redirected, and a streamed body cannot be sent again")
    if remaining is not None and remaining <= 0:
        return _OUT_OF_TIME
    return Decision(Action.REDIRECT)


def origin_key(url: URL) -> tuple[str, str, int | None]:
    """The scheme, host and port that make *url*'s origin (``http://h`` is ``http://h:80``)."""
    # yarl's origin() keeps an explicit default port, so equal origins may compare unequal.
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def redirect_for(status: int, method: str, url: URL, location: str | None) -> Redirect | None:
    """Where a redirect answer points; ``None`` when it is none, or its target is unusable.

    The method changes as browsers (and aiohttp) change it: 303 (but for HEAD) and a POST
    answered 301 or 302 become a bodiless GET; 307 and 308 keep method and body.
    """
    if status not in _REDIRECT_STATUSES or not location:
        return None
    try:
        target = url.join(URL(location))
        same_origin = target.scheme in ("http", "https") and origin_key(target) == origin_key(url)
    except (ValueError, TypeError):
        return Redirect(url, method, keeps_body=False, same_origin=False, valid=False)
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return Redirect(target, "GET", keeps_body=False, same_origin=same_origin)
    return Redirect(target, method, keeps_body=True, same_origin=same_origin)
