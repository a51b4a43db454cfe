"""The manager's ``/session`` routes: creation, information, execution and the lifecycle."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from .._apiversion import ApiVersion, parse_api_version
from ._accounts import ACCOUNTS_KEY, is_default_project
from ._auth import ACCESS_KEY, current_keypair
from ._images import resolve_image
from ._kernel import KernelBusyError
from ._params import read_checked_params, read_json_body
from ._problems import (
    GenericBadRequest,
    InsufficientPrivilege,
    InvalidAPIParameters,
    NotImplementedAPI,
    QuotaExceeded,
    SessionAlreadyExists,
    SessionNotFound,
)
from ._releases import RELEASE_KEY
from ._session_params import (
    NAME_PATTERN,
    NULL_OR_STRING,
    check_config,
    create_keys,
    requested_slots,
    session_slots,
)
from ._session_services import services_of
from ._sessions import (
    REGISTRY_KEY,
    SERVER_VERSION_KEY,
    EmulatedSession,
    SessionRegistry,
    ensure_running,
    request_session,
)
from ._validation import (
    Check,
    Invalid,
    Key,
    choice,
    mapping,
    null_or,
    regexp,
    string,
    to_bool,
    validate,
)

__all__ = ["add_session_routes", "routes"]


_V7: Final = ApiVersion(7, "20230615")


_EXECUTE_MODES: Final = ("query", "batch", "continue", "input", "complete")


# The example resource policy allows one container per session.
_MAX_CONTAINERS_PER_SESSION: Final = 1


def _request_api_version(request: web.Request) -> ApiVersion:
    """The API version the call speaks (the server's newest when it names none)."""
    version = request.headers.get("X-BackendAI-Version")
    return request.app[SERVER_VERSION_KEY] if version is None else parse_api_version(version)


def _owner(request: web.Request, owner_access_key: str | None) -> str:
    """The access key a call acts for (its own, or the one it may act on behalf of)."""
    return request.app[ACCOUNTS_KEY].owner_scope(current_keypair(request), owner_access_key)


# -- the creation parameters, as the manager's create_from_params checks them --------------


#: The ``/session`` routes.
routes = web.RouteTableDef()


def _registry(request: web.Request) -> SessionRegistry:
    return request.app[REGISTRY_KEY]


@routes.post("/session")
async def _create(request: web.Request) -> web.Response:
    # The manager's order: parameters, the reserved name, config, the owner, the project
    # and domain, the resources, the image, an existing session, then the quota.
    release = request.app[RELEASE_KEY]
    params = validate(
        await read_checked_params(request),
        create_keys(release),
        allow_extra=release.creation_v9,
    )
    name: str = params["session_name"]
    if name == "from-template":
        raise InvalidAPIParameters(f"Requested session ID {name} is reserved word")
    config = check_config(params["config"], _request_api_version(request), release)
    requester = current_keypair(request)
    if config.get("agent_list") is not None and not requester.is_superadmin:
        raise InsufficientPrivilege(
            "You are not allowed to manually assign agents for your session."
        )
    session_owner = _owner(request, params["owner_access_key"])
    if params["domain"] != requester.user.domain_name:
        raise InvalidAPIParameters("You can only set the domain to your domain.")
    if not is_default_project(params["group"]):
        raise InvalidAPIParameters("Invalid group")
    requested = requested_slots(config["resources"])
    image = resolve_image(params["image"])
    existing = _registry(request).find(session_owner, name)
    if existing is not None:
        # The image must be the same when get-or-create meets an existing session.
        if existing.image != image.name or not params["reuseIfExists"]:
            raise SessionAlreadyExists(data={"existingSessionId": str(existing.id)})
        return web.json_response(_reused(existing), status=201)
    if params["cluster_size"] > _MAX_CONTAINERS_PER_SESSION:
        raise QuotaExceeded(
            f"You cannot create session with more than {_MAX_CONTAINERS_PER_SESSION} containers."
        )
    slots = session_slots(requested, image)
    if config.get("agent_list"):
        # Only a superadmin gets this far; the emulator has no agents to name.
        raise InvalidAPIParameters(f"No such agent: {config['agent_list'][0]}")
    accounts = request.app[ACCOUNTS_KEY]
    owner_keypair = accounts.keypair(session_owner)
    assert owner_keypair is not None
    session = _registry(request).create(
        session_owner,
        name,
        image,
        user_id=owner_keypair.user.uuid,
        session_type=params["session_type"],
        tag=params["tag"],
        environ=config["environ"],
        resources=slots,
    )
    session.preopen_ports = list(config.get("preopen_ports") or [])
    if not params["enqueueOnly"]:
        max_wait = params["maxWaitSeconds"]
        try:
            await asyncio.wait_for(session.ready.wait(), timeout=max_wait or None)
        except TimeoutError:
            return web.json_response(_created(session, status="TIMEOUT"), status=201)
    return web.json_response(_created(session), status=201)


@routes.get("/session/{name}")
async def _get_info(request: web.Request) -> web.Response:
    # The manager reads no parameters here: an owner_access_key in the query is ignored.
    session = _registry(request).get(ACCESS_KEY.get(), request.match_info["name"])
    return web.json_response(session.info())


@routes.patch("/session/{name}")
async def _restart(request: web.Request) -> web.Response:
    if not request.app[RELEASE_KEY].restarts_sessions:
        # 26.9 keeps the route as a stub: nothing is looked up, whatever the session.
        raise NotImplementedAPI(
            "Session restart is no longer supported. "
            "Terminate the session and enqueue a new one instead."
        )
    params = validate(
        await read_checked_params(request), [Key.of("owner_access_key", NULL_OR_STRING, None)]
    )
    session_owner = _owner(request, params["owner_access_key"])
    session = await ensure_running(
        _registry(request).get(session_owner, request.match_info["name"])
    )
    await session.kernel.restart()
    return web.Response(status=204)


@routes.delete("/session/{name}")
async def _destroy(request: web.Request) -> web.Response:
    params = validate(
        await read_checked_params(request),
        [
            Key.of("forced", to_bool(), False),
            Key.of("recursive", to_bool(), False),
            Key.of("owner_access_key", NULL_OR_STRING, None),
        ],
    )
    session_owner = _owner(request, params["owner_access_key"])
    name = request.match_info["name"]
    if params["recursive"]:
        # 23.09 answers the list of the destroyed sessions' statistics, 26.9 one
        # ``{"stats": ...}`` (empty for a session terminated before), as the real releases
        # do. Emulated sessions have no dependents.
        modern = request.app[SERVER_VERSION_KEY].major >= 9
        found = _registry(request).find_any(session_owner, name)
        if found is None:
            raise SessionNotFound(f"Session (id={name}) does not exist.")
        if found.status in ("TERMINATING", "TERMINATED"):
            return web.json_response({"stats": {}} if modern else [])
        await _registry(request).destroy(found)
        stats = {"status": "terminated"}
        return web.json_response({"stats": stats} if modern else [stats])
    session = _registry(request).get(session_owner, name)
    await _registry(request).destroy(session)
    return web.json_response({"stats": {"status": "terminated"}})


@routes.post("/session/{name}")
async def _execute(request: web.Request) -> web.Response:
    session = _registry(request).get(ACCESS_KEY.get(), request.match_info["name"])
    body = await read_json_body(request)
    params = validate(body, _EXECUTE_KEYS, allow_extra=True)
    mode: str = params["mode"]
    if mode == "complete":
        return await _completion(session, body)
    await ensure_running(session)
    run_id: str | None = params["run_id"]
    code: str = params["code"]
    options: dict[str, Any] = params["options"] or {}
    if run_id is None:
        # The 23.09 manager (API v7) refuses a call without the runId key; its agent assigns
        # one to a null runId (what the official SDK sends), as newer managers do to both.
        named = "runId" in body or "run_id" in body
        if mode in ("continue", "input") or (request.app[SERVER_VERSION_KEY] <= _V7 and not named):
            raise InvalidAPIParameters("runId is missing!")
        run_id = uuid.uuid4().hex
    try:
        result = await session.kernel.execute(mode=mode, run_id=run_id, code=code, options=options)
    except KernelBusyError:
        raise GenericBadRequest("Another run is still in progress in this session.") from None
    except ValueError as exc:
        raise InvalidAPIParameters(str(exc)) from None
    session.logs.extend(
        str(payload) for kind, payload in result["console"] if kind in ("stdout", "stderr")
    )
    return web.json_response({"result": result})


@routes.post("/session/{name}/interrupt")
async def _interrupt(request: web.Request) -> web.Response:
    session = await ensure_running(
        _registry(request).get(ACCESS_KEY.get(), request.match_info["name"])
    )
    await session.kernel.interrupt()
    return web.Response(status=204)


@routes.post("/session/{name}/complete")
async def _complete(request: web.Request) -> web.Response:
    session = _registry(request).get(ACCESS_KEY.get(), request.match_info["name"])
    return await _completion(session, await read_json_body(request))


@routes.post("/session/{name}/rename")
async def _rename(request: web.Request) -> web.Response:
    params = validate(
        await read_checked_params(request),
        [
            Key.of(
                ["name", "session_name", "clientSessionToken"],
                regexp(NAME_PATTERN, re.ASCII),
                to="session_name",
            )
        ],
    )
    new_name: str = params["session_name"]
    session = request_session(request)
    await session.ready.wait()
    if session.status != "RUNNING":
        raise InvalidAPIParameters("Can't change name of not running session")
    _registry(request).rename(session, new_name)
    return web.Response(status=204)


@routes.get("/session/{name}/logs")
async def _get_logs(request: web.Request) -> web.Response:
    params = validate(
        await read_checked_params(request), [Key.of("owner_access_key", NULL_OR_STRING, None)]
    )
    session_owner = _owner(request, params["owner_access_key"])
    session = await ensure_running(
        _registry(request).get(session_owner, request.match_info["name"])
    )
    return web.json_response({"result": {"logs": "".join(session.logs)}})


def add_session_routes(app: web.Application) -> None:
    """Install the ``/session`` routes on *app* (which holds a SessionRegistry)."""
    app.add_routes(routes)


def _run_id() -> Check:
    def check(value: Any) -> Any:
        if not isinstance(value, str) or not 8 <= len(value) <= 64:
            raise Invalid("must be a string of 8 to 64 characters")
        return value

    return check


# What a completion request reads (``/complete``, or execute's ``complete`` mode).
_COMPLETION_KEYS: Final = (
    Key.of("code", string(allow_blank=True), ""),
    Key.of("options", null_or(mapping()), None),
)
# What an execute call reads; servers up to 25.5 read runId, later ones run_id, and the
# emulator reads whichever came.
_EXECUTE_KEYS: Final = (
    Key.of("mode", choice(*_EXECUTE_MODES)),
    Key.of(["run_id", "runId"], null_or(_run_id()), None, to="run_id"),
    *_COMPLETION_KEYS,
)


async def _completion(session: EmulatedSession, params: Mapping[str, Any]) -> web.Response:
    """Answer a completion request: the kernel's completions of ``code`` (or of its line)."""
    checked = validate(params, _COMPLETION_KEYS, allow_extra=True)
    await ensure_running(session)
    result = await session.kernel.complete(checked["code"], checked["options"] or {})
    return web.json_response({"result": result})


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
        "servicePorts": services_of(session).service_ports(),
        "created": True,
    }
