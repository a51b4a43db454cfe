"""Client configuration: credentials and endpoint, read from arguments or the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from yarl import URL

from ._errors import InvalidArgumentError

__all__ = ["DEFAULT_ENDPOINT", "ClientConfig", "EndpointType"]

#: How the client authenticates: keypair signing, or a webserver login session.
EndpointType = Literal["api", "session"]

#: The endpoint used when none is given, as in the JavaScript client.
DEFAULT_ENDPOINT = "https://api.backend.ai"


def _parse_endpoint(endpoint: str) -> URL:
    try:
        url = URL(endpoint.strip())
        url.port  # noqa: B018 (an invalid port only shows when read)
    except ValueError:
        url = URL()
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidArgumentError(
            f"the endpoint must be an absolute http:// or https:// URL, not {endpoint!r}"
        )
    if url.user is not None or url.password is not None:
        # Credentials in the URL would leak into logs and error messages.
        raise InvalidArgumentError("the endpoint must not carry a user name or password")
    if url.query_string or url.fragment:
        raise InvalidArgumentError("the endpoint must not carry a query or a fragment")
    # A path prefix (a manager behind a reverse proxy at /api) is kept; calls are joined to
    # it, so the base always ends with a slash.
    return url.with_path(url.path.rstrip("/") + "/")


class ClientConfig:
    """The keypair and the manager endpoint a :class:`~backendai_aio.Client` talks to.

    With *endpoint_type* ``"api"`` (the default) the client signs each request with the
    keypair, and both keys are required: a missing one is an
    :class:`~backendai_aio.InvalidArgumentError` here rather than an authentication failure
    later. With ``"session"`` the endpoint is a Backend.AI webserver: the client logs in with
    :meth:`Client.login` and needs no keypair. The secret key is never shown by ``repr`` or
    ``str``. *endpoint* may list several URLs separated by commas: when one cannot be
    connected to, the client moves on to the next.
    """

    __slots__ = ("__secret_key", "access_key", "endpoint", "endpoint_type", "endpoint_urls")

    def __init__(
        self,
        access_key: str = "",
        secret_key: str = "",
        endpoint: str | None = None,
        *,
        endpoint_type: EndpointType = "api",
    ) -> None:
        if endpoint_type not in ("api", "session"):
            raise InvalidArgumentError(
                f"endpoint_type is 'api' or 'session', not {endpoint_type!r}"
            )
        #: ``"api"`` (keypair signing, the manager) or ``"session"`` (webserver login).
        self.endpoint_type: EndpointType = endpoint_type
        access_key = access_key.strip() if isinstance(access_key, str) else ""
        secret_key = secret_key.strip() if isinstance(secret_key, str) else ""
        if endpoint_type == "api":
            if not access_key:
                raise InvalidArgumentError("an access key is required (BACKEND_ACCESS_KEY)")
            if not secret_key:
                raise InvalidArgumentError("a secret key is required (BACKEND_SECRET_KEY)")
        if endpoint is not None and not isinstance(endpoint, str):
            raise InvalidArgumentError(f"the endpoint must be a string, not {endpoint!r}")
        #: The keypair's access key (public: it names the keypair).
        self.access_key = access_key
        self.__secret_key = secret_key
        #: The endpoint as given, or :data:`DEFAULT_ENDPOINT`.
        self.endpoint = endpoint or DEFAULT_ENDPOINT
        #: The parsed endpoints, in order of preference (each ends with a slash).
        self.endpoint_urls = tuple(
            _parse_endpoint(part) for part in self.endpoint.split(",") if part.strip()
        )
        if not self.endpoint_urls:
            raise InvalidArgumentError(f"no endpoint in {self.endpoint!r}")

    @property
    def endpoint_url(self) -> URL:
        """The first (preferred) endpoint."""
        return self.endpoint_urls[0]

    @property
    def secret_key(self) -> str:
        """The keypair's secret key (only the signing middleware needs it)."""
        return self.__secret_key

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientConfig:
        """Read the configuration from the environment.

        ``BACKEND_ACCESS_KEY``, ``BACKEND_SECRET_KEY``, ``BACKEND_ENDPOINT`` and
        ``BACKEND_ENDPOINT_TYPE`` (``api``, the default, or ``session``).
        """
        env = os.environ if environ is None else environ
        endpoint_type = env.get("BACKEND_ENDPOINT_TYPE") or "api"
        if endpoint_type not in ("api", "session"):
            raise InvalidArgumentError(
                f"BACKEND_ENDPOINT_TYPE is 'api' or 'session', not {endpoint_type!r}"
            )
        return cls(
            env.get("BACKEND_ACCESS_KEY", ""),
            env.get("BACKEND_SECRET_KEY", ""),
            env.get("BACKEND_ENDPOINT") or None,
            endpoint_type="session" if endpoint_type == "session" else "api",
        )

    @classmethod
    def create_from_env(cls, environ: Mapping[str, str] | None = None) -> ClientConfig:
        """Alias of :meth:`from_env`, named as in the JavaScript client."""
        return cls.from_env(environ)

    def __repr__(self) -> str:
        return (
            f"ClientConfig(access_key={self.access_key!r}, secret_key=<hidden>, "
            f"endpoint={self.endpoint!r}, endpoint_type={self.endpoint_type!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClientConfig):
            return NotImplemented
        return (self.access_key, self.__secret_key, self.endpoint_urls, self.endpoint_type) == (
            other.access_key,
            other.secret_key,
            other.endpoint_urls,
            other.endpoint_type,
        )

    def __hash__(self) -> int:
        return hash((self.access_key, self.endpoint_urls))
