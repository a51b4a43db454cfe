"""Session and cluster templates, kept in memory with the manager's shapes.

The routes (``/template/session`` and ``/template/cluster``: create, list, read, replace,
delete) and what each release answers are described in docs/emulator.md. The payload is JSON
or YAML text, parsed as the manager parses it (PyYAML, which the ``emulator`` extra installs).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import yaml  # type: ignore[import-untyped, unused-ignore]
from aiohttp import web

from ._accounts import ACCOUNTS_KEY, DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME, is_default_project
from ._auth import current_keypair
from ._params import alias, read_checked_params
from ._problems import InternalServerError, InvalidAPIParameters, Problem
from ._releases import RELEASE_KEY

__all__ = ["TEMPLATES_KEY", "TemplateStore", "add_template_routes", "routes"]

_MAIN_ROLE: Final = "main"


#: The template routes.
routes = web.RouteTableDef()


class TaskTemplateNotFound(Problem):
    """404 object-not-found for a template id, as 23.09 words it."""

    status, slug, title = 404, "object-not-found", "No such task template."


class SessionTemplateNotFound(TaskTemplateNotFound):
    """The same 404 as 26.9 words it (with its entity error code)."""

    title = "No such session template."
    error_code = "session-template_read_not-found"


@dataclass
class StoredTemplate:
    """A row of the manager's ``session_templates`` table."""

    id: str
    type: str
    name: str
    template: dict[str, Any]
    user_uuid: uuid.UUID
    group_id: uuid.UUID
    domain_name: str = "default"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class TemplateStore:
    """The emulator's templates, by id."""

    rows: dict[str, StoredTemplate] = field(default_factory=dict)

    def find(self, template_id: str, kind: str, release: str = "23.09") -> StoredTemplate:
        """The template *template_id* of *kind* (``task`` or ``cluster``), or *release*'s 404."""
        missing = TaskTemplateNotFound if release == "23.09" else SessionTemplateNotFound
        try:
            key = uuid.UUID(template_id).hex
        except ValueError:
            raise missing from None
        row = self.rows.get(key)
        if row is None or row.type != kind:
            raise missing
        return row


#: Where the application keeps its `TemplateStore`.
TEMPLATES_KEY: Final = web.AppKey("templates", TemplateStore)


def _parse_payload(text: Any, *, every_document: bool = False) -> Any:
    """*text* as JSON, else YAML: the manager's order.

    A session template's creation reads every YAML document (each one an item); the other
    calls read one document. A payload that is neither is 400 "Malformed payload".
    """
    if not isinstance(text, str):
        raise InvalidAPIParameters("Input validation error", data={"payload": "is required"})
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        if not every_document:
            return yaml.safe_load(text)
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        raise InvalidAPIParameters("Malformed payload") from None
    return docs[0] if len(docs) == 1 else docs


def _alias(data: dict[str, Any], names: tuple[str, ...], default: Any) -> Any:
    return next((data[name] for name in names if name in data), default)


def _check(condition: bool, errors: dict[str, str], key: str, problem: str) -> None:
    if not condition:
        errors[key] = problem


def check_task_template(raw: Any) -> dict[str, Any]:
    """Check a ``taskTemplate`` as the manager does; answer it with its defaults."""
    errors: dict[str, str] = {}
    if not isinstance(raw, dict):
        raise InvalidAPIParameters("Input validation error", data={"template": "is not a dict"})
    data = dict(raw)
    version = _alias(data, ("api_version", "apiVersion"), None)
    _check(isinstance(version, str), errors, "api_version", "is required")
    _check(data.get("kind") in ("taskTemplate", "task_template"), errors, "kind", "invalid")
    metadata = data.get("metadata")
    spec = data.get("spec")
    kernel = spec.get("kernel") if isinstance(spec, dict) else None
    _check(
        isinstance(metadata, dict) and isinstance(metadata.get("name"), str),
        errors, "metadata", "needs a name",
    )  # fmt: skip
    _check(
        isinstance(kernel, dict) and isinstance(kernel.get("image"), str),
        errors, "spec", "needs kernel.image",
    )  # fmt: skip
    if errors:
        raise InvalidAPIParameters("Input validation error", data=errors)
    assert isinstance(metadata, dict) and isinstance(spec, dict) and isinstance(kernel, dict)
    spec = dict(spec)
    session_type = _alias(spec, ("type", "session_type", "sessionType"), "interactive")
    for name in ("type", "sessionType"):
        spec.pop(name, None)
    if session_type not in ("interactive", "batch", "inference"):
        raise InvalidAPIParameters("Input validation error", data={"session_type": "invalid"})
    spec["session_type"] = session_type
    spec["kernel"] = {
        **kernel,
        "architecture": kernel.get("architecture", "x86_64"),
        "environ": kernel.get("environ") or {},
        "run": kernel.get("run"),
        "git": kernel.get("git"),
    }
    for key, default in (("scaling_group", None), ("mounts", {}), ("resources", None)):
        spec.setdefault(key, default)
    spec["agent_list"] = _alias(spec, ("agent_list", "agentList"), None)
    spec.pop("agentList", None)
    data["metadata"] = {"tag": None, **metadata}
    data["spec"] = spec
    return data


