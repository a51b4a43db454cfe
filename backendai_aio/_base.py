"""The client's transport: lifecycle, version negotiation, and the request loop.

This layer moves bytes and applies the transport policies; the protocol logic it relies on
is pure and lives elsewhere: signing (:mod:`._signing`, applied by :mod:`._middleware`),
decoding (:mod:`._decoding`), error mapping (:mod:`._errors`), retry timing
(:mod:`._retries`), rate limits (:mod:`._ratelimits`) and clock skew (:mod:`._clock`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl as ssl_module
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final, Self, TypeAlias

import aiohttp
from yarl import URL

from ._apiversion import LATEST_API_VERSION, ApiVersion, negotiate, parse_api_version
from ._clock import is_clock_skew_error, measure_offset
from ._config import ClientConfig
from ._config_values import check_agent_signature
from ._errors import (
    ERR_REQUEST,
    ERR_RESPONSE,
    ERR_SERVER,
    BackendError,
    ClientClosedError,
    InsecureTLSWarning,
    InvalidArgumentError,
    RateLimitError,
    RequestError,
    ResponseError,
    UnsupportedServerError,
    decipher_response,
    error_from_response,
)
from ._middleware import SigningMiddleware
from ._ratelimits import RateLimit, parse_rate_limit
from ._retries import IDEMPOTENT_METHODS, NO_RETRIES, RetryPolicy, parse_retry_after
from ._timeouts import NOT_GIVEN, Timeout, TimeoutArg, resolve_timeout
from ._version import __version__

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "TRANSPORT_ERRORS",
    "BaseClient",
    "Params",
    "describe_failure",
]

_log = logging.getLogger("backendai_aio")

#: The largest body a non-streaming call reads into memory (64 MiB).
DEFAULT_MAX_RESPONSE_SIZE: Final = 64 * 1024 * 1024

#: Query parameters: a mapping, or pairs when a key repeats.
Params: TypeAlias = Mapping[str, str] | Sequence[tuple[str, str]] | None

#: Failures of the transport, as aiohttp and the OS report them.
TRANSPORT_ERRORS: Final = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


@functools.lru_cache(maxsize=1024)
def _relative_url(segments: tuple[str, ...]) -> URL:
    # Cached: a service asks for the same few paths over and over, and yarl caches what it
    # computes about a URL on the object, so reusing the object saves that work too.
    for segment in segments:
        # "." and ".." would be resolved away by the server or a proxy, addressing
        # another resource than the one named.
        if segment in ("", ".", "..") or "/" in segment:
            raise InvalidArgumentError(f"invalid path segment {segment!r}")
    return URL(URL("/").joinpath(*segments).raw_path[1:], encoded=True)


@functools.lru_cache(maxsize=1024)
def _joined(base: URL, prefix: str, relative: URL) -> URL:
    return URL(str(base) + prefix + relative.raw_path_qs, encoded=True)


class _State(Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


def _limit(seconds: float | None) -> str:
    return "no limit" if seconds is None else f"limit {seconds:g} s"


def describe_failure(exc: BaseException) -> str:
    """Name an exception and its text in one line, for an error message."""
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


def _connect_failed(exc: BaseException) -> bool:
    """Nothing reached the server: the connection itself could not be made."""
    return isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


def _retriable_before_response(exc: BaseException) -> bool:
    """A failure before any response that a retry may cure (not TLS, not a read timeout)."""
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.SocketTimeoutError):
        return False
    return _connect_failed(exc) or isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError
    )


def _replayable(data: Any) -> bool:
    """Whether a request body can be sent again: bytes and strings can, streams cannot."""
    return data is None or isinstance(data, bytes | bytearray | str)


class BaseClient:
    """Lifecycle, negotiation and the request loop shared by every API method.

    See :class:`~backendai_aio.Client` for the constructor's arguments.
    """

    #: Error type: the server answered a failure status.
    ERR_SERVER: Final = ERR_SERVER
    #: Error type: reading or decoding the response failed.
    ERR_RESPONSE: Final = ERR_RESPONSE
    #: Error type: sending the request failed.
    ERR_REQUEST: Final = ERR_REQUEST

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
    ) -> None:
        #: The configuration in use (from the environment when none was given).
        self.config = ClientConfig.from_env() if config is None else config
        agent_signature = check_agent_signature(agent_signature)
        user_agent = f"backendai-aio/{__version__}"
        if agent_signature:
            user_agent = f"{user_agent} {agent_signature}"
        self._headers: Final = {"User-Agent": user_agent}
        self._signer = SigningMiddleware(
            self.config.access_key, self.config.secret_key, LATEST_API_VERSION
        )
        self._session = session
        self._owns_session = session is None
        # In session mode a webserver signs on the client's behalf, after a cookie login.
        self._session_mode = self.config.endpoint_type == "session"
        # aiohttp replaces a session's middlewares with per-request ones, so the signer is
        # passed per request only for a session we did not create (ours has it installed).
        self._signed: tuple[SigningMiddleware, ...] | None = (
            None if session is None or self._session_mode else (self._signer,)
        )
        # Unsigned calls skip our signer but keep an injected session's own middlewares.
        self._unsigned: tuple[()] | None = () if session is None else None
        self._state = _State.UNOPENED
        self._api_version: ApiVersion | None = None
        self._negotiation = asyncio.Lock()
        self._bases = self.config.endpoint_urls
        self._base_index = 0
        self._timeout = resolve_timeout(timeout, self.config.timeout)
        self._retry = NO_RETRIES if retry is None else retry
        # BACKEND_SKIP_SSLCERT_VALIDATION switches verification off unless ssl= says how.
        self._ssl = False if ssl is True and self.config.skip_sslcert_validation else ssl
        self._ssl_warned = False
        self._max_response_size = max_response_size
        self._rate_limit: RateLimit | None = None
        self._skew_warned = False
        # Streams still open (responses, websockets): close() ends them, since aiohttp does
        # not wake a pending read when its session closes.
        self._live: weakref.WeakSet[aiohttp.ClientResponse | aiohttp.ClientWebSocketResponse]
        self._live = weakref.WeakSet()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._state is _State.CLOSED

    @property
    def api_version(self) -> str | None:
        """The negotiated API version, or ``None`` before the first call."""
        return None if self._api_version is None else str(self._api_version)

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The ``aiohttp.ClientSession`` in use, ``None`` before the first call."""
        return self._session

    @property
    def endpoint(self) -> URL:
        """The endpoint calls go to now (it moves on when one cannot be connected to)."""
        return self._bases[self._base_index]

    @property
    def rate_limit(self) -> RateLimit | None:
        """The ``X-RateLimit-*`` values of the last response, if it carried them."""
        return self._rate_limit

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock when signing (measured after a skew error)."""
        return self._signer.clock_offset.total_seconds()

    def _open(self) -> aiohttp.ClientSession:
        if self._state is _State.CLOSED:
            raise ClientClosedError("this client is closed; create a new one")
        if self._ssl is False and not self._ssl_warned:
            self._ssl_warned = True
            warnings.warn(
                "TLS certificate verification is off (ssl=False): the connection to "
                f"{self.endpoint.host} can be intercepted",
                InsecureTLSWarning,
                stacklevel=4,
            )
        if self._session is None:
            if self._session_mode:
                # The login cookie must be kept even for an IP-address endpoint.
                self._session = aiohttp.ClientSession(
                    cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=self._session_timeout()
                )
            else:
                self._session = aiohttp.ClientSession(
                    middlewares=(self._signer,), timeout=self._session_timeout()
                )
        self._state = _State.OPENED
        return self._session

    def _session_timeout(self) -> aiohttp.ClientTimeout:
        # Calls pass their own limits; this one bounds what passes none, such as a websocket
        # upgrade: connecting only, never a total that would cut a long stream.
        return aiohttp.ClientTimeout(total=None, sock_connect=self._timeout.connect)

    async def __aenter__(self) -> Self:
        self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the client's resources; calling it again does nothing.

        A session the client created is closed; an injected one is left open for its owner.
        """
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        for stream in list(self._live):
            if isinstance(stream, aiohttp.ClientWebSocketResponse):
                await stream.close()
            else:
                stream.close()
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} endpoint={str(self.endpoint)!r} "
            f"access_key={self.config.access_key!r} api_version={self.api_version!r} "
            f"state={self._state.value}>"
        )

    # -- URLs --------------------------------------------------------------------------------

    def _url(self, *segments: str) -> URL:
        """A path relative to the endpoint, each segment percent-encoded."""
        for segment in segments:
            if not isinstance(segment, str):
                raise InvalidArgumentError(f"a path segment must be a string, not {segment!r}")
        return _relative_url(segments)

    def _absolute(self, url: URL) -> URL:
        if url.is_absolute():
            return url
        # A webserver serves the manager's API under /func/.
        return _joined(self.endpoint, "func/" if self._session_mode else "", url)

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
        if signed:
            await self._negotiate(limits)
        request_headers = self._headers if headers is None else {**self._headers, **headers}
        if signed and self._session_mode:
            request_headers = {**request_headers, "X-BackendAI-Version": self._signer.api_version}
        may_retry = (method in IDEMPOTENT_METHODS if idempotent is None else idempotent) and (
            _replayable(data)
        )
        retries = endpoint_moves = 0
        skew_corrected = False
        while True:
            base_index = self._base_index
            target = self._absolute(url)
            started = time.monotonic()
            try:
                response = await session.request(
                    method,
                    target,
                    params=params,
                    json=json,
                    data=data,
                    headers=request_headers,
                    timeout=limits.to_aiohttp(),
                    ssl=self._ssl,
                    middlewares=self._signed if signed else self._unsigned,
                    # An injected session may raise on failure statuses by default; this
                    # client maps them itself, with the server's problem details.
                    raise_for_status=False,
                )
            except TRANSPORT_ERRORS as exc:
                if (
                    _connect_failed(exc)
                    and not url.is_absolute()
                    and endpoint_moves < len(self._bases) - 1
                ):
                    # Nothing was sent, so any method may move on to the next endpoint. (An
                    # absolute URL, such as a storage proxy's, is not the manager's to move.)
                    endpoint_moves += 1
                    # Concurrent calls failing on the same endpoint move it on once, not
                    # once each (which would bring it back).
                    if self._base_index == base_index:
                        self._base_index = (base_index + 1) % len(self._bases)
                    _log.info("cannot connect to %s; trying %s", target.origin(), self.endpoint)
                    continue
                if (
                    may_retry
                    and retries < self._retry.max_retries
                    and _retriable_before_response(exc)
                ):
                    retries += 1
                    await asyncio.sleep(self._retry.delay(retries))
                    continue
                raise self._transport_error(exc, method, target, limits) from exc
            _log.debug(
                "%s %s -> %d in %.3fs",
                method,
                target.path,
                response.status,
                time.monotonic() - started,
            )
            self._rate_limit = parse_rate_limit(response.headers)
            if response.status < 400:
                return response
            # When the answer came, by our clock: the skew check below needs it.
            received_at = datetime.now(UTC)
            elapsed = time.monotonic() - started
            error = await self._failure(response, method, target)
            if (
                signed
                and not self._session_mode
                and not skew_corrected
                and _replayable(data)
                and is_clock_skew_error(error)
            ):
                sent_at = received_at - timedelta(seconds=elapsed)
                offset = measure_offset(response.headers.get("Date"), sent_at, received_at)
                if offset is not None:
                    skew_corrected = True
                    self._correct_clock(offset.total_seconds())
                    continue
            retry_after = (
                parse_retry_after(response.headers.get("Retry-After"))
                if response.status in (429, 503)
                else None
            )
            if (
                may_retry
                and retries < self._retry.max_retries
                and response.status in self._retry.retry_statuses
            ):
                retries += 1
                await asyncio.sleep(self._retry.delay(retries, retry_after))
                continue
            if isinstance(error, RateLimitError):
                error.rate_limit = self._rate_limit
                error.retry_after = retry_after
            raise error

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
        )

    def _transport_error(
        self, exc: BaseException, method: str, target: URL, limits: Timeout
    ) -> BackendError:
        """Describe a failure before any response, naming the phase."""
        if isinstance(exc, aiohttp.SocketTimeoutError):
            # The request went out; the server may be working on it.
            return ResponseError(
                f"{method} {target}: timed out waiting for the response "
                f"(read {_limit(limits.read)})",
                method=method,
                url=str(target),
            )
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            phase = f"timed out connecting (connect {_limit(limits.connect)})"
        elif isinstance(exc, aiohttp.ClientSSLError):
            phase = f"TLS failed: {describe_failure(exc)}"
        elif isinstance(exc, aiohttp.ClientConnectorError):
            phase = f"cannot connect: {describe_failure(exc)}"
        elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
            phase = f"the connection failed before a response: {describe_failure(exc)}"
        elif isinstance(exc, asyncio.TimeoutError):
            phase = "timed out sending the request"
        else:
            phase = f"sending failed: {describe_failure(exc)}"
        return RequestError(f"{method} {target}: {phase}", method=method, url=str(target))

    async def _read(self, response: aiohttp.ClientResponse, method: str) -> bytes:
        """Read a whole body, at most ``max_response_size`` bytes."""
        limit = self._max_response_size
        # Content-Length counts the bytes on the wire: only an uncompressed body's tells the
        # size it will have in memory.
        encoding = response.headers.get("Content-Encoding", "identity").lower()
        length = response.content_length if encoding in ("", "identity") else None
        try:
            if length is not None and length <= limit:
                return await response.read()
            if length is not None:
                raise self._too_large(response, method, length)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise self._too_large(response, method, size)
                chunks.append(chunk)
            return b"".join(chunks)
        except TRANSPORT_ERRORS as exc:
            if isinstance(exc, asyncio.TimeoutError):
                phase = "timed out reading the response body"
            else:
                phase = f"reading the response body failed: {describe_failure(exc)}"
            raise ResponseError(
                f"{method} {response.url}: {phase}",
                status=response.status,
                method=method,
                url=str(response.url),
            ) from exc

    def _too_large(self, response: aiohttp.ClientResponse, method: str, size: int) -> ResponseError:
        return ResponseError(
            f"{method} {response.url}: the response body exceeds the "
            f"{self._max_response_size}-byte limit (at least {size} bytes)",
            status=response.status,
            method=method,
            url=str(response.url),
        )

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
                    f"GET {url}: the answer carries no API version: {body!r:.200}",
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
