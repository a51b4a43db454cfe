"""API versions: parsing, ordering and negotiation (pure functions).

A Backend.AI API version reads ``vMAJOR.YYYYMMDD``. The manager accepts a fixed list of them in
the ``X-BackendAI-Version`` header and advertises its newest one at ``GET /``. A client speaks
``min(server newest, client newest)``; servers older than the oldest version this package knows
how to talk to are refused.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "LATEST_API_VERSION",
    "OLDEST_API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "ApiVersion",
    "negotiate",
    "parse_api_version",
]


class ApiVersion(NamedTuple):
    """A parsed API version; tuples order like the versions themselves."""

    major: int
    date: str

    def __str__(self) -> str:
        return f"v{self.major}.{self.date}"


#: Every version from the oldest this package supports to the newest it knows, oldest first:
#: the versions the newest manager (26.9) accepts from v5 on. (Managers up to 25.x also accepted
#: ``v6.20210815``, which 26.9 dropped; ``v6.20221201`` is new in 26.9.)
SUPPORTED_API_VERSIONS: tuple[str, ...] = (
    "v5.20191215",
    "v6.20200815",
    "v6.20220315",
    "v6.20220615",
    "v6.20221201",
    "v6.20230315",
    "v7.20230615",
    "v8.20240315",
    "v8.20240915",
    "v9.20250722",
)
OLDEST_API_VERSION = SUPPORTED_API_VERSIONS[0]
LATEST_API_VERSION = SUPPORTED_API_VERSIONS[-1]

_VERSION_RE = re.compile(r"v(\d+)\.(\d{8})")


def parse_api_version(text: str) -> ApiVersion:
    """Parse ``vMAJOR.YYYYMMDD``; raise `ValueError` for anything else."""
    match = _VERSION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an API version: {text!r}")
    return ApiVersion(int(match[1]), match[2])


def negotiate(server_version: str, client_latest: str = LATEST_API_VERSION) -> str:
    """Return the version to send to a server that advertises *server_version*.

    The server accepts its own newest version and every older one it lists, so the answer is
    the older of the two newest versions. Raise `ValueError` when the server is older
    than [`OLDEST_API_VERSION`][backendai_aio.OLDEST_API_VERSION] or its version cannot be parsed.
    """
    server = parse_api_version(server_version)
    if server < parse_api_version(OLDEST_API_VERSION):
        raise ValueError(
            f"the server speaks API {server}, older than {OLDEST_API_VERSION}, "
            "the oldest this client supports"
        )
    return str(min(server, parse_api_version(client_latest)))