def check_cluster_template(raw: Any) -> dict[str, Any]:
    """Check a ``clusterTemplate`` as the manager does: exactly one ``main`` node."""
    if not isinstance(raw, dict):
        raise InvalidAPIParameters("Malformed payload")
    errors: dict[str, str] = {}
    version = _alias(raw, ("api_version", "apiVersion"), None)
    _check(isinstance(version, str), errors, "api_version", "is required")
    _check(raw.get("kind") in ("clusterTemplate", "cluster_template"), errors, "kind", "invalid")
    _check(raw.get("mode") in ("single-node", "multi-node"), errors, "mode", "invalid")
    metadata, spec = raw.get("metadata"), raw.get("spec")
    _check(
        isinstance(metadata, dict) and isinstance(metadata.get("name"), str),
        errors, "metadata", "needs a name",
    )  # fmt: skip
    nodes = spec.get("nodes") if isinstance(spec, dict) else None
    _check(isinstance(nodes, list), errors, "spec", "needs nodes")
    if errors:
        raise InvalidAPIParameters("Input validation error", data=errors)
    assert isinstance(spec, dict) and isinstance(nodes, list)
    checked, roles = [], []
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("role"), str):
            raise InvalidAPIParameters("Input validation error", data={"nodes": "needs roles"})
        try:
            ref = uuid.UUID(str(_alias(node, ("session_template", "sessionTemplate"), "")))
        except ValueError:
            raise InvalidAPIParameters(
                "Input validation error", data={"session_template": "is not a UUID"}
            ) from None
        replicas = node.get("replicas", 1)
        if node["role"] in roles:
            raise InvalidAPIParameters("Each role can only be defined once")
        if node["role"] == _MAIN_ROLE and replicas != 1:
            raise InvalidAPIParameters("One and only one main node must be created per cluster")
        roles.append(node["role"])
        checked.append({"role": node["role"], "session_template": str(ref), "replicas": replicas})
    if _MAIN_ROLE not in roles:
        raise InvalidAPIParameters("One and only one main node must be created per cluster")
    return {
        **raw,
        "spec": {**spec, "environ": spec.get("environ") or {}, "mounts": spec.get("mounts") or {},
                 "nodes": checked},
    }  # fmt: skip


