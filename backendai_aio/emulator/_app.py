"""The emulator's aiohttp application and the server that runs it on loopback."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Final, Self

from aiohttp import web

from .._apiversion import parse_api_version
from .._config import ClientConfig
from ._account_routes import add_account_routes
from ._account_self_service import add_self_service_routes
from ._accounts import (
    ACCOUNTS_KEY,
    ADMIN_KEYPAIR,
    USER_KEYPAIR,
    AccountDirectory,
    keypairs_from_secrets,
)
from ._auth import anonymous, manager_path, request_checks
from ._bgtasks import add_bgtask_routes
from ._catalog_routes import add_catalog_routes
from ._events import DEFAULT_PING_INTERVAL, SSE_PING_INTERVAL_KEY, add_event_routes
from ._faults import FaultPlan
from ._files import add_file_routes
from ._graphql import add_graphql_routes
from ._kernel import KernelLimits
from ._localonly import local_only
from ._problems import InternalServerError, MethodNotAllowed, Problem, URLNotFound
from ._releases import (
    DEFAULT_RELEASE,
    RELEASE_KEY,
    SERVED_VERSIONS_KEY,
    ServedVersions,
    release_profile,
)
from ._service_routes import add_service_routes
from ._session_app_routes import add_session_app_routes
from ._session_record_routes import add_session_record_routes
from ._session_routes import add_session_routes
from ._sessions import REGISTRY_KEY, SERVER_VERSION_KEY, SessionRegistry
from ._streaming import add_streaming_routes
from ._templates import add_template_routes
from ._vfolder_routes import add_vfolder_routes
from ._webserver import add_webserver_routes, logged_in_keypair

__all__ = [
    "DEFAULT_ACCESS_KEY",
    "DEFAULT_SECRET_KEY",
    "MANAGER_VERSIONS",
    "USER_ACCESS_KEY",
    "USER_SECRET_KEY",
    "Emulator",
    "create_app",
]

_log = logging.getLogger("backendai_aio.emulator")

#: The manager's example superadmin keypair (``admin@lablup.com``), the emulator's default.
DEFAULT_ACCESS_KEY: Final = ADMIN_KEYPAIR.access_key
DEFAULT_SECRET_KEY: Final = ADMIN_KEYPAIR.secret_key
#: The manager's example plain user's keypair (``user@lablup.com``), also served by default.
USER_ACCESS_KEY: Final = USER_KEYPAIR.access_key
USER_SECRET_KEY: Final = USER_KEYPAIR.secret_key

#: The manager release reported for each API version by ``GET /``.
MANAGER_VERSIONS: Final[Mapping[str, str]] = {
    "v5.20191215": "20.03.0",
    "v6.20200815": "20.09.0",
    "v6.20210815": "21.09.0",
    "v6.20220315": "22.03.0",
    "v6.20220615": "22.09.0",
    "v6.20230315": "23.03.0",
    "v7.20230615": "23.09.10",
    "v8.20240315": "24.03.0",
    "v8.20240915": "24.09.0",
    "v9.20250722": "26.9.6",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The manager's own root route.
routes = web.RouteTableDef()


@routes.get("/")
@anonymous
async def root(request: web.Request) -> web.Response:
    """``GET /``: the API version and the manager release, with no keypair needed."""
    served = request.app[SERVED_VERSIONS_KEY]
    return web.json_response({"version": served.api_version, "manager": served.manager_version})


@web.middleware
async def _problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every error as the manager does: problem+json with its type and title."""
    release = request.app[RELEASE_KEY]
    try:
        return await handler(request)
    except Problem as problem:
        return release.render(problem)
    except web.HTTPNotFound:
        # The manager names the path it did not find (as it saw it: without /func).
        return release.render(URLNotFound(data=manager_path(request)))
    except web.HTTPMethodNotAllowed as exc:
        return release.render(
            MethodNotAllowed(), headers={"Allow": ",".join(sorted(exc.allowed_methods))}
        )
    except web.HTTPException:
        raise
    except Exception:
        _log.exception("unexpected error in %s %s", request.method, request.path)
        return release.render(InternalServerError())


