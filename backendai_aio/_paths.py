"""Paths of calls: route segments percent-encoded, checked, and joined to an endpoint."""

from __future__ import annotations

import functools
import re
from typing import Final

from yarl import URL

from ._errors import InvalidArgumentError

__all__ = ["join", "relative_path", "route"]

# An HTTP method is a token (RFC 9110); the manager's routes use the usual upper-case ones.
_METHOD: Final = re.compile(r"[A-Z]+")


def route(*segments: str) -> URL:
    """A path relative to the endpoint, each segment percent-encoded."""
    for segment in segments:
        if not isinstance(segment, str):
            raise InvalidArgumentError(f"a path segment must be a string, not {segment!r}")
    return _route(segments)


@functools.lru_cache(maxsize=1024)
def _route(segments: tuple[str, ...]) -> URL:
    # Cached: a service asks for the same few paths over and over, and yarl caches what it
    # computes about a URL on the object, so reusing the object saves that work too.
    for segment in segments:
        # "." and ".." would be resolved away by the server or a proxy, addressing
        # another resource than the one named.
        if segment in ("", ".", "..") or "/" in segment:
            raise InvalidArgumentError(f"invalid path segment {segment!r}")
    return URL(URL("/").joinpath(*segments).raw_path[1:], encoded=True)


@functools.lru_cache(maxsize=1024)
def join(base: URL, prefix: str, relative: URL) -> URL:
    """*relative* (a path and query) under *prefix* of the endpoint *base*."""
    return URL(str(base) + prefix + relative.raw_path_qs, encoded=True)


def relative_path(method: str, path: str) -> URL:
    """Check a call's method and path; answer the path as a URL relative to the endpoint.

    *path* is the manager's route, with or without its leading ``/`` (``"/services"``).
    Absolute URLs are refused (a signed call goes to the configured endpoints only), and so
    are query strings (pass ``params=``), fragments, and ``.``/``..`` segments, which a
    server or proxy would resolve to another route than the one named.
    """
    if not isinstance(method, str) or not _METHOD.fullmatch(method):
        raise InvalidArgumentError(f"an HTTP method such as 'GET', not {method!r}")
    if not isinstance(path, str):
        raise InvalidArgumentError(f"a path must be a string, not {path!r}")
    if "?" in path or "#" in path:
        raise InvalidArgumentError(f"pass query parameters as params=, not in the path {path!r}")
    url = URL(path)
    if url.is_absolute() or path.startswith("//"):
        raise InvalidArgumentError(f"a path relative to the endpoint, not the URL {path!r}")
    stripped = path.lstrip("/")
    if any(segment in (".", "..") for segment in stripped.split("/")):
        raise InvalidArgumentError(f"a path without '.' or '..' segments, not {path!r}")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in stripped):
        raise InvalidArgumentError(f"a path without spaces or control characters, not {path!r}")
    return URL(stripped)
