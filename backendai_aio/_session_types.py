"""The manager's answers to the compute-session calls, as ``TypedDict``s.

The shapes are the manager's legacy session API (``ai/backend/manager/api/session.py``),
which 23.09 to 26.9 answer alike; a field only some answers carry is ``NotRequired``.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

__all__ = [
    "CompletionAnswer",
    "CompletionResult",
    "CreatedSession",
    "DestroyAnswer",
    "ExecuteAnswer",
    "ExecuteResult",
    "ServerVersion",
    "SessionFileListing",
    "SessionInfo",
    "SessionLogs",
]


class ServerVersion(TypedDict):
    """``GET /``: [`Client.get_server_version`][backendai_aio.Client.get_server_version]."""

    #: The API version, e.g. ``"v9.20250722"``.
    version: str
    #: The manager's release, e.g. ``"26.2.0"``.
    manager: str


class CreatedSession(TypedDict):
    """[`Sessions.create`][backendai_aio.Sessions.create]: the session made or reused."""

    #: The session's UUID.
    sessionId: str
    sessionName: str
    #: ``PENDING`` with ``enqueue_only``, else usually ``RUNNING``.
    status: str
    #: False when an existing session of that name was reused.
    created: bool
    #: The session's service ports (a new session's answer).
    servicePorts: NotRequired[list[Any]]
    #: The same, as 23.09 names it when it reuses a session (``None`` there).
    service_ports: NotRequired[list[Any] | None]


class ExecuteResult(TypedDict):
    """The ``result`` of one execution step (`ExecuteAnswer`)."""

    #: ``finished``, ``continued``, ``waiting-input``, ``exec-timeout``, or a batch phase
    #: (``build-finished``, ``clean-finished``).
    status: str
    #: The run's id: pass it back to ``continue`` or answer ``input``.
    runId: str
    #: The exit code once the run finished, else ``None``.
    exitCode: int | None
    #: ``[kind, payload]`` items: ``stdout``, ``stderr``, ``media``, ``html``, ...
    console: list[Any]
    #: Step options, e.g. ``is_password`` when waiting for input.
    options: dict[str, Any] | None
    #: Files the run reported (batch mode).
    files: list[Any] | None


class ExecuteAnswer(TypedDict):
    """[`Sessions.execute`][backendai_aio.Sessions.execute]: ``{"result": {...}}``."""

    result: ExecuteResult


class CompletionResult(TypedDict):
    """The ``result`` of a completion request (`CompletionAnswer`)."""

    status: str
    #: The candidates, best first.
    completions: list[str]


class CompletionAnswer(TypedDict):
    """[`Sessions.complete`][backendai_aio.Sessions.complete]: ``{"result": {...}}``."""

    result: CompletionResult


class SessionInfo(TypedDict):
    """[`Sessions.info`][backendai_aio.Sessions.info]: a compute session's details.

    As the manager answers it: the slot, environment and option fields are the Python text
    of the stored values (``"{'cpu': Decimal('1'), ...}"``), not JSON, and the times are the
    text of the stored datetimes.
    """

    domainName: str
    groupId: str
    userId: str
    #: The image (the legacy name of `image`).
    lang: str
    image: str
    architecture: str
    registry: str
    tag: str | None
    containerId: str
    occupiedSlots: str
    occupyingSlots: str
    requestedSlots: str
    occupiedShares: str
    environ: str
    resourceOpts: str
    #: ``PENDING``, ``PREPARING``, ``RUNNING``, ``TERMINATING``, ``TERMINATED``, ...
    status: str
    statusInfo: str | None
    statusData: Any
    #: Milliseconds since the session was created.
    age: int
    creationTime: str
    terminationTime: str | None
    numQueriesExecuted: int
    lastStat: Any
    idleChecks: Any


class SessionLogs(TypedDict):
    """[`Sessions.logs`][backendai_aio.Sessions.logs]: ``{"result": {"logs": "..."}}``."""

    result: dict[str, str]


class SessionFileListing(TypedDict):
    """[`Sessions.list_files`][backendai_aio.Sessions.list_files]: one folder's listing.

    [`Sessions.list_entries`][backendai_aio.Sessions.list_entries] decodes ``files``
    into [`FileEntry`][backendai_aio.FileEntry] objects.
    """

    #: The entries as JSON text: a list of ``{filename, size, mode, ctime, mtime, atime}``.
    files: str
    #: What the listing could not read (empty when nothing failed).
    errors: Any
    #: The path listed, as given.
    abspath: str


class DestroyAnswer(TypedDict):
    """[`Sessions.destroy`][backendai_aio.Sessions.destroy]: ``{"stats": {...}}``.

    26.9 answers ``{"status": "terminated"}`` or ``{"status": "cancelled"}`` (a session
    that had not started yet) in ``stats``, or ``{}`` when nothing was left to stop; 23.09
    answers the main kernel's last resource statistics there, whose keys vary by agent
    (``{"status": ...}`` too for a session not running). A recursive destroy on 23.09
    answers a bare list of such statistics, one per session it stopped, which
    [`Sessions.destroy`][backendai_aio.Sessions.destroy] returns under ``stats``.
    """

    #: The last statistics: a mapping (a list of them for a recursive destroy on 23.09).
    #: An open shape, varying by release and agent.
    stats: Any
