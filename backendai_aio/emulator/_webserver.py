"""The Backend.AI webserver's session mode, emulated in the same application as the manager.

Browsers (and SDKs configured with ``endpoint_type="session"``) talk to the webserver, not to
the manager: they log in with an e-mail and a password, keep the session cookie it sets, and
call the manager's API under ``/func/``; the webserver signs each call with the logged-in
user's keypair and relays the manager's answer as it is. As the webserver
(``src/ai/backend/web/server.py`` and ``proxy.py``) does it:

- ``POST /server/login`` with JSON ``{"username", "password"}`` (over plain HTTP the official
  SDK encrypts it: ``X-BackendAI-Encoded: true`` and ``<iv>:<base64 of AES-CBC(JSON)>``, the
  AES-256 key being the first 32 bytes of ``base64(endpoint URL) + iv + iv``; see
  `decrypt_body`; the webserver decrypts any request so marked, ``/func/`` calls too, and so
  does `decrypt_bodies`): 200 ``{"authenticated": true,
  "data": {"access_key", "role", "status"}}`` and the ``AIOHTTP_SESSION`` cookie (HttpOnly,
  ``SameSite=Strict``, path ``/``, a week long). A body must be ``application/json`` (the
  webserver takes any type; see `_params.is_json_request`). A refused login is 200
  too: ``{"authenticated": false, "data": {"type", "title", "details"}}`` with the manager's
  reason. A missing or empty field is 400
  ``invalid-api-params`` "You must provide the username field." (or password); a second login
  in the same session 400 ``generic-bad-request`` "You have already logged in."; after 10
  failures in a row for one user name, logins are refused with 429 ``too-many-requests``
  "Too many failed login attempts" until 20 minutes have passed since the last attempt.
- ``POST /server/login-check``: ``{"authenticated", "data", "session_id"}``.
- ``POST /server/logout``: ends the session (the cookie is cleared); 201 with no body.
- ``GET /func/ping``: ``{"version", "details": "Success"}``.
- ``/func/<path>``: the manager's ``/<path>``, any method, websockets and event streams
  included, as the logged-in user's keypair (no signature needed: the cookie authorises the
  call). ``GET /func/`` needs no login and answers the manager's version. Without a login
  every other call is 401 ``{"type": ".../auth-failed", "title": "Unauthorized access"}``,
  before the path is even looked at.

The users and passwords are the emulator's accounts (see `_accounts`).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import AbstractRoute, UrlDispatcher, UrlMappingMatchInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._accounts import ACCOUNTS_KEY, Keypair
from ._aes import cbc_decrypt, unpad
from ._auth import WEBSERVER_PREFIX, public
from ._params import DECRYPTED_BODY, NOT_JSON_MESSAGE, is_json_request, read_body
from ._problems import PROBS, WebserverProblem
from ._releases import SERVED_VERSIONS_KEY

if TYPE_CHECKING:
    # Only for the signature aiohttp's resources declare; never needed at run time.
    from aiohttp.web_urldispatcher import _InfoDict

__all__ = [
    "SESSION_COOKIE",
    "WEBSERVER_KEY",
    "WebserverSessions",
    "add_webserver_routes",
    "decrypt_bodies",
    "decrypt_body",
    "logged_in_keypair",
    "routes",
]

#: The webserver's session cookie (aiohttp-session's default name).
SESSION_COOKIE: Final = "AIOHTTP_SESSION"
#: How long a login lasts, in seconds (the webserver's default ``max_age``, a week).
SESSION_MAX_AGE: Final = 7 * 24 * 3600
# The webserver's defaults for refusing repeated failed logins.
_LOGIN_BLOCK_TIME: Final = 1200
_LOGIN_ALLOWED_FAIL_COUNT: Final = 10


@dataclass
class _Login:
    keypair: Keypair
    identity: str
    expires: float


@dataclass
class _History:
    """A user name's login attempts (the webserver keeps it per e-mail, not per session)."""

    last_attempt: float = 0.0
    fail_count: int = 0


@dataclass
class WebserverSessions:
    """The logins the emulated webserver holds, by session cookie."""

    logins: dict[str, _Login] = field(default_factory=dict)
    history: dict[str, _History] = field(default_factory=dict)

    def find(self, request: web.Request) -> _Login | None:
        """The live login of *request*'s session cookie, if any."""
        identity = request.cookies.get(SESSION_COOKIE)
        login = None if identity is None else self.logins.get(identity)
        if login is not None and login.expires <= time.monotonic():
            del self.logins[login.identity]
            return None
        return login


