"""The asyncio client: coroutine methods over one ``aiohttp.ClientSession``.

This layer only moves bytes: signing lives in :mod:`._middleware` and :mod:`._signing`,
decoding in :mod:`._decoding`, error mapping in :mod:`._errors`, and request bodies are built
by pure functions such as :func:`._session_options.build_create_body`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final, Self

import aiohttp
from yarl import URL

from ._apiversion import LATEST_API_VERSION, ApiVersion, negotiate, parse_api_version
from ._config import ClientConfig
from ._decoding import BodyDecodeError, decode_body
from ._errors import (
    ERR_REQUEST,
    ERR_RESPONSE,
    ERR_SERVER,
    ClientClosedError,
    InvalidArgumentError,
    RequestError,
    ResponseError,
    UnsupportedServerError,
    error_from_response,
)
from ._middleware import SigningMiddleware
from ._session_options import (
    build_create_body,
    generate_run_id,
    generate_session_name,
    validate_session_name,
)
from ._version import __version__

__all__ = ["EXECUTE_MODES", "Client"]

_log = logging.getLogger("backendai_aio")

#: The ``mode`` values :meth:`Client.execute` accepts.
EXECUTE_MODES: Final = frozenset({"query", "batch", "continue", "input", "complete"})

# Failures of the transport, as aiohttp and the OS report them.
_TRANSPORT_ERRORS: Final = (aiohttp.ClientError, asyncio.TimeoutError, OSError)

# Connecting must not hang; a response may legitimately take minutes (a session creation
# waits up to ``max_wait_seconds``), so reads get a generous bound rather than none.
_DEFAULT_TIMEOUT: Final = aiohttp.ClientTimeout(total=None, sock_connect=30.0, sock_read=600.0)


class _State(Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class Client:
    """An asyncio Backend.AI client.

    Use one client per application and close it when done, best with ``async with``::

        async with Client(ClientConfig.from_env()) as client:
            print(await client.get_server_version())

    The client creates its own ``aiohttp.ClientSession`` (with the signing middleware
    installed) on first use, or uses the one passed as *session*, which it never closes: the
    middleware is then applied per request. Every method returns the response body decoded by
    its Content-Type and raises :class:`~backendai_aio.BackendError` on failure.

    The API version is negotiated once, on the first call, from ``GET /``.
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
    ) -> None:
        #: The configuration in use (from the environment when none was given).
        self.config = ClientConfig.from_env() if config is None else config
        user_agent = f"backendai-aio/{__version__}"
        if agent_signature:
            user_agent = f"{user_agent} {agent_signature}"
        self._headers: Final = {"User-Agent": user_agent}
        self._signer = SigningMiddleware(
            self.config.access_key, self.config.secret_key, LATEST_API_VERSION
        )
        self._session = session
        self._owns_session = session is None
        # Per-request middlewares replace a session's own ones in aiohttp, so they are passed
        # only for a session we did not create (ours has the signer installed already).
        self._signed: tuple[SigningMiddleware, ...] | None = (
            None if session is None else (self._signer,)
        )
        self._state = _State.UNOPENED
        self._api_version: ApiVersion | None = None
        self._negotiation = asyncio.Lock()
        self._base = self.config.endpoint_url

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._state is _State.CLOSED

    @property
    def api_version(self) -> str | None:
        """The negotiated API version, or ``None`` before the first call."""
        return None if self._api_version is None else str(self._api_version)

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The ``aiohttp.ClientSession`` in use, ``None`` before the first call."""
        return self._session

    def _open(self) -> aiohttp.ClientSession:
        if self._state is _State.CLOSED:
            raise ClientClosedError("this client is closed; create a new one")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                middlewares=(self._signer,), timeout=_DEFAULT_TIMEOUT
            )
        self._state = _State.OPENED
        return self._session

    async def __aenter__(self) -> Self:
        self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the client's resources; calling it again does nothing.

        A session the client created is closed; an injected one is left open for its owner.
        """
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def __repr__(self) -> str:
        return (
            f"<Client endpoint={str(self._base)!r} access_key={self.config.access_key!r} "
            f"api_version={self.api_version!r} state={self._state.value}>"
        )

    # -- transport ---------------------------------------------------------------------------

    def _url(self, *segments: str) -> URL:
        for segment in segments:
            if not isinstance(segment, str) or not segment or "/" in segment:
                raise InvalidArgumentError(f"invalid path segment {segment!r}")
        return self._base.joinpath(*segments)

    async def _request(
        self,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        signed: bool = True,
    ) -> Any:
        """Send one request and return its decoded body, or raise a BackendError."""
        session = self._open()
        if signed:
            await self._negotiate()
        started = time.monotonic()
        try:
            response = await session.request(
                method,
                url,
                params=params,
                json=json,
                headers=self._headers,
                middlewares=self._signed if signed else (),
            )
        except _TRANSPORT_ERRORS as exc:
            raise RequestError(
                f"{method} {url} failed to send: {_describe(exc)}", method=method, url=str(url)
            ) from exc
        async with response:
            try:
                body = await response.read()
            except _TRANSPORT_ERRORS as exc:
                raise ResponseError(
                    f"{method} {url}: reading the {response.status} response failed: "
                    f"{_describe(exc)}",
                    status=response.status,
                    method=method,
                    url=str(url),
                ) from exc
        _log.debug(
            "%s %s -> %d in %.3fs", method, url.path, response.status, time.monotonic() - started
        )
        content_type = response.headers.get("Content-Type")
        if response.status >= 400:
            raise error_from_response(
                response.status,
                response.reason,
                content_type,
                body,
                method=method,
                url=str(url),
            )
        try:
            return decode_body(response.status, content_type, body)
        except BodyDecodeError as exc:
            raise ResponseError(
                f"{method} {url}: {exc}", status=response.status, method=method, url=str(url)
            ) from exc

    async def _negotiate(self) -> None:
        if self._api_version is None:
            async with self._negotiation:
                if self._api_version is None:
                    await self.get_server_version()

    # -- the JavaScript client's API -----------------------------------------------------------

    async def get_server_version(self) -> Any:
        """``GET /``: the server's API version and manager version.

        Answers ``{"version": "v9.20250722", "manager": "26.2.0"}``. The first answer also
        fixes the API version this client speaks; a server older than
        ``v5.20191215`` raises :class:`~backendai_aio.UnsupportedServerError`.
        """
        url = self._base
        body = await self._request("GET", url, signed=False)
        if self._api_version is None:
            version = body.get("version") if isinstance(body, Mapping) else None
            if not isinstance(version, str):
                raise ResponseError(
                    f"GET {url}: the answer carries no API version: {body!r:.200}",
                    body=body,
                    method="GET",
                    url=str(url),
                )
            try:
                chosen = negotiate(version)
            except ValueError as exc:
                raise UnsupportedServerError(
                    f"unsupported server at {url}: {exc}", body=body, method="GET", url=str(url)
                ) from exc
            self._signer.api_version = chosen
            self._api_version = parse_api_version(chosen)
        return body

    async def create_if_not_exists(
        self, image: str, session_id: str | None = None, **options: Any
    ) -> Any:
        """Get or create a compute session named *session_id* running *image*.

        Without *session_id* a fresh valid name is generated. *options* are the manager's
        creation options with Python names: ``type``, ``enqueue_only``, ``max_wait_seconds``,
        ``reuse_if_exists``, ``tag``, ``group``, ``domain``, ``resources``, ``resource_opts``,
        ``mounts``, ``mount_map``, ``environ``, ``scaling_group``, ``cluster_size``,
        ``cluster_mode``, ``startup_command``, ``bootstrap_script``, ``owner_access_key``,
        ``starts_at``, ``dependencies``, ``callback_url``, ``architecture``, ``preopen_ports``,
        plus ``config`` for raw config fields. They are sent with the wire names of the
        negotiated API version.

        Answers ``{"sessionId", "sessionName", "status", "servicePorts", "created"}``;
        ``created`` is false when an existing session was reused.
        """
        name = (
            validate_session_name(session_id)
            if session_id is not None
            else (generate_session_name())
        )
        await self._negotiate()
        assert self._api_version is not None
        body = build_create_body(self._api_version, image, name, options)
        return await self._request("POST", self._url("session"), json=body)

    async def destroy(
        self, session_id: str, forced: bool = False, *, recursive: bool = False
    ) -> Any:
        """Terminate a compute session; *forced* skips the graceful shutdown.

        Answers the session's last statistics.
        """
        params = {}
        if forced:
            params["forced"] = "true"
        if recursive:
            params["recursive"] = "true"
        return await self._request("DELETE", self._url("session", session_id), params=params)

    async def restart(self, session_id: str) -> Any:
        """Restart a compute session's kernel (its state is lost, its files kept)."""
        return await self._request("PATCH", self._url("session", session_id))

    async def execute(
        self,
        session_id: str,
        run_id: str | None,
        mode: str,
        code: str,
        opts: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run one step of code execution and answer ``{"result": {...}}``.

        *mode* is ``query`` (run *code*), ``batch`` (build/exec commands in *opts*),
        ``continue`` (collect more output of a ``continued`` run, empty *code*), ``input``
        (answer ``waiting-input`` with *code* as the line typed) or ``complete``. *run_id*
        names the run (8 to 64 characters); ``None`` starts a run with a fresh id (managers
        up to 23.09 refuse a call without one). The result holds ``status``, ``runId``,
        ``exitCode``, ``console``, ``options`` and ``files``; pass its ``runId`` back to
        ``continue`` or answer ``input``.
        """
        if mode not in EXECUTE_MODES:
            raise InvalidArgumentError(
                f"invalid execution mode {mode!r}; one of {', '.join(sorted(EXECUTE_MODES))}"
            )
        if not isinstance(code, str):
            raise InvalidArgumentError("code must be a string")
        if run_id is None:
            run_id = generate_run_id()
        elif not isinstance(run_id, str) or not 8 <= len(run_id) <= 64:
            raise InvalidArgumentError(f"a run id has 8 to 64 characters, not {run_id!r}")
        # Servers up to 25.5 read runId, later ones run_id: send both.
        body = {
            "mode": mode,
            "code": code,
            "runId": run_id,
            "run_id": run_id,
            "options": dict(opts or {}),
        }
        return await self._request("POST", self._url("session", session_id), json=body)

    async def interrupt(self, session_id: str) -> Any:
        """Interrupt the code running in a compute session."""
        return await self._request("POST", self._url("session", session_id, "interrupt"))

    async def complete(
        self, session_id: str, code: str, opts: Mapping[str, Any] | None = None
    ) -> Any:
        """Ask for auto-completion candidates of *code* (options: row, col, line, post)."""
        body = {"code": code, "options": dict(opts or {})}
        return await self._request("POST", self._url("session", session_id, "complete"), json=body)

    async def get_info(self, session_id: str) -> Any:
        """A compute session's details: image, status, resources, queries executed, ..."""
        return await self._request("GET", self._url("session", session_id))

    async def get_logs(self, session_id: str) -> Any:
        """The container logs of a compute session: ``{"result": {"logs": "..."}}``."""
        return await self._request("GET", self._url("session", session_id, "logs"))

    # -- legacy aliases of the JavaScript client -------------------------------------------------

    async def create_kernel(self, image: str, session_id: str | None = None, **options: Any) -> Any:
        """Legacy alias of :meth:`create_if_not_exists`."""
        return await self.create_if_not_exists(image, session_id, **options)

    async def destroy_kernel(self, session_id: str, forced: bool = False) -> Any:
        """Legacy alias of :meth:`destroy`."""
        return await self.destroy(session_id, forced)

    async def refresh_kernel(self, session_id: str) -> Any:
        """Legacy alias of :meth:`restart`."""
        return await self.restart(session_id)

    async def run_code(
        self, code: str, session_id: str, run_id: str | None = None, mode: str = "query"
    ) -> Any:
        """Legacy alias of :meth:`execute`, with the JavaScript argument order."""
        return await self.execute(session_id, run_id, mode, code)


def _describe(exc: BaseException) -> str:
    """Describe a transport exception in one line, naming timeouts plainly."""
    if isinstance(exc, asyncio.TimeoutError):
        return f"timed out ({type(exc).__name__})"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
