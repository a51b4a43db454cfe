"""The tus upload's resume decisions, as a pure state machine (no I/O).

`step` takes the upload's `TusState` and what just happened (an event) and answers the
new state and what to do next (an action); `Upload` only moves bytes and follows the
actions. The upload gives up after *max_attempts* consecutive failures without progress.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TypeAlias

from .._errors import BackendError, NotFoundError
from .policy import attempts, failures_in_a_row, next_upload_offset, resumable

__all__ = [
    "Accepted",
    "Ask",
    "CheckLanded",
    "Done",
    "Failed",
    "GiveUp",
    "Landed",
    "Offset",
    "Send",
    "TusAction",
    "TusEvent",
    "TusState",
    "start",
    "step",
]


@dataclass(frozen=True)
class TusState:
    """Where an upload stands."""

    total: int
    chunk_size: int
    max_attempts: int
    #: The offset the next ``PATCH`` sends from.
    offset: int = 0
    #: Whether a ``PATCH`` was accepted: an empty file still takes one, which creates it.
    patched: bool = False
    #: The furthest offset the server confirmed.
    best: int = 0
    #: Failures since the last progress.
    failures: int = 0
    #: ``best`` at the last failure (-1 before any).
    best_at_failure: int = -1
    #: The last ``PATCH``'s window end, and the failure it met (for the messages).
    sent_to: int = 0
    error: BackendError | None = None

    @property
    def phase(self) -> str:
        """The step the upload is at, as messages name it."""
        return f"PATCH at byte {self.offset}"


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offset:
    """``HEAD`` answered the server's offset; ``None``: the upload session is gone (404)."""

    offset: int | None


@dataclass(frozen=True)
class Accepted:
    """A ``PATCH`` succeeded; *answered* is its ``Upload-Offset`` (``None`` if absent)."""

    answered: int | None


@dataclass(frozen=True)
class Failed:
    """A ``PATCH`` (``head=False``) or a ``HEAD`` (``head=True``) failed with *error*."""

    error: BackendError
    head: bool = False


@dataclass(frozen=True)
class Landed:
    """The folder listing said whether the target holds the whole upload."""

    complete: bool


TusEvent: TypeAlias = Offset | Accepted | Failed | Landed

# -- actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """After the backoff for *failures*, ask the server's offset (``HEAD``) until it settles.

    Asked until two answers agree, because a dropped ``PATCH`` may still be draining into
    the server.
    """

    failures: int


@dataclass(frozen=True)
class Send:
    """``PATCH`` *length* bytes from *offset*."""

    offset: int
    length: int


@dataclass(frozen=True)
class CheckLanded:
    """The session vanished after the last byte was sent: list the folder to know."""


@dataclass(frozen=True)
class Done:
    """The upload is complete; *landed*: as the folder listing showed, the session gone."""

    landed: bool = False


@dataclass(frozen=True)
class GiveUp:
    """Stop: raise *error* (or a new error saying *problem*) in *phase*."""

    phase: str
    error: BackendError | None = None
    #: For a failure no exception carried: its text, and the request it concerns.
    problem: str | None = None
    status: int | None = None
    method: str = "HEAD"


TusAction: TypeAlias = Ask | Send | CheckLanded | Done | GiveUp


def start(total: int, chunk_size: int, max_attempts: int) -> tuple[TusState, TusAction]:
    """The state before anything was sent, and the first action (the first ``PATCH``).

    A fresh upload session holds nothing, so the first ``PATCH`` sends from byte 0 without
    asking: a ``HEAD`` first would cost a round trip per file, and a connection too (the
    proxy answers ``HEAD`` without a ``Content-Length``, so aiohttp cannot reuse it).
    """
    return _next(TusState(total, chunk_size, max_attempts))


def _next(state: TusState) -> tuple[TusState, TusAction]:
    if state.offset < state.total or not state.patched:
        length = min(state.chunk_size, state.total - state.offset)
        return dataclasses.replace(state, sent_to=state.offset + length), Send(state.offset, length)
    return state, Done()


def _count_failure(state: TusState, error: BackendError) -> tuple[TusState, TusAction]:
    """One more failure: ask again after a backoff, or give up without progress."""
    failures = failures_in_a_row(state.failures, state.best, state.best_at_failure)
    state = dataclasses.replace(state, failures=failures, best_at_failure=state.best, error=error)
    if failures >= state.max_attempts:
        return state, GiveUp(
            f"{state.phase}; gave up after {attempts(failures)} without progress", error
        )
    return state, Ask(failures)


def step(state: TusState, event: TusEvent) -> tuple[TusState, TusAction]:
    """The new state after *event*, and what to do next."""
    if isinstance(event, Offset):
        if event.offset is None:
            # The proxy completes and forgets a session on its last byte: it may have
            # finished just as the connection broke.
            if state.sent_to >= state.total:
                return state, CheckLanded()
            return state, GiveUp(f"{state.phase}; the upload session is gone", state.error)
        offset = event.offset
        state = dataclasses.replace(state, offset=offset, best=max(state.best, offset))
        return _next(state)
    if isinstance(event, Accepted):
        length = state.sent_to - state.offset
        new = next_upload_offset(state.offset, length, state.total, event.answered)
        if new is None:
            return state, GiveUp(
                state.phase,
                problem=f"the storage proxy answered Upload-Offset {event.answered} after "
                f"{length} bytes of {state.total}",
                method="PATCH",
            )
        state = dataclasses.replace(state, offset=new, patched=True, best=max(state.best, new))
        return _next(state)
    if isinstance(event, Failed):
        if event.head:
            if not resumable(event.error):
                return state, GiveUp("HEAD after a failed PATCH", event.error)
        elif isinstance(event.error, NotFoundError) and not (state.patched or state.failures):
            # The very first PATCH met a 404: the proxy never knew the session.
            return state, GiveUp(
                state.phase,
                problem="the storage proxy does not know the upload session",
                status=404,
                method="PATCH",
            )
        elif not (resumable(event.error) or isinstance(event.error, NotFoundError)):
            return state, GiveUp(state.phase, event.error)
        return _count_failure(state, event.error)
    if event.complete:
        return state, Done(landed=True)
    return state, GiveUp(f"{state.phase}; the upload session is gone", state.error)
