"""Request checks as the manager makes them: API version, date window, keypair signature.

Also the webserver's side of session mode: a call under ``/func/`` carries no signature; the
login cookie names the keypair it acts as (see `_webserver`). And the manager's rate
limit: every signed call counts against its keypair, and a successful answer carries the
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Window`` headers (calls that
need no keypair report the manager's fixed anonymous values; errors carry none).
"""

from __future__ import annotations

import hmac
import urllib.parse
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

from .._apiversion import SUPPORTED_API_VERSIONS, parse_api_version
from .._signing import derive_signing_key, sign_with_key
from ._accounts import (
    ACCOUNTS_KEY,
    ANONYMOUS_RATE_LIMIT,
    RATE_LIMIT_WINDOW,
    AccountDirectory,
    Keypair,
)
from ._problems import (
    AuthorizationFailed,
    GenericBadRequest,
    InvalidAuthParameters,
    RateLimitExceeded,
    URLNotFound,
    WebserverProblem,
)

__all__ = [
    "ACCESS_KEY",
    "DATE_WINDOW",
    "MANAGER_API_VERSIONS",
    "WEBSERVER_PREFIX",
    "LoginLookup",
    "anonymous",
    "current_keypair",
    "manager_path",
    "public",
    "request_checks",
]

#: The access key of the request being handled (set once its signature checked out).
ACCESS_KEY: ContextVar[str] = ContextVar("ACCESS_KEY")

#: Every version a current manager accepts; a server accepts those up to its own newest.
MANAGER_API_VERSIONS: Final = (
    # API v4 versions, which the client no longer speaks but a manager still accepts.
    "v4.20181215",
    "v4.20190115",
    "v4.20190315",
    "v4.20190615",
    *SUPPORTED_API_VERSIONS,
)

#: How far a request's date may be from the server's clock.
DATE_WINDOW: Final = timedelta(minutes=15)

#: Where the webserver serves the manager's API, for logged-in browsers and SDKs.
WEBSERVER_PREFIX: Final = "/func"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Finds the keypair a webserver login cookie stands for (None: not logged in).
LoginLookup = Callable[[web.Request], Keypair | None]


# The handlers marked below; the middleware looks the matched handler up here.
_PUBLIC: Final[set[Handler]] = set()
_ANONYMOUS: Final[set[Handler]] = set()


def public(handler: Handler) -> Handler:
    """Mark a handler as callable without a signature (like ``GET /``)."""
    _PUBLIC.add(handler)
    return handler


def anonymous(handler: Handler) -> Handler:
    """Mark a manager handler that needs no keypair (``GET /``).

    Its answers carry the manager's anonymous rate-limit headers.
    """
    _ANONYMOUS.add(handler)
    return public(handler)


def current_keypair(request: web.Request) -> Keypair:
    """The keypair the request being handled acts as."""
    keypair = request.app[ACCOUNTS_KEY].keypair(ACCESS_KEY.get())
    assert keypair is not None, "the request checks let an unknown keypair through"
    return keypair


def manager_path(request: web.Request) -> str:
    """The request's path as the manager sees it (percent-decoded, without ``/func``)."""
    path = urllib.parse.unquote(request.raw_path.partition("?")[0])
    if is_webserver_call(request):
        path = path[len(WEBSERVER_PREFIX) :]
    return path


def is_webserver_call(request: web.Request) -> bool:
    """Whether the request came through the webserver's ``/func/`` proxy."""
    return request.raw_path.startswith(WEBSERVER_PREFIX + "/")


def _has_dot_segment(request: web.Request) -> bool:
    # The manager's router never matches a path with a literal "." or ".." segment (a
    # percent-encoded one is taken as a plain name), so such a path is an unknown URL.
    return any(part in (".", "..") for part in request.raw_path.partition("?")[0].split("/"))


def _parse_date(raw: str) -> datetime | None:
    """Parse an ISO 8601 or RFC 1123 date; a date without timezone is UTC, as the manager does."""
    try:
        date = datetime.fromisoformat(raw)
    except ValueError:
        try:
            date = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            # OverflowError: a year of twenty digits.
            return None
    return date if date.tzinfo is not None else date.replace(tzinfo=UTC)


def _auth_params(header: str) -> tuple[str, str, str]:
    """Split ``BackendAI signMethod=..., credential=KEY:SIG`` like the manager does."""
    pieces = header.split(" ", 1)
    if len(pieces) != 2:
        raise InvalidAuthParameters("Malformed authorization header")
    auth_type, auth_str = pieces
    if auth_type not in ("BackendAI", "Sorna"):
        raise InvalidAuthParameters("Invalid authorization type name")
    params: dict[str, str] = {}
    try:
        for param in auth_str.split(","):
            key, value = param.strip().split("=", 1)
            params[key.strip()] = value.strip()
        access_key, signature = params["credential"].split(":", 1)
        return params["signMethod"], access_key, signature
    except (KeyError, ValueError):
        raise InvalidAuthParameters("Missing or malformed authorization parameters") from None


