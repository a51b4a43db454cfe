"""Compute sessions of the emulator: their state, and the registry that owns them.

The ``/session`` routes are in `_session_routes`, what session creation checks in
`_session_params`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from .._apiversion import ApiVersion
from ._accounts import DEFAULT_GROUP_ID
from ._auth import ACCESS_KEY
from ._eventhub import EventHub, LifecycleEvent
from ._images import ResolvedImage
from ._kernel import Kernel, KernelLimits
from ._problems import (
    GenericBadRequest,
    SessionAlreadyExists,
    SessionNotFound,
)

if TYPE_CHECKING:
    from ._session_services import SessionServices

__all__ = [
    "KNOWN_SLOTS",
    "REGISTRY_KEY",
    "SERVER_VERSION_KEY",
    "EmulatedSession",
    "SessionRegistry",
    "check_running",
    "ensure_running",
    "request_session",
]


#: The resource slots the emulated manager knows (no accelerators).
KNOWN_SLOTS: Final = ("cpu", "mem")


# The owner of a session made without one (only internal callers do that).
_NO_USER: Final = uuid.UUID(int=0)
# The shared memory a session gets by default (64 MiB), reported in its resource options.
_DEFAULT_SHMEM: Final = 64 * 2**20
# Reasons carried by lifecycle events (the manager's KernelLifecycleEventReason values). Newer
# managers default the session creation events' reason to "unknown"; kernel creation events
# carry an empty reason.
_CREATION_REASON: Final = "unknown"
_USER_REQUESTED: Final = "user-requested"
_FAILED_TO_START: Final = "failed-to-start"
_SHUTDOWN_REASON: Final = "agent-termination"
# The manager's kernel_terminating carries the event's default exit code; kernel_terminated
# carries the container's, and the emulator kills its kernel with SIGKILL (128 + 9).
_UNKNOWN_EXIT: Final = -1
_KILLED_EXIT: Final = 137
# The statuses the manager's session passes through on the way to its kernel's start, by the
# event announcing each (the emulator's own status stays PENDING until the kernel runs).
_EVENT_STATUS: Final = {
    "session_enqueued": "PENDING",
    "session_scheduled": "SCHEDULED",
    "session_preparing": "PREPARING",
}
# How long destroying a session waits for its file transfers to end before cancelling them.
_TRANSFER_GRACE: Final = 2.0


@dataclass(eq=False)
class EmulatedSession:
    """One compute session: its identity, status and the kernel running its code."""

    name: str
    #: The image as the manager names it (a row's canonical name, or the name asked for).
    image: str
    owner: str
    session_type: str
    tag: str | None
    environ: dict[str, str]
    #: The requested resource slots (``cpu``, ``mem``), as the manager normalises them.
    resources: dict[str, Decimal]
    workdir: Path
    kernel: Kernel
    registry_name: str = "index.docker.io"
    #: The owning user's id.
    user_id: uuid.UUID = _NO_USER
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    #: The id of the session's only kernel (reported by kernel lifecycle events).
    kernel_id: uuid.UUID = field(default_factory=uuid.uuid4)
    status: str = "PENDING"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: When the session was terminated (None while it lives).
    terminated_at: datetime | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    start_task: asyncio.Task[None] | None = None
    #: What the session's code printed, served as the container logs.
    logs: list[str] = field(default_factory=list)
    #: When the session entered each status (``{"PENDING": ISO time, ...}``), as the manager
    #: records them in the session row's ``status_history``.
    status_history: dict[str, str] = field(default_factory=dict)
    #: The requests transferring files with the work folder (their tasks, and an event set
    #: when each ends); destroying the session waits for them before removing the folder.
    transfers: dict[asyncio.Task[Any], asyncio.Event] = field(default_factory=dict)
    #: The ports asked for at creation that the session's own code listens on.
    preopen_ports: list[int] = field(default_factory=list)
    #: The app processes and terminal of the session (see `_session_services`), once used.
    services: SessionServices | None = None
    #: What destroying the session runs after stopping its kernel (stopping its apps).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @contextlib.contextmanager
    def transfer(self) -> Iterator[None]:
        """Register the current request as a file transfer while the ``with`` block runs."""
        task = asyncio.current_task()
        assert task is not None
        done = asyncio.Event()
        self.transfers[task] = done
        try:
            yield
        finally:
            self.transfers.pop(task, None)
            done.set()

    async def end_transfers(self) -> None:
        """Wait a little for the transfers in progress, then cancel those still going."""
        if not self.transfers:
            return
        waiting = list(self.transfers.values())
        _, pending = await asyncio.wait(
            [asyncio.create_task(done.wait()) for done in waiting], timeout=_TRANSFER_GRACE
        )
        if pending:
            for task in list(self.transfers):
                task.cancel()
            _, still = await asyncio.wait(pending, timeout=_TRANSFER_GRACE)
            for waiter in still:
                waiter.cancel()
            await asyncio.gather(*still, return_exceptions=True)

    def info(self) -> dict[str, Any]:
        """The ``GET /session/{name}`` body (the manager's legacy session info fields).

        As the 23.09 manager answers it: the slot, environment and option fields are the
        Python text of the stored values (``"{'cpu': Decimal('1'), ...}"``), not JSON, and
        the times are ``str()`` of the stored datetimes.
        """
        occupying = self.resources if self.status == "RUNNING" else {}
        return {
            "domainName": "default",
            "groupId": str(DEFAULT_GROUP_ID),
            "userId": str(self.user_id),
            "lang": self.image,
            "image": self.image,
            "architecture": "x86_64",
            "registry": self.registry_name,
            "tag": self.tag,
            # A container id is a 64-digit hex string; derive a stable one from the kernel.
            "containerId": hashlib.sha256(self.kernel_id.bytes).hexdigest(),
            "occupiedSlots": repr(self.resources),
            "occupyingSlots": repr(occupying),
            "requestedSlots": repr(self.resources),
            "occupiedShares": "{}",
            "environ": repr(self.environ),
            "resourceOpts": repr({"main1": {"shmem": _DEFAULT_SHMEM}}),
            "status": self.status,
            "statusInfo": "None",
            "statusData": None,
            "age": int((datetime.now(UTC) - self.created_at).total_seconds() * 1000),
            "creationTime": str(self.created_at),
            "terminationTime": None,
            "numQueriesExecuted": self.kernel.num_queries_executed,
            "lastStat": None,
            "idleChecks": {
                "session_lifetime": {
                    "remaining": None,
                    "remaining_time_type": "expire_after",
                    "extra": None,
                }
            },
        }


class SessionRegistry:
    """The emulator's sessions, keyed by (owner access key, name).

    Every lifecycle transition is published on `events`, in the order the manager emits
    them: on creation ``session_enqueued``, ``session_scheduled``, ``session_preparing``,
    ``kernel_preparing``, ``kernel_creating``, then ``kernel_started`` and ``session_started``
    (or ``kernel_cancelled`` and ``session_cancelled`` when the kernel cannot start); on
    termination ``session_terminating``, ``kernel_terminating``, ``kernel_terminated`` and
    ``session_terminated``.
    """

    def __init__(
        self, *, flush_window: float, exec_timeout: float, limits: KernelLimits | None = None
    ) -> None:
        self._sessions: dict[tuple[str, str], EmulatedSession] = {}
        # Terminated sessions by (owner, name) and (owner, id): the manager keeps their rows,
        # and a recursive destroy still finds them.
        self._terminated: dict[tuple[str, str], EmulatedSession] = {}
        self._flush_window = flush_window
        self._exec_timeout = exec_timeout
        self._limits = limits
        #: Where the sessions' lifecycle events are published.
        self.events = EventHub()

    def _emit(
        self,
        session: EmulatedSession,
        name: str,
        reason: str,
        *,
        exit_code: int | None = None,
    ) -> None:
        kernel_id = session.kernel_id if name.startswith("kernel_") else None
        if kernel_id is None:
            # Each session event marks a status change (the status is set before it is sent).
            status = _EVENT_STATUS.get(name, session.status)
            session.status_history[status] = datetime.now(UTC).isoformat()
        self.events.publish(
            LifecycleEvent(
                name=name,
                session_id=session.id,
                session_name=session.name,
                owner=session.owner,
                reason=reason,
                exit_code=exit_code,
                kernel_id=kernel_id,
            )
        )

    def get(self, owner: str, name_or_id: str) -> EmulatedSession:
        """Find a session by name or id, or raise SessionNotFound."""
        found = self._sessions.get((owner, name_or_id))
        if found is None:
            for session in self._sessions.values():
                if session.owner == owner and str(session.id) == name_or_id:
                    return session
            # The 23.09 manager names the session it looked for in ``msg``.
            raise SessionNotFound(f"Session (id={name_or_id}) does not exist.")
        return found

    def find(self, owner: str, name: str) -> EmulatedSession | None:
        """Return the session named *name*, if any."""
        return self._sessions.get((owner, name))

    def owned_by(self, owner: str) -> list[EmulatedSession]:
        """The sessions of *owner*."""
        return [session for (key, _), session in self._sessions.items() if key == owner]

    def every_session(self) -> list[EmulatedSession]:
        """Every session of every owner, live or terminated, each once."""
        seen = {id(s): s for s in (*self._sessions.values(), *self._terminated.values())}
        return list(seen.values())

    def find_any(self, owner: str, name_or_id: str) -> EmulatedSession | None:
        """The live or terminated session of *owner* named (or identified) *name_or_id*."""
        found = self._sessions.get((owner, name_or_id))
        if found is None:
            found = next(
                (s for s in self.owned_by(owner) if str(s.id) == name_or_id),
                self._terminated.get((owner, name_or_id)),
            )
        return found

    def terminated(self) -> list[EmulatedSession]:
        """The sessions being or having been terminated, once each (the manager keeps them)."""
        return list({id(session): session for session in self._terminated.values()}.values())

    def create(
        self,
        owner: str,
        name: str,
        image: ResolvedImage,
        *,
        user_id: uuid.UUID,
        session_type: str = "interactive",
        tag: str | None = None,
        environ: dict[str, str] | None = None,
        resources: dict[str, Decimal] | None = None,
    ) -> EmulatedSession:
        """Register a new session and start its kernel in the background."""
        workdir = Path(tempfile.mkdtemp(prefix=f"backendai-emulator-{name}-"))
        session = EmulatedSession(
            name=name,
            image=image.name,
            owner=owner,
            session_type=session_type,
            tag=tag,
            environ=dict(environ or {}),
            resources=dict(resources or {"cpu": image.min_cpu, "mem": image.min_mem}),
            workdir=workdir,
            kernel=Kernel(
                workdir,
                flush_window=self._flush_window,
                exec_timeout=self._exec_timeout,
                limits=self._limits,
            ),
            registry_name=image.registry,
            user_id=user_id,
        )
        self._sessions[(owner, name)] = session
        # The emulator has no queue nor agents: scheduling and preparation happen at once.
        for event in ("session_enqueued", "session_scheduled", "session_preparing"):
            self._emit(session, event, _CREATION_REASON)
        self._emit(session, "kernel_preparing", "")
        self._emit(session, "kernel_creating", "")
        session.start_task = asyncio.create_task(self._start(session))
        return session

    async def _start(self, session: EmulatedSession) -> None:
        try:
            await session.kernel.start()
        except Exception:
            if session.status == "PENDING":
                session.status = "ERROR"
                self._emit(session, "kernel_cancelled", _FAILED_TO_START)
                self._emit(session, "session_cancelled", _FAILED_TO_START)
        else:
            # A session destroyed while its kernel was starting stays terminated.
            if session.status == "PENDING":
                session.status = "RUNNING"
                self._emit(session, "kernel_started", "")
                self._emit(session, "session_started", _CREATION_REASON)
        finally:
            session.ready.set()

    def rename(self, session: EmulatedSession, new_name: str) -> None:
        """Give *session* a new name; the name must not be taken by another session."""
        if (session.owner, new_name) in self._sessions:
            raise SessionAlreadyExists(f"Session with name '{new_name}' already exists")
        del self._sessions[(session.owner, session.name)]
        session.name = new_name
        self._sessions[(session.owner, new_name)] = session

    async def destroy(self, session: EmulatedSession, *, reason: str = _USER_REQUESTED) -> None:
        """Terminate a session: stop its kernel and its transfers, and remove its work folder."""
        self._sessions.pop((session.owner, session.name), None)
        self._terminated[(session.owner, session.name)] = session
        self._terminated[(session.owner, str(session.id))] = session
        session.status = "TERMINATING"
        self._emit(session, "session_terminating", reason)
        self._emit(session, "kernel_terminating", reason, exit_code=_UNKNOWN_EXIT)
        if session.start_task is not None:
            await asyncio.gather(session.start_task, return_exceptions=True)
        await session.kernel.close()
        for closer in session.closers:
            await closer()
        await session.end_transfers()
        await asyncio.to_thread(shutil.rmtree, session.workdir, True)
        session.status = "TERMINATED"
        session.terminated_at = datetime.now(UTC)
        self._emit(session, "kernel_terminated", reason, exit_code=_KILLED_EXIT)
        self._emit(session, "session_terminated", reason)

    async def close(self) -> None:
        """Terminate every session (on emulator shutdown)."""
        for session in list(self._sessions.values()):
            await self.destroy(session, reason=_SHUTDOWN_REASON)


REGISTRY_KEY: Final = web.AppKey("sessions", SessionRegistry)
#: The newest API version the emulated manager speaks.
SERVER_VERSION_KEY: Final = web.AppKey("server_version", ApiVersion)


def check_running(session: EmulatedSession) -> EmulatedSession:
    """Refuse *session* unless it is running (e.g. once it is being destroyed)."""
    if session.status != "RUNNING":
        raise GenericBadRequest(f"The session is not running (status: {session.status}).")
    return session


async def ensure_running(session: EmulatedSession) -> EmulatedSession:
    """Wait until *session* has started; refuse it unless it is running."""
    await session.ready.wait()
    return check_running(session)


def request_session(request: web.Request) -> EmulatedSession:
    """The caller's session named (or identified) by the ``{name}`` of *request*'s path."""
    registry: SessionRegistry = request.app[REGISTRY_KEY]
    return registry.get(ACCESS_KEY.get(), request.match_info["name"])
