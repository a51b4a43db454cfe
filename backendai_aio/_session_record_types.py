"""The manager's answers about sessions' records: listings, history, commits, direct access.

The shapes are those of the manager's session API (``/session/{name}/commit``,
``/dependency-graph``, ``/direct-access-info``) and of its GraphQL ``compute_session_list``,
as 23.09 and 26.9 answer them; where the two releases differ, the field says so.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "CommitResult",
    "CommitStatus",
    "DependencyGraph",
    "DirectAccessInfo",
    "SessionListEntry",
]


class SessionListEntry(TypedDict):
    """One session of [`Sessions.list`][backendai_aio.Sessions.list] (a ``ComputeSession``)."""

    #: The session's UUID.
    id: str
    name: str
    #: ``INTERACTIVE``, ``BATCH``, ``INFERENCE`` or ``SYSTEM``.
    type: str
    image: str
    architecture: str
    #: ``PENDING``, ``RUNNING``, ``TERMINATED``, ...
    status: str
    status_info: str | None
    #: ISO 8601 times; ``terminated_at`` is ``None`` while the session lives.
    status_changed: str | None
    created_at: str | None
    terminated_at: str | None
    #: The owner's access key and e-mail.
    access_key: str
    user_email: str | None
    domain_name: str
    group_name: str
    group_id: str
    scaling_group: str | None
    cluster_size: int
    #: The main kernel's UUID (what [`Sessions.task_logs`][backendai_aio.Sessions.task_logs]
    #: reads the logs of).
    main_kernel_id: str
    tag: str | None


class DependencyGraph(TypedDict):
    """[`Sessions.dependency_graph`][backendai_aio.Sessions.dependency_graph]: a session.

    With what it waits for, recursively.
    """

    session_id: str
    session_name: str
    #: The main kernel's status as the manager prints it: ``"RUNNING"`` on 26.9,
    #: ``"KernelStatus.RUNNING"`` on 23.09.
    status: str
    #: ``str()`` of the time the status last changed, e.g. ``"2026-01-02 03:04:05+00:00"``.
    status_changed: str
    #: The graphs of the sessions this one depends on.
    depends_on: list[DependencyGraph]


class CommitResult(TypedDict):
    """[`Sessions.commit`][backendai_aio.Sessions.commit]: the agent's commit task."""

    #: The agent's background task writing the archive (follow it with
    #: [`Events.background_task`][backendai_aio.Events.background_task]).
    bgtask_id: str
    #: The main kernel's UUID.
    kernel: str
    #: Where the archive goes: ``<user e-mail>/<time>_<session>_<image>.tar.gz`` under the
    #: agent's commit folder (the emulator answers the absolute local path).
    path: str


class CommitStatus(TypedDict):
    """[`Sessions.commit_status`][backendai_aio.Sessions.commit_status]."""

    #: ``"ongoing"`` while a commit runs, else ``"ready"``.
    status: str
    #: The main kernel's UUID.
    kernel: str


class DirectAccessInfo(TypedDict, total=False):
    """[`Sessions.direct_access_info`][backendai_aio.Sessions.direct_access_info].

    Empty (``{}``) unless the session is a private one (a ``SYSTEM`` session, such as an SFTP
    upload session), whose SSH or SFTP ports can be reached directly.
    """

    #: ``"SYSTEM"`` (the legacy name of the field below; 23.09 answers only this one).
    kernel_role: str
    #: ``"SYSTEM"`` (26.9).
    session_type: str
    #: The agent's public host name.
    public_host: str
    #: The host ports of the session's ``sftpd`` (or else ``sshd``) service.
    sshd_ports: list[Any]
