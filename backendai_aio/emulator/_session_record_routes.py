"""The ``/session`` routes about a session's records: history, commits, logs, templates.

As the managers answer them (``api/session.py`` of 23.9.10, ``api/rest/session/`` of 26.9.6):

- ``GET /session/{name}/status-history`` (26.9 only; 23.09 has no such route): the session's
  ``{STATUS: ISO time}`` record, written by the registry as the session changes status.
- ``GET /session/{name}/dependency-graph``: ``{session_id, session_name, status,
  status_changed, depends_on}``; the status as the manager prints its kernel status enum
  (``"RUNNING"`` on 26.9, ``"KernelStatus.RUNNING"`` on 23.09). Emulated sessions depend on
  nothing.
- ``GET /session/{name}/direct-access-info``: ``{}``, as for every session that is not a
  private (``SYSTEM``) one; the emulator makes none of those.
- ``POST /session/{name}/commit`` (201): the agent's answer ``{bgtask_id, kernel, path}``. The
  emulator really commits: a background task writes a ``.tar.gz`` of the session's work
  folder, named as the manager names it (``<time>_<session>_<image>.tar.gz``), under a
  commit folder of the emulator's (kept until the emulator stops); ``path`` is that file's
  absolute path. ``GET /session/{name}/commit`` reports ``ongoing`` while a commit runs,
  else ``ready``.
- ``POST /session/{name}/imagify`` (26.9 only): JSON ``{image_name, image_visibility}``;
  answers ``{task_id}`` of a background task that commits the session as above and ends
  ``bgtask_done`` with the new image's canonical name as its message.
- ``GET|HEAD /session/_/logs?session_name=<kernel id>``: the main kernel's log as streamed
  ``text/plain``; the emulator's log of a kernel is what the session's code printed. An
  unknown kernel is 404 ``object-not-found`` (the manager's answer when no log is kept).
- ``POST /session/_/create-from-template``: a session from a stored session template, the
  body's fields (``name``, ``image``, ``type``, ``tag``, ``config.environ``,
  ``config.resources``, ``enqueueOnly``, ``maxWaitSeconds``, ``reuseIfExists``) overriding it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import tarfile
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from ._accounts import ACCOUNTS_KEY, is_default_project
from ._auth import ACCESS_KEY, current_keypair
from ._bgtasks import BGTASKS_KEY, ProgressReporter
from ._images import resolve_image
from ._params import alias, read_checked_params, read_json_body
from ._problems import InvalidAPIParameters, Problem, SessionAlreadyExists
from ._releases import RELEASE_KEY
from ._session_params import NAME_PATTERN, requested_slots, session_slots
from ._session_services import services_of
from ._sessions import REGISTRY_KEY, EmulatedSession, SessionRegistry, request_session
from ._templates import TEMPLATES_KEY

__all__ = ["COMMITS_KEY", "add_session_record_routes", "routes"]

#: The session record routes.
routes = web.RouteTableDef()

# The manager keeps this many characters of a session name in a commit's file name.
_NAME_LIMIT: Final = 10
_LOG_CHUNK: Final = 8192
_IMAGE_NAME: Final = re.compile(r"[a-zA-Z0-9.\-_]+")
_SESSION_NAME: Final = re.compile(NAME_PATTERN, re.ASCII)


class _NoTaskLog(Problem):
    """404 object-not-found: no log is kept for that kernel."""

    status, slug, title = 404, "object-not-found", "No such object."
    error_code = "api_read_not-found"


class CommitStore:
    """The folder commits are written to, and which kernels have a commit running."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="backendai-emulator-commits-"))
        self.ongoing: set[uuid.UUID] = set()

    async def write(self, session: EmulatedSession, subdir: str, filename: str) -> Path:
        """Archive *session*'s work folder as ``<root>/<subdir>/<filename>``."""
        target = self.root / subdir / filename
        self.ongoing.add(session.kernel_id)
        try:
            await asyncio.to_thread(_archive, session.workdir, target)
        finally:
            self.ongoing.discard(session.kernel_id)
        return target

    def remove(self) -> None:
        """Remove every archive (on emulator shutdown)."""
        shutil.rmtree(self.root, ignore_errors=True)