def create_app(
    *,
    keypairs: Mapping[str, str] | None = None,
    release: str = DEFAULT_RELEASE,
    api_version: str | None = None,
    flush_window: float = 0.5,
    exec_timeout: float = 60.0,
    sse_ping_interval: float = DEFAULT_PING_INTERVAL,
    rate_limit: int | None = None,
    allowed_hosts: Iterable[str] = (),
    limits: KernelLimits | None = None,
    faults: FaultPlan | None = None,
) -> web.Application:
    """Build the emulator application.

    *keypairs* maps access keys to secret keys (default: the example superadmin and user
    keypairs; see `_accounts` for the users owning them); *release* is the manager
    release to behave as (``"26.9"``, the default, or ``"23.09"``; see `_releases`);
    *api_version* is the newest version the emulated manager speaks (default: the release's
    newest; an older one of the release's versions emulates an older manager within it);
    *flush_window* is how long an execute call collects output before answering
    ``continued``; *exec_timeout* stops runaway code;
    *sse_ping_interval* is how often quiet event streams send a keep-alive comment (the
    manager's 15 seconds by default); *rate_limit* overrides the keypairs' calls per
    900-second window (30000); *allowed_hosts* are ``Host`` values accepted besides the
    loopback names with the port a request arrived on (see `_localonly`); *limits* caps
    what each session's processes may use (see `KernelLimits`); *faults* is a
    `FaultPlan` for tests: the storage proxy then records its transfers and
    breaks those the plan says.

    The application also emulates the webserver's session mode: ``/server/login`` and the
    manager's API under ``/func/`` (see `_webserver`).
    """
    profile = release_profile(release)
    if api_version is None:
        api_version = profile.latest_api_version
    if not profile.accepts(api_version):
        raise ValueError(f"the emulator's {release} profile cannot speak API {api_version!r}")
    chosen = [ADMIN_KEYPAIR, USER_KEYPAIR] if keypairs is None else keypairs_from_secrets(keypairs)
    manager_version = (
        profile.manager_version
        if api_version == profile.latest_api_version
        else MANAGER_VERSIONS.get(api_version, profile.manager_version)
    )
    checks = request_checks(
        api_version, logged_in_keypair, accepted_versions=profile.accepted_up_to(api_version)
    )
    middlewares = [_problems, local_only(allowed_hosts), checks]
    if faults is not None:
        # Innermost: what the proxy's handlers raise still reaches _problems through it.
        middlewares.append(faults.middleware)
    app = web.Application(middlewares=middlewares)
    app[RELEASE_KEY] = profile
    app[ACCOUNTS_KEY] = AccountDirectory(chosen, rate_limit=rate_limit)
    app[REGISTRY_KEY] = SessionRegistry(
        flush_window=flush_window, exec_timeout=exec_timeout, limits=limits
    )
    app[SERVER_VERSION_KEY] = parse_api_version(api_version)

    app[SERVED_VERSIONS_KEY] = ServedVersions(api_version, manager_version)
    app[SSE_PING_INTERVAL_KEY] = sse_ping_interval
    app.add_routes(routes)
    # The order matters for shutdown, whose hooks run in turn: streaming runs are stopped
    # first (each tells its client), then the sessions are terminated (their events still
    # reach the event streams), then background tasks are cancelled, and the event streams
    # end last.
    add_streaming_routes(app)
    add_session_app_routes(app)
    add_session_record_routes(app)  # /session/_/logs before /session/{name}/logs
    add_session_routes(app)
    add_file_routes(app)
    add_vfolder_routes(app)
    add_service_routes(app)
    add_account_routes(app)
    add_catalog_routes(app)
    add_template_routes(app)
    add_self_service_routes(app)
    add_graphql_routes(app)
    add_webserver_routes(app)

    async def close_sessions(app: web.Application) -> None:
        await app[REGISTRY_KEY].close()

    app.on_shutdown.append(close_sessions)
    add_bgtask_routes(app)
    add_event_routes(app)
    return app


