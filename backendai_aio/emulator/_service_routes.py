"""The manager's ``/services`` routes (model serving).

A service's endpoint checks ``Authorization: BackendAI <token>`` (a token of ``/token``;
``Bearer`` is accepted too) unless the service is open to public: 401 without one, 403 with
a wrong or expired one. Unknown or foreign services are 404 ``object-not-found``; a malformed
id is 400.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from ._accounts import Keypair
from ._auth import current_keypair
from ._model_definition import DEFINITION_NAMES, DefinitionError, ModelDefinition, parse_definition
from ._params import read_json_body
from ._problems import InvalidAPIParameters, Problem, URLNotFound
from ._service_proxy import (
    EndpointProxy,
)
from ._services import SERVICES_KEY, ServiceRegistry, _Route, _Service
from ._sessions import SERVER_VERSION_KEY
from ._vfolders import VFOLDER_STORE_KEY

__all__ = ["add_service_routes", "routes"]

#: The ``/services`` routes.
routes = web.RouteTableDef()


#: The runtime variants of 26.09 (``MODEL_SERVICE_RUNTIME_PROFILES``).
RUNTIMES: Final = {
    "custom": "Custom (Default)",
    "vllm": "vLLM",
    "nim": "NVIDIA NIM",
    "huggingface-tgi": "Huggingface TGI",
    "sglang": "SGLang",
    "modular-max": "Modular MAX",
    "cmd": "Predefined Image Command",
}
# Each replica is a process on this machine: a bound on how many one service may want.
MAX_REPLICAS: Final = 16
_NAME: Final = re.compile(r"\w[\w-]*\w", re.ASCII)
_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# The keys a 23.09 manager's checker knows (it refuses any other).
_LEGACY_KEYS: Final = frozenset(
    {
        "name", "service_name", "clientSessionToken", "desired_session_count",
        "desiredSessionCount", "image", "lang", "arch", "architecture", "group", "groupName",
        "group_name", "domain", "domainName", "domain_name", "cluster_size", "clusterSize",
        "cluster_mode", "clusterMode", "tag", "startup_command", "startupCommand",
        "bootstrap_script", "bootstrapScript", "callback_url", "callbackUrl", "callbackURL",
        "owner_access_key", "open_to_public", "config",
    }
)  # fmt: skip
_LEGACY_CONFIG_KEYS: Final = frozenset(
    {
        "model", "model_version", "modelVersion", "model_mount_destination",
        "modelMountDestination", "environ", "scaling_group", "scalingGroup", "resources",
        "resource_opts", "resourceOpts",
    }
)  # fmt: skip


class ObjectNotFound(Problem):
    """The manager's generic 404 (an unknown service or route)."""

    status, slug, title = 404, "object-not-found", "No such object."


# -- helpers -------------------------------------------------------------------------------


def _modern(request: web.Request) -> bool:
    """Whether the emulated manager is 24.03 or newer (API v8)."""
    return request.app[SERVER_VERSION_KEY].major >= 8


def _uuid(request: web.Request, key: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[key])
    except ValueError:
        raise InvalidAPIParameters(f"{key} is not a UUID", data=request.match_info[key]) from None


def _service(request: web.Request) -> tuple[ServiceRegistry, _Service]:
    registry = request.app[SERVICES_KEY]
    service = registry.services.get(_uuid(request, "service_id"))
    keypair = current_keypair(request)
    if service is None or not (service.owner == keypair.user.uuid or keypair.is_superadmin):
        raise ObjectNotFound()
    return registry, service


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
    if _modern(request):
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
    if _modern(request):
        info.update(
            model_id=str(service.model_id),
            extra_mounts=[],
            replicas=service.replicas,
            model_definition_path=service.definition_path,
            runtime_variant=service.runtime_variant,
        )
    return info


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAPIParameters(f"{what} must be an integer", data=value)
    if not 0 <= value <= MAX_REPLICAS:
        raise InvalidAPIParameters(
            f"Cannot spawn more than {MAX_REPLICAS} sessions for a single service"
            if value > 0
            else "Amount of desired session count cannot be a negative number"
        )
    return value