#: The header that marks a body as encrypted (any non-empty value does, as for the webserver).
ENCODED_HEADER: Final = "X-BackendAI-Encoded"


def decrypt_body(endpoint: str, payload: bytes) -> bytes:
    """The official SDK's encrypted body *payload* (``<iv>:<base64>``) decrypted.

    *endpoint* is the URL the request was made to, as the webserver spells it
    (``http://host:port``): with the IV it makes the key. Raises ``ValueError`` when the body
    is not of that form, or does not decrypt to padded data.
    """
    iv, sep, encoded = payload.partition(b":")
    if not sep:
        raise ValueError("no IV before the encrypted body")
    try:
        data = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("the encrypted body is not base64") from exc
    key = (base64.b64encode(endpoint.encode("ascii")) + iv + iv)[:32]
    return unpad(cbc_decrypt(key, iv, data))


@web.middleware
async def decrypt_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Decrypt every request body marked with `ENCODED_HEADER`, as the webserver does.

    The webserver's ``decrypt_payload`` middleware does this for any path (the login and every
    ``/func/`` call) and relays the plain body, with its length, to the manager; the handlers
    here read it with `read_body`.
    """
    if not request.headers.get(ENCODED_HEADER) or not request.can_read_body:
        return await handler(request)
    # The webserver's key is the URL as it sees the request arrive. The stream is read, not
    # the request: aiohttp clones a request only while its body is unread.
    try:
        plain = decrypt_body(f"{request.scheme}://{request.host}", await request.content.read())
    except ValueError:
        raise WebserverProblem(
            400, "invalid-api-params", "The encrypted request body cannot be decrypted."
        ) from None
    headers = CIMultiDict(request.headers)
    headers["Content-Length"] = str(len(plain))
    if request.content_type == "application/octet-stream":
        # The SDK's encrypted body is JSON sent as bytes. Taking it as JSON opens nothing to
        # other sites: a page cannot send the header without a CORS preflight, never granted.
        headers["Content-Type"] = "application/json"
    token = DECRYPTED_BODY.set(plain)
    try:
        return await handler(request.clone(headers=CIMultiDictProxy(headers)))
    finally:
        DECRYPTED_BODY.reset(token)


#: Where the application keeps its `WebserverSessions`.
WEBSERVER_KEY: Final = web.AppKey("webserver", WebserverSessions)

#: The webserver's own routes (``/server/...`` and ``/func/ping``).
routes = web.RouteTableDef()


def logged_in_keypair(request: web.Request) -> Keypair | None:
    """The keypair *request*'s login cookie stands for (None: not logged in)."""
    sessions = request.app.get(WEBSERVER_KEY)
    login = None if sessions is None else sessions.find(request)
    if login is None:
        return None
    # The account may have been removed meanwhile; then the login is worthless.
    return request.app[ACCOUNTS_KEY].keypair(login.keypair.access_key)


class _ProxyResource(web.AbstractResource):
    """Routes ``/func/<path>`` to whatever the application serves at ``/<path>``.

    The webserver relays these calls to the manager; here the manager is the same
    application, so the path is resolved again without the prefix, against the routes as they
    are when the request arrives (routes added after this one count too). The handler then
    sees the manager's match (``request.match_info``), while ``request.path`` keeps the prefix.
    """

    def __init__(self, router: UrlDispatcher) -> None:
        super().__init__()
        self._router = router

    @property
    def canonical(self) -> str:
        return WEBSERVER_PREFIX

    def url_for(self, **kwargs: str) -> URL:
        return URL.build(path=WEBSERVER_PREFIX + "/")

    async def resolve(self, request: web.Request) -> tuple[UrlMappingMatchInfo | None, set[str]]:
        raw = request.raw_path
        inner_raw = raw[len(WEBSERVER_PREFIX) :]
        # "/func/func/..." would otherwise resolve itself again: the manager has no /func.
        if not raw.startswith(WEBSERVER_PREFIX + "/") or inner_raw.startswith(
            WEBSERVER_PREFIX + "/"
        ):
            return None, set()
        inner = request.clone(rel_url=URL(inner_raw, encoded=True))
        match_info = await self._router.resolve(inner)
        exception = match_info.http_exception
        if exception is None:
            return match_info, set()
        if isinstance(exception, web.HTTPMethodNotAllowed):
            return None, set(exception.allowed_methods)
        return None, set()

    def add_prefix(self, prefix: str) -> None:
        raise RuntimeError("the webserver proxy cannot live in a sub-application")

    def get_info(self) -> _InfoDict:
        return {"prefix": WEBSERVER_PREFIX}

    def raw_match(self, path: str) -> bool:
        return path == WEBSERVER_PREFIX

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[AbstractRoute]:
        return iter(())


