"""What an answer means to the request loop: the decoded body, the mapped error, the outcome.

`map_answer` and `map_failure` read a response into a body or an exception;
the rest are pure: `failure_outcome` and `transport_outcome` turn a failed
attempt into the `Outcome` that `decide` reads,
and `read_server_version` checks ``GET /``'s answer.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from yarl import URL

from ._apiversion import ApiVersion, negotiate, parse_api_version
from ._bodies import read_body
from ._call_policy import Outcome
from ._clock import is_clock_skew_error, measure_offset
from ._errors import (
    BackendError,
    ResponseError,
    UnsupportedServerError,
    decipher_response,
    error_from_response,
)
from ._failures import nothing_sent, retriable_before_response
from ._retries import parse_retry_after

__all__ = [
    "failure_outcome",
    "map_answer",
    "map_failure",
    "read_server_version",
    "replayable",
    "transport_outcome",
]

# A server's odd answer, shown in a message: bounded in length and depth whatever its shape.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 100, 100


def replayable(data: Any) -> bool:
    """Whether a request body can be sent again: bytes and strings can, streams cannot."""
    return data is None or isinstance(data, bytes | bytearray | str)


def map_answer(response: aiohttp.ClientResponse, body: bytes, method: str) -> Any:
    """A successful response's body decoded by its Content-Type."""
    return decipher_response(
        response.status,
        response.reason,
        response.headers.get("Content-Type"),
        body,
        method=method,
        url=response.url,
        headers=response.headers,
    )


async def map_failure(
    response: aiohttp.ClientResponse, method: str, target: URL, limit: int
) -> BackendError:
    """Read a failure response's (bounded) body, release it, and map it to an exception."""
    try:
        body = await read_body(response, method, limit)
    except ResponseError:
        # The status is known and says more than a broken error page would.
        body = b""
    finally:
        response.release()
    return error_from_response(
        response.status,
        response.reason,
        response.headers.get("Content-Type"),
        body,
        method=method,
        url=str(target),
        headers=response.headers,
    )


def transport_outcome(exc: BaseException) -> Outcome:
    """The outcome of an attempt that got no response."""
    return Outcome(nothing_sent=nothing_sent(exc), retriable=retriable_before_response(exc))


def failure_outcome(
    status: int,
    headers: Mapping[str, str],
    error: BackendError,
    elapsed: float,
    may_correct_clock: bool,
    *,
    now: datetime | None = None,
) -> Outcome:
    """The outcome of an attempt answered with a failure status.

    It carries the ``Retry-After`` of a 429 or 503, and, for a clock-skew refusal the call
    may cure, the offset of the server's ``Date`` from the local clock at the time the
    request went out (*elapsed* seconds before the answer came, *now*).
    """
    offset = None
    if may_correct_clock and is_clock_skew_error(error):
        received_at = datetime.now(UTC) if now is None else now
        sent_at = received_at - timedelta(seconds=elapsed)
        measured = measure_offset(headers.get("Date"), sent_at, received_at)
        offset = None if measured is None else measured.total_seconds()
    retry_after = parse_retry_after(headers.get("Retry-After")) if status in (429, 503) else None
    return Outcome(status=status, retry_after=retry_after, clock_offset=offset)


def read_server_version(body: Any, url: str) -> tuple[str, ApiVersion]:
    """The API version to speak with the server whose ``GET /`` answered *body*.

    Raises [`ResponseError`][backendai_aio.ResponseError] for an answer without a version and
    [`UnsupportedServerError`][backendai_aio.UnsupportedServerError] for a server too old.
    """
    version = body.get("version") if isinstance(body, Mapping) else None
    if not isinstance(version, str):
        raise ResponseError(
            f"GET {url}: the answer carries no API version: {_SHORT.repr(body)}",
            body=body,
            method="GET",
            url=url,
        )
    try:
        chosen = negotiate(version)
    except ValueError as exc:
        raise UnsupportedServerError(
            f"unsupported server at {url}: {exc}", body=body, method="GET", url=url
        ) from exc
    return chosen, parse_api_version(chosen)