def _text(params: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = params.get(key, default)
    if value is not None and not isinstance(value, str):
        raise InvalidAPIParameters(f"{key} must be a string", data=value)
    return value


async def _definition(folder: Path, path: str | None) -> tuple[str, ModelDefinition]:
    candidates = [path] if path else list(DEFINITION_NAMES)
    for candidate in candidates:
        relative = Path(candidate)
        if relative.is_absolute() or ".." in relative.parts:
            raise InvalidAPIParameters("model_definition_path must be relative", data=candidate)
        target = folder / relative
        try:
            text = await asyncio.to_thread(target.read_text, "utf-8")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidAPIParameters(f"cannot read {candidate}: {exc}") from None
        try:
            return candidate, parse_definition(text)
        except DefinitionError as exc:
            raise InvalidAPIParameters(f"invalid model definition {candidate}: {exc}") from None
    raise InvalidAPIParameters(
        "Model definition YAML file not found inside the model storage", data=candidates
    )


async def _prepare(request: web.Request, keypair: Keypair) -> dict[str, Any]:
    """Check a ``POST /services`` (or ``/_/try``) body; answer what making the service needs."""
    params = await read_json_body(request)
    modern = _modern(request)
    if not modern:
        unknown = sorted(set(params) - _LEGACY_KEYS)
        config = params.get("config")
        if isinstance(config, dict):
            unknown += sorted(f"config.{key}" for key in set(config) - _LEGACY_CONFIG_KEYS)
        if unknown:
            raise InvalidAPIParameters(
                "Input validation error", data={k: "not allowed key" for k in unknown}
            )
    name = params.get("name", params.get("service_name", params.get("clientSessionToken")))
    if (
        not isinstance(name, str)
        or not _NAME.fullmatch(name)
        or not 4 <= len(name) <= (64 if modern else 24)
    ):
        raise InvalidAPIParameters("Invalid service name", data={"name": name})
    replicas = params.get(
        "desired_session_count", params.get("desiredSessionCount", params.get("replicas"))
    )
    replicas = _count(replicas, "desired_session_count")
    image = _text(params, "image", _text(params, "lang"))
    if image is None and not modern:
        raise InvalidAPIParameters("Input validation error", data={"image": "is required"})
    runtime = _text(params, "runtime_variant", "custom") or "custom"
    if runtime not in RUNTIMES:
        raise InvalidAPIParameters(f"Unknown runtime variant {runtime!r}", data=runtime)
    config = params.get("config")
    if not isinstance(config, dict):
        raise InvalidAPIParameters("Input validation error", data={"config": "is required"})
    model = config.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidAPIParameters("Input validation error", data={"config.model": "is required"})
    if modern and not isinstance(config.get("scaling_group", config.get("scalingGroup")), str):
        raise InvalidAPIParameters(
            "Input validation error", data={"config.scaling_group": "is required"}
        )
    environ = config.get("environ") or {}
    if not isinstance(environ, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in environ.items()
    ):
        raise InvalidAPIParameters("environ must map names to strings", data=environ)
    mount = config.get("model_mount_destination", config.get("modelMountDestination", "/models"))
    if not isinstance(mount, str) or not mount.startswith("/"):
        raise InvalidAPIParameters("model_mount_destination must be an absolute path", data=mount)
    store = request.app[VFOLDER_STORE_KEY]
    found = [
        access.folder
        for access in store.accessible(keypair)
        if model in (access.folder.name, str(access.folder.id))
    ]
    if not found:
        raise InvalidAPIParameters(f"Cannot find model folder {model!r}", data=model)
    folder = found[0]
    definition_path, definition = await _definition(
        folder.root, _text(config, "model_definition_path")
    )
    return {
        "name": name,
        "replicas": replicas,
        "folder": folder,
        "definition": definition,
        "definition_path": definition_path,
        "mount": mount,
        "environ": dict(environ),
        "runtime_variant": runtime,
        "open_to_public": params.get("open_to_public") is True,
    }


def _new_service(keypair: Keypair, prepared: dict[str, Any], replicas: int) -> _Service:
    folder = prepared["folder"]
    return _Service(
        id=uuid.uuid4(),
        name=prepared["name"],
        owner=keypair.user.uuid,
        model_id=folder.id,
        folder=folder.root,
        definition=prepared["definition"],
        definition_path=prepared["definition_path"],
        mount=prepared["mount"],
        environ=prepared["environ"],
        runtime_variant=prepared["runtime_variant"],
        open_to_public=prepared["open_to_public"],
        replicas=replicas,
        proxy=EndpointProxy(lambda: None, lambda _: 503),
    )


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
    prepared = await _prepare(request, keypair)
    if any(
        s.name == prepared["name"] and s.owner == keypair.user.uuid
        for s in registry.services.values()
    ):
        raise InvalidAPIParameters("Cannot create multiple services with same name")
    service = _new_service(keypair, prepared, prepared["replicas"])
    await registry.add(service)
    if not _modern(request):
        return web.json_response({"endpoint_id": str(service.id)})
    return web.json_response(_info(request, service), status=201)


@routes.route("POST", "/services/_/try")
async def _try_start(request: web.Request) -> web.Response:
    if not _modern(request):
        raise URLNotFound(data=request.path)
    registry = request.app[SERVICES_KEY]
    keypair = current_keypair(request)
    service = _new_service(keypair, await _prepare(request, keypair), 1)
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
    if not _modern(request):
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
    registry, service = _service(request)
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
    registry, service = _service(request)
    for route in [r for r in service.routes.values() if r.status == "failed_to_start"]:
        service.routes.pop(route.id, None)
    service.retries = 0
    await registry.reconcile(service)
    return web.Response(status=204)


@routes.route("POST", "/services/{service_id}/scale")
async def _scale(request: web.Request) -> web.Response:
    registry, service = _service(request)
    params = await read_json_body(request)
    wanted = _count(params.get("to"), "to")
    current = len(service.routes)
    service.replicas = wanted
    await registry.reconcile(service)
    return web.json_response({"current_route_count": current, "target_count": wanted})


@routes.route("POST", "/services/{service_id}/sync")
async def _sync(request: web.Request) -> web.Response:
    registry, service = _service(request)
    await registry.reconcile(service)
    return web.json_response({"success": True})


@routes.route("PUT", "/services/{service_id}/routings/{route_id}")
async def _update_route(request: web.Request) -> web.Response:
    _, service = _service(request)
    route = _route(request, service)
    ratio = (await read_json_body(request)).get("traffic_ratio")
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio < 1e300:
        raise InvalidAPIParameters("traffic_ratio must be a number, 0 or more", data=ratio)
    route.traffic_ratio = float(ratio)
    return web.json_response({"success": True})


@routes.route("DELETE", "/services/{service_id}/routings/{route_id}")
async def _delete_route(request: web.Request) -> web.Response:
    registry, service = _service(request)
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
    _, service = _service(request)
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
