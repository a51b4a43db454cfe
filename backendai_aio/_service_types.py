"""Model serving's answers, its error, and its pure parts: request bodies and readiness.

The shapes are the manager's (``ai/backend/manager/api/service.py`` in 23.09, the
``model_serving`` DTOs in 26.09); fields only newer managers send are ``NotRequired``.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final, NotRequired, TypedDict, Unpack

from ._errors import BackendError, InvalidArgumentError

__all__ = [
    "CreatedService",
    "Readiness",
    "RouteInfo",
    "RuntimeEntry",
    "ScaleResult",
    "ServiceError",
    "ServiceErrors",
    "ServiceInfo",
    "ServiceNotReadyError",
    "ServiceOptions",
    "ServiceSummary",
    "SuccessAnswer",
    "TrialOptions",
    "TryStartResult",
    "readiness",
    "service_body",
    "service_id",
    "token_body",
]

# The manager's service-name rule: 4 to 64 characters (a 23.09 manager allows 24 at most).
_NAME: Final = re.compile(r"\w[\w-]{2,62}\w", re.ASCII)
# The manager's durations: seconds, or a number with a unit (s, m, h, d, w; yr, mo).
_DURATION: Final = re.compile(r"\d+(\.\d+)?[smhdw]?|\d+(yr|mo)", re.ASCII)


class ServiceSummary(TypedDict):
    """One entry of [`Services.list`][backendai_aio.Services.list]."""

    id: str
    name: str
    desired_session_count: int
    active_route_count: int
    service_endpoint: str | None
    is_public: bool
    #: The replica count (26.09 on; ``desired_session_count`` before).
    replicas: NotRequired[int]


class RouteInfo(TypedDict):
    """A healthy route (one replica) of a service, and its share of the traffic."""

    route_id: str
    session_id: str | None
    traffic_ratio: float


class ServiceInfo(TypedDict):
    """[`Services.info`][backendai_aio.Services.info]: a service and its healthy routes."""

    endpoint_id: str
    name: str
    desired_session_count: int
    active_routes: list[RouteInfo]
    service_endpoint: str | None
    is_public: bool
    replicas: NotRequired[int]
    model_id: NotRequired[str | None]
    extra_mounts: NotRequired[list[str]]
    model_definition_path: NotRequired[str | None]
    runtime_variant: NotRequired[str]


class CreatedService(TypedDict):
    """[`Services.create`][backendai_aio.Services.create]'s answer.

    A 23.09 manager answers the id only; 26.09 answers the service's info.
    """

    endpoint_id: str
    name: NotRequired[str]
    replicas: NotRequired[int]
    desired_session_count: NotRequired[int]
    active_routes: NotRequired[list[RouteInfo]]
    service_endpoint: NotRequired[str | None]
    is_public: NotRequired[bool]
    model_id: NotRequired[str | None]
    runtime_variant: NotRequired[str]


class TryStartResult(TypedDict):
    """[`Services.try_start`][backendai_aio.Services.try_start]: the background task."""

    task_id: str


class ScaleResult(TypedDict):
    """[`Services.scale`][backendai_aio.Services.scale]: routes now and the target."""

    current_route_count: int
    target_count: int


class SuccessAnswer(TypedDict):
    """The manager's ``{"success": true}``."""

    success: bool


class ServiceError(TypedDict):
    """A replica that failed to start: its session and the error the manager recorded."""

    session_id: str | None
    error: Any


class ServiceErrors(TypedDict):
    """[`Services.errors`][backendai_aio.Services.errors]."""

    errors: list[ServiceError]
    retries: int


class RuntimeEntry(TypedDict):
    """A runtime variant the manager knows (``vllm``, ``custom``, ...)."""

    name: str
    human_readable_name: str


class ServiceNotReadyError(BackendError):
    """[`Services.wait_ready`][backendai_aio.Services.wait_ready] gave up.

    `reason` says why: ``"timeout"`` (not ready in time), ``"failed"`` (replicas failed
    to start: `errors` holds what the manager recorded) or ``"gone"`` (the service was
    deleted). `info` is the service's last known state.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        info: ServiceInfo | None = None,
        errors: list[ServiceError] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.info = info
        self.errors = errors or []


class Readiness(enum.Enum):
    """What a service's state means to someone waiting for it."""

    READY = "ready"
    WAIT = "wait"
    FAILED = "failed"


def readiness(info: Mapping[str, Any], errors: Mapping[str, Any] | None = None) -> Readiness:
    """Whether a service is ready, still starting, or failed, from its info and errors.

    Ready once as many routes are healthy as replicas are wanted (the manager lists only
    healthy routes as ``active_routes``); failed when it is not and a replica failed to
    start (its ``errors``); else still starting.
    """
    wanted = info.get("replicas", info.get("desired_session_count", 0))
    routes = info.get("active_routes") or []
    if isinstance(wanted, int) and len(routes) >= wanted:
        return Readiness.READY
    if errors and errors.get("errors"):
        return Readiness.FAILED
    return Readiness.WAIT


