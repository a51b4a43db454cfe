"""The client's transport: the request loop and version negotiation.

This layer moves bytes and carries out the transport policies; what it relies on is pure
and lives elsewhere: the decision after each attempt (:mod:`._call_policy`), signing
(:mod:`._signing`, applied by :mod:`._middleware`), decoding (:mod:`._decoding`), error
mapping (:mod:`._errors`, :mod:`._failures`), retry timing (:mod:`._retries`), rate limits
(:mod:`._ratelimits`) and clock skew (:mod:`._clock`). The session and lifecycle are
:mod:`._connection`'s.
"""

from __future__ import annotations

import asyncio
import logging
import reprlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import aiohttp
from yarl import URL

from ._apiversion import negotiate, parse_api_version
from ._bodies import read_body
from ._call_policy import Action, CallRules, Outcome, Tally, decide, redirect_for
from ._clock import is_clock_skew_error, measure_offset
from ._connection import DEFAULT_MAX_RESPONSE_SIZE, ClientConnection
from ._errors import (
    BackendError,
    ResponseError,
    UnsupportedServerError,
    decipher_response,
    error_from_response,
)
from ._failures import (
    TRANSPORT_ERRORS,
    deadline_passed,
    describe_failure,
    nothing_sent,
    retriable_before_response,
    transport_error,
)
from ._ratelimits import parse_rate_limit
from ._retries import IDEMPOTENT_METHODS, parse_retry_after
from ._timeouts import NOT_GIVEN, TimeoutArg, resolve_timeout

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "TRANSPORT_ERRORS",
    "BaseClient",
    "Params",
    "describe_failure",
]

_log = logging.getLogger("backendai_aio")

# A server's odd answer, shown in a message: bounded in length and depth whatever its shape.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 100, 100

#: Query parameters: a mapping, or pairs when a key repeats.
Params: TypeAlias = Mapping[str, str] | Sequence[tuple[str, str]] | None


def _replayable(data: Any) -> bool:
    """Whether a request body can be sent again: bytes and strings can, streams cannot."""
    return data is None or isinstance(data, bytes | bytearray | str)


