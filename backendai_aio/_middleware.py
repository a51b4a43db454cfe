"""The signing middleware: an aiohttp client middleware that signs each request."""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from datetime import UTC, datetime, timedelta

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs
from yarl import URL

from ._call_policy import origin_key
from ._errors import InvalidArgumentError, ResponseError
from ._signing import SigningKeyCache, authorization_header, canonical_tail, sign_message

__all__ = ["DEFAULT_CONTENT_TYPE", "SigningMiddleware"]

#: The content type set on requests that carry none (bodiless GET, DELETE, PATCH, ...).
DEFAULT_CONTENT_TYPE = "application/json"

# A client talks to a handful of hosts with a handful of content types.
_MAX_TAILS = 64


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SigningMiddleware:
    """Sign every request with a Backend.AI keypair (HMAC-SHA256).

    An aiohttp client middleware (aiohttp >= 3.12): install it on a session with
    ``ClientSession(middlewares=(signer,))`` or per request with ``middlewares=(signer,)``. aiohttp
    runs middlewares again for every redirect hop and for websocket upgrades, so each hop is signed
    for the host and path it is really sent to, but only for the *origins* given (scheme, host and
    port, such as the configured endpoints): a request for any other origin, such as a redirect to
    another host or from https to http, is refused with
    [`ResponseError`][backendai_aio.ResponseError] before anything is sent to it, since the
    signature would let that host replay the request. Without *origins*, any origin is signed.

    What it signs, and why each choice matters to the manager:

    - the ``Host`` header aiohttp will send (``h`` for ``http://h:80``, never ``h:80``);
    - the path and query exactly as written on the wire (``request.url.raw_path_qs``, the
      percent-encoding kept), which the manager reads back as ``request.raw_path``;
    - the bare media type of ``Content-Type``: aiohttp adds its default type only *after*
      middlewares run, and the manager reads a missing header as
      ``application/octet-stream``, so a bodiless request gets ``application/json`` set here;
    - a fresh ``Date`` (ISO 8601, UTC) on each call, shifted by `clock_offset`.

    `api_version` is the negotiated ``X-BackendAI-Version``; the client sets it once
    the server has told its version. The secret key never leaves the key cache.
    """

    __slots__ = (
        "_access_key",
        "_clock",
        "_keys",
        "_origins",
        "_tails",
        "api_version",
        "clock_offset",
    )

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        api_version: str,
        *,
        origins: Iterable[URL | str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._access_key = access_key
        # The local clock (an aware UTC datetime); replaceable so that a signature can be
        # checked against a known vector.
        self._clock = clock if clock is not None else _utc_now
        self._origins = (
            None if origins is None else frozenset(origin_key(URL(str(o))) for o in origins)
        )
        self._keys = SigningKeyCache(secret_key)
        # The last lines of the string to sign depend only on the host, the content type and
        # the version: built once each, not once per request.
        self._tails: dict[tuple[str, str, str], str] = {}
        #: The ``X-BackendAI-Version`` value sent and signed.
        self.api_version = api_version
        #: Added to the local clock when dating a request (the server's clock minus ours).
        self.clock_offset = timedelta()

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        """Add ``Date``, ``X-BackendAI-Version`` and ``Authorization`` and pass the request on."""
        self._check_origin(request.method, request.url)
        headers = request.headers
        content_type = headers.get(hdrs.CONTENT_TYPE)
        if content_type is None:
            content_type = headers[hdrs.CONTENT_TYPE] = DEFAULT_CONTENT_TYPE
        self._sign(
            headers, request.method, request.url.raw_path_qs, headers[hdrs.HOST], content_type
        )
        return await handler(request)

    def headers_for(self, method: str, url: URL) -> dict[str, str]:
        """The signed headers for a request that cannot pass through the middleware.

        aiohttp's ``ws_connect`` takes no per-request middlewares, so a websocket opened on a
        session the client did not create carries these instead. ``Host`` is set to what
        aiohttp would send, so that it is the one signed.
        """
        host = url.host_port_subcomponent
        if host is None:
            raise InvalidArgumentError(f"cannot sign a relative URL: {url}")
        self._check_origin(method, url)
        headers: dict[str, str] = {hdrs.HOST: host, hdrs.CONTENT_TYPE: DEFAULT_CONTENT_TYPE}
        self._sign(headers, method, url.raw_path_qs, host, DEFAULT_CONTENT_TYPE)
        return headers

    def _check_origin(self, method: str, url: URL) -> None:
        if self._origins is None or origin_key(url) in self._origins:
            return
        raise ResponseError(
            f"{method} {url.origin()}: not signed for an origin other than the configured "
            "endpoints (a redirect to another host, or from https to http, is not followed "
            "with credentials)",
            method=method,
            url=str(url.origin()),
        )

    def _sign(
        self,
        headers: MutableMapping[str, str],
        method: str,
        path_qs: str,
        host: str,
        content_type: str,
    ) -> None:
        now = self._clock() + self.clock_offset
        date_header = now.isoformat()
        slot = (host, content_type, self.api_version)
        tail = self._tails.get(slot)
        if tail is None:
            if len(self._tails) >= _MAX_TAILS:
                self._tails.clear()
            tail = self._tails[slot] = canonical_tail(
                host=host, content_type=content_type, api_version=self.api_version
            )
        signature = sign_message(
            self._keys.key_for(now, host), f"{method.upper()}\n{path_qs}\n{date_header}\n{tail}"
        )
        headers[hdrs.DATE] = date_header
        headers["X-BackendAI-Version"] = self.api_version
        headers[hdrs.AUTHORIZATION] = authorization_header(self._access_key, signature)

    def __repr__(self) -> str:
        return (
            f"SigningMiddleware(access_key={self._access_key!r}, secret_key=<hidden>, "
            f"api_version={self.api_version!r})"
        )
