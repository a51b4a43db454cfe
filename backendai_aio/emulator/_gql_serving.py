"""GraphQL over the emulated model services: ``Queries.endpoint`` and ``Queries.endpoint_list``.

The manager's ``Endpoint`` (its Graphene type, 23.09 and 26.9) answered from the emulator's
service registry (`_services`): what ``backend.ai service list`` queries. As on the manager,
the deprecated ``image`` is always null (``image_object`` has the image), ``id`` is null too,
a plain user sees the services they own and a superadmin everyone's; the default order is the
newest first. Where the releases differ, each answers its own way: a route's ``status`` is
23.09's ``HEALTHY``/``UNHEALTHY`` (26.9: ``RUNNING``, with ``health_status``), the endpoint's
``status`` follows each release's rule, and ``lifecycle_stage`` is 23.09's ``CREATED`` or
26.9's ``EndpointLifecycle.READY`` (Graphene answers the text of the enum member).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from graphql import GraphQLResolveInfo

from ._accounts import DEFAULT_GROUP_ID
from ._gql_objects import GraphQLContext, image_object
from ._gql_resolvers import ResolverError, listing, scope_of
from ._images import find_image
from ._services import _Route, _Service

__all__ = ["SERVING_RESOLVERS", "SERVING_SDL", "SERVING_UNIMPLEMENTED"]

SERVING_SDL: Final = """
extend type Queries {
  endpoint(endpoint_id: UUID!): Endpoint
  endpoint_list(
    limit: Int!, offset: Int!, filter: String, order: String,
    domain_name: String, group_id: String, access_key: String, user_uuid: String, project: UUID
  ): EndpointList
}

type Endpoint implements Item {
  id: ID
  endpoint_id: UUID
  image: String
  image_object: ImageNode
  domain: String
  project: String
  resource_group: String
  resource_slots: JSONString
  url: String
  model: UUID
  model_definition_path: String
  model_mount_destiation: String
  model_mount_destination: String
  created_user: UUID
  created_user_email: String
  created_user_id: UUID
  session_owner: UUID
  session_owner_email: String
  session_owner_id: UUID
  tag: String
  startup_command: String
  bootstrap_script: String
  callback_url: String
  environ: JSONString
  name: String
  resource_opts: JSONString
  replicas: Int
  desired_session_count: Int
  cluster_mode: String
  cluster_size: Int
  open_to_public: Boolean
  runtime_variant: RuntimeVariantInfo
  created_at: DateTime!
  destroyed_at: DateTime
  routings: [Routing]
  retries: Int
  status: String
  lifecycle_stage: String
  errors: [InferenceSessionError!]!
}

type EndpointList implements PaginatedList {
  items: [Endpoint]!
  total_count: Int!
}

type RuntimeVariantInfo {
  name: String
  human_readable_name: String
}

type Routing implements Item {
  id: ID
  routing_id: UUID
  endpoint: String
  session: UUID
  status: String
  health_status: String
  traffic_ratio: Float
  created_at: DateTime
  error: InferenceSessionError
  error_data: JSONString
}

type InferenceSessionError {
  session_id: UUID
  errors: [InferenceSessionErrorInfo!]!
}

type InferenceSessionErrorInfo {
  src: String!
  name: String!
  repr: String!
}

