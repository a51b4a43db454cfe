"""Timeouts: a client-wide default, per-call overrides, and "not given" apart from "no limit"."""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

import aiohttp

from ._errors import InvalidArgumentError

__all__ = ["NOT_GIVEN", "NotGiven", "Timeout", "TimeoutArg", "check_seconds", "resolve_timeout"]


class NotGiven(enum.Enum):
    """The type of [`NOT_GIVEN`][backendai_aio.NOT_GIVEN]."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: "Use the client's default", distinct from ``None`` ("no limit").
NOT_GIVEN: Final = NotGiven.NOT_GIVEN


def check_seconds(name: str, value: object, *, optional: bool = True) -> None:
    """Refuse anything but a finite positive number of seconds (or ``None`` if *optional*).

    0, negative numbers, NaN and infinity are refused rather than read as "no limit" or left
    to fail later: ``None`` is the one spelling of "no limit".
    """
    if value is None and optional:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        spelled = "a positive number of seconds" + (" or None" if optional else "")
        raise InvalidArgumentError(f"{name} must be {spelled}, not {value!r}")


@dataclass(frozen=True, slots=True)
class Timeout:
    """Connect, read and whole-call limits in seconds; ``None`` means no limit.

    *connect* bounds establishing the TCP (and TLS) connection; *read* bounds each wait for
    data from the server, the response head included, so a server that stalls is caught
    whatever the size of the answer. *total* is a deadline for the whole call: connecting,
    sending, every wait for data, reading a non-streamed body, redirects, retries and the
    waits between them (``Retry-After`` included). Each limit must be a finite positive
    number; the constructor refuses anything else with
    [`InvalidArgumentError`][backendai_aio.InvalidArgumentError].
    """

    connect: float | None = 30.0
    read: float | None = 300.0
    total: float | None = None

    def __post_init__(self) -> None:
        check_seconds("Timeout.connect", self.connect)
        check_seconds("Timeout.read", self.read)
        check_seconds("Timeout.total", self.total)

    def to_aiohttp(self, remaining: float | None = None) -> aiohttp.ClientTimeout:
        """The equivalent ``aiohttp.ClientTimeout``; *remaining* seconds bound it all."""
        if remaining is None:
            return _aiohttp_timeout(self.connect, self.read, None)
        # Each limit is cut to what is left of the call, so whichever comes first applies.
        connect = remaining if self.connect is None else min(self.connect, remaining)
        return aiohttp.ClientTimeout(
            total=remaining,
            connect=connect,
            sock_connect=connect,
            sock_read=remaining if self.read is None else min(self.read, remaining),
        )


@functools.lru_cache(maxsize=64)
def _aiohttp_timeout(
    connect: float | None, read: float | None, total: float | None
) -> aiohttp.ClientTimeout:
    # Built once per set of limits rather than once per request (the object is immutable).
    # ``connect`` also bounds the wait for a free pooled connection, which open streams can
    # hold; ``sock_connect`` alone would let a call wait for one forever.
    return aiohttp.ClientTimeout(total=total, connect=connect, sock_connect=connect, sock_read=read)


#: What a ``timeout=`` argument accepts: seconds (every limit, the whole call included), a
#: [`Timeout`][backendai_aio.Timeout], ``None`` for no limit, or
#: [`NOT_GIVEN`][backendai_aio.NOT_GIVEN] for the client's default.
TimeoutArg: TypeAlias = float | Timeout | Literal[NotGiven.NOT_GIVEN] | None

_NO_LIMIT: Final = Timeout(connect=None, read=None)


def resolve_timeout(arg: TimeoutArg, default: Timeout, *, streaming: bool = False) -> Timeout:
    """Turn a ``timeout=`` argument into a [`Timeout`][backendai_aio.Timeout].

    A number is a deadline for the whole call, and bounds connecting and each read too. A
    streaming call (a transfer, an event stream) keeps only the default's connect limit, and
    a number bounds its connecting and each read but not its length: a download may
    legitimately last longer than any JSON call. ``Timeout(total=...)`` bounds it all.
    """
    if arg is NOT_GIVEN:
        return Timeout(connect=default.connect, read=None) if streaming else default
    if arg is None:
        return _NO_LIMIT
    if isinstance(arg, Timeout):
        return arg
    check_seconds("a timeout", arg, optional=False)
    seconds = float(arg)
    return Timeout(connect=seconds, read=seconds, total=None if streaming else seconds)