class BaseClient(ClientConnection):
    """The request loop and version negotiation shared by every API method."""

    # -- the request loop --------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: URL,
        *,
        params: Params = None,
        json: Any = None,
        data: Any = None,
        timeout: TimeoutArg = NOT_GIVEN,
        idempotent: bool | None = None,
        signed: bool = True,
        streaming: bool = False,
    ) -> Any:
        """Send one request; return its body decoded by Content-Type, or raise BackendError.

        *streaming* marks a call whose request body is a stream (an upload): like a streamed
        response, it gets no read limit unless the caller gives one.
        """
        # The hot path of every call: no context manager, and no URL text unless it fails.
        response = await self._send_with_policies(
            method,
            url,
            params=params,
            json=json,
            data=data,
            headers=None,
            timeout=timeout,
            idempotent=idempotent,
            signed=signed,
            streaming=streaming,
        )
        try:
            body = await self._read(response, method)
        except BaseException:
            response.close()
            raise
        response.release()
        return decipher_response(
            response.status,
            response.reason,
            response.headers.get("Content-Type"),
            body,
            method=method,
            url=response.url,
            headers=response.headers,
        )

    @asynccontextmanager
    async def _send(
        self,
        method: str,
        url: URL,
        *,
        params: Params = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        idempotent: bool | None = None,
        signed: bool = True,
        streaming: bool = False,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request and yield its successful response, released on exit.

        Failure statuses raise the mapped :class:`~backendai_aio.BackendError`. Streaming
        calls (*streaming*) have no read limit unless the caller gives one.
        """
        response = await self._send_with_policies(
            method,
            url,
            params=params,
            json=json,
            data=data,
            headers=headers,
            timeout=timeout,
            idempotent=idempotent,
            signed=signed,
            streaming=streaming,
        )
        if streaming:
            self._live.add(response)
        try:
            yield response
        except BaseException:
            # The body may be half read: drop the connection rather than reuse it.
            response.close()
            raise
        else:
            response.release()

    async def _send_with_policies(
        self,
        method: str,
        url: URL,
        *,
        params: Params,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        timeout: TimeoutArg,
        idempotent: bool | None,
        signed: bool,
        streaming: bool,
    ) -> aiohttp.ClientResponse:
        session = self._open()
        limits = resolve_timeout(timeout, self._timeout, streaming=streaming)
        # One deadline for the whole call: negotiation, redirects, retries and waits.
        deadline = None if limits.total is None else time.monotonic() + limits.total
        if signed:
            left = self._remaining(deadline)
            # The first call negotiates the version within its own deadline.
            await self._negotiate(
                limits if left is None else replace(limits, total=max(left, 1e-3))
            )
        request_headers = self._headers if headers is None else {**self._headers, **headers}
        if signed and self._session_mode:
            request_headers = {**request_headers, "X-BackendAI-Version": self._signer.api_version}
        replayable = _replayable(data)
        rules = CallRules(
            retry=self._retry,
            may_retry=(method in IDEMPOTENT_METHODS if idempotent is None else idempotent)
            and replayable,
            may_move=not url.is_absolute(),
            endpoints=len(self._bases),
            may_correct_clock=signed and not self._session_mode and replayable,
            replayable=replayable,
        )
        tally = Tally()
        # Whether an attempt went out and got no answer (so the call may have been applied).
        unanswered = False
        redirected: URL | None = None
        while True:
            base_index = self._base_index
            target = self._absolute(url) if redirected is None else redirected
            started = time.monotonic()
            remaining = None if deadline is None else deadline - started
            if remaining is not None and remaining <= 0:
                attempts = tally.retries + tally.moves + tally.redirects
                raise deadline_passed(
                    method, target, limits, attempts + tally.clock_corrected, unanswered
                )
            try:
                response = await session.request(
                    method,
                    target,
                    params=params if redirected is None else None,
                    json=json,
                    data=data,
                    headers=request_headers,
                    timeout=limits.to_aiohttp(remaining),
                    ssl=self._ssl,
                    middlewares=self._signed if signed else self._unsigned,
                    # An injected session may raise on failure statuses by default; this
                    # client maps them itself, with the server's problem details.
                    raise_for_status=False,
                    # Redirects are followed below, to the same origin only: aiohttp would
                    # follow them anywhere, and the signer would sign for the new host.
                    allow_redirects=False,
                )
            except TRANSPORT_ERRORS as exc:
                outcome = Outcome(
                    nothing_sent=nothing_sent(exc),
                    retriable=retriable_before_response(exc),
                )
                unanswered = unanswered or not outcome.nothing_sent
                decision = decide(outcome, tally, rules, self._remaining(deadline))
                if decision.action is Action.MOVE:
                    tally = replace(tally, moves=tally.moves + 1)
                    # Concurrent calls failing on the same endpoint move it on once, not
                    # once each (which would bring it back).
                    if self._base_index == base_index:
                        self._base_index = (base_index + 1) % len(self._bases)
                    _log.info("cannot connect to %s; trying %s", target.origin(), self.endpoint)
                    continue
                if decision.action is Action.RETRY:
                    tally = replace(tally, retries=tally.retries + 1)
                    await asyncio.sleep(decision.delay)
                    continue
                out_of_time = (remaining := self._remaining(deadline)) is not None and (
                    remaining <= 0
                )
                raise transport_error(exc, method, target, limits, out_of_time=out_of_time) from exc
            _log.debug(
                "%s %s -> %d in %.3fs",
                method,
                target.path,
                response.status,
                time.monotonic() - started,
            )
            self._rate_limit = parse_rate_limit(response.headers)
            status = response.status
            if status < 400:
                redirect = redirect_for(
                    status, method, response.url, response.headers.get("Location")
                )
                decision = decide(
                    Outcome(status=status, redirect=redirect),
                    tally,
                    rules,
                    self._remaining(deadline),
                )
                if decision.action is Action.ANSWER:
                    return response
                response.release()
                if decision.action is not Action.REDIRECT or redirect is None:
                    reason = f" {response.reason}" if response.reason else ""
                    raise ResponseError(
                        f"{method} {target}: {status}{reason}: {decision.why}",
                        status=status,
                        method=method,
                        url=str(target),
                    )
                tally = replace(tally, redirects=tally.redirects + 1)
                redirected = redirect.url
                if not redirect.keeps_body:
                    method, json, data = redirect.method, None, None
                continue
            # When the answer came, by our clock: the skew check below needs it.
            received_at = datetime.now(UTC)
            elapsed = time.monotonic() - started
            error = await self._failure(response, method, target)
            offset = None
            if rules.may_correct_clock and is_clock_skew_error(error):
                sent_at = received_at - timedelta(seconds=elapsed)
                measured = measure_offset(response.headers.get("Date"), sent_at, received_at)
                offset = None if measured is None else measured.total_seconds()
            retry_after = (
                parse_retry_after(response.headers.get("Retry-After"))
                if status in (429, 503)
                else None
            )
            decision = decide(
                Outcome(status=status, retry_after=retry_after, clock_offset=offset),
                tally,
                rules,
                self._remaining(deadline),
            )
            if decision.action is Action.CORRECT_CLOCK and offset is not None:
                tally = replace(tally, clock_corrected=True)
                self._correct_clock(offset)
                continue
            if decision.action is Action.RETRY:
                tally = replace(tally, retries=tally.retries + 1)
                await asyncio.sleep(decision.delay)
                continue
            if decision.why:
                # Retriable, but the deadline leaves no time: say so, with the server's error.
                error.message = f"{error.message} (not retried: {decision.why})"
                error.args = (error.message,)
            raise error

    @staticmethod
    def _remaining(deadline: float | None) -> float | None:
        return None if deadline is None else deadline - time.monotonic()

    def _correct_clock(self, offset: float) -> None:
        self._signer.clock_offset = timedelta(seconds=offset)
        if not self._skew_warned:
            self._skew_warned = True
            _log.warning(
                "the local clock is %+.1f s off the server's; signing with the corrected time",
                -offset,
            )

    async def _failure(
        self, response: aiohttp.ClientResponse, method: str, target: URL
    ) -> BackendError:
        """Read a failure response's (bounded) body and map it to an exception."""
        try:
            body = await self._read(response, method)
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

    async def _read(self, response: aiohttp.ClientResponse, method: str) -> bytes:
        """Read a whole body, at most ``max_response_size`` bytes."""
        return await read_body(response, method, self._max_response_size)

    # -- version negotiation -------------------------------------------------------------------

    async def _negotiate(self, timeout: TimeoutArg = NOT_GIVEN) -> None:
        if self._api_version is None:
            async with self._negotiation:
                if self._api_version is None:
                    await self._fetch_server_version(timeout)

    async def _fetch_server_version(self, timeout: TimeoutArg) -> Any:
        """``GET /`` (unsigned); the first answer fixes the API version spoken."""
        body = await self._request("GET", self._url(), signed=False, timeout=timeout)
        if self._api_version is None:
            version = body.get("version") if isinstance(body, Mapping) else None
            url = str(self.endpoint)
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
            self._signer.api_version = chosen
            self._api_version = parse_api_version(chosen)
        return body
