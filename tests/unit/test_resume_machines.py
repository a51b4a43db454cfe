"""The tus and ranged-download resume state machines, as tables (no sockets)."""

from __future__ import annotations

import dataclasses

import pytest

from backendai_aio import InvalidArgumentError, NotFoundError, RequestError, ServerError
from backendai_aio._transfer import range_resume as rr
from backendai_aio._transfer import tus_resume as tr
from backendai_aio._transfer.policy import BodyPlan, ProtocolViolation, RangeAction
from backendai_aio._transfer.protocol import ContentRange

DROP = RequestError("connection reset")
GONE = NotFoundError("no such upload", status=404)
BAD = InvalidArgumentError("bad")
BUSY = ServerError("busy", status=503)
RANGE = ServerError("range", status=416)

S0 = tr.TusState(total=10, chunk_size=4, max_attempts=3)
FIRST = dataclasses.replace(S0, sent_to=4)
SENDING = dataclasses.replace(S0, offset=4, sent_to=8, best=4, patched=True)
LAST = dataclasses.replace(S0, offset=8, sent_to=10, best=8, patched=True)


@pytest.mark.parametrize(
    ("state", "event", "action"),
    [
        # The first PATCH, sent without asking (a fresh session holds nothing).
        (FIRST, tr.Accepted(4), tr.Send(4, 4)),
        (FIRST, tr.Failed(DROP), tr.Ask(1)),
        (
            FIRST,
            tr.Failed(GONE),
            tr.GiveUp(
                "PATCH at byte 0",
                None,
                "the storage proxy does not know the upload session",
                404,
                "PATCH",
            ),
        ),
        (dataclasses.replace(FIRST, failures=1, best_at_failure=0), tr.Failed(GONE), tr.Ask(2)),
        (FIRST, tr.Failed(BAD), tr.GiveUp("PATCH at byte 0", BAD)),
        (FIRST, tr.Failed(DROP, head=True), tr.Ask(1)),
        (
            dataclasses.replace(FIRST, error=GONE),
            tr.Offset(None),
            tr.GiveUp("PATCH at byte 0; the upload session is gone", GONE),
        ),
        (dataclasses.replace(FIRST, failures=1), tr.Offset(0), tr.Send(0, 4)),
        # PATCH answers.
        (SENDING, tr.Accepted(None), tr.Send(8, 2)),
        (SENDING, tr.Accepted(6), tr.Send(6, 4)),
        (LAST, tr.Accepted(10), tr.Done()),
        (
            SENDING,
            tr.Accepted(3),
            tr.GiveUp(
                "PATCH at byte 4",
                problem="the storage proxy answered Upload-Offset 3 after 4 bytes of 10",
                method="PATCH",
            ),
        ),
        # PATCH failures.
        (SENDING, tr.Failed(DROP), tr.Ask(1)),
        (SENDING, tr.Failed(GONE), tr.Ask(1)),
        (SENDING, tr.Failed(BAD), tr.GiveUp("PATCH at byte 4", BAD)),
        (
            dataclasses.replace(SENDING, failures=2, best_at_failure=4),
            tr.Failed(DROP),
            tr.GiveUp("PATCH at byte 4; gave up after 3 attempts without progress", DROP),
        ),
        # HEAD after a failure.
        (
            dataclasses.replace(SENDING, failures=1, best_at_failure=4),
            tr.Failed(BUSY, head=True),
            tr.Ask(2),
        ),
        (SENDING, tr.Failed(BAD, head=True), tr.GiveUp("HEAD after a failed PATCH", BAD)),
        (dataclasses.replace(SENDING, error=DROP), tr.Offset(6), tr.Send(6, 4)),
        (
            dataclasses.replace(SENDING, error=GONE),
            tr.Offset(None),
            tr.GiveUp("PATCH at byte 4; the upload session is gone", GONE),
        ),
        (dataclasses.replace(LAST, error=GONE), tr.Offset(None), tr.CheckLanded()),
        # The folder listing.
        (LAST, tr.Landed(True), tr.Done(landed=True)),
        (
            dataclasses.replace(LAST, error=GONE),
            tr.Landed(False),
            tr.GiveUp("PATCH at byte 8; the upload session is gone", GONE),
        ),
    ],
)
def test_tus_transitions(state: tr.TusState, event: tr.TusEvent, action: tr.TusAction) -> None:
    assert tr.step(state, event)[1] == action


