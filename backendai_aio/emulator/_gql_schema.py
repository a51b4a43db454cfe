"""The emulator's GraphQL schema: the part of the manager's ``Queries`` it answers, in SDL.

Types, fields and arguments carry the manager's names and types (its Graphene schema, 23.09
and 26.9, built with ``auto_camelcase=False``), so that graphql-core validates a document as
the manager's own engine does. What the manager has and the emulator does not answer is
listed in `UNIMPLEMENTED`: selecting it is refused with a message saying so, rather than
as an unknown field.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from graphql import (
    DocumentNode,
    GraphQLScalarType,
    GraphQLSchema,
    ObjectTypeDefinitionNode,
    StringValueNode,
    Undefined,
    ValueNode,
    build_ast_schema,
    parse,
)

from ._gql_releases import ABSENT_FIELDS, ROOT_NAMES
from ._gql_serving import SERVING_SDL, SERVING_UNIMPLEMENTED

__all__ = ["SDL", "UNIMPLEMENTED", "emulator_schema", "release_sdl"]

_CORE_SDL: Final = """
scalar UUID
scalar DateTime
scalar JSONString
scalar BigInt

interface Item {
  id: ID
}

interface PaginatedList {
  items: [Item]!
  total_count: Int!
}

type Queries {
  agent(agent_id: String!): Agent
  agents(scaling_group: String, status: String): [Agent]
  domain(name: String): Domain
  domains(is_active: Boolean): [Domain]
  group(id: UUID!, domain_name: String): Group
  groups(domain_name: String, is_active: Boolean): [Group]
  image(reference: String!, architecture: String = "x86_64"): Image
  images(is_installed: Boolean, is_operation: Boolean): [Image]
  user(domain_name: String, email: String): User
  users(domain_name: String, group_id: UUID, is_active: Boolean, status: String): [User]
  keypair(domain_name: String, access_key: String): KeyPair
  keypairs(domain_name: String, email: String, is_active: Boolean): [KeyPair]
  keypair_list(
    limit: Int!, offset: Int!, filter: String, order: String,
    domain_name: String, email: String, is_active: Boolean
  ): KeyPairList
  vfolder_list(
    limit: Int!, offset: Int!, filter: String, order: String,
    domain_name: String, group_id: UUID, access_key: String
  ): VirtualFolderList
  compute_session(id: UUID!): ComputeSession
  compute_session_list(
    limit: Int!, offset: Int!, filter: String, order: String,
    domain_name: String, group_id: String, access_key: String, status: String
  ): ComputeSessionList
}

type KeyPair implements Item {
  id: ID
  user_id: String
  full_name: String
  access_key: String
  secret_key: String
  is_active: Boolean
  is_admin: Boolean
  is_default: Boolean
  resource_policy: String
  created_at: DateTime
  last_used: DateTime
  rate_limit: Int
  num_queries: Int
  rolling_count: Int
  user: UUID
  projects: [String]
  ssh_public_key: String
  concurrency_used: Int
  concurrency_limit: Int
  user_info: UserInfo
}

type KeyPairList implements PaginatedList {
  items: [KeyPair]!
  total_count: Int!
}

type UserInfo {
  email: String
  full_name: String
}

type User implements Item {
  id: ID
  uuid: UUID
  username: String
  email: String
  need_password_change: Boolean
  full_name: String
  description: String
  is_active: Boolean
  status: String
  status_info: String
  created_at: DateTime
  modified_at: DateTime
  domain_name: String
  role: String
  resource_policy: String
  allowed_client_ip: [String]
  totp_activated: Boolean
  totp_activated_at: DateTime
  sudo_session_enabled: Boolean
  main_access_key: String
  container_uid: Int
  container_main_gid: Int
  container_gids: [Int]
  groups: [UserGroup]
}

type UserGroup {
  id: UUID
  name: String
}

type Image {
  id: UUID
  name: String
  namespace: String
  base_image_name: String
  project: String
  humanized_name: String
  tag: String
  registry: String
  architecture: String
  is_local: Boolean
  tags: [KVPair]
  version: String
  status: String
  digest: String
  labels: [KVPair]
  aliases: [String]
  size_bytes: BigInt
  resource_limits: [ResourceLimit]
  supported_accelerators: [String]
  installed: Boolean
  installed_agents: [String]
  hash: String
}

type KVPair {
  key: String
  value: String
}

type ResourceLimit {
  key: String
  min: String
  max: String
}

