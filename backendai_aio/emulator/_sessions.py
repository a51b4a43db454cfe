"""Compute sessions of the emulator: the registry and the ``/session`` handlers."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from .._apiversion import ApiVersion
from .._session_options import SESSION_NAME_RE
from ._auth import ACCESS_KEY
from ._eventhub import EventHub, LifecycleEvent
from ._kernel import Kernel, KernelBusyError
from ._problems import (
    GenericBadRequest,
    ImageNotFound,
    InvalidAPIParameters,
    SessionAlreadyExists,
    SessionNotFound,
)

__all__ = [
    "REGISTRY_KEY",
    "SERVER_VERSION_KEY",
    "EmulatedSession",
    "SessionRegistry",
    "add_session_routes",
    "check_params",
    "ensure_running",
    "read_api_params",
    "read_json_body",
    "request_session",
]

_V7: Final = ApiVersion(7, "20230615")
_SESSION_TYPES: Final = frozenset({"interactive", "batch", "inference"})
_EXECUTE_MODES: Final = frozenset({"query", "batch", "continue", "input", "complete"})
# Any ``python`` image (``python``, ``python:3.11``, ``cr.backend.ai/stable/python:3.9-...``)
# runs the local interpreter.
_PYTHON_IMAGE: Final = re.compile(r"(?:[\w.\-:]+/)*python(?::[\w.\-]+)?")
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


@dataclass(eq=False)
class EmulatedSession:
    """One compute session: its identity, status and the kernel running its code."""

    name: str
    image: str
    owner: str
    session_type: str
    tag: str | None
    environ: dict[str, str]
    resources: dict[str, Any]
    workdir: Path
    kernel: Kernel
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    #: The id of the session's only kernel (reported by kernel lifecycle events).
    kernel_id: uuid.UUID = field(default_factory=uuid.uuid4)
    status: str = "PENDING"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    start_task: asyncio.Task[None] | None = None
    #: What the session's code printed, served as the container logs.
    logs: list[str] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """The ``GET /session/{name}`` body (the manager's legacy session info fields)."""
        return {
            "domainName": "default",
            "groupId": "2de2b969-1d04-48a6-af16-0bc8adb3c831",
            "userId": "f38dea23-50fa-42a0-b5ae-338f5f4693f4",
            "lang": self.image,
            "image": self.image,
            "architecture": "x86_64",
            "registry": None,
            "tag": self.tag,
            "containerId": str(self.id),
            "occupiedSlots": json.dumps(self.resources),
            "occupyingSlots": json.dumps(self.resources),
            "requestedSlots": json.dumps(self.resources),
            "occupiedShares": "{}",
            "environ": json.dumps(self.environ),
            "resourceOpts": "{}",
            "status": self.status,
            "statusInfo": None,
            "statusData": None,
            "age": int((datetime.now(UTC) - self.created_at).total_seconds() * 1000),
            "creationTime": self.created_at.isoformat(),
            "terminationTime": None,
            "numQueriesExecuted": self.kernel.num_queries_executed,
            "lastStat": {},
            "idleChecks": {},
        }


class SessionRegistry:
    """The emulator's sessions, keyed by (owner access key, name).

    Every lifecycle transition is published on :attr:`events`, in the order the manager emits
    them: on creation ``session_enqueued``, ``session_scheduled``, ``session_preparing``,
    ``kernel_preparing``, ``kernel_creating``, then ``kernel_started`` and ``session_started``
    (or ``kernel_cancelled`` and ``session_cancelled`` when the kernel cannot start); on
    termination ``session_terminating``, ``kernel_terminating``, ``kernel_terminated`` and
    ``session_terminated``.
    """

    def __init__(
        self, *, flush_window: float, exec_timeout: float, events: EventHub | None = None
    ) -> None:
        self._sessions: dict[tuple[str, str], EmulatedSession] = {}
        self._flush_window = flush_window
        self._exec_timeout = exec_timeout
        #: Where the sessions' lifecycle events are published.
        self.events = events if events is not None else EventHub()

    def _emit(
        self,
        session: EmulatedSession,
        name: str,
        reason: str,
        *,
        exit_code: int | None = None,
    ) -> None:
        kernel_id = session.kernel_id if name.startswith("kernel_") else None
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

    def create(self, owner: str, name: str, image: str, params: dict[str, Any]) -> EmulatedSession:
        """Register a new session and start its kernel in the background."""
        workdir = Path(tempfile.mkdtemp(prefix=f"backendai-emulator-{name}-"))
        config = params.get("config") or {}
        session = EmulatedSession(
            name=name,
            image=image,
            owner=owner,
            session_type=params.get("type", "interactive"),
            tag=params.get("tag"),
            environ=dict(config.get("environ") or {}),
            resources=dict(config.get("resources") or {"cpu": "1", "mem": "1073741824"}),
            workdir=workdir,
            kernel=Kernel(
                workdir, flush_window=self._flush_window, exec_timeout=self._exec_timeout
            ),
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
        """Terminate a session: stop its kernel and remove its work folder."""
        self._sessions.pop((session.owner, session.name), None)
        session.status = "TERMINATING"
        self._emit(session, "session_terminating", reason)
        self._emit(session, "kernel_terminating", reason, exit_code=_UNKNOWN_EXIT)
        if session.start_task is not None:
            await asyncio.gather(session.start_task, return_exceptions=True)
        await session.kernel.close()
        shutil.rmtree(session.workdir, ignore_errors=True)
        session.status = "TERMINATED"
        self._emit(session, "kernel_terminated", reason, exit_code=_KILLED_EXIT)
        self._emit(session, "session_terminated", reason)

    async def close(self) -> None:
        """Terminate every session (on emulator shutdown)."""
        for session in list(self._sessions.values()):
            await self.destroy(session, reason=_SHUTDOWN_REASON)


REGISTRY_KEY: Final = web.AppKey("sessions", SessionRegistry)
#: The newest API version the emulated manager speaks.
SERVER_VERSION_KEY: Final = web.AppKey("server_version", ApiVersion)


async def read_json_body(request: web.Request) -> dict[str, Any]:
    """Read a JSON object body; a bodiless request reads as ``{}``, like the manager."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise InvalidAPIParameters("Malformed body") from None
    if not isinstance(body, dict):
        raise InvalidAPIParameters("Malformed body")
    return body


async def read_api_params(request: web.Request) -> dict[str, Any]:
    """Read a call's parameters from its JSON body and its query string.

    The manager reads a JSON body when there is one and the query string otherwise, and its
    clients moved from one to the other over the years (they now send both), so the emulator
    takes the body's values first and falls back to the query's. A parameter repeated in the
    query (``files=a&files=b``) reads as a list.
    """
    params: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        params[key] = values[0] if len(values) == 1 else list(values)
    params.update(await read_json_body(request))
    return params


def check_params(errors: dict[str, str]) -> None:
    """Raise the manager's "Input validation error" when *errors* (key -> problem) is not empty."""
    if errors:
        raise InvalidAPIParameters("Input validation error", data=errors)


def _alias(body: dict[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in body:
            return body[name]
    return default


async def ensure_running(session: EmulatedSession) -> EmulatedSession:
    """Wait until *session* has started; refuse it unless it is running."""
    await session.ready.wait()
    if session.status != "RUNNING":
        raise GenericBadRequest(f"The session is not running (status: {session.status}).")
    return session


def request_session(request: web.Request) -> EmulatedSession:
    """The caller's session named (or identified) by the ``{name}`` of *request*'s path."""
    registry: SessionRegistry = request.app[REGISTRY_KEY]
    return registry.get(ACCESS_KEY.get(), request.match_info["name"])


def add_session_routes(app: web.Application) -> None:
    """Install the ``/session`` routes on *app* (which holds a SessionRegistry)."""
    routes = web.RouteTableDef()

    def registry(request: web.Request) -> SessionRegistry:
        return request.app[REGISTRY_KEY]

    def owner(request: web.Request) -> str:
        return ACCESS_KEY.get()

    @routes.post("/session")
    async def create(request: web.Request) -> web.Response:
        body = await read_json_body(request)
        errors: dict[str, str] = {}
        name = _alias(body, "name", "session_name", "clientSessionToken")
        image = _alias(body, "image", "lang")
        if not isinstance(name, str) or SESSION_NAME_RE.fullmatch(name) is None:
            errors["name" if name is not None else "session_name"] = (
                "is required" if name is None else "does not match pattern"
            )
        if not isinstance(image, str):
            errors["image"] = "is required"
        session_type = _alias(body, "type", "sessionType", default="interactive")
        if session_type not in _SESSION_TYPES:
            errors["type"] = f"value is not one of {sorted(_SESSION_TYPES)}"
        for key in ("enqueueOnly", "reuseIfExists"):
            if key in body and not isinstance(body[key], bool):
                errors[key] = "value can't be converted to Bool"
        max_wait = body.get("maxWaitSeconds", 0)
        if not isinstance(max_wait, int) or isinstance(max_wait, bool) or max_wait < 0:
            errors["maxWaitSeconds"] = "value is not a non-negative int"
        config = body.get("config", {})
        if not isinstance(config, dict):
            errors["config"] = "value is not a dict"
        check_params(errors)
        assert isinstance(name, str) and isinstance(image, str)
        if name == "from-template":
            raise InvalidAPIParameters(f"Requested session ID {name} is reserved word")
        existing = registry(request).find(owner(request), name)
        if existing is not None:
            if not body.get("reuseIfExists", True):
                raise SessionAlreadyExists(data={"existingSessionId": str(existing.id)})
            return web.json_response(_reused(existing), status=201)
        if _PYTHON_IMAGE.fullmatch(image) is None:
            raise ImageNotFound(f"Unknown image references: alias:'{image}'")
        session = registry(request).create(owner(request), name, image, body)
        if not body.get("enqueueOnly", False):
            try:
                await asyncio.wait_for(session.ready.wait(), timeout=max_wait or None)
            except TimeoutError:
                return web.json_response(_created(session, status="TIMEOUT"), status=201)
        return web.json_response(_created(session), status=201)

    @routes.get("/session/{name}")
    async def get_info(request: web.Request) -> web.Response:
        session = registry(request).get(owner(request), request.match_info["name"])
        return web.json_response(session.info())

    @routes.patch("/session/{name}")
    async def restart(request: web.Request) -> web.Response:
        session = await ensure_running(
            registry(request).get(owner(request), request.match_info["name"])
        )
        await session.kernel.restart()
        return web.Response(status=204)

    @routes.delete("/session/{name}")
    async def destroy(request: web.Request) -> web.Response:
        session = registry(request).get(owner(request), request.match_info["name"])
        await registry(request).destroy(session)
        return web.json_response({"stats": {"status": "terminated"}})

    @routes.post("/session/{name}")
    async def execute(request: web.Request) -> web.Response:
        session = registry(request).get(owner(request), request.match_info["name"])
        body = await read_json_body(request)
        # Servers up to 25.5 read runId, later ones run_id; the emulator reads whichever came.
        run_id = _alias(body, "run_id", "runId")
        mode = body.get("mode")
        code = body.get("code", "")
        options = body.get("options") or {}
        errors: dict[str, str] = {}
        if mode not in _EXECUTE_MODES:
            errors["mode"] = f"value is not one of {sorted(_EXECUTE_MODES)}"
        if not isinstance(code, str):
            errors["code"] = "value is not a string"
        if run_id is not None and (not isinstance(run_id, str) or not 8 <= len(run_id) <= 64):
            errors["runId"] = "must be a string of 8 to 64 characters"
        if not isinstance(options, dict):
            errors["options"] = "value is not a dict"
        check_params(errors)
        await ensure_running(session)
        if mode == "complete":
            return web.json_response({"result": await session.kernel.complete(code, options)})
        if run_id is None:
            # The 23.09 manager (API v7) refuses a call without a run id; newer ones assign one.
            if mode in ("continue", "input") or request.app[SERVER_VERSION_KEY] <= _V7:
                raise InvalidAPIParameters("runId is missing!")
            run_id = uuid.uuid4().hex
        try:
            result = await session.kernel.execute(
                mode=str(mode), run_id=run_id, code=code, options=options
            )
        except KernelBusyError:
            raise GenericBadRequest("Another run is still in progress in this session.") from None
        except ValueError as exc:
            raise InvalidAPIParameters(str(exc)) from None
        session.logs.extend(
            str(payload) for kind, payload in result["console"] if kind in ("stdout", "stderr")
        )
        return web.json_response({"result": result})

    @routes.post("/session/{name}/interrupt")
    async def interrupt(request: web.Request) -> web.Response:
        session = await ensure_running(
            registry(request).get(owner(request), request.match_info["name"])
        )
        await session.kernel.interrupt()
        return web.Response(status=204)

    @routes.post("/session/{name}/complete")
    async def complete(request: web.Request) -> web.Response:
        session = await ensure_running(
            registry(request).get(owner(request), request.match_info["name"])
        )
        body = await read_json_body(request)
        code = body.get("code", "")
        if not isinstance(code, str):
            check_params({"code": "value is not a string"})
        options = body.get("options") or {}
        return web.json_response({"result": await session.kernel.complete(code, options)})

    @routes.post("/session/{name}/rename")
    async def rename(request: web.Request) -> web.Response:
        session = request_session(request)
        params = await read_api_params(request)
        new_name = _alias(params, "name", "session_name", "clientSessionToken")
        if not isinstance(new_name, str) or SESSION_NAME_RE.fullmatch(new_name) is None:
            check_params({"name": "is required" if new_name is None else "does not match pattern"})
        assert isinstance(new_name, str)
        await session.ready.wait()
        if session.status != "RUNNING":
            raise InvalidAPIParameters("Can't change name of not running session")
        registry(request).rename(session, new_name)
        return web.Response(status=204)

    @routes.get("/session/{name}/logs")
    async def get_logs(request: web.Request) -> web.Response:
        session = await ensure_running(
            registry(request).get(owner(request), request.match_info["name"])
        )
        return web.json_response({"result": {"logs": "".join(session.logs)}})

    app.add_routes(routes)


def _reused(session: EmulatedSession) -> Any:
    # The 23.09 manager answers a reused session with ``service_ports`` (snake case, null)
    # where a new one gets ``servicePorts``.
    return {
        "sessionId": str(session.id),
        "sessionName": session.name,
        "status": session.status,
        "service_ports": None,
        "created": False,
    }


def _created(session: EmulatedSession, *, status: str | None = None) -> Any:
    return {
        "sessionId": str(session.id),
        "sessionName": session.name,
        "status": status or session.status,
        "servicePorts": [],
        "created": True,
    }