def service_id(value: str | uuid.UUID, what: str = "service") -> str:
    """A service (or route) id as the manager's paths take it; a malformed one is refused."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise InvalidArgumentError(f"a {what} id is a UUID (str or uuid.UUID), not {value!r}")


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    # Older managers refuse keys they do not know: what was not asked for is not sent.
    return {key: value for key, value in values.items() if value is not None}


class TrialOptions(TypedDict, total=False):
    """The optional settings of `Services.try_start`, which `Services.create` takes too.

    A trial replica is neither shared nor tagged. What is not given is not sent, but for
    ``scaling_group``, sent as ``"default"``.
    """

    image: str
    resources: Mapping[str, Any]
    resource_opts: Mapping[str, Any]
    runtime_variant: str
    environ: Mapping[str, str]
    scaling_group: str
    model_definition_path: str


class ServiceOptions(TrialOptions, total=False):
    """The optional settings of `Services.create`: those of `TrialOptions` and more.

    What is not given is not sent, but for ``open_to_public``, sent as ``False``.
    """

    open_to_public: bool
    group: str
    domain: str
    model_mount_destination: str
    startup_command: str
    bootstrap_script: str
    architecture: str
    tag: str
    owner_access_key: str


def service_body(
    model: str | uuid.UUID,
    *,
    name: str,
    replicas: int,
    allowed: frozenset[str] = ServiceOptions.__optional_keys__,
    **options: Unpack[ServiceOptions],
) -> dict[str, Any]:
    """The body of ``POST /services`` (and ``/services/_/try``), valid from 23.09 on.

    The replica count goes as ``desired_session_count``, which every release accepts (26.09
    also reads ``replicas``); optional fields are sent only when given, since 23.09's checker
    refuses the keys it does not know (``runtime_variant``, ``model_definition_path``).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"a service name is 4 to 64 letters, digits, '_' or '-' (not first or last), "
            f"not {name!r}"
        )
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise InvalidArgumentError(f"replicas is a count (0 or more), not {replicas!r}")
    if not isinstance(model, str | uuid.UUID) or not str(model):
        raise InvalidArgumentError(f"model is a folder name or id, not {model!r}")
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InvalidArgumentError(f"unknown service options: {', '.join(unknown)}")
    environ, resources = options.get("environ"), options.get("resources")
    resource_opts = options.get("resource_opts")
    config = _without_none(
        {
            "model": str(model),
            "model_definition_path": options.get("model_definition_path"),
            "model_mount_destination": options.get("model_mount_destination"),
            "environ": None if environ is None else dict(environ),
            "scaling_group": options.get("scaling_group", "default"),
            "resources": None if resources is None else dict(resources),
            "resource_opts": None if resource_opts is None else dict(resource_opts),
        }
    )
    return _without_none(
        {
            "name": name,
            "desired_session_count": replicas,
            "image": options.get("image"),
            "arch": options.get("architecture"),
            "group": options.get("group"),
            "domain": options.get("domain"),
            "tag": options.get("tag"),
            "startup_command": options.get("startup_command"),
            "bootstrap_script": options.get("bootstrap_script"),
            "owner_access_key": options.get("owner_access_key"),
            "open_to_public": bool(options.get("open_to_public", False)),
            "runtime_variant": options.get("runtime_variant"),
            "config": config,
        }
    )


def token_body(
    valid_until: datetime | float | None, duration: timedelta | str | None
) -> dict[str, Any]:
    """The body of ``POST /services/{id}/token``: an expiry (epoch seconds) or a lifetime.

    Without either the token lives a day (the manager requires one of the two).
    """
    if valid_until is not None and duration is not None:
        raise InvalidArgumentError("give valid_until or duration, not both")
    if valid_until is not None:
        if isinstance(valid_until, datetime):
            if valid_until.tzinfo is None:
                raise InvalidArgumentError("valid_until must be an aware datetime (with tzinfo)")
            return {"valid_until": int(valid_until.timestamp())}
        if isinstance(valid_until, bool) or not isinstance(valid_until, int | float):
            raise InvalidArgumentError(
                f"valid_until is a datetime or epoch seconds, not {valid_until!r}"
            )
        return {"valid_until": int(valid_until)}
    if duration is None:
        return {"duration": "1d"}
    if isinstance(duration, timedelta):
        seconds = int(duration.total_seconds())
        if seconds <= 0:
            raise InvalidArgumentError(f"duration must be positive, not {duration!r}")
        return {"duration": f"{seconds}s"}
    if not isinstance(duration, str) or not re.fullmatch(
        r"\d+(\.\d+)?[smhdw]?|\d+(yr|mo)", duration
    ):
        raise InvalidArgumentError(f"duration is a timedelta or text like '30m', not {duration!r}")
    return {"duration": duration}