type Agent implements Item {
  id: ID
  status: String
  status_changed: DateTime
  region: String
  scaling_group: String
  schedulable: Boolean
  available_slots: JSONString
  occupied_slots: JSONString
  addr: String
  architecture: String
  first_contact: DateTime
  lost_at: DateTime
  live_stat: JSONString
  version: String
  compute_plugins: JSONString
  hardware_metadata: JSONString
  auto_terminate_abusing_kernel: Boolean
  local_config: JSONString
  container_count: Int
  gpu_alloc_map: JSONString
  mem_slots: Int
  cpu_slots: Float
  gpu_slots: Float
  tpu_slots: Float
  used_mem_slots: Int
  used_cpu_slots: Float
  used_gpu_slots: Float
  used_tpu_slots: Float
  cpu_cur_pct: Float
  mem_cur_bytes: Float
}

type Group {
  id: UUID
  name: String
  description: String
  is_active: Boolean
  created_at: DateTime
  modified_at: DateTime
  domain_name: String
  total_resource_slots: JSONString
  allowed_vfolder_hosts: JSONString
  integration_id: String
  resource_policy: String
  type: String
  container_registry: JSONString
  scaling_groups: [String]
}

type Domain {
  name: String
  description: String
  is_active: Boolean
  created_at: DateTime
  modified_at: DateTime
  total_resource_slots: JSONString
  allowed_vfolder_hosts: JSONString
  allowed_docker_registries: [String]
  integration_id: String
  scaling_groups: [String]
}

type VirtualFolder implements Item {
  id: ID
  host: String
  quota_scope_id: String
  name: String
  user: UUID
  user_email: String
  group: UUID
  group_name: String
  creator: String
  domain_name: String
  unmanaged_path: String
  usage_mode: String
  permission: String
  ownership_type: String
  max_files: Int
  max_size: BigInt
  created_at: DateTime
  last_used: DateTime
  num_files: Int
  cur_size: BigInt
  cloneable: Boolean
  status: String
}

type VirtualFolderList implements PaginatedList {
  items: [VirtualFolder]!
  total_count: Int!
}

type ComputeSession implements Item {
  id: ID
  session_id: UUID
  main_kernel_id: UUID
  tag: String
  name: String
  type: String
  main_kernel_role: String
  priority: Int
  image: String
  architecture: String
  registry: String
  cluster_template: String
  cluster_mode: String
  cluster_size: Int
  domain_name: String
  group_name: String
  group_id: UUID
  user_email: String
  full_name: String
  user_id: UUID
  access_key: String
  created_user_email: String
  created_user_id: UUID
  status: String
  status_changed: DateTime
  status_info: String
  status_data: JSONString
  status_history: JSONString
  created_at: DateTime
  terminated_at: DateTime
  starts_at: DateTime
  scheduled_at: DateTime
  startup_command: String
  result: String
  commit_status: String
  abusing_reports: [JSONString]
  idle_checks: JSONString
  agent_ids: [String]
  agents: [String]
  resource_opts: JSONString
  scaling_group: String
  service_ports: JSONString
  mounts: [String]
  vfolder_mounts: [String]
  occupying_slots: JSONString
  occupied_slots: JSONString
  requested_slots: JSONString
  num_queries: BigInt
  containers: [ComputeContainer]
  dependencies: [ComputeSession]
  inference_metrics: JSONString
}

type ComputeSessionList implements PaginatedList {
  items: [ComputeSession]!
  total_count: Int!
}

type ComputeContainer implements Item {
  id: ID
  idx: Int
  role: String
  hostname: String
  kernel_id: UUID
  cluster_idx: Int
  local_rank: Int
  cluster_role: String
  cluster_hostname: String
  session_id: UUID
  image: String
  architecture: String
  registry: String
  status: String
  status_changed: DateTime
  status_info: String
  status_data: JSONString
  created_at: DateTime
  terminated_at: DateTime
  starts_at: DateTime
  scheduled_at: DateTime
  abusing_report: JSONString
  agent: String
  agent_addr: String
  container_id: String
  resource_opts: JSONString
  occupied_slots: JSONString
  live_stat: JSONString
  last_stat: JSONString
  preopen_ports: [Int]
}