def test_tus_progress_resets_the_failure_count() -> None:
    state, action = tr.start(10, 4, max_attempts=2)
    assert action == tr.Send(0, 4)
    state, action = tr.step(state, tr.Failed(DROP))
    assert (action, state.failures) == (tr.Ask(1), 1)
    state, action = tr.step(state, tr.Offset(2))  # the server kept 2 bytes: progress
    assert action == tr.Send(2, 4)
    state, action = tr.step(state, tr.Failed(DROP))
    assert (action, state.failures) == (tr.Ask(1), 1)
    state, action = tr.step(state, tr.Offset(2))  # no progress: the second failure in a row
    state, action = tr.step(state, tr.Failed(DROP))
    assert isinstance(action, tr.GiveUp) and "gave up after 2 attempts" in action.phase
    # An empty file: one empty PATCH, then done.
    state, action = tr.start(0, 4, 3)
    assert action == tr.Send(0, 0)
    assert tr.step(state, tr.Accepted(0)) == (dataclasses.replace(state, patched=True), tr.Done())


R0 = rr.RangeState(max_attempts=3)
MID = dataclasses.replace(R0, written=4, total=10, best=4)


@pytest.mark.parametrize(
    ("state", "event", "action"),
    [
        (R0, rr.Answered(200, None, 10), rr.Write(BodyPlan(RangeAction.APPEND, 0, 10, 10))),
        (
            MID,
            rr.Answered(206, ContentRange(4, 9, 10), 6),
            rr.Write(BodyPlan(RangeAction.APPEND, 4, 6, 10)),
        ),
        (MID, rr.Answered(200, None, 12), rr.Write(BodyPlan(RangeAction.RESTART, 0, 12, 12))),
        (
            MID,
            rr.Answered(206, ContentRange(5, 9, 10), 5),
            rr.Refuse("a range that does not start at byte 4"),
        ),
        (MID, rr.Answered(206, None, 5), rr.Refuse("a range that does not start at byte 4")),
        (R0, rr.Completed(10), rr.Done(10)),
        (R0, rr.Failed(DROP, 0), rr.Request(0, 1)),
        (MID, rr.Failed(DROP, 7), rr.Request(7, 1)),
        (MID, rr.Failed(BUSY, 4), rr.Request(4, 1)),
        (MID, rr.Failed(BAD, 4), rr.GiveUp(BAD, "GET from byte 4")),
        (R0, rr.Failed(ProtocolViolation("odd"), 0), rr.GiveUp(ProtocolViolation("odd"), "GET")),
        (dataclasses.replace(MID, written=10), rr.Failed(RANGE, 10), rr.Done(10)),
        (MID, rr.Failed(RANGE, 4), rr.Request(0, 1, truncate=True)),
        (
            dataclasses.replace(MID, failures=2, best_at_failure=4),
            rr.Failed(DROP, 4),
            rr.GiveUp(DROP, "GET from byte 4; gave up after 3 attempts without progress"),
        ),
    ],
)
def test_range_transitions(
    state: rr.RangeState, event: rr.RangeEvent, action: rr.RangeAction
) -> None:
    got = rr.step(state, event)[1]
    if isinstance(action, rr.GiveUp):
        assert isinstance(got, rr.GiveUp)
        assert (type(got.error), got.error.message, got.phase) == (
            type(action.error),
            action.error.message,
            action.phase,
        )
    else:
        assert got == action


def test_range_progress_resets_the_failure_count() -> None:
    state, action = rr.start(max_attempts=2)
    assert action == rr.Request(0)
    state, action = rr.step(state, rr.Answered(200, None, 10))
    assert state.total == 10
    state, action = rr.step(state, rr.Failed(DROP, 3))
    assert (action, state.written) == (rr.Request(3, 1), 3)
    state, action = rr.step(state, rr.Failed(DROP, 6))  # further than before: counts anew
    assert action == rr.Request(6, 1)
    state, action = rr.step(state, rr.Failed(DROP, 6))
    assert isinstance(action, rr.GiveUp) and "gave up after 2 attempts" in action.phase
