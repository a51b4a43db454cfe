"""The ranged download's resume decisions, as a pure state machine (no I/O).

`step` takes the download's `RangeState` and what just happened (an event) and answers the
new state and what to do next (an action); `Download` only moves bytes and follows the
actions. It gives up after *max_attempts* consecutive failures without progress.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TypeAlias

from .._errors import BackendError, ServerError
from .policy import (
    BodyPlan,
    ProtocolViolation,
    after_416,
    attempts,
    failures_in_a_row,
    range_plan,
    resumable,
)
from .protocol import ContentRange

__all__ = [
    "Answered",
    "Completed",
    "Done",
    "Failed",
    "GiveUp",
    "RangeAction",
    "RangeEvent",
    "RangeState",
    "Refuse",
    "Request",
    "Write",
    "start",
    "step",
]


@dataclass(frozen=True)
class RangeState:
    """Where a download stands."""

    max_attempts: int
    #: The bytes written when the current request was sent (where its range starts).
    written: int = 0
    #: The file's total size, once an answer told it.
    total: int | None = None
    #: The furthest number of bytes written.
    best: int = 0
    #: Failures since the last progress.
    failures: int = 0
    #: ``best`` at the last failure (-1 before any).
    best_at_failure: int = -1

    @property
    def phase(self) -> str:
        """The step the download is at, as messages name it."""
        return f"GET from byte {self.written}" if self.written else "GET"


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    """The request was answered: its status, ``Content-Range`` (parsed) and length."""

    status: int
    content_range: ContentRange | None
    content_length: int | None


@dataclass(frozen=True)
class Completed:
    """The body was written whole: the file holds *written* bytes."""

    written: int


@dataclass(frozen=True)
class Failed:
    """The request or its body failed with *error*; the file holds *written* bytes."""

    error: BackendError
    written: int


RangeEvent: TypeAlias = Answered | Completed | Failed

# -- actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """``GET`` the bytes from *start* on, after the backoff for *failures* (0: at once).

    *truncate*: empty the file first (the server refused the range: start over).
    """

    start: int
    failures: int = 0
    truncate: bool = False


@dataclass(frozen=True)
class Write:
    """Write the answer's body as *plan* says (appended, or from the start)."""

    plan: BodyPlan


@dataclass(frozen=True)
class Refuse:
    """The answer is no correct server's: raise a `ProtocolViolation` saying *reason*."""

    reason: str


@dataclass(frozen=True)
class Done:
    """The download is complete with *written* bytes."""

    written: int


@dataclass(frozen=True)
class GiveUp:
    """Stop: raise *error* in *phase*."""

    error: BackendError
    phase: str


RangeAction: TypeAlias = Request | Write | Refuse | Done | GiveUp


def start(max_attempts: int) -> tuple[RangeState, RangeAction]:
    """The state before anything was asked, and the first action (the whole file)."""
    return RangeState(max_attempts), Request(0)


def step(state: RangeState, event: RangeEvent) -> tuple[RangeState, RangeAction]:
    """The new state after *event*, and what to do next."""
    if isinstance(event, Answered):
        try:
            plan = range_plan(
                event.status, event.content_range, event.content_length, state.written
            )
        except ProtocolViolation as exc:
            return state, Refuse(exc.message)
        return dataclasses.replace(state, total=plan.total), Write(plan)
    if isinstance(event, Completed):
        return state, Done(event.written)
    error, written = event.error, event.written
    truncate = False
    if isinstance(error, ServerError) and error.status == 416:
        if after_416(state.written, state.total):
            # Everything had arrived before the connection broke.
            return state, Done(state.written)
        # The file shrank or changed: only a fresh download tells what it holds now.
        truncate, written = True, 0
    elif not resumable(error):
        return state, GiveUp(error, state.phase)
    best = max(state.best, written)
    failures = failures_in_a_row(state.failures, best, state.best_at_failure)
    phase = state.phase
    state = dataclasses.replace(
        state, written=written, best=best, failures=failures, best_at_failure=best
    )
    if failures >= state.max_attempts:
        return state, GiveUp(error, f"{phase}; gave up after {attempts(failures)} without progress")
    return state, Request(written, failures, truncate)
