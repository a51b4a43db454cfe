"""The client: the JavaScript client's calls as coroutine methods."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeAlias, TypeVar, Unpack

from ._account import AccountAPI
from ._auth_calls import Auth
from ._base import BaseClient
from ._errors import InvalidArgumentError, ResponseError
from ._images import Images
from ._live import LiveAPI
from ._resources import Resources
from ._results import CONTINUING_STATUSES, TERMINAL_STATUSES, RunResult
from ._services import Services
from ._session_files import SessionFilesAPI
from ._session_options import (
    BatchOptions,
    SessionOptions,
    build_create_body,
    generate_run_id,
    generate_session_name,
    validate_session_name,
)
from ._templates import Templates
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transport import relative_path
from ._vfolders import VFolderAPI

__all__ = ["EXECUTE_MODES", "Client", "InputCallback", "OutputCallback"]

#: The ``mode`` values :meth:`Client.execute` accepts.
EXECUTE_MODES: Final = frozenset({"query", "batch", "continue", "input", "complete"})

#: ``on_input(prompt)``: returns (or resolves to) the line to send to the code.
InputCallback: TypeAlias = Callable[[str], str | Awaitable[str]]
#: ``on_output(kind, payload)``: called for each console item as it arrives.
OutputCallback: TypeAlias = Callable[[str, Any], Awaitable[None] | None]

_T = TypeVar("_T")

# How many ``continue`` steps an interrupted run gets to report its end.
_ABANDON_STEPS: Final = 10


async def _maybe_await(value: _T | Awaitable[_T]) -> _T:
    if inspect.isawaitable(value):
        return await value
    return value


def _result_of(response: Any) -> Mapping[str, Any]:
    result = response.get("result") if isinstance(response, Mapping) else None
    if not isinstance(result, Mapping):
        raise ResponseError(f"an execute answer without a result object: {response!r:.200}")
    return result


class Client(SessionFilesAPI, LiveAPI, VFolderAPI, AccountAPI, BaseClient):
    """An asyncio Backend.AI client.

    Use one client per application and close it when done, best with ``async with``::

        async with Client(ClientConfig.from_env()) as client:
            print(await client.get_server_version())

    Arguments:
    - *config*: keypair and endpoint (default: :meth:`ClientConfig.from_env`);
    - *agent_signature*: appended to the ``User-Agent``, as in the JavaScript client;
    - *session*: an ``aiohttp.ClientSession`` to use instead of creating one; the client
      never closes it, and applies its signing middleware per request, which (by aiohttp's
      rule) replaces the session's own middlewares for the client's signed calls;
    - *timeout*: the default :class:`Timeout` (connect and read limits) of every call;
      ``None`` for no limit; each method also takes ``timeout=``;
    - *retry*: the :class:`RetryPolicy` for idempotent calls (``None`` switches it off);
    - *ssl*: ``True`` (verify, the default), an ``ssl.SSLContext``, or ``False`` (no
      verification, with an :class:`InsecureTLSWarning`);
    - *max_response_size*: the largest body a non-streaming call reads (bytes).

    Every method returns the response body decoded by its Content-Type (JSON parsed,
    ``text/*`` as ``str``, else ``bytes``, ``None`` for 204) and raises
    :class:`~backendai_aio.BackendError` on failure. The API version is negotiated once,
    on the first call, from ``GET /``.
    """

    async def get_server_version(self, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """``GET /``: the server's API version and manager version.

        Answers ``{"version": "v9.20250722", "manager": "26.2.0"}``. The first answer also
        fixes the API version this client speaks; a server older than ``v5.20191215``
        raises :class:`~backendai_aio.UnsupportedServerError`.
        """
        return await self._fetch_server_version(timeout)

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
        ``mount_options``, ``agent_list``, plus ``config`` for raw config fields (see
        :class:`~backendai_aio.SessionOptions`). They are sent with the wire names of the
        negotiated API version.

        Answers ``{"sessionId", "sessionName", "status", "servicePorts", "created"}``;
        ``created`` is false when an existing session was reused. Being a get-or-create by
        name, the call is retried like an idempotent one.
        """
        name = generate_session_name() if session_id is None else validate_session_name(session_id)
        await self._negotiate(timeout)
        assert self._api_version is not None
        body = build_create_body(self._api_version, image, name, options)
        return await self._request(
            "POST", self._url("session"), json=body, timeout=timeout, idempotent=True
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
        return await self._request(
            "DELETE", self._url("session", session_id), params=params, timeout=timeout
        )

    async def restart(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """Restart a compute session's kernel (its state is lost, its files kept)."""
        return await self._request("PATCH", self._url("session", session_id), timeout=timeout)

    async def execute(
        self,
        session_id: str,
        run_id: str | None,
        mode: str,
        code: str,
        opts: Mapping[str, Any] | None = None,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
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
        return await self._request(
            "POST", self._url("session", session_id), json=body, timeout=timeout
        )

    async def interrupt(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """Interrupt the code running in a compute session."""
        return await self._request(
            "POST", self._url("session", session_id, "interrupt"), timeout=timeout
        )

    async def complete(
        self,
        session_id: str,
        code: str,
        opts: Mapping[str, Any] | None = None,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Ask for auto-completion candidates of *code* (options: row, col, line, post)."""
        body = {"code": code, "options": dict(opts or {})}
        return await self._request(
            "POST", self._url("session", session_id, "complete"), json=body, timeout=timeout
        )

    async def get_info(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """A compute session's details: image, status, resources, queries executed, ..."""
        return await self._request("GET", self._url("session", session_id), timeout=timeout)

    async def get_logs(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """The container logs of a compute session: ``{"result": {"logs": "..."}}``."""
        return await self._request("GET", self._url("session", session_id, "logs"), timeout=timeout)

    # -- the run loop ---------------------------------------------------------------------------

    async def run(
        self,
        session_id: str,
        code: str,
        *,
        mode: str = "query",
        opts: BatchOptions | Mapping[str, Any] | None = None,
        on_input: InputCallback | None = None,
        on_output: OutputCallback | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> RunResult:
        """Run *code* to its end and return a :class:`RunResult`.

        The loop over :meth:`execute` that every caller would otherwise write: it follows
        ``continued`` (and the batch phases), answers ``waiting-input`` with
        ``on_input(prompt)`` (a function or coroutine function returning the line to send),
        and passes each console item to ``on_output(kind, payload)`` as it arrives. Batch
        mode takes ``opts={"build": ..., "exec": ...}`` (and ``clean``). *timeout* applies to
        each step.

        Code that asks for input without an *on_input* is interrupted, and the call raises
        :class:`~backendai_aio.InvalidArgumentError`.
        """
        if mode not in ("query", "batch"):
            raise InvalidArgumentError(f"run() takes mode 'query' or 'batch', not {mode!r}")
        run_id = generate_run_id()
        result = RunResult(run_id=run_id)
        response = await self.execute(session_id, run_id, mode, code, opts, timeout=timeout)
        while True:
            items = result.add_step(_result_of(response))
            for item in items:
                if on_output is not None:
                    await _maybe_await(on_output(item.kind, item.payload))
            if result.status in CONTINUING_STATUSES:
                next_mode, line = "continue", ""
            elif result.status == "waiting-input":
                if on_input is None:
                    await self._abandon(session_id, run_id, timeout)
                    raise InvalidArgumentError(
                        "the code is waiting for input; pass on_input= to answer it "
                        "(the run was interrupted)"
                    )
                prompt = "".join(str(i.payload) for i in items if i.kind == "stdout")
                line = await _maybe_await(on_input(prompt))
                if not isinstance(line, str):
                    raise InvalidArgumentError("on_input must return a string")
                next_mode = "input"
            else:
                return result
            response = await self.execute(session_id, run_id, next_mode, line, timeout=timeout)

    async def _abandon(self, session_id: str, run_id: str, timeout: TimeoutArg) -> None:
        """Interrupt a run and collect its end, so that the session takes new code at once."""
        await self.interrupt(session_id, timeout=timeout)
        for _ in range(_ABANDON_STEPS):
            response = await self.execute(session_id, run_id, "continue", "", timeout=timeout)
            if _result_of(response).get("status") in TERMINAL_STATUSES:
                return

    # -- legacy aliases of the JavaScript client -------------------------------------------------

    async def create_kernel(
        self, image: str, session_id: str | None = None, **options: Unpack[SessionOptions]
    ) -> Any:
        """Legacy alias of :meth:`create_if_not_exists`."""
        return await self.create_if_not_exists(image, session_id, **options)

    async def destroy_kernel(
        self, session_id: str, forced: bool = False, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> Any:
        """Legacy alias of :meth:`destroy`."""
        return await self.destroy(session_id, forced, timeout=timeout)

    async def refresh_kernel(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """Legacy alias of :meth:`restart`."""
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
        """Legacy alias of :meth:`execute`, with the JavaScript argument order."""
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
        idempotent methods are retried as usual::

            folders = await client.request("GET", "/folders", params={"all": "true"})
        """
        url = relative_path(method, path)
        return await self._request(method, url, params=params, json=json, timeout=timeout)

    @functools.cached_property
    def services(self) -> Services:
        """Model serving: :class:`~backendai_aio.Services` on this client's transport."""
        return Services(self)

    @functools.cached_property
    def images(self) -> Images:
        """The images: :class:`~backendai_aio.Images` on this client's transport."""
        return Images(self)

    @functools.cached_property
    def templates(self) -> Templates:
        """Session and cluster templates: :class:`~backendai_aio.Templates`."""
        return Templates(self)

    @functools.cached_property
    def resources(self) -> Resources:
        """Resource groups, slots, presets, usage: :class:`~backendai_aio.Resources`."""
        return Resources(self)

    @functools.cached_property
    def auth(self) -> Auth:
        """Account self-service: :class:`~backendai_aio.Auth` on this client's transport."""
        return Auth(self)
