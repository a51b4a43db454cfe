"""What ``POST /services`` and ``POST /services/_/try`` check, and the service they make."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from ._accounts import Keypair
from ._model_definition import DEFINITION_NAMES, DefinitionError, ModelDefinition, parse_definition
from ._params import read_json_body
from ._problems import InvalidAPIParameters
from ._service_proxy import (
    EndpointProxy,
)
from ._services import _Service
from ._sessions import SERVER_VERSION_KEY
from ._vfolders import VFOLDER_STORE_KEY

__all__ = [
    "MAX_REPLICAS",
    "RUNTIMES",
    "count",
    "is_modern",
    "new_service",
    "prepare_service",
    "read_definition",
    "text_param",
]


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


def is_modern(request: web.Request) -> bool:
    """Whether the emulated manager is 24.03 or newer (API v8)."""
    return request.app[SERVER_VERSION_KEY].major >= 8


def count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAPIParameters(f"{what} must be an integer", data=value)
    if not 0 <= value <= MAX_REPLICAS:
        raise InvalidAPIParameters(
            f"Cannot spawn more than {MAX_REPLICAS} sessions for a single service"
            if value > 0
            else "Amount of desired session count cannot be a negative number"
        )
    return value


def text_param(params: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = params.get(key, default)
    if value is not None and not isinstance(value, str):
        raise InvalidAPIParameters(f"{key} must be a string", data=value)
    return value


async def read_definition(folder: Path, path: str | None) -> tuple[str, ModelDefinition]:
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


async def prepare_service(request: web.Request, keypair: Keypair) -> dict[str, Any]:
    """Check a ``POST /services`` (or ``/_/try``) body; answer what making the service needs."""
    params = await read_json_body(request)
    modern = is_modern(request)
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
    replicas = count(replicas, "desired_session_count")
    image = text_param(params, "image", text_param(params, "lang"))
    if image is None and not modern:
        raise InvalidAPIParameters("Input validation error", data={"image": "is required"})
    runtime = text_param(params, "runtime_variant", "custom") or "custom"
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
    definition_path, definition = await read_definition(
        folder.root, text_param(config, "model_definition_path")
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
        "image": image,
        "resource_group": config.get("scaling_group", config.get("scalingGroup")) or "default",
    }


def new_service(keypair: Keypair, prepared: dict[str, Any], replicas: int) -> _Service:
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
        image=prepared["image"],
        resource_group=str(prepared["resource_group"]),
    )
