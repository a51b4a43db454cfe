"""The manager's ``/services`` routes (model serving).

A service's endpoint checks ``Authorization: BackendAI <token>`` (a token of ``/token``;
``Bearer`` is accepted too) unless the service is open to public: 401 without one, 403 with
a wrong or expired one.

An unknown or foreign service is 404 ``object-not-found`` on 23.09. On 26.9 the manager checks
the caller's permission on the deployment first: a user gets 403 ``not-enough-permission``
naming the permission the route needs (``READ``, ``UPDATE``, ``CREATE`` or ``SOFT_DELETE``),
an admin 404 "No such model service.". A malformed id is 400 on 26.9 and, as the real 23.09.10
answers, 500 on 23.09.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from typing import Any, Final

from aiohttp import web

from ._auth import current_keypair
from ._params import read_json_body
from ._problems import (
    GenericBadRequest,
    InternalServerError,
    InvalidAPIParameters,
    Problem,
    URLNotFound,
)
from ._service_params import (
    RUNTIMES,
    count,
    is_modern,
    new_service,
    prepare_service,
)
from ._services import SERVICES_KEY, ServiceRegistry, _Route, _Service
from ._sessions import SERVER_VERSION_KEY

__all__ = ["add_service_routes", "routes"]

#: The ``/services`` routes.
routes = web.RouteTableDef()


_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ObjectNotFound(Problem):
    """The manager's generic 404 (an unknown service or route)."""

    status, slug, title = 404, "object-not-found", "No such object."


class DeploymentNotFound(Problem):
    """26.9's 404 for an admin naming an unknown service."""

    status, slug, title = 404, "object-not-found", "No such model service."
    error_code = "deployment_read_not-found"


class NotEnoughPermission(Problem):
    """26.9's 403 for a user naming a service they hold no permission on (or none at all)."""

    status, slug = 403, "not-enough-permission"
    title = "Insufficient permission to perform this operation."
    error_code = "permission_access_forbidden"


class InvalidPathParameter(GenericBadRequest):
    """26.9's 400 for a path parameter its schema refuses."""

    title = "Invalid or Missing API Parameters."
    error_code = "api_parsing_invalid-parameters"


#: The permission 26.9 checks per route (``Permission`` members as the manager prints them).
_PERMISSIONS: Final = {
    "READ": "<Permission.READ: 1>",
    "UPDATE": "<Permission.UPDATE: 2>",
    "CREATE": "<Permission.CREATE: 4>",
    "SOFT_DELETE": "<Permission.SOFT_DELETE: 8>",
}


# -- helpers -------------------------------------------------------------------------------


def _is_rbac(request: web.Request) -> bool:
    """Whether the emulated manager checks deployment permissions (API v9: 26.9)."""
    return request.app[SERVER_VERSION_KEY].major >= 9


def _uuid(request: web.Request, key: str) -> uuid.UUID:
    raw = request.match_info[key]
    try:
        return uuid.UUID(raw)
    except ValueError:
        if _is_rbac(request):
            raise InvalidPathParameter(f"{key}: Input should be a valid UUID", data=raw) from None
        if key == "service_id":
            # 23.09.10 converts the id unchecked: its answer is a bare 500.
            raise InternalServerError() from None
        raise InvalidAPIParameters(f"{key} is not a UUID", data=raw) from None


def _service(request: web.Request, permission: str = "READ") -> tuple[ServiceRegistry, _Service]:
    registry = request.app[SERVICES_KEY]
    service_id = _uuid(request, "service_id")
    service = registry.services.get(service_id)
    keypair = current_keypair(request)
    if service is not None and (service.owner == keypair.user.uuid or keypair.is_superadmin):
        return registry, service
    if not _is_rbac(request):
        raise ObjectNotFound()
    if keypair.is_superadmin:
        raise DeploymentNotFound()
    raise NotEnoughPermission(
        f"User {keypair.user.uuid} lacks permission {_PERMISSIONS[permission]}"
        f" on deployment {service_id}"
    )


def _route(request: web.Request, service: _Service) -> _Route:
    route = service.routes.get(_uuid(request, "route_id"))
    if route is None:
        raise ObjectNotFound()
    return route


