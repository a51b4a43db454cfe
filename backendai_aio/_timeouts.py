"""Timeouts: a client-wide default, per-call overrides, and "not given" apart from "no limit"."""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

import aiohttp

from ._errors import InvalidArgumentError

__all__ = ["NOT_GIVEN", "NotGiven", "Timeout", "TimeoutArg", "resolve_timeout"]


class NotGiven(enum.Enum):
    """The type of :data:`NOT_GIVEN`."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: "Use the client's default", distinct from ``None`` ("no limit").
NOT_GIVEN: Final = NotGiven.NOT_GIVEN


@dataclass(frozen=True, slots=True)
class Timeout:
    """Connect and read limits in seconds; ``None`` means no limit.

    *connect* bounds establishing the TCP (and TLS) connection; *read* bounds each wait for
    data from the server, the response head included, so a server that stalls is caught
    whatever the size of the answer.
    """

    connect: float | None = 30.0
    read: float | None = 300.0

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        """The equivalent ``aiohttp.ClientTimeout`` (no total limit)."""
        return _aiohttp_timeout(self.connect, self.read)


@functools.lru_cache(maxsize=64)
def _aiohttp_timeout(connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    # Built once per pair of limits rather than once per request (the object is immutable).
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)


#: What a ``timeout=`` argument accepts: seconds (both limits), a :class:`Timeout`, ``None``
#: for no limit, or :data:`NOT_GIVEN` for the client's default.
TimeoutArg: TypeAlias = float | Timeout | Literal[NotGiven.NOT_GIVEN] | None

_NO_LIMIT: Final = Timeout(connect=None, read=None)


def resolve_timeout(arg: TimeoutArg, default: Timeout, *, streaming: bool = False) -> Timeout:
    """Turn a ``timeout=`` argument into a :class:`Timeout`.

    A streaming call (a transfer, an event stream) keeps only the default's connect limit:
    a download may legitimately go quiet for longer than any read limit a JSON call wants.
    """
    if arg is NOT_GIVEN:
        return Timeout(connect=default.connect, read=None) if streaming else default
    if arg is None:
        return _NO_LIMIT
    if isinstance(arg, Timeout):
        return arg
    if isinstance(arg, bool) or not isinstance(arg, int | float) or arg <= 0:
        raise InvalidArgumentError(f"a timeout is a positive number of seconds, not {arg!r}")
    return Timeout(connect=float(arg), read=float(arg))
