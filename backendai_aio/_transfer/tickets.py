"""The storage-proxy URL and token of a ``request-upload`` or ``request-download`` answer.

The manager hands out where the bytes go and a token for them (``{"url", "token"}``); the
token is a credential that travels in the query string, so it is never sent in clear text
when the manager is reached over https, unless the caller allows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yarl import URL

from .._errors import ResponseError
from .._transport import Transport

__all__ = ["read_ticket", "storage_ticket"]


def _storage_url(text: str) -> URL | None:
    """*text* as an absolute http(s) URL with a host and a valid port; ``None`` if not."""
    try:
        url = URL(text)
        url.port  # noqa: B018 (a port out of range raises only when read)
    except (ValueError, TypeError):
        return None
    return url if url.scheme in ("http", "https") and url.host else None


def read_ticket(
    body: Any, call: str, manager: URL | None = None, *, allow_http: bool = False
) -> tuple[URL, str]:
    """The storage-proxy URL and token of a ``request-upload``/``request-download`` answer.

    Under an https *manager*, a plain http storage proxy is refused unless *allow_http*:
    the token would travel in clear text.
    """
    url = body.get("url") if isinstance(body, Mapping) else None
    token = body.get("token") if isinstance(body, Mapping) else None
    if not isinstance(url, str) or not isinstance(token, str) or not token:
        keys = sorted(map(str, body)) if isinstance(body, Mapping) else type(body).__name__
        raise ResponseError(f"{call}: the answer lacks a storage-proxy url and token ({keys})")
    target = _storage_url(url)
    if target is None:
        raise ResponseError(f"{call}: the storage-proxy url {url!r:.200} is not an http(s) URL")
    insecure = manager is not None and manager.scheme == "https" and target.scheme == "http"
    if insecure and not allow_http:
        raise ResponseError(
            f"{call}: the manager is reached over https but hands out the plain http "
            f"storage proxy {target.origin()}, which would carry the storage token in "
            "clear text; refused (set allow_http_storage_proxy = True on client.vfolders, "
            "or on the folder's handle, to allow it)"
        )
    return target, token


def storage_ticket(
    transport: Transport, body: Any, call: str, *, allow_http: bool
) -> tuple[URL, str]:
    """`read_ticket` for *transport*'s endpoint, mapped by the user's overrides."""
    url, token = read_ticket(body, call, transport.endpoint, allow_http=allow_http)
    # BACKEND_OVERRIDE_STORAGE_PROXY: the user's own mapping, so taken as given.
    return transport.config.storage_proxy_url(url), token
