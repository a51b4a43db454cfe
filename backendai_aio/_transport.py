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
import ssl as ssl_module
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any, Final, TypedDict, Unpack

import aiohttp
from yarl import URL

from ._apiversion import LATEST_API_VERSION, ApiVersion
from ._auth_modes import AuthMode, KeypairSigning, WebserverSession
from ._bodies import read_body
from ._call_policy import Action, CallRules, Outcome, Tally, decide, redirect_for
from ._config import ClientConfig
from ._config_values import check_agent_signature
from ._errors import InsecureTLSWarning, InvalidArgumentError, ResponseError
from ._failures import TRANSPORT_ERRORS, deadline_passed, transport_error
from ._lifecycle import Lifecycle
from ._middleware import SigningMiddleware
from ._paths import join, relative_path, route
from ._ratelimits import RateLimit, parse_rate_limit
from ._responses import (
    failure_outcome,
    map_answer,
    map_failure,
    read_server_version,
    replayable,
    transport_outcome,
)
from ._retries import IDEMPOTENT_METHODS, NO_RETRIES, RetryPolicy
from ._timeouts import NOT_GIVEN, Timeout, TimeoutArg, resolve_timeout
from ._version import __version__
from ._websockets import close_websocket, open_websocket

__all__ = ["DEFAULT_MAX_RESPONSE_SIZE", "CallOptions", "Params", "Transport"]

_log = logging.getLogger("backendai_aio")

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


