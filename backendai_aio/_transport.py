"""The transport: the client's one call path, its session, endpoints and lifecycle.

Every resource namespace is given the [`Transport`][backendai_aio.Transport], never the client. It
opens the ``aiohttp`` session on first use, negotiates the API version once, sends each call through
the request loop, and closes what it created (and the streams still open) on
[`Transport.close`][backendai_aio.Transport.close]. It moves bytes and carries decisions out; the
decisions themselves are pure and live elsewhere: what to do after each attempt (`_call_policy`),
signing (`_signing`, applied by `_middleware`), decoding (`_decoding`), error mapping (`_errors`,
`_failures`), paths (`_paths`) and how calls are authenticated (`_auth_modes`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any, Unpack

import aiohttp
from yarl import URL

from ._apiversion import ApiVersion
from ._bodies import read_body
from ._call_options import (
    DEFAULT_MAX_RESPONSE_SIZE,
    CallOptions,
    Params,
)
from ._call_policy import Action, CallRules, Outcome, Tally, decide, redirect_for
from ._errors import ResponseError
from ._failures import TRANSPORT_ERRORS, deadline_passed, transport_error
from ._paths import relative_path, route
from ._ratelimits import parse_rate_limit
from ._responses import (
    failure_outcome,
    map_answer,
    map_failure,
    read_server_version,
    replayable,
    transport_outcome,
)
from ._retries import IDEMPOTENT_METHODS
from ._timeouts import NOT_GIVEN, Timeout, TimeoutArg, resolve_timeout
from ._transport_state import TransportState
from ._websockets import open_websocket

__all__ = ["DEFAULT_MAX_RESPONSE_SIZE", "CallOptions", "Params", "Transport"]

_log = logging.getLogger("backendai_aio")


class Transport(TransportState):
    """Signs and sends calls; owns the session, endpoints, negotiated version and lifecycle.

    See [`Client`][backendai_aio.Client] for the constructor's arguments. Namespaces use
    `call` (a decoded answer), `stream` (a response to read in a block),
    `send` (a response the caller releases), `websocket` and `url`;
    `request` is the escape hatch for any route. Its state and lifecycle are
    `TransportState`'s.
    """

    # -- calls -------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Sign and send *method* *path* (a route relative to the endpoint); the decoded body."""
        return await self.call(
            method, relative_path(method, path), params=params, json=json, timeout=timeout
        )

    async def call(self, method: str, url: URL, **options: Unpack[CallOptions]) -> Any:
        """Send one call; its body decoded by Content-Type, or raise ``BackendError``."""
        # The hot path of every call: no context manager, and no URL text unless it fails.
        response = await self.send(method, url, **options)
        try:
            body = await read_body(response, method, self._max_response_size)
        except BaseException:
            response.close()
            raise
        response.release()
        return map_answer(response, body, method)

    @asynccontextmanager
    async def stream(
        self, method: str, url: URL, **options: Unpack[CallOptions]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a call and yield its successful response, released when the block ends."""
        response = await self.send(method, url, **options)
        if options.get("streaming", False):
            self.track(response)
        try:
            yield response
        except BaseException:
            # The body may be half read: drop the connection rather than reuse it.
            response.close()
            raise
        else:
            response.release()

    async def send(
        self, method: str, url: URL, **options: Unpack[CallOptions]
    ) -> aiohttp.ClientResponse:
        """Send a call through the request loop; its successful response, for the caller.

        The loop carries out what `decide` says after each attempt:
        retry, move to the next endpoint, re-sign with a corrected clock, follow a
        same-origin redirect, or stop with the mapped error.
        """
        params, json, data = options.get("params"), options.get("json"), options.get("data")
        signed, streaming = options.get("signed", True), options.get("streaming", False)
        idempotent = options.get("idempotent")
        session = self.open()
        limits = resolve_timeout(
            options.get("timeout", NOT_GIVEN), self.default_timeout, streaming=streaming
        )
        # One deadline for the whole call: negotiation, redirects, retries and waits.
        deadline = None if limits.total is None else time.monotonic() + limits.total
        headers = self._headers
        if signed:
            left = _remaining(deadline)
            # The first call negotiates the version within its own deadline.
            await self.negotiate(limits if left is None else replace(limits, total=max(left, 1e-3)))
            # Keypair calls add nothing here: no copy of the headers on the hot path.
            if mode_headers := self.auth.call_headers(self._spoken):
                headers = {**headers, **mode_headers}
        if extra := options.get("headers"):
            headers = {**headers, **extra}
        may_replay = replayable(data)
        rules = CallRules(
            retry=self._retry,
            may_retry=(method in IDEMPOTENT_METHODS if idempotent is None else idempotent)
            and may_replay,
            may_move=not url.is_absolute(),
            endpoints=len(self._bases),
            may_correct_clock=signed and self.auth.corrects_clock and may_replay,
            replayable=may_replay,
        )
        tally = Tally()
        # Whether an attempt went out and got no answer (so the call may have been applied).
        unanswered = False
        redirected: URL | None = None
        while True:
            base_index = self._base_index
            target = self.absolute(url) if redirected is None else redirected
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
                    headers=headers,
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
                outcome = transport_outcome(exc)
                unanswered = unanswered or not outcome.nothing_sent
                decision = decide(outcome, tally, rules, _remaining(deadline))
                if decision.action is Action.MOVE:
                    tally = tally._replace(moves=tally.moves + 1)
                    # Concurrent calls failing on the same endpoint move it on once, not
                    # once each (which would bring it back).
                    if self._base_index == base_index:
                        self._base_index = (base_index + 1) % len(self._bases)
                    _log.info("cannot connect to %s; trying %s", target.origin(), self.endpoint)
                    continue
                if decision.action is Action.RETRY:
                    tally = tally._replace(retries=tally.retries + 1)
                    await asyncio.sleep(decision.delay)
                    continue
                left = _remaining(deadline)
                out_of_time = left is not None and left <= 0
                raise transport_error(exc, method, target, limits, out_of_time=out_of_time) from exc
            elapsed = time.monotonic() - started
            _log.debug("%s %s -> %d in %.3fs", method, target.path, response.status, elapsed)
            self.rate_limit = parse_rate_limit(response.headers)
            status = response.status
            if status < 400:
                redirect = redirect_for(
                    status, method, response.url, response.headers.get("Location")
                )
                decision = decide(
                    Outcome(status=status, redirect=redirect), tally, rules, _remaining(deadline)
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
                tally = tally._replace(redirects=tally.redirects + 1)
                redirected = redirect.url
                if not redirect.keeps_body:
                    method, json, data = redirect.method, None, None
                continue
            error = await map_failure(response, method, target, self._max_response_size)
            outcome = failure_outcome(
                status, response.headers, error, elapsed, rules.may_correct_clock
            )
            decision = decide(outcome, tally, rules, _remaining(deadline))
            if decision.action is Action.CORRECT_CLOCK and outcome.clock_offset is not None:
                tally = tally._replace(clock_corrected=True)
                self._correct_clock(outcome.clock_offset)
                continue
            if decision.action is Action.RETRY:
                tally = tally._replace(retries=tally.retries + 1)
                await asyncio.sleep(decision.delay)
                continue
            if decision.why:
                # Retriable, but the deadline leaves no time: say so, with the server's error.
                error.message = f"{error.message} (not retried: {decision.why})"
                error.args = (error.message,)
            raise error

    def _correct_clock(self, offset: float) -> None:
        if self.auth.signer is not None:
            self.auth.signer.clock_offset = timedelta(seconds=offset)
        if not self._skew_warned:
            self._skew_warned = True
            _log.warning(
                "the local clock is %+.1f s off the server's; signing with the corrected time",
                -offset,
            )

    # -- version negotiation -----------------------------------------------------------------

    async def negotiate(self, timeout: TimeoutArg = NOT_GIVEN) -> ApiVersion:
        """The API version spoken, asked of the server on the first call."""
        if self.version is None:
            async with self._negotiation:
                if self.version is None:
                    await self.server_version(timeout)
        assert self.version is not None
        return self.version

    async def server_version(self, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``GET /`` (unsigned); the first answer fixes the API version spoken."""
        body = await self.call("GET", route(), signed=False, timeout=timeout)
        if self.version is None:
            self._spoken, self.version = read_server_version(body, str(self.endpoint))
            if self.auth.signer is not None:
                self.auth.signer.api_version = self._spoken
        return body

    # -- websockets --------------------------------------------------------------------------

    async def websocket(
        self, url: URL, limits: Timeout, purpose: str = "the websocket"
    ) -> aiohttp.ClientWebSocketResponse:
        """Open a websocket to the API route *url*, authenticated; tracked until closed.

        Raises the mapped error when the upgrade is refused, ``RequestError`` when it
        cannot be made within the connect limit.
        """
        session = self.open()
        await self.negotiate(limits)
        target = self.absolute(url)
        headers = {
            **self._headers,
            **self.auth.call_headers(self._spoken),
            # ws_connect takes no per-request middleware: an injected session's upgrade is
            # signed by hand.
            **self.auth.upgrade_headers(target, sign=not self._owns_session),
        }
        ws = await open_websocket(session, target, headers, limits, self._ssl, purpose)
        self.track(ws)
        return ws


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()