def _healthy(service: _Service) -> list[_Route]:
    return [route for route in service.routes.values() if route.status == "healthy"]


def _summary(request: web.Request, service: _Service) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": str(service.id),
        "name": service.name,
        "desired_session_count": service.replicas,
        "active_route_count": len(_healthy(service)),
        "service_endpoint": service.url,
        "is_public": service.open_to_public,
    }
    if is_modern(request):
        entry["replicas"] = service.replicas
    return entry


def _info(request: web.Request, service: _Service) -> dict[str, Any]:
    info: dict[str, Any] = {
        "endpoint_id": str(service.id),
        "name": service.name,
        "desired_session_count": service.replicas,
        "active_routes": [
            {
                "route_id": str(route.id),
                "session_id": str(route.session_id),
                "traffic_ratio": route.traffic_ratio,
            }
            for route in _healthy(service)
        ],
        "service_endpoint": service.url,
        "is_public": service.open_to_public,
    }
    if is_modern(request):
        info.update(
            model_id=str(service.model_id),
            extra_mounts=[],
            replicas=service.replicas,
            model_definition_path=service.definition_path,
            runtime_variant=service.runtime_variant,
        )
    return info


# -- handlers ------------------------------------------------------------------------------


@routes.route("GET", "/services")
async def _list(request: web.Request) -> web.Response:
    registry = request.app[SERVICES_KEY]
    owner = current_keypair(request).user.uuid
    name = request.query.get("name")
    return web.json_response(
        [
            _summary(request, service)
            for service in registry.services.values()
            if service.owner == owner and (not name or service.name == name)
        ]
    )


@routes.route("POST", "/services")
async def _create(request: web.Request) -> web.Response:
    registry = request.app[SERVICES_KEY]
    keypair = current_keypair(request)
    prepared = await prepare_service(request, keypair)
    if any(
        s.name == prepared["name"] and s.owner == keypair.user.uuid
        for s in registry.services.values()
    ):
        raise InvalidAPIParameters("Cannot create multiple services with same name")
    service = new_service(keypair, prepared, prepared["replicas"])
    await registry.add(service)
    if not is_modern(request):
        return web.json_response({"endpoint_id": str(service.id)})
    return web.json_response(_info(request, service), status=201)


@routes.route("POST", "/services/_/try")
async def _try_start(request: web.Request) -> web.Response:
    if not is_modern(request):
        raise URLNotFound(data=request.path)
    registry = request.app[SERVICES_KEY]
    keypair = current_keypair(request)
    service = new_service(keypair, await prepare_service(request, keypair), 1)
    task_id = uuid.uuid4()

    async def trial() -> None:
        # One replica is started and stopped again; nothing is kept.
        try:
            await registry.add(service)
            await asyncio.gather(*(r.settled.wait() for r in list(service.routes.values())))
        finally:
            await registry.remove(service)

    # The trial is not listed among the caller's services.
    service.owner = uuid.UUID(int=0)
    trials = request.app[_TRIALS_KEY]
    task = asyncio.create_task(trial())
    trials.add(task)
    task.add_done_callback(trials.discard)
    return web.json_response({"task_id": str(task_id)})


@routes.route("GET", "/services/_/runtimes")
async def _runtimes(request: web.Request) -> web.Response:
    if not is_modern(request):
        raise URLNotFound(data=request.path)
    return web.json_response(
        {"runtimes": [{"name": k, "human_readable_name": v} for k, v in RUNTIMES.items()]}
    )


@routes.route("GET", "/services/{service_id}")
async def _get(request: web.Request) -> web.Response:
    _, service = _service(request)
    return web.json_response(_info(request, service))


@routes.route("DELETE", "/services/{service_id}")
async def _delete(request: web.Request) -> web.Response:
    registry, service = _service(request, "SOFT_DELETE")
    await registry.remove(service)
    return web.json_response({"success": True})


