"""Model serving: ``client.services``, the manager's ``/services`` routes.

A service serves a model folder (with a ``model-definition.yaml``) from one or more
replicas behind one endpoint URL; see docs/services.md.
"""

from __future__ import annotations

import asyncio
import builtins
import secrets
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Unpack, cast

from ._errors import BackendError, InvalidArgumentError, NotFoundError, ResponseError
from ._retries import RetryPolicy
from ._service_types import (
    CreatedService,
    Readiness,
    RuntimeEntry,
    ScaleResult,
    ServiceErrors,
    ServiceInfo,
    ServiceNotReadyError,
    ServiceOptions,
    ServiceSummary,
    SuccessAnswer,
    TrialOptions,
    TryStartResult,
    readiness,
    service_body,
    service_id,
    token_body,
)
from ._timeouts import NOT_GIVEN, TimeoutArg, check_seconds
from ._transport import Transport

__all__ = ["Services"]

#: How [`Services.wait_ready`][backendai_aio.Services.wait_ready] spaces its polls: jittered, from
#: 0.2 s up to 2 s.
_POLLS = RetryPolicy(max_retries=0, backoff_base=0.2, backoff_max=2.0, jitter=0.5)

_ServiceId = str | uuid.UUID


def _generated_name() -> str:
    return f"svc-{secrets.token_hex(6)}"


