"""The client: the JavaScript client's calls as coroutine methods."""

from __future__ import annotations

import functools
import ssl as ssl_module
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Self, Unpack, cast

import aiohttp
from yarl import URL

from ._config import ClientConfig
from ._errors import ERR_REQUEST, ERR_RESPONSE, ERR_SERVER
from ._retries import RetryPolicy
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transport import DEFAULT_MAX_RESPONSE_SIZE, Transport

# The namespaces are imported when first used (each cached property below): together they
# are most of the package's import time, and an application may use one or two of them.
if TYPE_CHECKING:
    from ._auth_calls import Auth
    from ._events import Events
    from ._images import Images
    from ._ratelimits import RateLimit
    from ._resources import Resources
    from ._services import Services
    from ._session_options import SessionOptions
    from ._session_types import (
        CompletionAnswer,
        CreatedSession,
        DestroyAnswer,
        ExecuteAnswer,
        ServerVersion,
        SessionInfo,
        SessionLogs,
    )
    from ._sessions import Sessions
    from ._templates import Templates
    from ._vfolders import VFolders

__all__ = ["Client"]


class Client:
    """An asyncio Backend.AI client.

    Use one client per application and close it when done, best with ``async with``:

    ```python
    async with Client(ClientConfig.from_env()) as client:
        print(await client.get_server_version())
    ```

    Args:
        config: The keypair and endpoint (default:
            [`ClientConfig.from_env`][backendai_aio.ClientConfig.from_env]).
        agent_signature: Appended to the `User-Agent`, as in the JavaScript client.
        session: An `aiohttp.ClientSession` to use instead of creating one; the client never
            closes it, and applies its signing middleware per request, which (by aiohttp's
            rule) replaces the session's own middlewares for the client's signed calls: pass
            those as *middlewares* to keep them.
        timeout: The default [`Timeout`][backendai_aio.Timeout] (connect and read limits) of
            every call; `None` for no limit; each method also takes `timeout=`.
        retry: The [`RetryPolicy`][backendai_aio.RetryPolicy] for idempotent calls (`None`
            switches it off).
        ssl: `True` (verify, the default), an `ssl.SSLContext`, or `False` (no
            verification, with an [`InsecureTLSWarning`][backendai_aio.InsecureTLSWarning]).
        max_response_size: The largest body a non-streaming call reads (bytes).
        middlewares: Your own aiohttp client middlewares (tracing, headers); they run on
            every call, signed ones included, before the signer.

    Every method returns the response body decoded by its Content-Type (JSON parsed,
    ``text/*`` as ``str``, else ``bytes``, ``None`` for 204) and raises
    [`BackendError`][backendai_aio.BackendError] on failure. The API version is negotiated once,
    on the first call, from ``GET /``.

    The aiohttp session, endpoints, negotiated version and lifecycle belong to the client's
    [`Transport`][backendai_aio.Transport], which every namespace is given.
    """

    #: Error type: the server answered a failure status.
    ERR_SERVER: Final = ERR_SERVER
    #: Error type: reading or decoding the response failed.
    ERR_RESPONSE: Final = ERR_RESPONSE
    #: Error type: sending the request failed.
    ERR_REQUEST: Final = ERR_REQUEST

    def __init__(
        self,
        config: ClientConfig | None = None,
        agent_signature: str | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 (immutable)
        ssl: ssl_module.SSLContext | bool = True,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
    ) -> None:
        transport = Transport(
            config,
            agent_signature,
            session=session,
            timeout=timeout,
            retry=retry,
            ssl=ssl,
            max_response_size=max_response_size,
            middlewares=middlewares,
        )
        self._transport = transport
        #: The configuration in use (from the environment when none was given).
        self.config: Final = transport.config

    # -- lifecycle and state -------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._transport.enter()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the client's resources; calling it again does nothing.

        A session the client created is closed; an injected one is left open for its owner.
        """
        await self._transport.close()

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._transport.closed

    @property
    def api_version(self) -> str | None:
        """The negotiated API version, or ``None`` before the first call."""
        version = self._transport.version
        return None if version is None else str(version)

    @property
    def http_session(self) -> aiohttp.ClientSession | None:
        """The ``aiohttp.ClientSession`` in use, ``None`` before the first call."""
        return self._transport.http_session

    @property
    def endpoint(self) -> URL:
        """The endpoint calls go to now (it moves on when one cannot be connected to)."""
        return self._transport.endpoint

    @property
    def rate_limit(self) -> RateLimit | None:
        """The ``X-RateLimit-*`` values of the last response, if it carried them."""
        return self._transport.rate_limit

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock when signing (measured after a skew error)."""
        return self._transport.clock_offset

    def __repr__(self) -> str:
        return (
            f"<Client endpoint={str(self.endpoint)!r} access_key={self.config.access_key!r} "
            f"api_version={self.api_version!r} state={self._transport.state}>"
        )

    async def get_server_version(self, *, timeout: TimeoutArg = NOT_GIVEN) -> ServerVersion:
        """``GET /``: the server's API version and manager version.

        Answers ``{"version": "v9.20250722", "manager": "26.2.0"}``. The first answer also
        fixes the API version this client speaks; a server older than ``v5.20191215``
        raises [`UnsupportedServerError`][backendai_aio.UnsupportedServerError].
        """
        return cast("ServerVersion", await self._transport.server_version(timeout))

    # -- the JavaScript client's session calls: each delegates to client.sessions -----------------

    async def create_if_not_exists(
        self,
        image: str,
        session_id: str | None = None,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
        **options: Unpack[SessionOptions],
    ) -> CreatedSession:
        """Get or create a compute session: [`Sessions.create`][backendai_aio.Sessions.create]."""
        return await self.sessions.create(image, session_id, timeout=timeout, **options)

    async def execute(
        self,
        session_id: str,
        run_id: str | None,
        mode: str,
        code: str,
        opts: Mapping[str, Any] | None = None,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> ExecuteAnswer:
        """Run one step of code execution: [`Sessions.execute`][backendai_aio.Sessions.execute]."""
        return await self.sessions.execute(session_id, run_id, mode, code, opts, timeout=timeout)

    async def restart(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """Restart a compute session: [`Sessions.restart`][backendai_aio.Sessions.restart]."""
        await self.sessions.restart(session_id, timeout=timeout)

    async def destroy(
        self,
        session_id: str,
        forced: bool = False,
        *,
        recursive: bool = False,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> DestroyAnswer:
        """Terminate a compute session: [`Sessions.destroy`][backendai_aio.Sessions.destroy]."""
        return await self.sessions.destroy(session_id, forced, recursive=recursive, timeout=timeout)

    async def interrupt(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """Interrupt running code: [`Sessions.interrupt`][backendai_aio.Sessions.interrupt]."""
        await self.sessions.interrupt(session_id, timeout=timeout)

    async def complete(
        self,
        session_id: str,
        code: str,
        opts: Mapping[str, Any] | None = None,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> CompletionAnswer:
        """Auto-completion candidates of *code*.

        Delegates to [`Sessions.complete`][backendai_aio.Sessions.complete].
        """
        return await self.sessions.complete(session_id, code, opts, timeout=timeout)

    async def get_info(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> SessionInfo:
        """A compute session's details: [`Sessions.info`][backendai_aio.Sessions.info]."""
        return await self.sessions.info(session_id, timeout=timeout)

    async def get_logs(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> SessionLogs:
        """The container logs of a compute session.

        Delegates to [`Sessions.logs`][backendai_aio.Sessions.logs].
        """
        return await self.sessions.logs(session_id, timeout=timeout)

    # -- legacy aliases of the JavaScript client -------------------------------------------------

    async def create_kernel(
        self, image: str, session_id: str | None = None, **options: Unpack[SessionOptions]
    ) -> CreatedSession:
        """Legacy alias of [`create_if_not_exists`][backendai_aio.Client.create_if_not_exists]."""
        return await self.sessions.create(image, session_id, **options)

    async def destroy_kernel(
        self, session_id: str, forced: bool = False, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> DestroyAnswer:
        """Legacy alias of [`destroy`][backendai_aio.Client.destroy]."""
        return await self.sessions.destroy(session_id, forced, timeout=timeout)

    async def refresh_kernel(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """Legacy alias of [`restart`][backendai_aio.Client.restart] (26.x: `NotSupportedError`)."""
        await self.sessions.restart(session_id, timeout=timeout)

    async def run_code(
        self,
        code: str,
        session_id: str,
        run_id: str | None = None,
        mode: str = "query",
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> ExecuteAnswer:
        """Legacy alias of [`execute`][backendai_aio.Client.execute], in the JavaScript order."""
        return await self.sessions.execute(session_id, run_id, mode, code, timeout=timeout)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Sign and send any manager route, e.g. one this SDK does not wrap yet.

        *path* is relative to the endpoint (``"/services"``), *params* the query, *json*
        the body. Answers the decoded body and raises the same errors as every other call;
        idempotent methods are retried as usual:

        ```python
        folders = await client.request("GET", "/folders", params={"all": "true"})
        ```
        """
        return await self._transport.request(
            method, path, params=params, json=json, timeout=timeout
        )

    async def query(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation_name: str | None = None,
        schema: str = "graphene",
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Run a GraphQL query or mutation on the manager and return its `data`.

        ```python
        data = await client.query("{ user { email role } }")
        ```

        Args:
            document: The GraphQL document.
            variables: The values of its variables.
            operation_name: Which operation of a document holding several to run.
            schema: `"graphene"` posts to `/admin/gql` (every release), `"strawberry"` to
                `/admin/gql/strawberry` (the newer schema of recent managers).
            timeout: The limits of this call.

        Returns:
            The answer's `data` object.

        Raises:
            GraphQLError: The manager answered `errors` (with HTTP 200; `data` holds the
                list, `body` the whole answer), or an answer without a `data` object.
            InvalidArgumentError: An empty document, or an unknown *schema*.
        """
        from ._gql_call import graphql_data

        return await graphql_data(
            self._transport,
            document,
            variables,
            operation_name=operation_name,
            schema=schema,
            timeout=timeout,
        )

    @functools.cached_property
    def events(self) -> Events:
        """Session and background-task event streams: [`Events`][backendai_aio.Events]."""
        from ._events import Events

        return Events(self._transport)

    @functools.cached_property
    def sessions(self) -> Sessions:
        """Compute sessions: [`Sessions`][backendai_aio.Sessions] on this client's transport."""
        from ._sessions import Sessions

        return Sessions(self._transport)

    @functools.cached_property
    def services(self) -> Services:
        """Model serving: [`Services`][backendai_aio.Services] on this client's transport."""
        from ._services import Services

        return Services(self._transport)

    @functools.cached_property
    def vfolders(self) -> VFolders:
        """Virtual folders: [`VFolders`][backendai_aio.VFolders] on this client's transport."""
        from ._vfolders import VFolders

        return VFolders(self._transport)

    @functools.cached_property
    def images(self) -> Images:
        """The images: [`Images`][backendai_aio.Images] on this client's transport."""
        from ._images import Images

        return Images(self._transport)

    @functools.cached_property
    def templates(self) -> Templates:
        """Session and cluster templates: [`Templates`][backendai_aio.Templates]."""
        from ._templates import Templates

        return Templates(self._transport)

    @functools.cached_property
    def resources(self) -> Resources:
        """Resource groups, slots, presets, usage: [`Resources`][backendai_aio.Resources]."""
        from ._resources import Resources

        return Resources(self._transport)

    @functools.cached_property
    def auth(self) -> Auth:
        """Account self-service: [`Auth`][backendai_aio.Auth] on this client's transport."""
        from ._auth_calls import Auth

        return Auth(self._transport)