class Emulator:
    """Run the emulator on ``127.0.0.1`` in the current event loop.

    ```python
    async with Emulator() as emulator:
        async with Client(emulator.config) as client:
            ...
    ```

    *port* 0 (the default) picks a free port. It serves both example keypairs, the superadmin's
    (used by `config`) and a plain user's (used by `user_config`), unless *access_key* and
    *secret_key* name another keypair: then it serves that one only (owned by a plain user, unless
    the access key is an example's) and `config` uses it. The two go together (one without the other
    is a ``ValueError``); naming the example superadmin's keypair serves both examples, as without
    them. Other arguments go to [`create_app`][backendai_aio.emulator.create_app]: *release*
    (``"26.9"`` by default, or ``"23.09"``) picks the manager release whose behaviour it reproduces,
    *api_version* an older version inside it, *allowed_hosts* names further ``Host`` values to
    answer, *limits* the resource limits of each session's processes, *faults* a `FaultPlan` that
    breaks transfers for tests (kept as `faults`).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        access_key: str | None = None,
        secret_key: str | None = None,
        release: str = DEFAULT_RELEASE,
        api_version: str | None = None,
        flush_window: float = 0.5,
        exec_timeout: float = 60.0,
        sse_ping_interval: float = DEFAULT_PING_INTERVAL,
        rate_limit: int | None = None,
        allowed_hosts: Iterable[str] = (),
        limits: KernelLimits | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        if (access_key is None) != (secret_key is None):
            raise ValueError("access_key and secret_key go together")
        self.access_key = DEFAULT_ACCESS_KEY if access_key is None else access_key
        self._secret_key = DEFAULT_SECRET_KEY if secret_key is None else secret_key
        self.release = release
        #: The fault plan the emulator was made with (None: no faults, nothing recorded).
        self.faults = faults
        examples = (self.access_key, self._secret_key) == (DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY)
        self._app = create_app(
            keypairs=None if examples else {self.access_key: self._secret_key},
            release=release,
            api_version=api_version,
            flush_window=flush_window,
            exec_timeout=exec_timeout,
            sse_ping_interval=sse_ping_interval,
            rate_limit=rate_limit,
            allowed_hosts=allowed_hosts,
            limits=limits,
            faults=faults,
        )
        #: The newest API version the emulated manager speaks.
        self.api_version = api_version or self._app[RELEASE_KEY].latest_api_version
        self._port = port
        self._runner: web.AppRunner | None = None
        #: The base URL, e.g. ``http://127.0.0.1:45678``, set once started.
        self.endpoint = ""

    @property
    def config(self) -> ClientConfig:
        """A client configuration for this emulator's keypair and endpoint."""
        if not self.endpoint:
            raise RuntimeError("the emulator is not running")
        return ClientConfig(self.access_key, self._secret_key, self.endpoint)

    @property
    def user_config(self) -> ClientConfig:
        """A client configuration for the example plain user's keypair (when it is served)."""
        if not self.endpoint:
            raise RuntimeError("the emulator is not running")
        if self._app[ACCOUNTS_KEY].keypair(USER_ACCESS_KEY) is None:
            raise RuntimeError("this emulator does not serve the example user keypair")
        return ClientConfig(USER_ACCESS_KEY, USER_SECRET_KEY, self.endpoint)

    @property
    def session_config(self) -> ClientConfig:
        """A client configuration for the emulated webserver (``endpoint_type="session"``).

        The client then logs in, e.g. as ``user@lablup.com`` / ``C8qnIo29``.
        """
        if not self.endpoint:
            raise RuntimeError("the emulator is not running")
        return ClientConfig(endpoint=self.endpoint, endpoint_type="session")

    async def start(self) -> None:
        """Start serving on 127.0.0.1.

        If the server cannot start (the port is taken), what was set up is cleaned up again
        before the error propagates.
        """
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.endpoint = f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def stop(self) -> None:
        """Stop serving and terminate every session; calling it again does nothing.

        Afterwards `endpoint` is empty again and the configurations raise.
        """
        runner, self._runner = self._runner, None
        self.endpoint = ""
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return (
            f"<Emulator endpoint={self.endpoint!r} release={self.release!r} "
            f"api_version={self.api_version!r}>"
        )
