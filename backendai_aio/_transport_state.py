"""The transport's state: configuration, session, endpoints, middlewares and lifecycle.

`TransportState` opens the ``aiohttp`` session on first use and closes it (and the
streams still open) on `close`; `Transport` adds
the call path on top.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import warnings
import weakref
from collections.abc import Sequence
from typing import Final

import aiohttp
from yarl import URL

from ._apiversion import LATEST_API_VERSION, ApiVersion
from ._auth_modes import AuthMode, WebserverSession, auth_for
from ._call_options import (
    DEFAULT_MAX_RESPONSE_SIZE,
    check_max_response_size,
    check_middlewares,
    check_retry,
)
from ._config import ClientConfig
from ._config_values import user_agent
from ._errors import InsecureTLSWarning
from ._lifecycle import Lifecycle
from ._paths import join, route
from ._ratelimits import RateLimit
from ._retries import RetryPolicy
from ._timeouts import NOT_GIVEN, Timeout, TimeoutArg, resolve_timeout
from ._websockets import close_websocket

__all__ = ["TransportState"]


class TransportState:
    """The session, endpoints, negotiated version and lifecycle of a transport.

    See [`Client`][backendai_aio.Client] for the constructor's arguments.
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
        self._headers: Final = {"User-Agent": user_agent(agent_signature)}
        #: How calls are authenticated: keypair signing, or a webserver's login session.
        self.auth: AuthMode = auth_for(self.config)
        self._middlewares = check_middlewares(middlewares)
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
        self._retry = check_retry(retry)
        # BACKEND_SKIP_SSLCERT_VALIDATION switches verification off unless ssl= says how.
        self._ssl = False if ssl is True and self.config.skip_sslcert_validation else ssl
        self._ssl_warned = False
        self._max_response_size = check_max_response_size(max_response_size)
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

    def __repr__(self) -> str:
        api_version = None if self.version is None else str(self.version)
        return (
            f"<Transport endpoint={str(self.endpoint)!r} access_key={self.config.access_key!r} "
            f"api_version={api_version!r} state={self.state}>"
        )
