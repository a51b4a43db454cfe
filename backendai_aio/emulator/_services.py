"""Model serving: the emulated services and their replicas, which really serve.

A service is made from a model folder holding a ``model-definition.yaml`` (see
`_model_definition`). Each replica (a *route*) runs the definition's start command as
a local process, in the folder's directory, on a free loopback port of its own: the
emulator passes it in the ``PORT`` environment variable and in place of any word of the
command that is the definition's ``port`` (``8000``, ``--port=8000``); words naming the
model's mount point (``/models/...``) are rewritten to the folder on disk, and a bare
``python`` is the emulator's interpreter. A route is ``healthy`` once the process answers
HTTP, ``failed_to_start`` if it exits or never answers, and ``unhealthy`` if it dies later.
The endpoint URL (``service_endpoint``) is a loopback listener of the service's own that
proxies to the healthy routes (see `_service_proxy`). The ``/services`` routes are in
`_service_routes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web

from ._model_definition import ModelDefinition
from ._service_proxy import (
    EndpointProxy,
    Replica,
    ReplicaStartError,
    free_port,
    python_for,
    round_robin,
)

__all__ = ["SERVICES_KEY", "ServiceRegistry", "replica_command"]


def replica_command(
    definition: ModelDefinition, *, folder: Path, mount: str, port: int
) -> list[str]:
    """The definition's start command as the emulator runs it for a replica on *port*.

    The definition's port becomes *port* (a word ``8000`` or a ``--port=8000`` suffix), paths
    under the model's mount point *mount* point into *folder*, and ``python`` is this
    interpreter.
    """
    declared = str(definition.port)
    prefix = mount.rstrip("/") or "/"
    words = []
    for word in python_for(definition.start_command):
        if word == declared:
            word = str(port)
        elif word.endswith(("=" + declared, ":" + declared)):
            word = word[: -len(declared)] + str(port)
        elif word == prefix or word.startswith(prefix + "/"):
            word = str(folder) + word[len(prefix) :]
        words.append(word)
    return words


# -- state ---------------------------------------------------------------------------------


@dataclass
class _Route:
    id: uuid.UUID
    session_id: uuid.UUID
    status: str = "provisioning"
    traffic_ratio: float = 1.0
    replica: Replica | None = None
    task: asyncio.Task[None] | None = None
    error: dict[str, Any] | None = None
    #: Set once the route is no longer starting (healthy, failed or stopped).
    settled: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Service:
    id: uuid.UUID
    name: str
    owner: uuid.UUID
    model_id: uuid.UUID
    folder: Path
    definition: ModelDefinition
    definition_path: str
    mount: str
    environ: dict[str, str]
    runtime_variant: str
    open_to_public: bool
    replicas: int
    proxy: EndpointProxy
    routes: dict[uuid.UUID, _Route] = field(default_factory=dict)
    retries: int = 0
    #: Tokens of ``/token`` and when each expires (epoch seconds).
    tokens: dict[str, float] = field(default_factory=dict)
    url: str = ""
    #: The image reference the service was created with (23.09 requires one; 26.9 may omit it).
    image: str | None = None
    #: The scaling group named at creation (the manager's ``resource_group``).
    resource_group: str = "default"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ServiceRegistry:
    """The emulated manager's model services and their replicas."""

    def __init__(self) -> None:
        self.services: dict[uuid.UUID, _Service] = {}
        self._http: aiohttp.ClientSession | None = None
        self._logs: Path | None = None

    async def start(self) -> None:
        """Make the health checks' HTTP session and the directory of replicas' output."""
        self._http = aiohttp.ClientSession()
        self._logs = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="backendai-serving-"))

    async def close(self) -> None:
        """Stop every service's replicas and endpoint."""
        for service in list(self.services.values()):
            await self.remove(service)
        http, self._http = self._http, None
        if http is not None:
            await http.close()
        logs, self._logs = self._logs, None
        if logs is not None:
            await asyncio.to_thread(shutil.rmtree, logs, True)

    def pids(self, service_id: uuid.UUID) -> list[int]:
        """The process ids of a service's running replicas (for tests and diagnostics)."""
        service = self.services.get(service_id)
        if service is None:
            return []
        return [
            route.replica.pid
            for route in service.routes.values()
            if route.replica is not None
            and route.replica.pid is not None
            and route.replica.proc is not None
            and route.replica.proc.returncode is None
        ]

    async def add(self, service: _Service) -> None:
        """Register *service*, start its endpoint, and start its replicas."""
        pick = round_robin()

        def pick_replica() -> int | None:
            healthy = [
                (route.replica.port, route.traffic_ratio)
                for route in service.routes.values()
                if route.status == "healthy" and route.replica is not None
            ]
            return pick(healthy)

        def authorize(header: str | None) -> int | None:
            if service.open_to_public:
                return None
            scheme, _, token = (header or "").partition(" ")
            if scheme.lower() not in ("backendai", "bearer") or not token.strip():
                return 401
            expires = service.tokens.get(token.strip())
            return None if expires is not None and expires > time.time() else 403

        service.proxy = EndpointProxy(pick_replica, authorize)
        service.url = await service.proxy.start()
        self.services[service.id] = service
        await self.reconcile(service)

    async def remove(self, service: _Service) -> None:
        """Stop *service*'s replicas and endpoint, and forget it."""
        self.services.pop(service.id, None)
        await asyncio.gather(*(self.stop_route(service, r) for r in list(service.routes.values())))
        await service.proxy.close()

    async def reconcile(self, service: _Service) -> None:
        """Bring the live routes to the wanted count: replace dead ones, start or stop some."""
        for route in [r for r in service.routes.values() if r.status == "unhealthy"]:
            await self.stop_route(service, route)
        live = [r for r in service.routes.values() if r.status in ("provisioning", "healthy")]
        for _ in range(service.replicas - len(live)):
            self._launch(service)
        if len(live) > service.replicas:
            # Starting ones go first, then the newest.
            ordered = sorted(live, key=lambda r: r.status == "healthy")
            extra = ordered[: len(live) - service.replicas]
            await asyncio.gather(*(self.stop_route(service, route) for route in extra))

    def _launch(self, service: _Service) -> None:
        route = _Route(id=uuid.uuid4(), session_id=uuid.uuid4())
        service.routes[route.id] = route
        route.task = asyncio.create_task(self._run(service, route))

    async def _run(self, service: _Service, route: _Route) -> None:
        assert self._http is not None and self._logs is not None
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "HOME": str(service.folder),
            **service.environ,
            "PORT": str(port),
        }
        replica = Replica(
            replica_command(
                service.definition, folder=service.folder, mount=service.mount, port=port
            ),
            cwd=service.folder,
            env=env,
            port=port,
            log_path=self._logs / f"{route.id}.log",
            health_path=service.definition.health_path,
            expected_status=service.definition.expected_status,
            start_timeout=service.definition.start_timeout,
        )
        route.replica = replica
        try:
            await replica.start(self._http)
        except ReplicaStartError as exc:
            await replica.stop()
            route.status = "failed_to_start"
            route.error = {"src": "other", "name": "ModelServiceStartError", "repr": str(exc)}
            service.retries += 1
            route.settled.set()
            return
        route.status = "healthy"
        route.settled.set()
        await replica.wait()
        if route.status == "healthy":
            route.status = "unhealthy"

    async def stop_route(self, service: _Service, route: _Route) -> None:
        """Stop one route's replica and forget the route."""
        route.status = "terminating"
        route.settled.set()
        task = route.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if route.replica is not None:
            await route.replica.stop()
        service.routes.pop(route.id, None)


#: Where an application keeps its `ServiceRegistry`.
SERVICES_KEY: Final = web.AppKey("services", ServiceRegistry)