def _verify_signature(request: web.Request, accounts: AccountDirectory, version: str | None) -> str:
    """Check the request's date and signature; return its access key."""
    raw_date = request.headers.get("Date") or request.headers.get("X-BackendAI-Date")
    date = _parse_date(raw_date) if raw_date else None
    now = datetime.now(UTC)
    if date is None or raw_date is None or not (now - DATE_WINDOW < date < now + DATE_WINDOW):
        raise InvalidAuthParameters("Date/time sync error")
    header = request.headers.get("Authorization")
    if not header:
        raise AuthorizationFailed("Unauthorized access")
    sign_method, access_key, signature = _auth_params(header)
    secret_key = accounts.secret_key(access_key)
    if secret_key is None:
        raise AuthorizationFailed("Access key not found")
    if sign_method.lower() != "hmac-sha256":
        raise InvalidAuthParameters("Unsupported request signing method (hash type)")
    if version is None:
        raise InvalidAuthParameters("API version missing in request headers")
    expected = sign_with_key(
        derive_signing_key(secret_key, date, request.host),
        method=request.method,
        path_qs=request.raw_path,
        date_header=raw_date,
        host=request.host,
        content_type=request.content_type,
        api_version=version,
    )
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise AuthorizationFailed("Signature mismatch")
    return access_key


def _set_rate_limit_headers(response: web.StreamResponse, limit: int, remaining: int) -> None:
    # Like the manager, which sets them after its handler returns: a streamed answer (SSE, a
    # websocket) has sent its headers by then and goes without.
    if not response.prepared:
        response.headers["X-RateLimit-Limit"] = str(limit)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Window"] = str(RATE_LIMIT_WINDOW)


def request_checks(
    api_version: str,
    logins: LoginLookup | None = None,
    *,
    accepted_versions: frozenset[str] | None = None,
) -> Middleware:
    """Build the middleware that checks every request before its handler runs.

    *api_version* is the newest version the emulated server speaks; the app's
    `AccountDirectory` holds the keypairs; *logins* finds the keypair of a
    webserver login (``/func/`` calls), if the app emulates the webserver;
    *accepted_versions* replaces the versions accepted in ``X-BackendAI-Version`` (a release
    profile's list).
    """
    newest = parse_api_version(api_version)
    accepted = accepted_versions or frozenset(
        v for v in MANAGER_API_VERSIONS if parse_api_version(v) <= newest
    )

    async def handle_counted(
        request: web.Request, handler: Handler, accounts: AccountDirectory, keypair: Keypair
    ) -> web.StreamResponse:
        # The handler runs in this task, so it sees the context variable set here.
        ACCESS_KEY.set(keypair.access_key)
        count = accounts.record_call(keypair.access_key)
        if count > keypair.rate_limit:
            raise RateLimitExceeded
        response = await handler(request)
        _set_rate_limit_headers(response, keypair.rate_limit, keypair.rate_limit - count)
        return response

    async def handle_anonymous(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.match_info.handler in _ANONYMOUS:
            _set_rate_limit_headers(response, ANONYMOUS_RATE_LIMIT, ANONYMOUS_RATE_LIMIT)
        return response

    def check_version(request: web.Request) -> str | None:
        version = request.headers.get("X-BackendAI-Version")
        if version is not None and version not in accepted:
            raise GenericBadRequest("Unsupported API version.")
        return version

    async def webserver_call(
        request: web.Request, handler: Handler, accounts: AccountDirectory
    ) -> web.StreamResponse:
        if request.match_info.http_exception is None and request.match_info.handler in _PUBLIC:
            # The webserver's own routes, and the manager's public ones it forwards
            # anonymously (``GET /func/`` answers the version).
            check_version(request)
            return await handle_anonymous(request, handler)
        keypair = None if logins is None else logins(request)
        if keypair is None:
            # The webserver refuses before it forwards anything.
            raise WebserverProblem(401, "auth-failed", "Unauthorized access")
        if _has_dot_segment(request):
            raise URLNotFound(data=manager_path(request))
        if request.match_info.http_exception is not None:
            return await handler(request)
        check_version(request)
        return await handle_counted(request, handler, accounts, keypair)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        accounts = request.app[ACCOUNTS_KEY]
        if is_webserver_call(request):
            return await webserver_call(request, handler, accounts)
        # The manager answers an unknown path or method before it looks at anything else.
        if _has_dot_segment(request):
            raise URLNotFound(data=manager_path(request))
        if request.match_info.http_exception is not None:
            return await handler(request)
        version = check_version(request)
        if request.match_info.handler in _PUBLIC:
            return await handle_anonymous(request, handler)
        access_key = _verify_signature(request, accounts, version)
        keypair = accounts.keypair(access_key)
        assert keypair is not None
        return await handle_counted(request, handler, accounts, keypair)

    return middleware