type ImageNode {
  id: ID!
  row_id: UUID
  name: String
  namespace: String
  base_image_name: String
  project: String
  humanized_name: String
  tag: String
  tags: [KVPair]
  version: String
  registry: String
  architecture: String
  is_local: Boolean
  digest: String
  labels: [KVPair]
  size_bytes: BigInt
  status: String
  resource_limits: [ResourceLimit]
  supported_accelerators: [String]
  aliases: [String]
  installed: Boolean
}
"""

#: The manager's fields of these types that the emulator does not answer.
SERVING_UNIMPLEMENTED: Final[Mapping[str, frozenset[str]]] = {
    "Endpoint": frozenset({"model_vfolder", "extra_mounts", "live_stat"}),
    "Routing": frozenset({"live_stat"}),
    "ImageNode": frozenset({"permissions", "type"}),
}

# The route states of each release, by the emulator's route status.
_ROUTE_STATUS_23: Final = {
    "provisioning": "PROVISIONING",
    "healthy": "HEALTHY",
    "unhealthy": "UNHEALTHY",
    # 23.09's TERMINATING is an alias of UNHEALTHY (the same value): its name is UNHEALTHY.
    "terminating": "UNHEALTHY",
    "failed_to_start": "FAILED_TO_START",
}
_ROUTE_STATUS_26: Final = {
    "provisioning": "PROVISIONING",
    "healthy": "RUNNING",
    "unhealthy": "RUNNING",
    "terminating": "TERMINATING",
    "failed_to_start": "FAILED_TO_START",
}
_HEALTH_26: Final = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}
# 23.09: an endpoint retried more often than this is UNHEALTHY.
_MAX_RETRIES: Final = 5
# The fields ``filter`` and ``order`` may name (26.9's; 23.09 ignores both).
_ENDPOINT_FIELDS: Final = (
    "name", "endpoint_id", "project", "resource_group", "created_at", "retries", "replicas",
    "destroyed_at", "model", "domain", "url", "lifecycle_stage", "open_to_public",
    "created_user_id", "created_user_email",
)  # fmt: skip


def _ctx(info: GraphQLResolveInfo) -> GraphQLContext:
    context = info.context
    assert isinstance(context, GraphQLContext)
    return context


def _legacy(ctx: GraphQLContext) -> bool:
    return ctx.release == "23.09"


def _image_node(reference: str | None) -> dict[str, Any] | None:
    image = None if reference is None else find_image(reference)
    if image is None:
        return None
    node = image_object(image)
    # A relay node's id is the global id: base64 of "ImageNode:<row id>".
    node["id"] = base64.b64encode(f"ImageNode:{image.id}".encode()).decode()
    node["row_id"] = str(image.id)
    return node


def _route_object(ctx: GraphQLContext, service: _Service, route: _Route) -> dict[str, Any]:
    statuses = _ROUTE_STATUS_23 if _legacy(ctx) else _ROUTE_STATUS_26
    error = None
    if route.error is not None:
        error = {"type": "error", "errors": [route.error]}
    return {
        "id": None,
        "routing_id": str(route.id),
        "endpoint": service.url,
        "session": str(route.session_id),
        "status": statuses[route.status],
        "health_status": None if _legacy(ctx) else _HEALTH_26.get(route.status, "NOT_CHECKED"),
        "traffic_ratio": route.traffic_ratio,
        "created_at": service.created_at.isoformat(),
        "error": None,
        "error_data": error,
    }


def _status(ctx: GraphQLContext, service: _Service, routes: list[dict[str, Any]]) -> str:
    """The endpoint's ``status``: each release's ``resolve_status``."""
    if _legacy(ctx):
        if service.retries > _MAX_RETRIES:
            return "UNHEALTHY"
        if not routes:
            return "READY"
        if all(r["status"] == "HEALTHY" for r in routes):
            return "HEALTHY"
        return "DEGRADED" if any(r["status"] == "UNHEALTHY" for r in routes) else "PROVISIONING"
    if not routes:
        return "DEGRADED"
    active = [r for r in routes if r["status"] in ("PROVISIONING", "RUNNING")]
    health = {r["health_status"] for r in active}
    if not active or health == {"UNHEALTHY"}:
        return "UNHEALTHY"
    return "HEALTHY" if health == {"HEALTHY"} else "DEGRADED"


def endpoint_object(ctx: GraphQLContext, service: _Service) -> dict[str, Any]:
    """An ``Endpoint`` for one of the registry's services."""
    owners = [user.email for user in ctx.accounts.users() if user.uuid == service.owner]
    email = owners[0] if owners else None
    routes = [_route_object(ctx, service, route) for route in service.routes.values()]
    errors = [
        {"session_id": None, "errors": route["error_data"]["errors"]}
        for route in routes
        if route["status"] == "FAILED_TO_START" and route["error_data"]
    ]
    created = service.created_at.isoformat()
    return {
        "id": None,
        "endpoint_id": str(service.id),
        "image": None,
        "image_object": _image_node(service.image),
        "domain": "default",
        "project": str(DEFAULT_GROUP_ID),
        "resource_group": service.resource_group,
        "resource_slots": {},
        "url": service.url,
        "model": str(service.model_id),
        "model_definition_path": service.definition_path,
        "model_mount_destiation": service.mount,
        "model_mount_destination": service.mount,
        "created_user": str(service.owner),
        "created_user_email": email,
        "created_user_id": str(service.owner),
        "session_owner": str(service.owner),
        "session_owner_email": email,
        "session_owner_id": str(service.owner),
        "tag": None,
        "startup_command": None,
        "bootstrap_script": None,
        "callback_url": None,
        "environ": dict(service.environ),
        "name": service.name,
        "resource_opts": {},
        "replicas": service.replicas,
        "desired_session_count": service.replicas,
        "cluster_mode": "SINGLE_NODE",
        "cluster_size": 1,
        "open_to_public": service.open_to_public,
        "runtime_variant": {"name": service.runtime_variant, "human_readable_name": None},
        "created_at": created,
        "destroyed_at": None,
        "routings": routes,
        "retries": service.retries,
        "status": _status(ctx, service, routes),
        "lifecycle_stage": "CREATED" if _legacy(ctx) else "EndpointLifecycle.READY",
        "errors": errors,
    }


def _visible(ctx: GraphQLContext, user_uuid: str | None, domain_name: str | None) -> list[_Service]:
    owner = scope_of(ctx, user_uuid, str(ctx.caller.user.uuid), domain_name)
    services = [] if ctx.services is None else list(ctx.services.services.values())
    found = [
        service
        for service in services
        if (owner is None or str(service.owner) == owner) and domain_name in (None, "default")
    ]
    # The manager's default order: the newest first.
    return sorted(found, key=lambda service: service.created_at, reverse=True)


def _endpoint(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    wanted = uuid.UUID(str(args["endpoint_id"]))
    for service in _visible(ctx, None, None):
        if service.id == wanted:
            return endpoint_object(ctx, service)
    raise ResolverError("No such endpoint.")


def _endpoint_list(info: GraphQLResolveInfo, **args: Any) -> Any:
    ctx = _ctx(info)
    found = _visible(ctx, args.get("user_uuid"), args.get("domain_name"))
    project = args.get("project")
    if project is not None and str(project) != str(DEFAULT_GROUP_ID):
        found = []
    rows = [endpoint_object(ctx, service) for service in found]
    if _legacy(ctx):
        # 23.09's resolver has its filter and order parsing commented out: both are ignored.
        return listing(rows, args["limit"], args["offset"], None, None, fields=_ENDPOINT_FIELDS)
    return listing(
        rows, args["limit"], args["offset"], args.get("filter"), args.get("order"),
        fields=_ENDPOINT_FIELDS,
    )  # fmt: skip


#: The root fields of this module, as `_gql_resolvers.ROOT_RESOLVERS` holds the others.
SERVING_RESOLVERS: Final[Mapping[str, Callable[..., Any]]] = {
    "endpoint": _endpoint,
    "endpoint_list": _endpoint_list,
}
