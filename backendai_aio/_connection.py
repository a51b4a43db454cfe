"""The client's state and lifecycle: its session, endpoints, policies and URLs.

:class:`ClientConnection` opens the ``aiohttp`` session on first use and closes it (and the
streams still open) on :meth:`~ClientConnection.close`; the request loop that uses it lives
in :mod:`._base`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl as ssl_module
import warnings
import weakref
from enum import Enum
from typing import Final, Self

import aiohttp
from yarl import URL

from ._apiversion import LATEST_API_VERSION, ApiVersion
from ._config import ClientConfig
from ._config_values import check_agent_signature
from ._errors import (
    ERR_REQUEST,
    ERR_RESPONSE,
    ERR_SERVER,
    ClientClosedError,
    InsecureTLSWarning,
    InvalidArgumentError,
)
from ._middleware import SigningMiddleware
from ._ratelimits import RateLimit
from ._retries import NO_RETRIES, RetryPolicy
from ._timeouts import NOT_GIVEN, TimeoutArg, resolve_timeout
from ._version import __version__

__all__ = ["DEFAULT_MAX_RESPONSE_SIZE", "ClientConnection"]

#: The largest body a non-streaming call reads into memory (64 MiB).
DEFAULT_MAX_RESPONSE_SIZE: Final = 64 * 1024 * 1024


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


#: How long leaving a stream waits for the server to answer the close (seconds); then the
#: connection is dropped. aiohttp's own close waits for each frame anew, so a server that
#: keeps sending frames would hold it forever.
CLOSE_LIMIT: Final = 3.0


async def close_websocket(ws: aiohttp.ClientWebSocketResponse, limit: float = CLOSE_LIMIT) -> None:
    """Close *ws*, waiting at most *limit* seconds for the server's answer, then drop it."""
    # On timeout aiohttp's close() is cancelled, and drops the connection itself.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit):
            await ws.close()


class ClientConnection:
    """The client's state and lifecycle: configuration, session, endpoints, policies.

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
            self.config.access_key,
            self.config.secret_key,
            LATEST_API_VERSION,
            origins=self.config.endpoint_urls,
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
        connect = self._timeout.connect
        return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect)

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
                await close_websocket(stream)
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
