"""What a resource namespace needs from the client: one call that signs and sends a request.

A namespace (such as :class:`~backendai_aio.Services`) is given an object satisfying
:class:`Transport`, never the client itself, so that it depends on this one method only;
:meth:`Client.request <backendai_aio.Client.request>` is that method.
"""

from __future__ import annotations

import re
from typing import Any, Final, Protocol

from yarl import URL

from ._errors import InvalidArgumentError
from ._timeouts import NOT_GIVEN, TimeoutArg

__all__ = ["Transport", "relative_path"]

# An HTTP method is a token (RFC 9110); the manager's routes use the usual upper-case ones.
_METHOD: Final = re.compile(r"[A-Z]+")


class Transport(Protocol):
    """Signs and sends one call, answering its decoded body or raising ``BackendError``."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Send *method* *path* (relative to the endpoint) and answer the decoded body."""
        ...


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