schema {
  query: Queries
}
"""
#: The whole schema: the core types, and the model services' (`_gql_serving`).
SDL: Final = _CORE_SDL + SERVING_SDL

#: Fields the manager's schema has (23.09 and 26.9) and the emulator does not answer, by type.
#: ``Mutations`` stands for the manager's mutation type, which the emulator lacks altogether.
UNIMPLEMENTED: Final[Mapping[str, frozenset[str]]] = {
    "Queries": frozenset({
        "agent_list", "agent_summary", "agent_summary_list", "compute_container",
        "compute_container_list", "container_registries", "container_registry",
        "endpoint_token", "endpoint_token_list", "group_node", "group_nodes",
        "groups_by_name", "keypair_resource_policies", "keypair_resource_policy",
        "legacy_compute_session", "legacy_compute_session_list", "node",
        "project_resource_policies", "project_resource_policy", "quota_scope",
        "resource_preset", "resource_presets", "routing", "routing_list", "scaling_group",
        "scaling_groups", "scaling_groups_for_domain", "scaling_groups_for_keypair",
        "scaling_groups_for_user_group", "storage_volume", "storage_volume_list",
        "user_from_uuid", "user_list", "user_node", "user_nodes", "user_resource_policies",
        "user_resource_policy", "vfolder", "vfolder_host_permissions", "vfolder_invited_list",
        "vfolder_own_list", "vfolder_permission_list", "vfolder_project_list", "vfolders",
    }),
    "Mutations": frozenset({
        "alias_image", "associate_scaling_group_with_domain",
        "associate_scaling_group_with_keypair", "associate_scaling_group_with_user_group",
        "clear_images", "create_container_registry", "create_domain", "create_group",
        "create_keypair", "create_keypair_resource_policy", "create_project_resource_policy",
        "create_resource_preset", "create_scaling_group", "create_user",
        "create_user_resource_policy", "dealias_image", "delete_container_registry",
        "delete_domain", "delete_group", "delete_keypair", "delete_keypair_resource_policy",
        "delete_project_resource_policy", "delete_resource_preset", "delete_scaling_group",
        "delete_user", "delete_user_resource_policy",
        "disassociate_all_scaling_groups_with_domain",
        "disassociate_all_scaling_groups_with_group", "disassociate_scaling_group_with_domain",
        "disassociate_scaling_group_with_keypair", "disassociate_scaling_group_with_user_group",
        "forget_image", "modify_agent", "modify_container_registry", "modify_domain",
        "modify_endpoint", "modify_group", "modify_image", "modify_keypair",
        "modify_keypair_resource_policy", "modify_project_resource_policy",
        "modify_resource_preset", "modify_scaling_group", "modify_user",
        "modify_user_resource_policy", "preload_image", "purge_domain", "purge_group",
        "purge_user", "rescan_images", "set_quota_scope", "unload_image", "unset_quota_scope",
    }),
    "KeyPair": frozenset({"vfolders", "compute_sessions"}),
    "Agent": frozenset({"compute_containers"}),
    "ComputeContainer": frozenset({"image_object"}),
    **SERVING_UNIMPLEMENTED,
}  # fmt: skip


def _json_text(value: Any) -> str:
    # Graphene's JSONString answers the JSON text of the value.
    return json.dumps(value)


def _big_int(value: Any) -> int | float:
    # The manager's BigInt: an Int where it fits in 32 bits, else a float.
    number = int(value)
    return number if -(2**31) <= number < 2**31 else float(number)


def _text(value: Any) -> str:
    return str(value)


def _uuid_value(value: Any) -> uuid.UUID:
    # Graphene's UUID: a variable's value must be UUID text (else its ValueError's message).
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _uuid_literal(node: ValueNode, _variables: Any = None) -> Any:
    # Graphene's UUID: only a string literal can be one (anything else: not a UUID).
    return uuid.UUID(node.value) if isinstance(node, StringValueNode) else Undefined


def release_sdl(release: str) -> DocumentNode:
    """`SDL` parsed for *release*: its root type's name, without the fields it lacks."""
    query_name = ROOT_NAMES.get(release, ROOT_NAMES["23.09"])[0]
    document = parse(re.sub(r"\bQueries\b", query_name, SDL))
    absent = ABSENT_FIELDS.get(release, {})
    for definition in document.definitions:
        if isinstance(definition, ObjectTypeDefinitionNode) and definition.fields:
            dropped = absent.get(definition.name.value, frozenset())
            definition.fields = tuple(f for f in definition.fields if f.name.value not in dropped)
    return document


@functools.cache
def emulator_schema(release: str = "26.9") -> GraphQLSchema:
    """*release*'s schema, built once (its scalars serialise as Graphene's do)."""
    schema = build_ast_schema(release_sdl(release))
    serializers = {
        "JSONString": _json_text,
        "BigInt": _big_int,
        "UUID": _text,
        "DateTime": _text,
    }
    for name, serialize in serializers.items():
        scalar = schema.type_map[name]
        assert isinstance(scalar, GraphQLScalarType)
        scalar.serialize = serialize  # type: ignore[method-assign]
    uuid_type = schema.type_map["UUID"]
    assert isinstance(uuid_type, GraphQLScalarType)
    uuid_type.parse_value = _uuid_value  # type: ignore[method-assign]
    uuid_type.parse_literal = _uuid_literal  # type: ignore[method-assign, assignment]
    return schema