def _archive(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as archive:
        archive.add(source, arcname=".")


#: Where the application keeps its `CommitStore`.
COMMITS_KEY: Final = web.AppKey("commits", CommitStore)


def _registry(request: web.Request) -> SessionRegistry:
    return request.app[REGISTRY_KEY]


def _only_on_26(request: web.Request) -> None:
    # 23.09 has no such route: the router's 404 (url-not-found) is its answer.
    if request.app[RELEASE_KEY].name == "23.09":
        raise web.HTTPNotFound()


def _owner_email(request: web.Request, session: EmulatedSession) -> str:
    keypair = request.app[ACCOUNTS_KEY].keypair(session.owner)
    return "unknown" if keypair is None else keypair.user.email


def _commit_filename(session: EmulatedSession) -> str:
    # As the manager's commit_session_to_file names it (its filename parameter is unused).
    now = datetime.now(UTC).strftime("%Y-%m-%dT%HH%MM%SS")
    _, _, rest = session.image.partition("/")
    _, _, image_name = rest.partition("/")
    return f"{now}_{session.name[:_NAME_LIMIT]}_{image_name}.tar.gz".replace(":", "-")


def _running_for_commit(session: EmulatedSession) -> None:
    if session.status != "RUNNING":
        raise InvalidAPIParameters(
            f"Unable to commit since kernel(id: {session.kernel_id}) of session(id: "
            f"{session.id}) is currently not RUNNING."
        )


@routes.get("/session/{name}/status-history")
async def _status_history(request: web.Request) -> web.Response:
    _only_on_26(request)
    return web.json_response(dict(request_session(request).status_history))


@routes.get("/session/{name}/dependency-graph")
async def _dependency_graph(request: web.Request) -> web.Response:
    session = request_session(request)
    status = session.status
    if request.app[RELEASE_KEY].name == "23.09":
        status = f"KernelStatus.{status}"
    changed = max(session.status_history.values(), default=session.created_at.isoformat())
    return web.json_response(
        {
            "session_id": str(session.id),
            "session_name": session.name,
            "status": status,
            # str() of the stored datetime, as the manager prints it.
            "status_changed": str(datetime.fromisoformat(changed)),
            "depends_on": [],
        }
    )


@routes.get("/session/{name}/direct-access-info")
async def _direct_access_info(request: web.Request) -> web.Response:
    request_session(request)
    return web.json_response({})


@routes.post("/session/{name}/commit")
async def _commit(request: web.Request) -> web.Response:
    session = request_session(request)
    await session.ready.wait()
    _running_for_commit(session)
    commits = request.app[COMMITS_KEY]
    subdir, filename = _owner_email(request, session), _commit_filename(session)
    path = commits.root / subdir / filename

    async def operation(reporter: ProgressReporter) -> str | None:
        reporter.total_progress = 1
        await commits.write(session, subdir, filename)
        await reporter.update(1, "committed")
        return None

    # Marked ongoing at once: a status asked right after this answer sees the commit.
    commits.ongoing.add(session.kernel_id)
    task_id = request.app[BGTASKS_KEY].start(operation)
    answer = {"bgtask_id": str(task_id), "kernel": str(session.kernel_id), "path": str(path)}
    return web.json_response(answer, status=201)


@routes.get("/session/{name}/commit")
async def _commit_status(request: web.Request) -> web.Response:
    session = request_session(request)
    ongoing = session.kernel_id in request.app[COMMITS_KEY].ongoing
    return web.json_response(
        {"status": "ongoing" if ongoing else "ready", "kernel": str(session.kernel_id)}
    )


@routes.post("/session/{name}/imagify")
async def _imagify(request: web.Request) -> web.Response:
    _only_on_26(request)
    body = await read_json_body(request)
    image_name = body.get("image_name")
    if not isinstance(image_name, str) or _IMAGE_NAME.fullmatch(image_name) is None:
        raise InvalidAPIParameters("Input validation error", data={"image_name": "is invalid"})
    visibility = body.get("image_visibility", "user")
    if visibility != "user":
        raise InvalidAPIParameters(f"Unsupported visibility scope {visibility}")
    session = request_session(request)
    await session.ready.wait()
    _running_for_commit(session)
    commits = request.app[COMMITS_KEY]
    customized = uuid.uuid4().hex
    base, _, tag = session.image.rpartition(":")
    canonical = f"{base or session.image}:{tag or 'latest'}-customized_{customized}"
    subdir, filename = _owner_email(request, session), f"{image_name}-{customized}.tar.gz"

    async def operation(reporter: ProgressReporter) -> str | None:
        reporter.total_progress = 2
        await commits.write(session, subdir, filename)
        await reporter.update(1, "Commit completed")
        await reporter.update(1, "Rescanning image")
        return canonical

    commits.ongoing.add(session.kernel_id)
    task_id = request.app[BGTASKS_KEY].start(operation)
    return web.json_response({"task_id": str(task_id)})


@routes.get("/session/_/logs")
async def _task_log(request: web.Request) -> web.StreamResponse:
    params = await read_checked_params(request)
    raw = alias(params, "kernel_id", "session_name", "sessionName", "task_id", "taskId")
    try:
        kernel_id = uuid.UUID(str(raw))
    except ValueError:
        raise InvalidAPIParameters(
            "Input validation error", data={"kernel_id": "is not a UUID"}
        ) from None
    owner = ACCESS_KEY.get()
    session = next(
        (
            s
            for s in _registry(request).every_session()
            if s.kernel_id == kernel_id and s.owner == owner
        ),
        None,
    )
    if session is None:
        raise _NoTaskLog(data={"vfolder_name": ".logs"})
    data = "".join(session.logs).encode()
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    if request.method != "HEAD":
        for start in range(0, len(data), _LOG_CHUNK):
            await response.write(data[start : start + _LOG_CHUNK])
    await response.write_eof()
    return response


@routes.post("/session/_/create-from-template")
async def _create_from_template(request: web.Request) -> web.Response:
    params = await read_checked_params(request)
    template_id = alias(params, "template_id", "templateId")
    if template_id is None:
        raise InvalidAPIParameters("Input validation error", data={"template_id": "is required"})
    row = request.app[TEMPLATES_KEY].find(str(template_id), "task")
    spec, kernel = row.template["spec"], row.template["spec"]["kernel"]
    name = alias(params, "name", "session_name", "clientSessionToken")
    if name is None:
        name = f"sess-{secrets.token_hex(4)}"
    if not isinstance(name, str) or _SESSION_NAME.fullmatch(name) is None:
        raise InvalidAPIParameters("Input validation error", data={"session_name": "invalid"})
    if not is_default_project(alias(params, "group", "groupName", "group_name", default="default")):
        raise InvalidAPIParameters("Invalid group")
    config = params.get("config") or {}
    if not isinstance(config, dict):
        raise InvalidAPIParameters("Input validation error", data={"config": "is not a mapping"})
    image = resolve_image(str(alias(params, "image", "lang", default=None) or kernel["image"]))
    resources = config.get("resources") or spec.get("resources") or {}
    environ = {**(kernel.get("environ") or {}), **(config.get("environ") or {})}
    owner = ACCESS_KEY.get()
    existing = _registry(request).find(owner, name)
    if existing is not None:
        if existing.image != image.name or not params.get("reuseIfExists", True):
            raise SessionAlreadyExists(data={"existingSessionId": str(existing.id)})
        return web.json_response(_answer(existing, created=False), status=201)
    session = _registry(request).create(
        owner,
        name,
        image,
        user_id=current_keypair(request).user.uuid,
        session_type=str(alias(params, "type", "sessionType", default=spec["session_type"])),
        tag=params.get("tag", row.template["metadata"].get("tag")),
        environ={str(k): str(v) for k, v in environ.items()},
        resources=session_slots(requested_slots(resources), image),
    )
    if not params.get("enqueueOnly", False):
        wait = params.get("maxWaitSeconds") or None
        try:
            await asyncio.wait_for(session.ready.wait(), timeout=wait)
        except TimeoutError:
            return web.json_response(_answer(session, status="TIMEOUT"), status=201)
    return web.json_response(_answer(session), status=201)


def _answer(session: EmulatedSession, *, created: bool = True, status: str | None = None) -> Any:
    return {
        "sessionId": str(session.id),
        "sessionName": session.name,
        "status": status or session.status,
        "servicePorts": services_of(session).service_ports(),
        "created": created,
    }


def add_session_record_routes(app: web.Application) -> None:
    """Install the routes of this module (before the ``/session/{name}/...`` ones)."""
    commits = CommitStore()
    app[COMMITS_KEY] = commits

    async def remove_commits(app: web.Application) -> None:
        commits.remove()

    app.on_cleanup.append(remove_commits)
    app.add_routes(routes)
