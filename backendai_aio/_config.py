"""Client configuration: credentials, endpoint and the official SDK's settings.

Read from arguments or from the environment, with the official SDK's variable names and meanings;
each value is checked when the configuration is built, so a typo is an
[`InvalidArgumentError`][backendai_aio.InvalidArgumentError] here rather than a confusing failure
later.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal

from yarl import URL

from ._config_values import (
    check_text,
    folder_names,
    override_storage_proxy,
    parse_flag,
    parse_seconds,
    parse_storage_proxy_overrides,
)
from ._errors import InvalidArgumentError
from ._timeouts import Timeout

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
    """The keypair and the manager endpoint a [`Client`][backendai_aio.Client] talks to.

    With *endpoint_type* ``"api"`` (the default) the client signs each request with the keypair, and
    both keys are required: a missing one is an
    [`InvalidArgumentError`][backendai_aio.InvalidArgumentError] here rather than an authentication
    failure later. With ``"session"`` the endpoint is a Backend.AI webserver: the client logs in
    with [`Auth.login`][backendai_aio.Auth.login] and needs no keypair. The secret key is never
    shown by ``repr`` or ``str``. *endpoint* may list several URLs separated by commas: when one
    cannot be connected to, the client moves on to the next.

    The keyword-only settings are the official SDK's, with its meanings:

    - *domain*, *group*: the domain and project (group) new sessions are created in,
      unless a call names its own (default: the server's, ``default``);
    - *vfolder_mounts*: folder names mounted into every new session, besides the call's;
    - *skip_sslcert_validation*: do not verify TLS certificates (like ``ssl=False``);
    - *connection_timeout*, *read_timeout*: seconds, the client's default
      [`Timeout`][backendai_aio.Timeout] limits (``0``: no limit; ``None``: the client's
      defaults of 30 and 300 seconds);
    - *storage_proxy_address_map*: storage-proxy addresses to use instead of those the
      manager hands out, keyed by the URL the manager gives (see `storage_proxy_url`).
    """

    __slots__ = (
        "__secret_key",
        "access_key",
        "connection_timeout",
        "domain",
        "endpoint",
        "endpoint_type",
        "endpoint_urls",
        "group",
        "read_timeout",
        "skip_sslcert_validation",
        "storage_proxy_address_map",
        "vfolder_mounts",
    )

    def __init__(
        self,
        access_key: str = "",
        secret_key: str = "",
        endpoint: str | None = None,
        *,
        endpoint_type: EndpointType = "api",
        domain: str | None = None,
        group: str | None = None,
        vfolder_mounts: Iterable[str] = (),
        skip_sslcert_validation: bool = False,
        connection_timeout: float | None = None,
        read_timeout: float | None = None,
        storage_proxy_address_map: Mapping[str, str] | None = None,
    ) -> None:
        if endpoint_type not in ("api", "session"):
            raise InvalidArgumentError(
                f"endpoint_type is 'api' or 'session', not {endpoint_type!r}"
            )
        #: ``"api"`` (keypair signing, the manager) or ``"session"`` (webserver login).
        self.endpoint_type: EndpointType = endpoint_type
        access_key = check_text(access_key, "the access key") if isinstance(access_key, str) else ""
        secret_key = check_text(secret_key, "the secret key") if isinstance(secret_key, str) else ""
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
        #: The endpoint as given, or [`DEFAULT_ENDPOINT`][backendai_aio.DEFAULT_ENDPOINT].
        self.endpoint = endpoint or DEFAULT_ENDPOINT
        #: The parsed endpoints, in order of preference (each ends with a slash).
        self.endpoint_urls = tuple(
            _parse_endpoint(part) for part in self.endpoint.split(",") if part.strip()
        )
        if not self.endpoint_urls:
            raise InvalidArgumentError(f"no endpoint in {self.endpoint!r}")
        #: The domain of new sessions, ``None`` for the server's default.
        self.domain = None if domain is None else check_text(domain, "the domain") or None
        #: The project (group) of new sessions, ``None`` for the server's default.
        self.group = None if group is None else check_text(group, "the group") or None
        #: Folder names mounted into every new session.
        self.vfolder_mounts = folder_names(vfolder_mounts, "vfolder_mounts")
        if not isinstance(skip_sslcert_validation, bool):
            raise InvalidArgumentError("skip_sslcert_validation is True or False")
        #: Whether TLS certificates go unverified.
        self.skip_sslcert_validation = skip_sslcert_validation
        #: Seconds to connect (``0``: no limit), ``None`` for the client's default.
        self.connection_timeout = parse_seconds(connection_timeout, "connection_timeout")
        #: Seconds to wait for data (``0``: no limit), ``None`` for the client's default.
        self.read_timeout = parse_seconds(read_timeout, "read_timeout")
        #: Storage-proxy URL (as handed out) to the address to use instead.
        self.storage_proxy_address_map: Mapping[str, str] = parse_storage_proxy_overrides(
            storage_proxy_address_map or {}
        )

    @property
    def endpoint_url(self) -> URL:
        """The first (preferred) endpoint."""
        return self.endpoint_urls[0]

    @property
    def secret_key(self) -> str:
        """The keypair's secret key (only the signing middleware needs it)."""
        return self.__secret_key

    @property
    def timeout(self) -> Timeout:
        """The client's default [`Timeout`][backendai_aio.Timeout] under this configuration."""
        limits = Timeout()
        if self.connection_timeout is not None:
            limits = replace(limits, connect=self.connection_timeout or None)
        if self.read_timeout is not None:
            limits = replace(limits, read=self.read_timeout or None)
        return limits

    def session_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Session creation *options* with this configuration's defaults applied (pure).

        ``domain`` and ``group`` are filled in when the call leaves them out, and
        `vfolder_mounts` are added to the call's ``mounts``, as the official SDK does.
        """
        applied = dict(options)
        if applied.get("domain") is None and self.domain is not None:
            applied["domain"] = self.domain
        if applied.get("group") is None and self.group is not None:
            applied["group"] = self.group
        mounts = applied.get("mounts")
        if self.vfolder_mounts and (mounts is None or isinstance(mounts, list | tuple)):
            applied["mounts"] = list(dict.fromkeys([*(mounts or ()), *self.vfolder_mounts]))
        return applied

    def storage_proxy_url(self, url: URL) -> URL:
        """The storage-proxy URL to use for *url* (`storage_proxy_address_map`)."""
        return override_storage_proxy(url, self.storage_proxy_address_map)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientConfig:
        """Read the configuration from the environment, with the official SDK's names.

        ``BACKEND_ACCESS_KEY``, ``BACKEND_SECRET_KEY``, ``BACKEND_ENDPOINT``,
        ``BACKEND_ENDPOINT_TYPE`` (``api``, the default, or ``session``),
        ``BACKEND_DOMAIN``, ``BACKEND_GROUP``, ``BACKEND_VFOLDER_MOUNTS`` (comma-separated),
        ``BACKEND_SKIP_SSLCERT_VALIDATION`` (``yes``/``no``), ``BACKEND_CONNECTION_TIMEOUT``,
        ``BACKEND_READ_TIMEOUT`` (seconds, ``0`` for no limit) and
        ``BACKEND_OVERRIDE_STORAGE_PROXY`` (``FROM=TO,...``).
        """
        env = os.environ if environ is None else environ
        endpoint_type = env.get("BACKEND_ENDPOINT_TYPE") or "api"
        if endpoint_type not in ("api", "session"):
            raise InvalidArgumentError(
                f"BACKEND_ENDPOINT_TYPE is 'api' or 'session', not {endpoint_type!r}"
            )

        def seconds(name: str) -> float | None:
            value = env.get(name, "").strip()
            return parse_seconds(value, name) if value else None

        return cls(
            env.get("BACKEND_ACCESS_KEY", ""),
            env.get("BACKEND_SECRET_KEY", ""),
            env.get("BACKEND_ENDPOINT") or None,
            endpoint_type="session" if endpoint_type == "session" else "api",
            domain=env.get("BACKEND_DOMAIN") or None,
            group=env.get("BACKEND_GROUP") or None,
            vfolder_mounts=folder_names(
                env.get("BACKEND_VFOLDER_MOUNTS", ""), "BACKEND_VFOLDER_MOUNTS"
            ),
            skip_sslcert_validation=parse_flag(
                env.get("BACKEND_SKIP_SSLCERT_VALIDATION", ""), "BACKEND_SKIP_SSLCERT_VALIDATION"
            ),
            connection_timeout=seconds("BACKEND_CONNECTION_TIMEOUT"),
            read_timeout=seconds("BACKEND_READ_TIMEOUT"),
            storage_proxy_address_map=parse_storage_proxy_overrides(
                env.get("BACKEND_OVERRIDE_STORAGE_PROXY", "")
            ),
        )

    @classmethod
    def create_from_env(cls, environ: Mapping[str, str] | None = None) -> ClientConfig:
        """Alias of `from_env`, named as in the JavaScript client."""
        return cls.from_env(environ)

    def _settings(self) -> tuple[object, ...]:
        return (
            self.domain,
            self.group,
            self.vfolder_mounts,
            self.skip_sslcert_validation,
            self.connection_timeout,
            self.read_timeout,
            tuple(sorted(self.storage_proxy_address_map.items())),
        )

    def __repr__(self) -> str:
        extras = "".join(
            f", {name}={value!r}"
            for name, value, unset in (
                ("domain", self.domain, None),
                ("group", self.group, None),
                ("vfolder_mounts", self.vfolder_mounts, ()),
                ("skip_sslcert_validation", self.skip_sslcert_validation, False),
                ("connection_timeout", self.connection_timeout, None),
                ("read_timeout", self.read_timeout, None),
                ("storage_proxy_address_map", dict(self.storage_proxy_address_map), {}),
            )
            if value != unset
        )
        return (
            f"ClientConfig(access_key={self.access_key!r}, secret_key=<hidden>, "
            f"endpoint={self.endpoint!r}, endpoint_type={self.endpoint_type!r}{extras})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClientConfig):
            return NotImplemented
        mine = (self.access_key, self.__secret_key, self.endpoint_urls, self.endpoint_type)
        theirs = (other.access_key, other.secret_key, other.endpoint_urls, other.endpoint_type)
        return mine == theirs and self._settings() == other._settings()

    def __hash__(self) -> int:
        return hash((self.access_key, self.endpoint_urls))
