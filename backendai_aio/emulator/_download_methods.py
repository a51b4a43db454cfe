"""Which HTTP method each release routes session downloads with.

``/session/{name}/download`` and ``/download_single``: managers up to 24.03 route them as GET
(with a JSON body, which the official client sends); 24.09 to 25.x (API ``v8.20240915``)
route them as POST and keep a GET stub answering 400 ``deprecated`` "This API is deprecated."
(``ai/backend/manager/api/session.py`` of 24.9.0, ``deprecated_get_stub``); 26.9 routes them
as POST only. The emulator reproduces the profile's rule for the newest API version it
speaks: the 26.9 profile limited to ``v8.20240915`` answers as 24.09 does, limited to an
older version as the GET-only managers do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from .._apiversion import ApiVersion
from ._problems import Problem
from ._releases import RELEASE_KEY
from ._sessions import SERVER_VERSION_KEY

__all__ = ["Deprecated", "download_methods", "gate_download_method"]

_V8_2409: Final = ApiVersion(8, "20240915")
_V9: Final = ApiVersion(9, "20250722")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Deprecated(Problem):
    """400 deprecated: 24.09's GET stub of the download routes."""

    status, slug, title = 400, "deprecated", "This API is deprecated."
    error_code = "api_generic_deprecated"


def download_methods(release: str, newest: ApiVersion) -> tuple[str, ...]:
    """The methods a manager of *release* speaking at most *newest* serves downloads with."""
    if release == "23.09" or newest < _V8_2409:
        return ("GET",)
    return ("POST",)


def gate_download_method(handler: Handler) -> Handler:
    """Wrap a download handler so that only the release's method reaches it."""

    async def gated(request: web.Request) -> web.StreamResponse:
        release = request.app[RELEASE_KEY].name
        newest = request.app[SERVER_VERSION_KEY]
        allowed = download_methods(release, newest)
        if request.method not in allowed:
            if request.method == "GET" and newest < _V9:
                raise Deprecated()
            raise _NotAllowed(allowed)
        return await handler(request)

    return gated


class _NotAllowed(web.HTTPMethodNotAllowed):
    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__("", allowed)