@routes.post("/server/login")
@public
async def login(request: web.Request) -> web.Response:
    """``POST /server/login``: log in with an e-mail and a password."""
    sessions = request.app[WEBSERVER_KEY]
    if sessions.find(request) is not None:
        raise WebserverProblem(400, "generic-bad-request", "You have already logged in.")
    # An encrypted body arrives here decrypted, as JSON (see `decrypt_bodies`).
    raw = await read_body(request)
    if raw.strip() and not is_json_request(request):
        raise WebserverProblem(400, "invalid-api-params", NOT_JSON_MESSAGE)
    try:
        creds = json.loads(raw)
    except ValueError:
        creds = {}
    if not isinstance(creds, dict):
        creds = {}
    for name in ("username", "password"):
        if not creds.get(name):
            raise WebserverProblem(400, "invalid-api-params", f"You must provide the {name} field.")
    username, password = str(creds["username"]), str(creds["password"])
    history = sessions.history.setdefault(username, _History())
    now = time.time()
    if now - history.last_attempt > _LOGIN_BLOCK_TIME:
        # The last attempt is long past: the user may try again.
        history.fail_count = 0
    history.last_attempt = now
    if history.fail_count >= _LOGIN_ALLOWED_FAIL_COUNT:
        raise WebserverProblem(429, "too-many-requests", "Too many failed login attempts")
    keypair = request.app[ACCOUNTS_KEY].authenticate(username, password)
    if keypair is None:
        history.fail_count += 1
        # The manager's refusal, relayed by the webserver under "details".
        reason = {
            "type": PROBS + "auth-failed",
            "title": "Credential/signature mismatch.",
            "details": "User credential mismatch.",
        }
        return web.json_response({"authenticated": False, "data": reason})
    history.fail_count = 0
    identity = secrets.token_hex(16)
    sessions.logins[identity] = _Login(keypair, identity, time.monotonic() + SESSION_MAX_AGE)
    response = web.json_response({"authenticated": True, "data": _public_data(keypair)})
    # Strict: a page of another site never has the browser send it along.
    response.set_cookie(
        SESSION_COOKIE,
        identity,
        max_age=SESSION_MAX_AGE,
        path="/",
        httponly=True,
        samesite="Strict",
    )
    return response


@routes.post("/server/login-check")
@public
async def login_check(request: web.Request) -> web.Response:
    """``POST /server/login-check``: whether the session cookie is logged in."""
    found = request.app[WEBSERVER_KEY].find(request)
    return web.json_response(
        {
            "authenticated": found is not None,
            "data": None if found is None else _public_data(found.keypair),
            "session_id": None if found is None else found.identity,
        }
    )


@routes.post("/server/logout")
@public
async def logout(request: web.Request) -> web.Response:
    """``POST /server/logout``: end the session and clear its cookie."""
    sessions = request.app[WEBSERVER_KEY]
    found = sessions.find(request)
    if found is not None:
        del sessions.logins[found.identity]
    response = web.Response(status=201)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get(WEBSERVER_PREFIX + "/ping")
@public
async def ping(request: web.Request) -> web.Response:
    """``GET /func/ping``: the webserver's version."""
    version = request.app[SERVED_VERSIONS_KEY].manager_version
    return web.json_response({"version": version, "details": "Success"})


def add_webserver_routes(app: web.Application) -> None:
    """Install the webserver's routes and its ``/func/`` proxy on *app*.

    ``GET /func/ping`` reports the release in the application's `ServedVersions`.
    """
    app[WEBSERVER_KEY] = WebserverSessions()
    app.middlewares.append(decrypt_bodies)
    app.add_routes(routes)
    app.router.register_resource(_ProxyResource(app.router))


def _public_data(keypair: Keypair) -> dict[str, Any]:
    return {
        "access_key": keypair.access_key,
        "role": keypair.user.role,
        "status": keypair.user.status,
    }
