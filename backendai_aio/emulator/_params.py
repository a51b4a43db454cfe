"""Reading a call's parameters from its body and query string, as the manager reads them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Final

from aiohttp import web

from ._problems import InvalidAPIParameters

__all__ = [
    "DECRYPTED_BODY",
    "NOT_JSON_MESSAGE",
    "alias",
    "is_json_request",
    "read_api_params",
    "read_body",
    "read_checked_params",
    "read_json_body",
]

#: Why a body that is not declared as JSON is refused.
NOT_JSON_MESSAGE: Final = (
    "Malformed body: the Content-Type of a JSON body must be application/json."
)

#: The body of the call being handled when the webserver decrypted it (None: read the
#: request's own body). aiohttp has no public way to give a request another body, and each
#: request is handled in a task of its own, so the call's context carries it.
DECRYPTED_BODY: ContextVar[bytes | None] = ContextVar("decrypted_body", default=None)


def is_json_request(request: web.Request) -> bool:
    """Whether *request* declares its body as JSON (``application/json``, any parameters).

    The manager parses any body as JSON; the emulator insists, because a browser sends
    ``text/plain`` (and forms) to any site without asking first, so a web page could
    otherwise drive the emulator with the published example credentials.
    """
    return request.content_type.lower() == "application/json"


async def read_body(request: web.Request) -> bytes:
    """The body of *request*, decrypted when the webserver decrypted it (`DECRYPTED_BODY`)."""
    plain = DECRYPTED_BODY.get()
    return await request.read() if plain is None else plain


async def read_json_body(request: web.Request) -> dict[str, Any]:
    """Read a JSON object body; a bodiless request reads as ``{}``, like the manager.

    A body that is not declared as ``application/json`` is refused (see
    `is_json_request`); an empty one is not looked at, whatever its type.
    """
    raw = await read_body(request)
    if not raw.strip():
        return {}
    if not is_json_request(request):
        raise InvalidAPIParameters(NOT_JSON_MESSAGE)
    try:
        body = json.loads(raw)
    except ValueError:
        raise InvalidAPIParameters("Malformed body") from None
    if not isinstance(body, dict):
        raise InvalidAPIParameters("Malformed body")
    return body


async def read_api_params(request: web.Request) -> dict[str, Any]:
    """Read a call's parameters from its JSON body and its query string.

    The manager reads a JSON body when there is one and the query string otherwise, and its
    clients moved from one to the other over the years (they now send both), so the emulator
    takes the body's values first and falls back to the query's. A parameter repeated in the
    query (``files=a&files=b``) reads as a list.
    """
    params: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        params[key] = values[0] if len(values) == 1 else list(values)
    params.update(await read_json_body(request))
    return params


async def read_checked_params(request: web.Request) -> dict[str, Any]:
    """Read a call's parameters exactly as the manager's checked calls do.

    The JSON body when the request has one, else the query string (never both): a bodiless
    ``DELETE /session/x?forced=true`` is checked on its query.
    """
    if DECRYPTED_BODY.get() is not None or request.can_read_body:
        return await read_json_body(request)
    return {key: request.query[key] for key in request.query}


def alias(params: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    """The value of the first of *names* that *params* holds (the manager's aliased keys)."""
    for name in names:
        if name in params:
            return params[name]
    return default
