"""The request loop's decisions, as a table: (outcome, tally, rules, time left) -> next step."""

from __future__ import annotations

import pytest
from yarl import URL

from backendai_aio import RetryPolicy
from backendai_aio._call_policy import (
    MAX_REDIRECTS,
    Action,
    CallRules,
    Outcome,
    Redirect,
    Tally,
    decide,
    redirect_for,
)

EXACT = RetryPolicy(max_retries=2, backoff_base=1.0, backoff_max=8.0, jitter=0.0)
IDEMPOTENT = CallRules(retry=EXACT, may_retry=True, may_move=True, endpoints=2)
POST = CallRules(retry=EXACT, may_retry=False, may_move=True, endpoints=2, may_correct_clock=True)
STREAMED = CallRules(retry=EXACT, replayable=False)
HERE = URL("https://m.example:8443/session/a")
SAME = Redirect(HERE.with_path("/session/b"), "GET", keeps_body=True, same_origin=True)
ELSEWHERE = Redirect(URL("http://m.example:8443/x"), "GET", keeps_body=True, same_origin=False)

REFUSED = Outcome(nothing_sent=True, retriable=True)
DROPPED = Outcome(retriable=True)
READ_TIMEOUT = Outcome()


@pytest.mark.parametrize(
    ("outcome", "tally", "rules", "remaining", "action", "delay"),
    [
        # answers
        (Outcome(status=200), Tally(), IDEMPOTENT, None, Action.ANSWER, 0.0),
        (Outcome(status=304), Tally(), IDEMPOTENT, None, Action.ANSWER, 0.0),
        (Outcome(status=302), Tally(), IDEMPOTENT, None, Action.ANSWER, 0.0),  # no Location
        (Outcome(status=200), Tally(), IDEMPOTENT, -1.0, Action.ANSWER, 0.0),  # late, but here
        # no response: move on when nothing was sent, retry when idempotent
        (REFUSED, Tally(), POST, None, Action.MOVE, 0.0),
        (REFUSED, Tally(moves=1), POST, None, Action.FAIL, 0.0),
        (REFUSED, Tally(moves=1), IDEMPOTENT, None, Action.RETRY, 1.0),
        (DROPPED, Tally(), POST, None, Action.FAIL, 0.0),  # may have been applied
        (DROPPED, Tally(), IDEMPOTENT, None, Action.RETRY, 1.0),
        (DROPPED, Tally(retries=1), IDEMPOTENT, None, Action.RETRY, 2.0),
        (DROPPED, Tally(retries=2), IDEMPOTENT, None, Action.FAIL, 0.0),
        (READ_TIMEOUT, Tally(), IDEMPOTENT, None, Action.FAIL, 0.0),
        # the deadline: no new attempt once it passed, no wait that ends past it
        (REFUSED, Tally(), POST, 0.0, Action.FAIL, 0.0),
        (DROPPED, Tally(), IDEMPOTENT, 0.5, Action.FAIL, 0.0),
        (DROPPED, Tally(), IDEMPOTENT, 1.5, Action.RETRY, 1.0),
        # failure statuses
        (Outcome(status=502), Tally(), IDEMPOTENT, None, Action.RETRY, 1.0),
        (Outcome(status=502), Tally(), POST, None, Action.FAIL, 0.0),
        (Outcome(status=500), Tally(), IDEMPOTENT, None, Action.FAIL, 0.0),
        (Outcome(status=404), Tally(), IDEMPOTENT, None, Action.FAIL, 0.0),
        (Outcome(status=503, retry_after=5.0), Tally(), IDEMPOTENT, None, Action.RETRY, 5.0),
        (Outcome(status=429, retry_after=999.0), Tally(), IDEMPOTENT, None, Action.RETRY, 60.0),
        (Outcome(status=503, retry_after=5.0), Tally(), IDEMPOTENT, 2.0, Action.FAIL, 0.0),
        (Outcome(status=503, retry_after=1.0), Tally(), IDEMPOTENT, 2.0, Action.RETRY, 1.0),
        (Outcome(status=502, retry_after=30.0), Tally(), IDEMPOTENT, None, Action.RETRY, 1.0),
        # clock skew: corrected once, when the call may be sent again
        (Outcome(status=400, clock_offset=1200.0), Tally(), POST, None, Action.CORRECT_CLOCK, 0),
        (
            Outcome(status=400, clock_offset=1200.0),
            Tally(clock_corrected=True),
            POST,
            None,
            Action.FAIL,
            0.0,
        ),
        (Outcome(status=400, clock_offset=1200.0), Tally(), STREAMED, None, Action.FAIL, 0.0),
        (Outcome(status=400, clock_offset=1200.0), Tally(), POST, 0.0, Action.FAIL, 0.0),
        # redirects: same origin only, bounded, never with a body that cannot be resent
        (Outcome(status=307, redirect=SAME), Tally(), POST, None, Action.REDIRECT, 0.0),
        (Outcome(status=307, redirect=ELSEWHERE), Tally(), POST, None, Action.FAIL, 0.0),
        (
            Outcome(status=301, redirect=SAME),
            Tally(redirects=MAX_REDIRECTS),
            IDEMPOTENT,
            None,
            Action.FAIL,
            0.0,
        ),
        (Outcome(status=308, redirect=SAME), Tally(), STREAMED, None, Action.FAIL, 0.0),
        (Outcome(status=307, redirect=SAME), Tally(), IDEMPOTENT, 0.0, Action.FAIL, 0.0),
    ],
)
def test_decide(
    outcome: Outcome,
    tally: Tally,
    rules: CallRules,
    remaining: float | None,
    action: Action,
    delay: float,
) -> None:
    decision = decide(outcome, tally, rules, remaining)
    assert (decision.action, decision.delay) == (action, delay)
    if action is Action.FAIL and remaining is not None and outcome.status not in (404, 500):
        assert decision.why  # the error says why the call ends now


