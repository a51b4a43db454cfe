"""How one call is sent, and the checks of the client's own options."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypedDict

import aiohttp

from ._errors import InvalidArgumentError
from ._retries import NO_RETRIES, RetryPolicy
from ._timeouts import TimeoutArg

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "CallOptions",
    "Params",
    "check_max_response_size",
    "check_middlewares",
    "check_retry",
]

#: The largest body a non-streaming call reads into memory (64 MiB).
DEFAULT_MAX_RESPONSE_SIZE: Final = 64 * 1024 * 1024

#: Query parameters: a mapping, or pairs when a key repeats.
Params = Mapping[str, str] | Sequence[tuple[str, str]] | None


class CallOptions(TypedDict, total=False):
    """How one call is sent; every key is optional."""

    #: Query parameters.
    params: Params
    #: A body sent as JSON.
    json: Any
    #: A raw body (bytes, a string, an aiohttp payload or writer).
    data: Any
    #: Headers besides the client's own.
    headers: Mapping[str, str] | None
    #: This call's limits (default: the client's).
    timeout: TimeoutArg
    #: Whether the call may be retried (default: by its method).
    idempotent: bool | None
    #: ``False`` for a call that is not authenticated (``GET /``, a login).
    signed: bool
    #: A streamed request or response body: no read limit unless one is given.
    streaming: bool


def check_retry(retry: object) -> RetryPolicy:
    """The retry policy of ``retry=`` (``None``: no retries)."""
    if retry is None:
        return NO_RETRIES
    if not isinstance(retry, RetryPolicy):
        raise InvalidArgumentError(f"retry must be a RetryPolicy or None, not {retry!r}")
    return retry


def check_max_response_size(size: object) -> int:
    """``max_response_size=``: a positive number of bytes."""
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise InvalidArgumentError(
            f"max_response_size must be a positive number of bytes, not {size!r}"
        )
    return size


def check_middlewares(
    middlewares: Sequence[aiohttp.ClientMiddlewareType],
) -> tuple[aiohttp.ClientMiddlewareType, ...]:
    """``middlewares=``: aiohttp client middlewares, run in order before the signer."""
    if isinstance(middlewares, str | bytes) or not all(callable(m) for m in middlewares):
        raise InvalidArgumentError("middlewares must be a sequence of aiohttp client middlewares")
    return tuple(middlewares)
