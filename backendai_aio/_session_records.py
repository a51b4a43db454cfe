"""``client.sessions``: listing sessions, their status history, commits and templates.

Where the releases differ: 23.09 has no ``/session/{name}/status-history`` (added in 25.x;
the history is then read from GraphQL, as the manager's web UI does) and no
``/session/{name}/imagify`` (added in 24.03). 26.9 has no per-user session search over REST
(``/v2/sessions/search`` is for superadmins): the listing is GraphQL
``compute_session_list`` on both, as the official SDK's ``ComputeSession.paginated_list``.
"""

from __future__ import annotations

import builtins
import codecs
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, Unpack, cast

import aiohttp

from ._apiversion import ApiVersion
from ._errors import InvalidArgumentError, NotFoundError, NotSupportedError, ResponseError
from ._gql_call import graphql_data
from ._namespace import Namespace
from ._session_options import SessionOptions, build_create_body, validate_session_name
from ._session_record_types import (
    CommitResult,
    CommitStatus,
    DependencyGraph,
    DirectAccessInfo,
    SessionListEntry,
)
from ._session_types import CreatedSession
from ._timeouts import NOT_GIVEN, TimeoutArg

__all__ = ["SessionRecordCalls"]

# The most rows one compute_session_list page may hold (the manager's own limit).
_MAX_PAGE: Final = 100
# /session/{name}/imagify exists from 24.03 (API v8.20240315) on.
_IMAGIFY_FROM: Final = ApiVersion(8, "20240315")
_TASK_LOG_CHUNK: Final = 64 * 1024

_ENTRY_FIELDS: Final = (
    "id name type image architecture status status_info status_changed created_at "
    "terminated_at access_key user_email domain_name group_name group_id scaling_group "
    "cluster_size main_kernel_id tag"
)
_LIST: Final = (
    "query($limit: Int!, $offset: Int!, $status: String, $group_id: String,"
    " $access_key: String, $filter: String) {"
    " compute_session_list(limit: $limit, offset: $offset, status: $status,"
    " group_id: $group_id, access_key: $access_key, filter: $filter) {"
    f" total_count items {{ {_ENTRY_FIELDS} status_history }} }} }}"
)


def _statuses(status: str | Sequence[str] | None) -> str | None:
    if status is None:
        return None
    names = [status] if isinstance(status, str) else list(status)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise InvalidArgumentError(f"status must be a status name or a list of them: {status!r}")
    # The manager reads several statuses as one comma-separated argument.
    return ",".join(name.upper() for name in names)


def _history(value: Any) -> dict[str, str]:
    """A status history as the manager stores it: ``{STATUS: ISO time}``."""
    if isinstance(value, str):
        # GraphQL's JSONString comes as JSON text.
        value = json.loads(value) if value else {}
    if value is None:
        return {}
    if isinstance(value, Mapping) and set(value) == {"result"}:
        # 25.x answered {"result": {...}}; 26.9 answers the history itself.
        value = value["result"]
    if not isinstance(value, Mapping):
        raise ResponseError(f"a status history that is not an object: {value!r:.200}")
    return {str(status): str(when) for status, when in value.items()}