class Services:
    """Model services: create, inspect, scale and delete them, and wait until they serve.

    Reached as ``client.services``; it uses only the transport's
    [`request`][backendai_aio.Client.request]. Service and route ids are ``str`` or
    ``uuid.UUID``. Every call takes ``timeout=`` like the client's other calls, and raises
    [`BackendError`][backendai_aio.BackendError] on failure:

    ```python
    created = await client.services.create("my-model", image="python:3.12")
    info = await client.services.wait_ready(created["endpoint_id"], timeout=120)
    print(info["service_endpoint"])
    ```
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"<Services of {self._transport!r}>"

    async def list(
        self, *, name: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> builtins.list[ServiceSummary]:
        """``GET /services``: the caller's services (only those named *name* if given).

        ```python
        for service in await client.services.list():
            print(service["name"], service["active_route_count"])
        ```
        """
        params = None if name is None else {"name": name}
        answer = await self._transport.request("GET", "/services", params=params, timeout=timeout)
        return cast("builtins.list[ServiceSummary]", answer)

    async def create(
        self,
        model: str | uuid.UUID,
        *,
        name: str | None = None,
        replicas: int = 1,
        timeout: TimeoutArg = NOT_GIVEN,
        **options: Unpack[ServiceOptions],
    ) -> CreatedService:
        """``POST /services``: serve the model folder *model* (its name or id).

        *name* defaults to a fresh ``svc-…`` name. The other settings are those of
        [`ServiceOptions`][backendai_aio.ServiceOptions]; *runtime_variant* is one of
        `runtimes` (the manager's default is ``custom``: the folder's
        ``model-definition.yaml`` says what to start). *open_to_public* serves the endpoint
        without a token. Answers the new service's id as ``endpoint_id`` (26.09 answers its
        whole info). Not retried: a second attempt would create a second service.

        ```python
        created = await client.services.create(
            "my-model", image="python:3.12", replicas=2, resources={"cpu": 1, "mem": "1g"}
        )
        ```
        """
        body = service_body(
            model,
            name=_generated_name() if name is None else name,
            replicas=replicas,
            **options,
        )
        answer = await self._transport.request("POST", "/services", json=body, timeout=timeout)
        return cast(CreatedService, answer)

    async def try_start(
        self,
        model: str | uuid.UUID,
        *,
        name: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        **options: Unpack[TrialOptions],
    ) -> TryStartResult:
        """``POST /services/_/try``: start one replica as a trial, then stop it (24.03 on).

        Takes the [`TrialOptions`][backendai_aio.TrialOptions]; others raise
        [`InvalidArgumentError`][backendai_aio.InvalidArgumentError]. Answers the background
        task to follow (``client.events.background_task``):

        ```python
        task = await client.services.try_start("my-model", image="python:3.12")
        print(task["task_id"])
        ```
        """
        body = service_body(
            model,
            name=_generated_name() if name is None else name,
            replicas=1,
            allowed=TrialOptions.__optional_keys__,
            **options,
        )
        answer = await self._transport.request(
            "POST", "/services/_/try", json=body, timeout=timeout
        )
        return cast(TryStartResult, answer)

    async def info(self, id: _ServiceId, *, timeout: TimeoutArg = NOT_GIVEN) -> ServiceInfo:
        """``GET /services/{id}``: the service, its replica count and its healthy routes.

        ```python
        info = await client.services.info(service_id)
        print(len(info["active_routes"]), "of", info["desired_session_count"], "healthy")
        ```
        """
        path = f"/services/{service_id(id)}"
        return cast(ServiceInfo, await self._transport.request("GET", path, timeout=timeout))

    async def delete(self, id: _ServiceId, *, timeout: TimeoutArg = NOT_GIVEN) -> SuccessAnswer:
        """``DELETE /services/{id}``: stop every replica and remove the service.

        ```python
        await client.services.delete(service_id)
        ```
        """
        path = f"/services/{service_id(id)}"
        return cast(SuccessAnswer, await self._transport.request("DELETE", path, timeout=timeout))

    async def scale(
        self, id: _ServiceId, replicas: int, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> ScaleResult:
        """``POST /services/{id}/scale``: want *replicas* replicas from now on.

        The manager starts or stops routes afterwards; `wait_ready` follows it:

        ```python
        await client.services.scale(service_id, 2)
        await client.services.wait_ready(service_id, timeout=60)
        ```
        """
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise InvalidArgumentError(f"replicas is a count (0 or more), not {replicas!r}")
        path = f"/services/{service_id(id)}/scale"
        answer = await self._transport.request("POST", path, json={"to": replicas}, timeout=timeout)
        return cast(ScaleResult, answer)

    async def sync(self, id: _ServiceId, *, timeout: TimeoutArg = NOT_GIVEN) -> SuccessAnswer:
        """``POST /services/{id}/sync``: have the manager bring the routes to the wanted state.

        ```python
        await client.services.sync(service_id)
        ```
        """
        path = f"/services/{service_id(id)}/sync"
        return cast(SuccessAnswer, await self._transport.request("POST", path, timeout=timeout))

    async def errors(self, id: _ServiceId, *, timeout: TimeoutArg = NOT_GIVEN) -> ServiceErrors:
        """``GET /services/{id}/errors``: the replicas that failed to start, and why.

        ```python
        for failure in (await client.services.errors(service_id))["errors"]:
            print(failure["session_id"], failure["error"])
        ```
        """
        path = f"/services/{service_id(id)}/errors"
        return cast(ServiceErrors, await self._transport.request("GET", path, timeout=timeout))

    async def clear_errors(self, id: _ServiceId, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """``POST /services/{id}/errors/clear``: forget the failed routes so new ones start.

        ```python
        await client.services.clear_errors(service_id)
        ```
        """
        path = f"/services/{service_id(id)}/errors/clear"
        await self._transport.request("POST", path, timeout=timeout)

    async def runtimes(self, *, timeout: TimeoutArg = NOT_GIVEN) -> builtins.list[RuntimeEntry]:
        """``GET /services/_/runtimes``: the runtime variants *create* accepts (24.03 on).

        ```python
        names = [runtime["name"] for runtime in await client.services.runtimes()]
        ```
        """
        answer = await self._transport.request("GET", "/services/_/runtimes", timeout=timeout)
        runtimes = answer.get("runtimes") if isinstance(answer, Mapping) else None
        if not isinstance(runtimes, builtins.list):
            raise BackendError(
                f"GET /services/_/runtimes: an answer without runtimes: {answer!r:.200}"
            )
        return cast("builtins.list[RuntimeEntry]", runtimes)

    async def update_route(
        self,
        id: _ServiceId,
        route_id: str | uuid.UUID,
        traffic_ratio: float,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> SuccessAnswer:
        """``PUT /services/{id}/routings/{route_id}``: set a route's share of the traffic.

        ```python
        await client.services.update_route(service_id, route["route_id"], 0.5)
        ```
        """
        if (
            isinstance(traffic_ratio, bool)
            or not isinstance(traffic_ratio, int | float)
            or not 0 <= traffic_ratio < float("inf")
        ):
            raise InvalidArgumentError(f"traffic_ratio is 0 or more, not {traffic_ratio!r}")
        path = f"/services/{service_id(id)}/routings/{service_id(route_id, 'route')}"
        answer = await self._transport.request(
            "PUT", path, json={"traffic_ratio": float(traffic_ratio)}, timeout=timeout
        )
        return cast(SuccessAnswer, answer)

    async def delete_route(
        self, id: _ServiceId, route_id: str | uuid.UUID, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> SuccessAnswer:
        """``DELETE /services/{id}/routings/{route_id}``: stop one replica (scaling down by one).

        ```python
        await client.services.delete_route(service_id, route["route_id"])
        ```
        """
        path = f"/services/{service_id(id)}/routings/{service_id(route_id, 'route')}"
        return cast(SuccessAnswer, await self._transport.request("DELETE", path, timeout=timeout))

    async def generate_token(
        self,
        id: _ServiceId,
        *,
        valid_until: datetime | float | None = None,
        duration: timedelta | str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> str:
        """``POST /services/{id}/token``: a bearer token for the service's endpoint.

        It expires at *valid_until* (an aware datetime or epoch seconds) or after *duration*
        (a timedelta or the manager's text such as ``"30m"``); a day without either. Send it
        as ``Authorization: BackendAI <token>`` to the endpoint:

        ```python
        token = await client.services.generate_token(service_id, duration="1h")
        headers = {"Authorization": f"BackendAI {token}"}
        ```
        """
        path = f"/services/{service_id(id)}/token"
        body = token_body(valid_until, duration)
        answer = await self._transport.request("POST", path, json=body, timeout=timeout)
        token = answer.get("token") if isinstance(answer, Mapping) else None
        if not isinstance(token, str):
            raise ResponseError(f"POST {path}: an answer without a token")
        return token

    async def wait_ready(self, id: _ServiceId, *, timeout: float) -> ServiceInfo:
        """Poll `info` until as many routes are healthy as replicas are wanted.

        Polls with a jittered backoff capped at 2 seconds, within *timeout* seconds in all.
        Raises [`ServiceNotReadyError`][backendai_aio.ServiceNotReadyError] when the time is up
        (``reason="timeout"``), when a replica failed to start (``"failed"``, with the
        manager's `errors`), or when the service is gone (``"gone"``):

        ```python
        info = await client.services.wait_ready(service_id, timeout=120)
        url = info["service_endpoint"]
        ```
        """
        check_seconds("timeout", timeout, optional=False)
        ident = service_id(id)
        deadline = time.monotonic() + timeout
        info: ServiceInfo | None = None
        polls = 0
        while True:
            try:
                info = await self.info(ident, timeout=max(deadline - time.monotonic(), 1e-3))
                state = readiness(info)
                failures = None
                if state is not Readiness.READY:
                    failures = await self.errors(
                        ident, timeout=max(deadline - time.monotonic(), 1e-3)
                    )
                    state = readiness(info, failures)
            except NotFoundError as exc:
                raise ServiceNotReadyError(
                    f"service {ident} is gone", reason="gone", info=info
                ) from exc
            except BackendError as exc:
                if time.monotonic() < deadline:
                    raise
                raise ServiceNotReadyError(
                    f"service {ident} not ready within {timeout} s", reason="timeout", info=info
                ) from exc
            if state is Readiness.READY:
                return info
            if state is Readiness.FAILED and failures is not None:
                shown = "; ".join(repr(entry.get("error"))[:200] for entry in failures["errors"])
                raise ServiceNotReadyError(
                    f"service {ident}: replicas failed to start: {shown}",
                    reason="failed",
                    info=info,
                    errors=failures["errors"],
                )
            polls += 1
            left = deadline - time.monotonic()
            if left <= 0:
                healthy = len(info.get("active_routes") or [])
                raise ServiceNotReadyError(
                    f"service {ident} not ready within {timeout} s ({healthy} healthy routes)",
                    reason="timeout",
                    info=info,
                )
            await asyncio.sleep(min(_POLLS.delay(polls), left))
