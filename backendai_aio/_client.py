"""The client: the JavaScript client's calls as coroutine methods."""

from __future__ import annotations

import functools
import ssl as ssl_module
from collections.abc import Mapping, Sequence
from typing import Any, Final, Self, Unpack

import aiohttp
from yarl import URL

from ._auth_calls import Auth
from ._config import ClientConfig
from ._errors import ERR_REQUEST, ERR_RESPONSE, ERR_SERVER, InternalServerError, NotSupportedError
from ._events import Events
from ._execution import EXECUTE_MODES, ExecutionCallsAPI, InputCallback, OutputCallback
from ._execution_stream import ExecutionAPI
from ._gql_call import graphql_data
from ._images import Images
from ._ratelimits import RateLimit
from ._resources import Resources
from ._retries import RetryPolicy
from ._services import Services
from ._session_files import SessionFilesAPI
from ._session_options import (
    SessionOptions,
    build_create_body,
    create_is_idempotent,
    generate_session_name,
    validate_session_name,
)
from ._templates import Templates
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transport import DEFAULT_MAX_RESPONSE_SIZE, Transport
from ._vfolders import VFolderAPI

__all__ = ["EXECUTE_MODES", "Client", "InputCallback", "OutputCallback"]


class Client(ExecutionCallsAPI, SessionFilesAPI, ExecutionAPI, VFolderAPI):
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
            rule) replaces the session's own middlewares for the client's signed calls.
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
        super().__init__(transport)
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

    async def get_server_version(self, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``GET /``: the server's API version and manager version.

        Answers ``{"version": "v9.20250722", "manager": "26.2.0"}``. The first answer also
        fixes the API version this client speaks; a server older than ``v5.20191215``
        raises [`UnsupportedServerError`][backendai_aio.UnsupportedServerError].
        """
        return await self._transport.server_version(timeout)

    async def create_if_not_exists(
        self,
        image: str,
        session_id: str | None = None,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
        **options: Unpack[SessionOptions],
    ) -> Any:
        """Get or create a compute session named *session_id* running *image*.

        Without *session_id* a fresh valid name is generated. *options* are the manager's
        creation options with Python names: ``type``, ``enqueue_only``, ``max_wait_seconds``,
        ``reuse_if_exists``, ``tag``, ``group``, ``domain``, ``resources``, ``resource_opts``,
        ``mounts``, ``mount_map``, ``environ``, ``scaling_group``, ``cluster_size``,
        ``cluster_mode``, ``startup_command``, ``bootstrap_script``, ``owner_access_key``,
        ``starts_at``, ``dependencies``, ``callback_url``, ``architecture``, ``preopen_ports``,
        ``mount_options``, ``agent_list``, ``mount_ids``, ``mount_id_map``,
        ``attach_network``, ``priority``, ``job_priority``, ``is_preemptible``,
        ``batch_timeout``, plus ``config`` for raw config fields (see
        [`SessionOptions`][backendai_aio.SessionOptions]). They are sent with the wire names of the
        negotiated API version; an option the server's version does not take raises
        [`InvalidArgumentError`][backendai_aio.InvalidArgumentError].

        Answers ``{"sessionId", "sessionName", "status", "servicePorts", "created"}``;
        ``created`` is false when an existing session was reused. Being a get-or-create by
        name, the call is retried like an idempotent one, except with
        ``reuse_if_exists=False``: a retry after a lost answer would then fail with
        "session already exists", so it is sent once.
        """
        name = generate_session_name() if session_id is None else validate_session_name(session_id)
        version = await self._transport.negotiate(timeout)
        # BACKEND_GROUP, BACKEND_DOMAIN and BACKEND_VFOLDER_MOUNTS, as the official SDK.
        options_applied = self.config.session_options(options)
        body = build_create_body(version, image, name, options_applied)
        return await self._transport.call(
            "POST",
            self._transport.url("session"),
            json=body,
            timeout=timeout,
            idempotent=create_is_idempotent(options),
        )

    async def destroy(
        self,
        session_id: str,
        forced: bool = False,
        *,
        recursive: bool = False,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Terminate a compute session; *forced* skips the graceful shutdown.

        Answers the session's last statistics.
        """
        params = {}
        if forced:
            params["forced"] = "true"
        if recursive:
            params["recursive"] = "true"
        return await self._transport.call(
            "DELETE", self._transport.url("session", session_id), params=params, timeout=timeout
        )

    async def restart(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """Restart a compute session's kernel (its state is lost, its files kept).

        Managers of release 26 no longer restart sessions (26.9 answers 501; 25.x and older still
        do): the call then raises [`NotSupportedError`][backendai_aio.NotSupportedError], whose
        message says what to do instead: `destroy` the session and create a new one.
        """
        try:
            return await self._transport.call(
                "PATCH", self._transport.url("session", session_id), timeout=timeout
            )
        except InternalServerError as exc:
            if exc.status != 501:
                raise
            raise NotSupportedError(
                f"the server no longer restarts sessions ({exc.msg or exc.title or 'HTTP 501'}); "
                "destroy the session and create a new one instead",
                status=exc.status,
                problem_type=exc.problem_type,
                title=exc.title,
                msg=exc.msg,
                data=exc.data,
                body=exc.body,
                method=exc.method,
                url=exc.url,
            ) from exc

    async def get_info(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """A compute session's details: image, status, resources, queries executed, ..."""
        return await self._transport.call(
            "GET", self._transport.url("session", session_id), timeout=timeout
        )

    async def get_logs(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """The container logs of a compute session: ``{"result": {"logs": "..."}}``."""
        return await self._transport.call(
            "GET", self._transport.url("session", session_id, "logs"), timeout=timeout
        )

    # -- legacy aliases of the JavaScript client -------------------------------------------------

    async def create_kernel(
        self, image: str, session_id: str | None = None, **options: Unpack[SessionOptions]
    ) -> Any:
        """Legacy alias of `create_if_not_exists`."""
        return await self.create_if_not_exists(image, session_id, **options)

    async def destroy_kernel(
        self, session_id: str, forced: bool = False, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """Legacy alias of `destroy`."""
        return await self.destroy(session_id, forced, timeout=timeout)

    async def refresh_kernel(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """Legacy alias of `restart` (26.x managers: `NotSupportedError`)."""
        return await self.restart(session_id, timeout=timeout)

    async def run_code(
        self,
        code: str,
        session_id: str,
        run_id: str | None = None,
        mode: str = "query",
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Legacy alias of `execute`, with the JavaScript argument order."""
        return await self.execute(session_id, run_id, mode, code, timeout=timeout)

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
        return await graphql_data(
            self._transport,
            document,
            variables,
            operation_name=operation_name,
            schema=schema,
            timeout=timeout,
        )

    @functools.cached_property
    def services(self) -> Services:
        """Model serving: [`Services`][backendai_aio.Services] on this client's transport."""
        return Services(self._transport)

    @functools.cached_property
    def images(self) -> Images:
        """The images: [`Images`][backendai_aio.Images] on this client's transport."""
        return Images(self._transport)

    @functools.cached_property
    def templates(self) -> Templates:
        """Session and cluster templates: [`Templates`][backendai_aio.Templates]."""
        return Templates(self._transport)

    @functools.cached_property
    def resources(self) -> Resources:
        """Resource groups, slots, presets, usage: [`Resources`][backendai_aio.Resources]."""
        return Resources(self._transport)

    @functools.cached_property
    def events(self) -> Events:
        """Session and background-task event streams: [`Events`][backendai_aio.Events]."""
        return Events(self._transport)

    @functools.cached_property
    def auth(self) -> Auth:
        """Account self-service: [`Auth`][backendai_aio.Auth] on this client's transport."""
        return Auth(self._transport)
