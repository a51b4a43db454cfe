"""Session and cluster templates, kept in memory with the manager's shapes.

As the 23.09 manager (and 26.09, with the same shapes) serves them:

- ``POST /template/session`` (``group``/``group_name``, ``domain``/``domain_name``,
  ``payload``, ``owner_access_key``): *payload* is JSON (or YAML, if PyYAML is installed)
  text holding a list of items ``{"template": {...}, "name"?, "group_id"?, "user_uuid"?}``;
  each template is checked as the manager checks a ``taskTemplate`` (its defaults filled in:
  ``spec.session_type``, ``kernel.architecture``, ...) and stored under a fresh id (32 hex
  digits). Answers ``[{"id", "user"}]``.
- ``GET /template/session``: every stored session template, with ``is_owner``, ``user``,
  ``group``, ``user_email``, ``group_name``, ``domain_name``, ``type`` (``task``) and the
  ``template``; ``GET /template/session/{id}``: ``{"template", "name", "user_uuid",
  "group_id", "domain_name"}``; ``PUT`` replaces it (the same body as creation), ``DELETE``
  removes it: both answer ``{"success": true}``.
- ``/template/cluster``: the same calls for ``clusterTemplate`` bodies (``mode``,
  ``spec.nodes`` naming session templates by role, exactly one ``main`` node). Creation
  answers ``{"id", "user"}``, a read the template body alone; the listing shows the
  caller's own templates (``type`` ``user``), every user's for a superadmin with ``all``.

An unknown id is 404 ``object-not-found`` "No such task template."; an unknown project 400
"Invalid group"; a malformed payload 400 "Malformed payload"; a template failing its
checks 400 ``invalid-api-params`` with the problems in ``data``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from ._accounts import ACCOUNTS_KEY, DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME, is_default_project
from ._auth import current_keypair
from ._params import alias, read_checked_params
from ._problems import InvalidAPIParameters, Problem

__all__ = ["TEMPLATES_KEY", "TemplateStore", "add_template_routes"]

_MAIN_ROLE: Final = "main"


class TaskTemplateNotFound(Problem):
    """404 object-not-found for a template id."""

    status, slug, title = 404, "object-not-found", "No such task template."


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

    def find(self, template_id: str, kind: str) -> StoredTemplate:
        """The template *template_id* of *kind* (``task`` or ``cluster``), or 404."""
        try:
            key = uuid.UUID(template_id).hex
        except ValueError:
            raise TaskTemplateNotFound from None
        row = self.rows.get(key)
        if row is None or row.type != kind:
            raise TaskTemplateNotFound
        return row


#: Where the application keeps its `TemplateStore`.
TEMPLATES_KEY: Final = web.AppKey("templates", TemplateStore)


def _parse_payload(text: Any) -> Any:
    if not isinstance(text, str):
        raise InvalidAPIParameters("Input validation error", data={"payload": "is required"})
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise InvalidAPIParameters("Malformed payload") from None
    try:
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


def _listing(request: web.Request, row: StoredTemplate) -> dict[str, Any]:
    owner = next((u for u in request.app[ACCOUNTS_KEY].users() if u.uuid == row.user_uuid), None)
    return {
        "name": row.name,
        "id": row.id,
        "created_at": str(row.created_at),
        "is_owner": row.user_uuid == current_keypair(request).user.uuid,
        "user": str(row.user_uuid),
        "group": str(row.group_id),
        "user_email": None if owner is None else owner.email,
        "group_name": DEFAULT_GROUP_NAME,
        "domain_name": row.domain_name,
    }


def add_template_routes(app: web.Application) -> None:
    """Install ``/template/session`` and ``/template/cluster`` over a fresh store."""
    store = TemplateStore()
    app[TEMPLATES_KEY] = store

    async def create_session(request: web.Request) -> web.Response:
        params = await read_checked_params(request)
        group_id = _group(params)
        user = current_keypair(request).user.uuid
        created = []
        for item in _session_items(_parse_payload(params.get("payload"))):
            template = check_task_template(item["template"])
            row = StoredTemplate(
                id=uuid.uuid4().hex,
                type="task",
                name=str(item.get("name") or template["metadata"]["name"]),
                template=template,
                user_uuid=_uuid(item.get("user_uuid", user), "user_uuid"),
                group_id=_uuid(item.get("group_id", group_id), "group_id"),
            )
            store.rows[row.id] = row
            created.append({"id": row.id, "user": row.user_uuid.hex})
        return web.json_response(created)

    async def list_session(request: web.Request) -> web.Response:
        rows = [row for row in store.rows.values() if row.type == "task"]
        return web.json_response(
            [{**_listing(request, row), "type": "task", "template": row.template} for row in rows]
        )

    async def get_session(request: web.Request) -> web.Response:
        row = store.find(request.match_info["template_id"], "task")
        return web.json_response(
            {
                "template": row.template,
                "name": row.name,
                "user_uuid": str(row.user_uuid),
                "group_id": str(row.group_id),
                "domain_name": row.domain_name,
            }
        )

    async def put_session(request: web.Request) -> web.Response:
        row = store.find(request.match_info["template_id"], "task")
        params = await read_checked_params(request)
        group_id = _group(params)
        for item in _session_items(_parse_payload(params.get("payload"))):
            row.template = check_task_template(item["template"])
            row.name = str(item.get("name") or row.template["metadata"]["name"])
            row.group_id = _uuid(item.get("group_id", group_id), "group_id")
            row.user_uuid = _uuid(item.get("user_uuid", row.user_uuid), "user_uuid")
        return web.json_response({"success": True})

    async def create_cluster(request: web.Request) -> web.Response:
        params = await read_checked_params(request)
        group_id = _group(params)
        template = check_cluster_template(_parse_payload(params.get("payload")))
        user = current_keypair(request).user.uuid
        row = StoredTemplate(
            uuid.uuid4().hex, "cluster", template["metadata"]["name"], template, user, group_id
        )
        store.rows[row.id] = row
        return web.json_response({"id": row.id, "user": user.hex})

    async def list_cluster(request: web.Request) -> web.Response:
        params = await read_checked_params(request)
        keypair = current_keypair(request)
        every = str(params.get("all", "")).lower() in ("1", "true", "yes", "on")
        rows = [
            row
            for row in store.rows.values()
            if row.type == "cluster"
            and ((every and keypair.is_superadmin) or row.user_uuid == keypair.user.uuid)
        ]
        return web.json_response([{**_listing(request, row), "type": "user"} for row in rows])

    async def get_cluster(request: web.Request) -> web.Response:
        return web.json_response(store.find(request.match_info["template_id"], "cluster").template)

    async def put_cluster(request: web.Request) -> web.Response:
        row = store.find(request.match_info["template_id"], "cluster")
        params = await read_checked_params(request)
        row.template = check_cluster_template(_parse_payload(params.get("payload")))
        row.name = row.template["metadata"]["name"]
        return web.json_response({"success": True})

    def delete(kind: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            row = store.find(request.match_info["template_id"], kind)
            del store.rows[row.id]
            return web.json_response({"success": True})

        return handler

    for kind, create, listing, get, put in (
        ("session", create_session, list_session, get_session, put_session),
        ("cluster", create_cluster, list_cluster, get_cluster, put_cluster),
    ):
        base = f"/template/{kind}"
        app.router.add_post(base, create)
        app.router.add_get(base, listing)
        app.router.add_get(base + "/{template_id}", get)
        app.router.add_put(base + "/{template_id}", put)
        app.router.add_delete(
            base + "/{template_id}", delete("task" if kind == "session" else kind)
        )