class Transport:
    """Signs and sends calls; owns the session, endpoints, negotiated version and lifecycle.

    See [`Client`][backendai_aio.Client] for the constructor's arguments. Namespaces use
    `call` (a decoded answer), `stream` (a response to read in a block),
    `send` (a response the caller releases), `websocket` and `url`;
    `request` is the escape hatch for any route.
    """

    def __init__(
        self,
        config: ClientConfig | None = None,
        agent_signature: str | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 (immutable)
        ssl: ssl_module.SSLContext | bool = True,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
    ) -> None:
        #: The configuration in use (from the environment when none was given).
        self.config = ClientConfig.from_env() if config is None else config
        agent_signature = check_agent_signature(agent_signature)
        user_agent = f"backendai-aio/{__version__}"
        self._headers: Final = {
            "User-Agent": f"{user_agent} {agent_signature}" if agent_signature else user_agent
        }
        #: How calls are authenticated: keypair signing, or a webserver's login session.
        self.auth: AuthMode = (
            WebserverSession()
            if self.config.endpoint_type == "session"
            else KeypairSigning(
                SigningMiddleware(
                    self.config.access_key,
                    self.config.secret_key,
                    LATEST_API_VERSION,
                    origins=self.config.endpoint_urls,
                )
            )
        )
        if not all(callable(m) for m in middlewares):
            raise InvalidArgumentError("middlewares must be aiohttp client middlewares")
        self._middlewares = tuple(middlewares)
        self._session = session
        self._owns_session = session is None
        # Per-call middlewares, fixed on first use (see _fix_middlewares).
        self._signed: tuple[aiohttp.ClientMiddlewareType, ...] | None = None
        self._unsigned: tuple[aiohttp.ClientMiddlewareType, ...] | None = None
        # The API version spoken: the latest until the server's answer fixes it.
        self._spoken = LATEST_API_VERSION
        self._lifecycle = Lifecycle()
        self.version: ApiVersion | None = None
        self._negotiation = asyncio.Lock()
        self._bases = self.config.endpoint_urls
        self._base_index = 0
        #: The limits of a call that gives none.
        self.default_timeout: Timeout = resolve_timeout(timeout, self.config.timeout)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidArgumentError(f"retry must be a RetryPolicy or None, not {retry!r}")
        self._retry = NO_RETRIES if retry is None else retry
        if (
            isinstance(max_response_size, bool)
            or not isinstance(max_response_size, int)
            or max_response_size <= 0
        ):
            raise InvalidArgumentError(
                f"max_response_size must be a positive number of bytes, not {max_response_size!r}"
            )
        # BACKEND_SKIP_SSLCERT_VALIDATION switches verification off unless ssl= says how.
        self._ssl = False if ssl is True and self.config.skip_sslcert_validation else ssl
        self._ssl_warned = False
        self._max_response_size = max_response_size
        #: The ``X-RateLimit-*`` values of the last response, if it carried them.
        self.rate_limit: RateLimit | None = None
        self._skew_warned = False
        # Streams still open (responses, websockets): close() ends them, since aiohttp does
        # not wake a pending read when its session closes.
        self._live: weakref.WeakSet[aiohttp.ClientResponse | aiohttp.ClientWebSocketResponse]
        self._live = weakref.WeakSet()

    # -- state -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._lifecycle.closed

    @property
    def state(self) -> str:
        """``"unopened"``, ``"opened"`` or ``"closed"``."""
        return self._lifecycle.state

    @property
    def webserver(self) -> bool:
        """Whether calls go through a webserver's login session instead of being signed."""
        return isinstance(self.auth, WebserverSession)

    @property
    def http_session(self) -> aiohttp.ClientSession | None:
        """The ``aiohttp.ClientSession`` in use, ``None`` before the first call."""
        return self._session

    @property
    def endpoint(self) -> URL:
        """The endpoint calls go to now (it moves on when one cannot be connected to)."""
        return self._bases[self._base_index]

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock when signing (measured after a skew error)."""
        signer = self.auth.signer
        return 0.0 if signer is None else signer.clock_offset.total_seconds()

    def url(self, *segments: str) -> URL:
        """The API route made of *segments* (each percent-encoded), relative to the endpoint."""
        return route(*segments)

    def absolute(self, url: URL, *, api: bool = True) -> URL:
        """*url* on the current endpoint: under the API's prefix, or beside it (*api* false)."""
        if url.is_absolute():
            return url
        return join(self.endpoint, self.auth.prefix if api else "", url)

    def track(self, stream: aiohttp.ClientResponse | aiohttp.ClientWebSocketResponse) -> None:
        """Have `close` end *stream* if it is still open then."""
        self._live.add(stream)

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> aiohttp.ClientSession:
        """The session, created on first use; raises ``ClientClosedError`` after close."""
        self._lifecycle.check_usable()
        if self._lifecycle.state == "unopened":
            self._fix_middlewares()
        if self._ssl is False and not self._ssl_warned:
            self._ssl_warned = True
            warnings.warn(
                "TLS certificate verification is off (ssl=False): the connection to "
                f"{self.endpoint.host} can be intercepted",
                InsecureTLSWarning,
                stacklevel=5,
            )
        if self._session is None:
            # Calls pass their own limits; this one bounds what passes none, such as a
            # websocket upgrade: connecting only, never a total that would cut a stream.
            connect = self.default_timeout.connect
            self._session = aiohttp.ClientSession(
                middlewares=self._signing(),
                cookie_jar=self.auth.cookie_jar(),
                timeout=aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect),
            )
        self._lifecycle.opened()
        return self._session

    def _signing(self) -> tuple[aiohttp.ClientMiddlewareType, ...]:
        signer = self.auth.signer
        return self._middlewares if signer is None else (*self._middlewares, signer)

    def _fix_middlewares(self) -> None:
        # aiohttp replaces a session's middlewares with per-request ones: a session we
        # create has the user's and the signer installed (websocket upgrades run them too);
        # on an injected one they are passed per call. Unsigned calls skip the signer only.
        own = self._middlewares
        self._signed = None if self._owns_session else self._signing() or None
        self._unsigned = own if self._owns_session or own else None

    def enter(self) -> None:
        """Start the ``async with`` block; a second entry raises ``UsageError``."""
        self._lifecycle.enter()
        self.open()

    async def close(self) -> None:
        """Release the resources; calling it again does nothing.

        A session the transport created is closed; an injected one is left to its owner.
        """
        if not self._lifecycle.close():
            return
        for stream in list(self._live):
            if isinstance(stream, aiohttp.ClientWebSocketResponse):
                await close_websocket(stream)
            else:
                stream.close()
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

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
            headers = {**headers, **self.auth.call_headers(self._spoken)}
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
                tally = replace(tally, redirects=tally.redirects + 1)
                redirected = redirect.url
                if not redirect.keeps_body:
                    method, json, data = redirect.method, None, None
                continue
            error = await map_failure(response, method, target, self._max_response_size)
            outcome = failure_outcome(response, error, elapsed, rules.may_correct_clock)
            decision = decide(outcome, tally, rules, _remaining(deadline))
            if decision.action is Action.CORRECT_CLOCK and outcome.clock_offset is not None:
                tally = replace(tally, clock_corrected=True)
                self._correct_clock(outcome.clock_offset)
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

    def __repr__(self) -> str:
        api_version = None if self.version is None else str(self.version)
        return (
            f"<Transport endpoint={str(self.endpoint)!r} access_key={self.config.access_key!r} "
            f"api_version={api_version!r} state={self.state}>"
        )


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()