class SessionRecordCalls(Namespace):
    """Listing sessions and reading their records; part of [`Sessions`][backendai_aio.Sessions]."""

    async def list(
        self,
        *,
        status: str | Sequence[str] | None = None,
        group: str | None = None,
        access_key: str | None = None,
        page_size: int = 50,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> AsyncIterator[SessionListEntry]:
        """Every session visible to the caller, newest first, fetched a page at a time.

        GraphQL ``compute_session_list`` (the official SDK's ``paginated_list``), which both
        23.09 and 26.9 serve. An async iterator: pages are fetched as the loop goes on, so a
        session created or removed meanwhile may shift the pages seen later.

        ```python
        async for entry in client.sessions.list(status="RUNNING"):
            print(entry["name"], entry["status"], entry["created_at"])
        ```

        Args:
            status: Only sessions in this status (or any of these), e.g. ``"RUNNING"`` or
                ``["TERMINATED", "CANCELLED"]``; by default every status.
            group: Only the sessions of this project (its id).
            access_key: Only the sessions of this keypair (an admin's call; a user sees only
                their own whatever this says).
            page_size: Rows per request, 1 to 100.
            timeout: Each request's limits.

        Yields:
            One [`SessionListEntry`][backendai_aio.SessionListEntry] per session.
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise InvalidArgumentError(f"page_size must be an int, not {page_size!r}")
        if not 1 <= page_size <= _MAX_PAGE:
            raise InvalidArgumentError(f"page_size must be 1 to {_MAX_PAGE}, not {page_size}")
        variables: dict[str, Any] = {
            "limit": page_size,
            "status": _statuses(status),
            "group_id": group,
            "access_key": access_key,
        }
        offset = 0
        while True:
            page = await self._list_page({**variables, "offset": offset}, timeout)
            items = page.get("items") or []
            for item in items:
                item.pop("status_history", None)
                yield cast(SessionListEntry, item)
            offset += len(items)
            total = page.get("total_count")
            if not items or not isinstance(total, int) or offset >= total:
                return

    async def _list_page(self, variables: dict[str, Any], timeout: TimeoutArg) -> dict[str, Any]:
        data = await graphql_data(self._transport, _LIST, variables, timeout=timeout)
        page = data.get("compute_session_list")
        if not isinstance(page, Mapping) or not isinstance(page.get("items"), builtins.list):
            raise ResponseError(f"a compute_session_list answer without items: {page!r:.200}")
        return dict(page)

    async def _find_entry(self, name: str, timeout: TimeoutArg) -> dict[str, Any]:
        """The newest session row named *name* (a terminated one too), or NotFoundError."""
        validate_session_name(name)
        # The name is checked above: it holds no quote that could break out of the filter.
        page = await self._list_page(
            {"limit": 1, "offset": 0, "filter": f'name == "{name}"'}, timeout
        )
        if not page["items"]:
            raise NotFoundError(f"POST /admin/gql: no session named {name!r}", status=404)
        return dict(page["items"][0])

    async def status_history(self, name: str, *, timeout: TimeoutArg = NOT_GIVEN) -> dict[str, str]:
        """When the session entered each status: ``{"PENDING": "2026-...", "RUNNING": ...}``.

        ``GET /session/{name}/status-history``; a manager without that route (23.09) is asked
        through GraphQL, whose ``status_history`` holds the same record.

        ```python
        history = await client.sessions.status_history("my-session")
        print(sorted(history, key=history.__getitem__))  # the statuses in order
        ```
        """
        try:
            answer = await self._transport.call(
                "GET", self._transport.url("session", name, "status-history"), timeout=timeout
            )
        except NotFoundError as exc:
            if not (exc.problem_type or "").endswith("/url-not-found"):
                raise
            answer = (await self._find_entry(name, timeout)).get("status_history")
        return _history(answer)

    async def dependency_graph(
        self, name: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> DependencyGraph:
        """The session and, recursively, the sessions it depends on (``dependencies=``).

        ```python
        graph = await client.sessions.dependency_graph("my-session")
        print(graph["session_name"], [d["session_name"] for d in graph["depends_on"]])
        ```
        """
        answer = await self._transport.call(
            "GET", self._transport.url("session", name, "dependency-graph"), timeout=timeout
        )
        return cast(DependencyGraph, answer)

    @asynccontextmanager
    async def task_logs(
        self,
        name: str,
        *,
        kernel_id: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> AsyncIterator[AsyncIterator[str]]:
        """`async with client.sessions.task_logs(name) as chunks`: a batch session's logs.

        ``GET /session/_/logs``, which streams the log the agent kept of the session's main
        kernel (in the owner's ``.logs`` folder; a manager without one answers 404). The block
        gets an async iterator of text chunks as they arrive; the stream is released when the
        block ends. The manager finds the log by the kernel's id: the session's is looked up
        by name (GraphQL), unless *kernel_id* is given.

        ```python
        async with client.sessions.task_logs("my-session") as chunks:
            text = "".join([chunk async for chunk in chunks])
        ```
        """
        if kernel_id is None:
            kernel_id = str((await self._find_entry(name, timeout))["main_kernel_id"])
        async with self._transport.stream(
            "GET",
            self._transport.url("session", "_", "logs"),
            params={"session_name": kernel_id},
            timeout=timeout,
            streaming=True,
        ) as response:
            yield _text_chunks(response)

    async def commit(
        self, name: str, *, filename: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> CommitResult:
        """Commit the running session's container to an image archive on its agent.

        ``POST /session/{name}/commit``. The agent writes the archive in the background:
        follow ``bgtask_id`` with [`Events.background_task`][backendai_aio.Events.background_task],
        or poll `commit_status`. The managers name the archive themselves; *filename* is sent
        for the servers that read it.

        ```python
        commit = await client.sessions.commit("my-session")
        async with client.events.background_task(commit["bgtask_id"]) as events:
            async for event in events:
                if event.name != "bgtask_updated":
                    break
        print(commit["path"], (await client.sessions.commit_status("my-session"))["status"])
        ```
        """
        params = {} if filename is None else {"filename": filename}
        answer = await self._transport.call(
            "POST",
            self._transport.url("session", name, "commit"),
            params=params,
            timeout=timeout,
        )
        return cast(CommitResult, answer)

    async def commit_status(self, name: str, *, timeout: TimeoutArg = NOT_GIVEN) -> CommitStatus:
        """Whether a commit of the session runs: ``{"status": "ongoing" | "ready", "kernel"}``."""
        answer = await self._transport.call(
            "GET", self._transport.url("session", name, "commit"), timeout=timeout
        )
        return cast(CommitStatus, answer)

    async def imagify(
        self,
        name: str,
        image_name: str,
        *,
        visibility: str = "user",
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> str:
        """Turn the running session into a customized image of the caller's; its task id.

        ``POST /session/{name}/imagify`` (24.03 and later; an older server raises
        [`NotSupportedError`][backendai_aio.NotSupportedError] before anything is sent). The
        manager commits, pushes and registers the image in a background task: follow the id
        answered with [`Events.background_task`][backendai_aio.Events.background_task].

        ```python
        task_id = await client.sessions.imagify("my-session", "my-python")
        async with client.events.background_task(task_id) as events:
            async for event in events:
                if event.name != "bgtask_updated":
                    print(event.name)  # bgtask_done
                    break
        ```

        Args:
            name: The session.
            image_name: The new image's name (letters, digits, ``.``, ``-``, ``_``).
            visibility: Who sees the image: ``"user"``, the only scope the managers take.
            timeout: The call's limits.
        """
        version = await self._transport.negotiate(timeout)
        if version < _IMAGIFY_FROM:
            raise NotSupportedError(
                f"the server speaks API {version}: converting a session to an image needs "
                f"{_IMAGIFY_FROM} (24.03) or later"
            )
        body = {"image_name": image_name, "image_visibility": visibility}
        answer = await self._transport.call(
            "POST",
            self._transport.url("session", name, "imagify"),
            # 26.9 reads the JSON body; the official SDK sends the query string.
            params=body,
            json=body,
            timeout=timeout,
        )
        task_id = answer.get("task_id") if isinstance(answer, Mapping) else None
        if not isinstance(task_id, str):
            raise ResponseError(f"an imagify answer without a task id: {answer!r:.200}")
        return task_id

    async def direct_access_info(
        self, name: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> DirectAccessInfo:
        """How to reach a private (``SYSTEM``) session's SSH/SFTP directly; ``{}`` otherwise.

        ```python
        info = await client.sessions.direct_access_info("my-session")
        print(info.get("public_host"), info.get("sshd_ports"))
        ```
        """
        answer = await self._transport.call(
            "GET", self._transport.url("session", name, "direct-access-info"), timeout=timeout
        )
        return cast(DirectAccessInfo, answer)

    async def create_from_template(
        self,
        template_id: str,
        name: str | None = None,
        *,
        image: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **overrides: Unpack[SessionOptions],
    ) -> CreatedSession:
        """Create (or reuse) a session from a session template; *overrides* replace its fields.

        ``POST /session/_/create-from-template``. *overrides* are the options of
        [`Sessions.create`][backendai_aio.Sessions.create] (``resources``, ``environ``,
        ``type``, ...), sent with the wire names of the negotiated API version; the template
        gives the image (unless *image* replaces it) and everything not overridden. Without
        *name* the manager makes one.

        ```python
        template = {
            "api_version": "6", "kind": "taskTemplate", "metadata": {"name": "py"},
            "spec": {"kernel": {"image": "python:3.11"}},
        }
        template_id = (await client.templates.create([template]))[0]["id"]
        session = await client.sessions.create_from_template(template_id, "from-template-1")
        ```
        """
        if not isinstance(template_id, str) or not template_id:
            raise InvalidArgumentError(f"a template id, not {template_id!r}")
        if image is not None and (not isinstance(image, str) or not image):
            raise InvalidArgumentError(f"an image name, not {image!r}")
        version = await self._transport.negotiate(timeout)
        options = self._transport.config.session_options(overrides)
        # The body of POST /session without its image and name: the template gives those.
        body = build_create_body(version, image or "-", "", options)
        del body["image"], body["name"]
        if name is not None:
            body["name"] = validate_session_name(name)
        if image is not None:
            body["image"] = image
        body["template_id"] = template_id
        answer = await self._transport.call(
            "POST",
            self._transport.url("session", "_", "create-from-template"),
            json=body,
            timeout=timeout,
        )
        return cast(CreatedSession, answer)


async def _text_chunks(response: aiohttp.ClientResponse) -> AsyncIterator[str]:
    # A multi-byte character may straddle two reads: decode incrementally.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    async for data in response.content.iter_chunked(_TASK_LOG_CHUNK):
        text = decoder.decode(data)
        if text:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail
