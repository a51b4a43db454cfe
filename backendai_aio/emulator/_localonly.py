"""Refusing requests that do not come from a local client talking to this very port.

The emulator runs users' code under the account of whoever started it, and its example
keypairs and passwords are published. A web page could otherwise reach it through DNS
rebinding (a name of the attacker's that resolves to 127.0.0.1: the browser then sends
``Host: attacker.example:<port>``) or, from another local port, with a form the browser sends
without asking (``text/plain`` or ``multipart/form-data``). So, as Jupyter does, every request
must name a loopback host and the port it arrived on (``127.0.0.1:<port>``,
``localhost:<port>`` or ``[::1]:<port>``), and a request that carries an ``Origin`` (browsers
send one on cross-origin calls and every websocket handshake) must come from such an origin.
Further ``Host`` values can be allowed by name, for an emulator reached through a proxy or a
container's port mapping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

from ._problems import GenericForbidden

__all__ = ["LOOPBACK_NAMES", "is_local_host", "is_local_origin", "local_only"]

#: The host names a request may use (with the emulator's own port).
LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "[::1]"})
# The longest port number written with digits only.
_PORT_DIGITS: Final = 5

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _split_host(value: str) -> tuple[str, int] | None:
    """Split a ``Host`` value into (lower-case name, port); None when it is malformed.

    A value without a port names port 80, as HTTP's default.
    """
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value.partition("]")
        name += bracket
        if not bracket:
            return None
    else:
        name, colon, port_text = value.partition(":")
        rest = colon + port_text
    if rest == "":
        return name, 80
    port_text = rest[1:]
    if not rest.startswith(":") or not (
        0 < len(port_text) <= _PORT_DIGITS and port_text.isascii() and port_text.isdigit()
    ):
        return None
    return name, int(port_text)


def is_local_host(value: str | None, port: int | None, extra: Iterable[str] = ()) -> bool:
    """Whether *value* (a ``Host`` header) names a loopback host and *port*.

    *port* is the port the request arrived on (None: unknown, any port). A value listed in
    *extra* (compared without regard to case) is accepted as it is.
    """
    if value is None:
        return False
    if value.strip().lower() in {allowed.lower() for allowed in extra}:
        return True
    parsed = _split_host(value)
    if parsed is None:
        return False
    name, named_port = parsed
    return name in LOOPBACK_NAMES and (port is None or named_port == port)


def is_local_origin(value: str, port: int | None, extra: Iterable[str] = ()) -> bool:
    """Whether *value* (an ``Origin``) is ``http://`` and a host `is_local_host` takes."""
    scheme, sep, host = value.strip().partition("://")
    if not sep or scheme.lower() != "http" or "/" in host:
        return False
    return is_local_host(host, port, extra)


def _arrival_port(request: web.Request) -> int | None:
    transport = request.transport
    sockname = None if transport is None else transport.get_extra_info("sockname")
    if isinstance(sockname, tuple) and len(sockname) >= 2 and isinstance(sockname[1], int):
        return sockname[1]
    return None


def local_only(allowed_hosts: Iterable[str] = ()) -> Middleware:
    """Build the middleware that refuses non-local ``Host`` and ``Origin`` headers (403).

    *allowed_hosts* are further ``Host`` values to accept as they are (e.g.
    ``"emulator:8091"``); an ``Origin`` of ``http://`` and one of them is accepted too.
    """
    extra = frozenset(host.strip().lower() for host in allowed_hosts)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        port = _arrival_port(request)
        host = request.headers.get("Host")
        if not is_local_host(host, port, extra):
            raise GenericForbidden(
                "The emulator answers only requests for its loopback address "
                f"(127.0.0.1:{port}, localhost:{port} or [::1]:{port}), not {host!r}."
            )
        origin = request.headers.get("Origin")
        if origin is not None and not is_local_origin(origin, port, extra):
            raise GenericForbidden(f"The emulator refuses requests from the origin {origin!r}.")
        return await handler(request)

    return middleware
