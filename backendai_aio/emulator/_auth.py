"""Request checks as the manager makes them: API version, date window, keypair signature."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Middleware

from .._apiversion import parse_api_version
from .._signing import derive_signing_key, sign_with_key
from ._problems import AuthorizationFailed, GenericBadRequest, InvalidAuthParameters

__all__ = ["ACCESS_KEY", "DATE_WINDOW", "MANAGER_API_VERSIONS", "public", "request_checks"]

#: The access key of the request being handled (set once its signature checked out).
ACCESS_KEY: ContextVar[str] = ContextVar("ACCESS_KEY")

#: Every version a current manager accepts; a server accepts those up to its own newest.
MANAGER_API_VERSIONS: Final = (
    "v4.20181215",
    "v4.20190115",
    "v4.20190315",
    "v4.20190615",
    "v5.20191215",
    "v6.20200815",
    "v6.20210815",
    "v6.20220315",
    "v6.20220615",
    "v6.20230315",
    "v7.20230615",
    "v8.20240315",
    "v8.20240915",
    "v9.20250722",
)

#: How far a request's date may be from the server's clock.
DATE_WINDOW: Final = timedelta(minutes=15)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def public(handler: Handler) -> Handler:
    """Mark a handler as callable without a signature (like ``GET /``)."""
    handler._emulator_public = True  # type: ignore[attr-defined]
    return handler


def _parse_date(raw: str) -> datetime | None:
    """Parse an ISO 8601 or RFC 1123 date; a date without timezone is UTC, as the manager does."""
    try:
        date = datetime.fromisoformat(raw)
    except ValueError:
        try:
            date = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
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


def request_checks(keypairs: Mapping[str, str], api_version: str) -> Middleware:
    """Build the middleware that checks every request before its handler runs.

    *keypairs* maps access keys to secret keys; *api_version* is the newest version the
    emulated server speaks.
    """
    newest = parse_api_version(api_version)
    accepted = frozenset(v for v in MANAGER_API_VERSIONS if parse_api_version(v) <= newest)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        version = request.headers.get("X-BackendAI-Version")
        if version is not None and version not in accepted:
            raise GenericBadRequest("Unsupported API version.")
        route_handler: Any = request.match_info.handler
        if request.match_info.http_exception is not None or getattr(
            route_handler, "_emulator_public", False
        ):
            return await handler(request)
        raw_date = request.headers.get("Date") or request.headers.get("X-BackendAI-Date")
        date = _parse_date(raw_date) if raw_date else None
        now = datetime.now(UTC)
        if date is None or raw_date is None or not (now - DATE_WINDOW < date < now + DATE_WINDOW):
            raise InvalidAuthParameters("Date/time sync error")
        header = request.headers.get("Authorization")
        if not header:
            raise AuthorizationFailed("Unauthorized access")
        sign_method, access_key, signature = _auth_params(header)
        secret_key = keypairs.get(access_key)
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
        # The handler runs in this task, so it sees the context variable set here.
        ACCESS_KEY.set(access_key)
        return await handler(request)

    return middleware