@pytest.mark.parametrize(
    ("status", "method", "location", "expected"),
    [
        (307, "POST", "/session/b", ("https://m.example:8443/session/b", "POST", True, True)),
        (308, "PUT", "b?x=1", ("https://m.example:8443/session/b?x=1", "PUT", True, True)),
        (303, "POST", "/r", ("https://m.example:8443/r", "GET", False, True)),
        (302, "POST", "/r", ("https://m.example:8443/r", "GET", False, True)),
        (302, "GET", "/r", ("https://m.example:8443/r", "GET", True, True)),
        (303, "HEAD", "/r", ("https://m.example:8443/r", "HEAD", True, True)),
        (307, "GET", "http://m.example:8443/r", ("http://m.example:8443/r", "GET", True, False)),
        (307, "GET", "https://evil.example/r", ("https://evil.example/r", "GET", True, False)),
        (307, "GET", "https://m.example/r", ("https://m.example/r", "GET", True, False)),
        (307, "GET", "ftp://m.example:8443/r", ("ftp://m.example:8443/r", "GET", True, False)),
    ],
)
def test_redirect_for(
    status: int, method: str, location: str, expected: tuple[str, str, bool, bool]
) -> None:
    redirect = redirect_for(status, method, HERE, location)
    assert redirect is not None
    assert (str(redirect.url), redirect.method, redirect.keeps_body, redirect.same_origin) == (
        expected
    )


def test_default_ports_are_the_same_origin() -> None:
    for here, there in [
        ("http://h:80/a", "http://h/b"),
        ("HTTPS://H.example/a", "https://h.example:443/b"),
    ]:
        redirect = redirect_for(307, "GET", URL(here), there)
        assert redirect is not None and redirect.same_origin, (here, there)


def test_redirect_for_no_redirect_or_no_target() -> None:
    assert redirect_for(200, "GET", HERE, "/x") is None
    assert redirect_for(304, "GET", HERE, "/x") is None
    assert redirect_for(307, "GET", HERE, None) is None
    assert redirect_for(307, "GET", HERE, "") is None
    broken = redirect_for(307, "GET", HERE, "http://[::1")
    assert broken is not None and not broken.valid
    assert decide(Outcome(status=307, redirect=broken), Tally(), IDEMPOTENT, None).action is (
        Action.FAIL
    )


def test_a_deadline_between_attempts_says_what_was_sent() -> None:
    from backendai_aio import RequestError, ResponseError, Timeout
    from backendai_aio._failures import deadline_passed

    limits = Timeout(total=2.0)
    first = deadline_passed("POST", HERE, limits, 0, unanswered=False)
    assert isinstance(first, RequestError) and not first.maybe_applied
    assert "nothing was sent" in first.message and "total limit 2 s" in first.message
    answered = deadline_passed("GET", HERE, limits, 2, unanswered=False)
    assert isinstance(answered, RequestError) and not answered.maybe_applied
    assert "nothing was sent" not in answered.message
    lost = deadline_passed("POST", HERE, limits, 1, unanswered=True)
    assert isinstance(lost, ResponseError) and lost.maybe_applied
    assert "may have acted" in lost.message