def _uuid(value: Any, key: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise InvalidAPIParameters("Input validation error", data={key: "is not a UUID"}) from None


def _group(params: dict[str, Any]) -> uuid.UUID:
    group = alias(params, "group", "groupName", "group_name", default=DEFAULT_GROUP_NAME)
    if not is_default_project(group):
        raise InvalidAPIParameters("Invalid group")
    return DEFAULT_GROUP_ID


def _session_items(payload: Any) -> list[dict[str, Any]]:
    items = payload if isinstance(payload, list) else [payload]
    if not items or not all(isinstance(item, dict) and "template" in item for item in items):
        raise InvalidAPIParameters("Malformed payload")
    return items


def _release(request: web.Request) -> str:
    return request.app[RELEASE_KEY].name


def _store(request: web.Request) -> TemplateStore:
    return request.app[TEMPLATES_KEY]


def _find(request: web.Request, kind: str) -> StoredTemplate:
    return _store(request).find(request.match_info["template_id"], kind, _release(request))


def _created_at(row: StoredTemplate, release: str) -> str:
    # 23.09 prints the timestamp as Python does; 26.9 serialises it as ISO 8601 in UTC.
    if release == "23.09":
        return str(row.created_at)
    return row.created_at.isoformat().replace("+00:00", "Z")


def _listing(request: web.Request, row: StoredTemplate) -> dict[str, Any]:
    owner = next((u for u in request.app[ACCOUNTS_KEY].users() if u.uuid == row.user_uuid), None)
    return {
        "name": row.name,
        "id": row.id,
        "created_at": _created_at(row, _release(request)),
        "is_owner": row.user_uuid == current_keypair(request).user.uuid,
        "user": str(row.user_uuid),
        "group": str(row.group_id),
        "user_email": None if owner is None else owner.email,
    }


@routes.post("/template/session")
async def create_session(request: web.Request) -> web.Response:
    """``POST /template/session``: store each item of the payload as a task template."""
    params = await read_checked_params(request)
    group_id = _group(params)
    user = current_keypair(request).user.uuid
    created = []
    for item in _session_items(_parse_payload(params.get("payload"), every_document=True)):
        template = check_task_template(item["template"])
        row = StoredTemplate(
            id=uuid.uuid4().hex,
            type="task",
            name=str(item.get("name") or template["metadata"]["name"]),
            template=template,
            user_uuid=_uuid(item.get("user_uuid", user), "user_uuid"),
            group_id=_uuid(item.get("group_id", group_id), "group_id"),
        )
        _store(request).rows[row.id] = row
        created.append({"id": row.id, "user": row.user_uuid.hex})
    return web.json_response(created)


@routes.get("/template/session")
async def list_session(request: web.Request) -> web.Response:
    """``GET /template/session``: every stored task template, with its owner's names."""
    rows = [row for row in _store(request).rows.values() if row.type == "task"]
    return web.json_response(
        [
            {
                **_listing(request, row),
                "group_name": DEFAULT_GROUP_NAME,
                "domain_name": row.domain_name,
                "type": "task",
                "template": row.template,
            }
            for row in rows
        ]
    )


@routes.get("/template/session/{template_id}")
async def get_session(request: web.Request) -> web.Response:
    """``GET /template/session/{id}``: one task template and its owner."""
    try:
        row = _find(request, "task")
    except TaskTemplateNotFound:
        if _release(request) == "23.09":
            # 23.09 answers an empty object for an id it has no (active) row for.
            return web.json_response({})
        raise
    return web.json_response(
        {
            "template": row.template,
            "name": row.name,
            "user_uuid": str(row.user_uuid),
            "group_id": str(row.group_id),
            "domain_name": row.domain_name,
        }
    )


@routes.put("/template/session/{template_id}")
async def put_session(request: web.Request) -> web.Response:
    """``PUT /template/session/{id}``: replace a task template (the creation body)."""
    row = _find(request, "task")
    params = await read_checked_params(request)
    group_id = _group(params)
    for item in _session_items(_parse_payload(params.get("payload"))):
        row.template = check_task_template(item["template"])
        row.name = str(item.get("name") or row.template["metadata"]["name"])
        row.group_id = _uuid(item.get("group_id", group_id), "group_id")
        row.user_uuid = _uuid(item.get("user_uuid", row.user_uuid), "user_uuid")
    return web.json_response({"success": True})


@routes.post("/template/cluster")
async def create_cluster(request: web.Request) -> web.Response:
    """``POST /template/cluster``: store one cluster template."""
    params = await read_checked_params(request)
    group_id = _group(params)
    template = check_cluster_template(_parse_payload(params.get("payload")))
    user = current_keypair(request).user.uuid
    row = StoredTemplate(
        uuid.uuid4().hex, "cluster", template["metadata"]["name"], template, user, group_id
    )
    _store(request).rows[row.id] = row
    return web.json_response({"id": row.id, "user": user.hex})


@routes.get("/template/cluster")
async def list_cluster(request: web.Request) -> web.Response:
    """``GET /template/cluster``: the caller's cluster templates (everyone's with ``all``)."""
    params = await read_checked_params(request)
    keypair = current_keypair(request)
    every = str(params.get("all", "")).lower() in ("1", "true", "yes", "on")
    rows = [
        row
        for row in _store(request).rows.values()
        if row.type == "cluster"
        and ((every and keypair.is_superadmin) or row.user_uuid == keypair.user.uuid)
    ]
    # Both releases list a cluster template without its project's name (their query joins
    # no groups table) and without a domain.
    return web.json_response(
        [{**_listing(request, row), "group_name": None, "type": "user"} for row in rows]
    )


@routes.get("/template/cluster/{template_id}")
async def get_cluster(request: web.Request) -> web.Response:
    """``GET /template/cluster/{id}``: the cluster template's body."""
    row = _find(request, "cluster")
    if _release(request) == "23.09":
        # 23.09 decodes the stored body as JSON text though the database hands it a dict:
        # every read of an existing cluster template fails with 500.
        raise InternalServerError
    return web.json_response(row.template)


@routes.put("/template/cluster/{template_id}")
async def put_cluster(request: web.Request) -> web.Response:
    """``PUT /template/cluster/{id}``: replace a cluster template's body."""
    row = _find(request, "cluster")
    params = await read_checked_params(request)
    row.template = check_cluster_template(_parse_payload(params.get("payload")))
    row.name = row.template["metadata"]["name"]
    return web.json_response({"success": True})


async def _delete(request: web.Request, kind: str) -> web.Response:
    row = _find(request, kind)
    del _store(request).rows[row.id]
    return web.json_response({"success": True})


@routes.delete("/template/session/{template_id}")
async def delete_session(request: web.Request) -> web.Response:
    """``DELETE /template/session/{id}``."""
    return await _delete(request, "task")


@routes.delete("/template/cluster/{template_id}")
async def delete_cluster(request: web.Request) -> web.Response:
    """``DELETE /template/cluster/{id}``."""
    return await _delete(request, "cluster")


def add_template_routes(app: web.Application) -> None:
    """Install ``/template/session`` and ``/template/cluster`` over a fresh store."""
    app[TEMPLATES_KEY] = TemplateStore()
    app.add_routes(routes)
