"""How calls are authenticated: keypair signing, or a webserver's login session.

The transport asks its mode, never a flag, what differs between the two: where the API's
routes live, which middleware signs, which headers go along, whether a clock-skew answer
can be cured by re-signing, and how a websocket upgrade is authenticated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import aiohttp
from yarl import URL

from ._apiversion import LATEST_API_VERSION
from ._config import ClientConfig
from ._middleware import SigningMiddleware

__all__ = ["AuthMode", "KeypairSigning", "WebserverSession", "auth_for"]


class AuthMode(Protocol):
    """What the transport needs to know about how its calls are authenticated."""

    #: The API's routes relative to the endpoint (``"func/"`` behind a webserver).
    prefix: str
    #: The middleware that authenticates a call, if any.
    signer: SigningMiddleware | None
    #: Whether a clock-skew refusal can be cured by signing again with a corrected time.
    corrects_clock: bool

    def cookie_jar(self) -> aiohttp.CookieJar | None:
        """The cookie jar of a session the client creates (``None``: aiohttp's default)."""
        ...

    def call_headers(self, api_version: str) -> Mapping[str, str]:
        """Headers an authenticated call carries besides those the signer adds."""
        ...

    def upgrade_headers(self, url: URL, *, sign: bool) -> Mapping[str, str]:
        """Headers of a websocket upgrade to *url*; *sign*: no middleware will sign it."""
        ...


class KeypairSigning:
    """Every call signed with the keypair (HMAC-SHA256), the manager's own scheme."""

    prefix = ""
    corrects_clock = True

    def __init__(self, signer: SigningMiddleware) -> None:
        self.signer: SigningMiddleware | None = signer
        self._signer = signer

    def cookie_jar(self) -> aiohttp.CookieJar | None:
        """Cookies play no part: aiohttp's default jar."""
        return None

    def call_headers(self, api_version: str) -> Mapping[str, str]:
        """Nothing: the signer adds the version, date and signature."""
        return {}

    def upgrade_headers(self, url: URL, *, sign: bool) -> Mapping[str, str]:
        """The upgrade signed by hand when no middleware of the session will sign it."""
        return self._signer.headers_for("GET", url) if sign else {}

    def __repr__(self) -> str:
        return "<KeypairSigning>"


class WebserverSession:
    """Calls through a webserver, which signs for the client after a cookie login.

    The webserver serves the manager's API under ``/func/`` and its own routes (login,
    logout) beside it; the login cookie is kept even for an IP-address endpoint.
    """

    prefix = "func/"
    signer: SigningMiddleware | None = None
    corrects_clock = False

    def cookie_jar(self) -> aiohttp.CookieJar | None:
        """A jar that keeps the login cookie of an IP-address endpoint too."""
        return aiohttp.CookieJar(unsafe=True)

    def call_headers(self, api_version: str) -> Mapping[str, str]:
        """The API version: the webserver passes it on to the manager."""
        return {"X-BackendAI-Version": api_version}

    def upgrade_headers(self, url: URL, *, sign: bool) -> Mapping[str, str]:
        """Nothing: the cookie authenticates the upgrade."""
        return {}

    def __repr__(self) -> str:
        return "<WebserverSession>"


def auth_for(config: ClientConfig) -> AuthMode:
    """The mode *config* asks for: a webserver session (``endpoint_type="session"``) or keys."""
    if config.endpoint_type == "session":
        return WebserverSession()
    return KeypairSigning(
        SigningMiddleware(
            config.access_key,
            config.secret_key,
            LATEST_API_VERSION,
            origins=config.endpoint_urls,
        )
    )