@routes.route("GET", "/services/{service_id}/errors")
async def _errors(request: web.Request) -> web.Response:
    _, service = _service(request)
    failed = [r for r in service.routes.values() if r.status == "failed_to_start"]
    return web.json_response(
        {
            "errors": [{"session_id": str(r.session_id), "error": r.error} for r in failed],
            "retries": service.retries,
        }
    )


@routes.route("POST", "/services/{service_id}/errors/clear")
async def _clear_errors(request: web.Request) -> web.Response:
    registry, service = _service(request, "SOFT_DELETE")
    for route in [r for r in service.routes.values() if r.status == "failed_to_start"]:
        service.routes.pop(route.id, None)
    service.retries = 0
    await registry.reconcile(service)
    return web.Response(status=204)


@routes.route("POST", "/services/{service_id}/scale")
async def _scale(request: web.Request) -> web.Response:
    registry, service = _service(request, "UPDATE")
    params = await read_json_body(request)
    wanted = count(params.get("to"), "to")
    current = len(service.routes)
    service.replicas = wanted
    await registry.reconcile(service)
    return web.json_response({"current_route_count": current, "target_count": wanted})


@routes.route("POST", "/services/{service_id}/sync")
async def _sync(request: web.Request) -> web.Response:
    registry, service = _service(request, "UPDATE")
    await registry.reconcile(service)
    return web.json_response({"success": True})


@routes.route("PUT", "/services/{service_id}/routings/{route_id}")
async def _update_route(request: web.Request) -> web.Response:
    _, service = _service(request, "UPDATE")
    route = _route(request, service)
    ratio = (await read_json_body(request)).get("traffic_ratio")
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio < 1e300:
        raise InvalidAPIParameters("traffic_ratio must be a number, 0 or more", data=ratio)
    route.traffic_ratio = float(ratio)
    return web.json_response({"success": True})


@routes.route("DELETE", "/services/{service_id}/routings/{route_id}")
async def _delete_route(request: web.Request) -> web.Response:
    registry, service = _service(request, "SOFT_DELETE")
    route = _route(request, service)
    if route.status == "provisioning":
        raise InvalidAPIParameters("Cannot remove route in PROVISIONING status")
    await registry.stop_route(service, route)
    # The wanted count stays, so the manager starts a replacement.
    await registry.reconcile(service)
    return web.json_response({"success": True})


def _expiry(params: dict[str, Any]) -> float:
    valid_until, duration = params.get("valid_until"), params.get("duration")
    now = time.time()
    if valid_until is not None:
        if isinstance(valid_until, bool) or not isinstance(valid_until, int | float):
            raise InvalidAPIParameters("valid_until must be epoch seconds", data=valid_until)
        expires = float(valid_until)
    elif duration is not None:
        if isinstance(duration, int | float) and not isinstance(duration, bool):
            seconds = float(duration)
        else:
            match = _DURATION.fullmatch(duration) if isinstance(duration, str) else None
            if match is None:
                raise InvalidAPIParameters("duration is not a time duration", data=duration)
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
        expires = now + seconds
    else:
        raise InvalidAPIParameters("valid_until and duration can't be both unspecified")
    if expires <= now:
        raise InvalidAPIParameters("valid_until is older than now")
    return expires


@routes.route("POST", "/services/{service_id}/token")
async def _token(request: web.Request) -> web.Response:
    _, service = _service(request, "CREATE")
    expires = _expiry(await read_json_body(request))
    # The real manager signs a JWT; an opaque random token serves the same purpose here.
    token = secrets.token_urlsafe(32)
    service.tokens[token] = expires
    return web.json_response({"token": token})


_TRIALS_KEY: Final = web.AppKey("service_trials", set[asyncio.Task[None]])


def add_service_routes(app: web.Application) -> None:
    """Install the ``/services`` routes on *app*; its shutdown stops every replica."""
    registry = ServiceRegistry()
    app[SERVICES_KEY] = registry
    trials: set[asyncio.Task[None]] = set()
    app[_TRIALS_KEY] = trials

    async def start(app: web.Application) -> None:
        await registry.start()

    async def stop(app: web.Application) -> None:
        for task in trials:
            task.cancel()
        await asyncio.gather(*trials, return_exceptions=True)
        await registry.close()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    app.add_routes(routes)
