"""``client.sessions``: compute sessions, the code they run, and their files."""

from __future__ import annotations

from typing import Unpack, cast

from ._errors import InternalServerError, NotSupportedError
from ._execution import ExecutionCalls
from ._execution_stream import ExecutionStreamCalls
from ._session_apps import SessionAppCalls
from ._session_files import SessionFileCalls
from ._session_options import (
    SessionOptions,
    build_create_body,
    create_is_idempotent,
    generate_session_name,
    validate_session_name,
)
from ._session_records import SessionRecordCalls
from ._session_types import CreatedSession, DestroyAnswer, SessionInfo, SessionLogs
from ._timeouts import NOT_GIVEN, TimeoutArg

__all__ = ["Sessions"]


class Sessions(
    SessionFileCalls, SessionRecordCalls, SessionAppCalls, ExecutionCalls, ExecutionStreamCalls
):
    """Compute sessions: ``client.sessions``.

    Their lifecycle (`create`, `info`, `logs`, `rename`,
    `restart`, `destroy`), running code (`execute`, `run`,
    `stream_execute`, `interrupt`, `complete`) and the files of their
    work folder (`upload`, `download`, `download_single`,
    `download_single_to`, `list_files`, `list_entries`), their apps and terminals
    (`apps`, `start_service`, `shutdown_service`, `tunnel`, `pty`) and their records
    (`list`, `status_history`, `dependency_graph`, `task_logs`, `commit`, `imagify`, ...):

    ```python
    await client.sessions.create("python:3.11", "my-session")
    result = await client.sessions.run("my-session", "print(6 * 7)")
    ```
    """

    async def create(
        self,
        image: str,
        session_id: str | None = None,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
        **options: Unpack[SessionOptions],
    ) -> CreatedSession:
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
        options_applied = self._transport.config.session_options(options)
        body = build_create_body(version, image, name, options_applied)
        answer = await self._transport.call(
            "POST",
            self._transport.url("session"),
            json=body,
            timeout=timeout,
            idempotent=create_is_idempotent(options),
        )
        return cast(CreatedSession, answer)

    async def info(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> SessionInfo:
        """A compute session's details: image, status, resources, queries executed, ..."""
        answer = await self._transport.call(
            "GET", self._transport.url("session", session_id), timeout=timeout
        )
        return cast(SessionInfo, answer)

    async def logs(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> SessionLogs:
        """The container logs of a compute session: ``{"result": {"logs": "..."}}``."""
        answer = await self._transport.call(
            "GET", self._transport.url("session", session_id, "logs"), timeout=timeout
        )
        return cast(SessionLogs, answer)

    async def rename(
        self, session_id: str, new_name: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> None:
        """Rename a running session."""
        validate_session_name(new_name)
        await self._transport.call(
            "POST",
            self._transport.url("session", session_id, "rename"),
            params={"name": new_name},
            json={"name": new_name},
            timeout=timeout,
        )

    async def destroy(
        self,
        session_id: str,
        forced: bool = False,
        *,
        recursive: bool = False,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> DestroyAnswer:
        """Terminate a compute session; *forced* skips the graceful shutdown.

        Answers the session's last statistics, a [`DestroyAnswer`][backendai_aio.DestroyAnswer]
        (``{"stats": {...}}``, whose fields vary by release). A recursive destroy on 23.09
        answers a bare list of statistics, one per session stopped: it is returned under
        ``stats``, so that every release answers the same shape.
        """
        params = {}
        if forced:
            params["forced"] = "true"
        if recursive:
            params["recursive"] = "true"
        answer = await self._transport.call(
            "DELETE", self._transport.url("session", session_id), params=params, timeout=timeout
        )
        if isinstance(answer, list):
            return {"stats": answer}
        return cast(DestroyAnswer, answer)

    async def restart(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """Restart a compute session's kernel (its state is lost, its files kept).

        Returns nothing: the managers that restart sessions answer ``204 No Content``.

        Managers of release 26 no longer restart sessions (26.9 answers 501; 25.x and older still
        do): the call then raises [`NotSupportedError`][backendai_aio.NotSupportedError], whose
        message says what to do instead: `destroy` the session and create a new one.

        ```python
        await client.sessions.restart("my-session")
        ```
        """
        try:
            await self._transport.call(
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
