"""What each release's GraphQL schema lacks of the emulator's `SDL`, and its root types' names.

The emulator builds one schema per release profile from these, so that a 23.09 profile
refuses a field only 26.9 has exactly as a real 23.09.10 manager does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["ABSENT_FIELDS", "ROOT_NAMES"]

#: Fields one release's schema lacks, by release and type. Found by querying each field of
#: `SDL` on a real 23.09.10 and a real 26.9.6 manager (both answer "Cannot query field"), and
#: matching the releases' sources (``manager/models/gql.py`` and the ``gql_models`` of 23.9.10;
#: ``manager/api/gql_legacy`` of 26.9.6).
ABSENT_FIELDS: Final[Mapping[str, Mapping[str, frozenset[str]]]] = {
    "23.09": {
        "Agent": frozenset({"gpu_alloc_map"}),
        "ComputeContainer": frozenset({"kernel_id"}),
        "ComputeSession": frozenset({"priority", "requested_slots"}),
        "Endpoint": frozenset(
            {"model_definition_path", "model_mount_destination", "replicas", "runtime_variant"}
        ),
        "Group": frozenset({"type", "container_registry"}),
        "Image": frozenset(
            {"namespace", "base_image_name", "project", "version", "status", "tags"}
        ),
        "ImageNode": frozenset(
            {"row_id", "namespace", "base_image_name", "project", "version", "status", "aliases",
             "installed", "tags"}
        ),
        "KeyPair": frozenset({"is_default", "rolling_count"}),
        "Routing": frozenset({"health_status"}),
        "User": frozenset({"container_uid", "container_main_gid", "container_gids"}),
        "VirtualFolder": frozenset({"domain_name"}),
    },
    "26.9": {"Routing": frozenset({"error"})},
}  # fmt: skip


#: The names of the root types, by release: 23.09's Graphene schema calls them ``Queries``
#: and ``Mutations`` (as `SDL` and `UNIMPLEMENTED` do), 26.9's ``Query`` and ``Mutation``.
ROOT_NAMES: Final[Mapping[str, tuple[str, str]]] = {
    "23.09": ("Queries", "Mutations"),
    "26.9": ("Query", "Mutation"),
}
