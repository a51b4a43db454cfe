"""Each release profile's GraphQL schema, as a real 23.09.10 and 26.9.6 manager answer it."""

from __future__ import annotations

import pytest

from backendai_aio import Client, GraphQLError
from backendai_aio.emulator import Emulator
from backendai_aio.emulator._gql_releases import ABSENT_FIELDS
from backendai_aio.emulator._gql_schema import emulator_schema

pytestmark = pytest.mark.timeout(60)

# (release, document, the first error's message or None), each checked on the real managers.
CASES = [
    ("23.09", "{ keypair { is_default } }", "Cannot query field 'is_default' on type 'KeyPair'."),
    ("26.9", "{ keypair { is_default } }", None),
    (
        "23.09",
        "{ compute_session_list(limit: 1, offset: 0) { items { requested_slots } } }",
        "Cannot query field 'requested_slots' on type 'ComputeSession'. "
        "Did you mean 'occupied_slots'?",
    ),
    ("26.9", "{ compute_session_list(limit: 1, offset: 0) { items { requested_slots } } }", None),
    ("23.09", "{ images { namespace } }", "Cannot query field 'namespace' on type 'Image'."),
    ("26.9", "{ images { namespace } }", None),
    ("23.09", "{ user { container_uid } }", "Cannot query field 'container_uid' on type 'User'."),
    (
        "26.9",
        "{ endpoint_list(limit: 1, offset: 0) { items { routings { error } } } }",
        "Cannot query field 'error' on type 'Routing'.",
    ),
    (
        "23.09",
        "{ keypairx }",
        "Cannot query field 'keypairx' on type 'Queries'. Did you mean 'keypair' or 'keypairs'?",
    ),
    (
        "26.9",
        "{ keypairx }",
        "Cannot query field 'keypairx' on type 'Query'. Did you mean 'keypair' or 'keypairs'?",
    ),
    (
        "26.9",
        "mutation { modify_userx }",
        "Cannot query field 'modify_userx' on type 'Mutation'. Did you mean 'modify_user', "
        "'modify_agent', 'modify_group', or 'modify_image'?",
    ),
    ("23.09", "{ __typename }", "Cannot query '__typename': introspection is disabled."),
    (
        "26.9",
        "{ __schema { types { name } } }",
        "Cannot query '__schema': introspection is disabled.",
    ),
    (
        "26.9",
        "{ user_list(limit: 1, offset: 0) { total_count } }",
        "The emulator does not implement the GraphQL field 'Query.user_list'.",
    ),
]


@pytest.mark.parametrize(("release", "document", "message"), CASES)
async def test_release_schema(release: str, document: str, message: str | None) -> None:
    async with Emulator(release=release) as emulator, Client(emulator.config) as client:
        if message is None:
            assert isinstance(await client.query(document), dict)
            return
        with pytest.raises(GraphQLError) as exc_info:
            await client.query(document)
    assert exc_info.value.msg == message
    assert exc_info.value.body["data"] is None


async def test_typename_on_26_9() -> None:
    async with Emulator(release="26.9") as emulator, Client(emulator.config) as client:
        answer = await client.query("{ __typename user { __typename email } }")
        assert answer == {
            "__typename": "Query",
            "user": {"__typename": "User", "email": "admin@lablup.com"},
        }


def test_absent_fields_are_in_the_full_schema() -> None:
    # Every field a release lacks is one the other release's schema serves.
    for release, absent in ABSENT_FIELDS.items():
        other = emulator_schema("26.9" if release == "23.09" else "23.09")
        mine = emulator_schema(release)
        for type_name, fields in absent.items():
            assert fields <= set(other.type_map[type_name].fields), (release, type_name)  # type: ignore[attr-defined]
            assert not fields & set(mine.type_map[type_name].fields), (release, type_name)  # type: ignore[attr-defined]
