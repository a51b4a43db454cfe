"""Session creation options: Python keyword arguments to the manager's wire names (pure).

The manager renamed several creation fields across API versions (``clusterSize`` moved out of
``config`` in v6, ``scalingGroup`` became ``scaling_group``); callers use one set of Python names
and get the spelling their server's version expects. Options newer managers added are sent only to a
server whose API version accepts them (see `OPTION_SINCE`); asking an older one for them raises
[`InvalidArgumentError`][backendai_aio.InvalidArgumentError] before anything is sent.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypedDict

from ._apiversion import ApiVersion
from ._errors import InvalidArgumentError

__all__ = [
    "KNOWN_OPTIONS",
    "OPTION_SINCE",
    "SESSION_NAME_RE",
    "BatchOptions",
    "SessionOptions",
    "build_create_body",
    "create_is_idempotent",
    "generate_run_id",
    "generate_session_name",
    "validate_session_name",
]

#: The manager's rule for session names: 4 to 64 word characters, dots or dashes, starting and
#: ending with a word character (ASCII only).
SESSION_NAME_RE: Final = re.compile(r"(?=.{4,64}$)\w[\w.-]*\w", re.ASCII)

_V6: Final = ApiVersion(6, "20200815")
_V8_2409: Final = ApiVersion(8, "20240915")
_V9: Final = ApiVersion(9, "20250722")

#: The options newer managers added, with the first API version that takes them: ``priority``
#: came with 24.09 (``v8.20240915``); ``batch_timeout`` with 25.x, ``job_priority`` and
#: ``is_preemptible`` with 26.x, and the ``config`` fields ``mount_ids``, ``mount_id_map`` and
#: ``attach_network`` with the v9 creation config (all ``v9.20250722``; a 25.x manager, which
#: speaks v9 too, refuses ``job_priority`` and ``is_preemptible`` with 400).
OPTION_SINCE: Final[Mapping[str, ApiVersion]] = {
    "priority": _V8_2409,
    "batch_timeout": _V9,
    "job_priority": _V9,
    "is_preemptible": _V9,
    "mount_ids": _V9,
    "mount_id_map": _V9,
    "attach_network": _V9,
}

# Python name -> wire name at the top level of the request body, for every supported version.
_TOP_LEVEL: Final[Mapping[str, str]] = {
    "type": "type",
    "enqueue_only": "enqueueOnly",
    "max_wait_seconds": "maxWaitSeconds",
    "reuse_if_exists": "reuseIfExists",
    "tag": "tag",
    "group": "group",
    "domain": "domain",
    "startup_command": "startupCommand",
    "bootstrap_script": "bootstrap_script",
    "owner_access_key": "owner_access_key",
    "starts_at": "starts_at",
    "dependencies": "dependencies",
    "callback_url": "callback_url",
    "architecture": "architecture",
    "priority": "priority",
    "job_priority": "job_priority",
    "is_preemptible": "is_preemptible",
    "batch_timeout": "batch_timeout",
}

# Python name -> wire name inside ``config`` from API v6 on.
_CONFIG_V6: Final[Mapping[str, str]] = {
    "mounts": "mounts",
    "mount_map": "mount_map",
    "mount_options": "mount_options",
    "environ": "environ",
    "scaling_group": "scaling_group",
    "resources": "resources",
    "resource_opts": "resource_opts",
    "preopen_ports": "preopen_ports",
    "agent_list": "agent_list",
    "mount_ids": "mount_ids",
    "mount_id_map": "mount_id_map",
    "attach_network": "attach_network",
}

# API v5 (manager 20.03) spelled a few config fields in camel case and kept the cluster size
# inside ``config``.
_CONFIG_V5: Final[Mapping[str, str]] = {
    **_CONFIG_V6,
    "scaling_group": "scalingGroup",
    "cluster_size": "clusterSize",
}

#: Every option `Sessions.create` accepts, besides ``config``.
KNOWN_OPTIONS: Final = frozenset(_TOP_LEVEL) | frozenset(_CONFIG_V5) | {"cluster_mode"}


class SessionOptions(TypedDict, total=False):
    """The creation options of `Sessions.create`, with Python names.

    Each is sent under the wire name of the negotiated API version; ``None`` leaves the
    server's default.
    """

    #: ``interactive`` (the default), ``batch`` or ``inference``.
    type: Literal["interactive", "batch", "inference"] | None
    #: Answer at once with status ``PENDING`` instead of waiting for the session to start.
    enqueue_only: bool | None
    #: How long the server waits for the session to start before answering ``TIMEOUT``.
    max_wait_seconds: int | None
    #: Reuse a session of the same name (the default) or fail with session-already-exists.
    reuse_if_exists: bool | None
    tag: str | None
    group: str | None
    domain: str | None
    #: Resource slots, e.g. ``{"cpu": 2, "mem": "4g", "cuda.shares": 0.5}``.
    resources: Mapping[str, Any] | None
    #: Resource options, e.g. ``{"shmem": "64m"}``.
    resource_opts: Mapping[str, Any] | None
    #: Names of virtual folders to mount.
    mounts: Sequence[str] | None
    #: Folder name to mount path.
    mount_map: Mapping[str, str] | None
    #: Ids of virtual folders to mount (API v9); the way to mount a folder shared by
    #: invitation on 26.9, which its name does not reach.
    mount_ids: Sequence[str | uuid.UUID] | None
    #: Folder id to mount path (API v9).
    mount_id_map: Mapping[str | uuid.UUID, str] | None
    #: The id of a network to attach the session to (API v9).
    attach_network: str | uuid.UUID | None
    #: Scheduling priority, 0 to 100 (default 10; API v8.20240915, manager 24.09).
    priority: int | None
    #: Preemption priority among the caller's own sessions (API v9, manager 26.x).
    job_priority: int | None
    #: Whether the scheduler may preempt the session (API v9, manager 26.x).
    is_preemptible: bool | None
    #: Seconds a batch session may run before it is terminated (API v9, manager 25.x).
    batch_timeout: float | None
    mount_options: Mapping[str, Any] | None
    environ: Mapping[str, str] | None
    scaling_group: str | None
    cluster_size: int | None
    cluster_mode: Literal["single-node", "multi-node"] | None
    startup_command: str | None
    bootstrap_script: str | None
    owner_access_key: str | None
    starts_at: str | None
    dependencies: Sequence[str] | None
    callback_url: str | None
    architecture: str | None
    preopen_ports: Sequence[int] | None
    agent_list: Sequence[str] | None
    #: Raw ``config`` fields, merged under the mapped ones.
    config: Mapping[str, Any] | None


class BatchOptions(TypedDict, total=False):
    """The ``opts`` of a batch run (`Sessions.run` or `Sessions.execute`).

    Each command runs with the shell in the session's work folder; ``"*"`` asks for the
    image's default (for Python images, ``exec`` ``"*"`` runs ``main.py``).
    """

    #: Run first, e.g. to remove old build outputs.
    clean: str | None
    #: Run next, e.g. ``pip install -r requirements.txt``.
    build: str | None
    #: Whether the build's output is returned in the console.
    buildLog: bool
    #: Run last: the job itself.
    exec: str | None


def validate_session_name(name: str) -> str:
    """Return *name* if the manager would accept it, else raise InvalidArgumentError."""
    if not isinstance(name, str) or SESSION_NAME_RE.fullmatch(name) is None:
        raise InvalidArgumentError(
            f"invalid session name {name!r}: 4 to 64 ASCII letters, digits, '_', '.' or '-', "
            "starting and ending with a letter, digit or '_'"
        )
    return name


def generate_session_name() -> str:
    """Return a fresh, valid session name."""
    return f"aio-{secrets.token_hex(8)}"


def generate_run_id() -> str:
    """Return a fresh run id (16 hex digits; the manager wants 8 to 64 characters)."""
    return secrets.token_hex(8)


def build_create_body(
    api_version: ApiVersion, image: str, name: str, options: Mapping[str, object]
) -> dict[str, Any]:
    """Build the ``POST /session`` body for *api_version*.

    ``options`` uses Python names (``enqueue_only``, ``resources``, ...); ``None`` values are
    left out so the server applies its defaults. A ``config`` mapping, if given, is merged
    under the mapped config fields, for fields this function does not know yet.
    """
    if not isinstance(image, str) or not image:
        raise InvalidArgumentError("an image name is required, e.g. 'python:3.11'")
    unknown = set(options) - KNOWN_OPTIONS - {"config"}
    if unknown:
        raise InvalidArgumentError(
            f"unknown session option(s): {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(KNOWN_OPTIONS | {'config'}))}"
        )
    raw_config = options.get("config")
    if raw_config is not None and not isinstance(raw_config, Mapping):
        raise InvalidArgumentError("config must be a mapping")
    body: dict[str, Any] = {"image": image, "name": name}
    config: dict[str, Any] = dict(raw_config or {})
    config_names = _CONFIG_V6 if api_version >= _V6 else _CONFIG_V5
    for key, value in options.items():
        if value is None or key == "config":
            continue
        since = OPTION_SINCE.get(key)
        if since is not None and api_version < since:
            raise InvalidArgumentError(
                f"{key} needs API {since} or later (the server speaks {api_version})"
            )
        value = _wire_ids(key, value)
        if key in _TOP_LEVEL:
            body[_TOP_LEVEL[key]] = value
        elif key in config_names:
            config[config_names[key]] = value
        elif api_version < _V6:
            # cluster_mode (every other known option is mapped above): v5 has no such field.
            raise InvalidArgumentError(
                f"{key} needs API v6.20200815 or later (the server speaks {api_version})"
            )
        else:
            body[key] = value  # cluster_size or cluster_mode, at the top level from v6 on
    if config:
        body["config"] = config
    return body


def create_is_idempotent(options: Mapping[str, object]) -> bool:
    """Whether a creation call may be retried: a get-or-create is, a create-only is not.

    With ``reuse_if_exists=False`` the server refuses a second call for the same name, so a
    retry after a lost answer would report "session already exists" for the caller's own
    session.
    """
    return options.get("reuse_if_exists") is not False


def _wire_ids(key: str, value: object) -> object:
    """Folder and network ids as text (``uuid.UUID`` accepted), which JSON can carry."""
    if key == "mount_ids" and isinstance(value, Sequence) and not isinstance(value, str):
        return [str(item) for item in value]
    if key == "mount_id_map" and isinstance(value, Mapping):
        return {str(folder): path for folder, path in value.items()}
    if key == "attach_network" and isinstance(value, uuid.UUID):
        return str(value)
    return value
