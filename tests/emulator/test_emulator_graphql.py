"""``POST /admin/gql``: the emulated subset, and the manager's error answers (raw requests).

Every expected answer below is what the real 23.09 manager answered to the same document.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from backendai_aio.emulator import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    USER_ACCESS_KEY,
    USER_SECRET_KEY,
)

from .wire import PROBS, Wire

pytestmark = pytest.mark.corrected_by_real_manager


async def gql(wire: Wire, query: str, **extra: Any) -> Any:
    """Post a document; GraphQL answers come with HTTP 200."""
    status, body = await wire.call("POST", "/admin/gql", body={"query": query, **extra})
    assert status == 200, body
    return body


def error(message: str, *locations: tuple[int, int], path: list[str] | None = None) -> Any:
    body: dict[str, Any] = {"message": message}
    if locations:
        body["locations"] = [{"line": line, "column": column} for line, column in locations]
    if path is not None:
        body["path"] = path
    return body


# -- the emulated queries ------------------------------------------------------------------------


async def test_keypair(admin_wire: Wire, user_wire: Wire) -> None:
    query = (
        "{ keypair { access_key secret_key is_active is_admin resource_policy rate_limit "
        "user_id } }"
    )
    assert await gql(user_wire, query) == {
        "data": {
            "keypair": {
                "access_key": USER_ACCESS_KEY,
                "secret_key": USER_SECRET_KEY,
                "is_active": True,
                "is_admin": False,
                "resource_policy": "default",
                "rate_limit": 30000,
                "user_id": "user@lablup.com",
            }
        }
    }
    body = await gql(admin_wire, "{ keypair { access_key secret_key is_admin num_queries } }")
    keypair = body["data"]["keypair"]
    assert (keypair["access_key"], keypair["secret_key"], keypair["is_admin"]) == (
        DEFAULT_ACCESS_KEY,
        DEFAULT_SECRET_KEY,
        True,
    )
    assert keypair["num_queries"] >= 1


async def test_user(admin_wire: Wire, user_wire: Wire) -> None:
    query = (
        "query { user { email role username full_name domain_name status uuid id is_active "
        "need_password_change } }"
    )
    assert await gql(user_wire, query) == {
        "data": {
            "user": {
                "email": "user@lablup.com",
                "role": "user",
                "username": "user",
                "full_name": "User Lablup",
                "domain_name": "default",
                "status": "active",
                "uuid": "dfa9da54-4b28-432f-be29-c0d680c7a412",
                "id": "dfa9da54-4b28-432f-be29-c0d680c7a412",
                "is_active": True,
                "need_password_change": False,
            }
        }
    }
    body = await gql(admin_wire, "{ user { email role groups { id name } main_access_key } }")
    assert body == {
        "data": {
            "user": {
                "email": "admin@lablup.com",
                "role": "superadmin",
                "groups": [{"id": "2de2b969-1d04-48a6-af16-0bc8adb3c831", "name": "default"}],
                "main_access_key": DEFAULT_ACCESS_KEY,
            }
        }
    }


async def test_images_and_image(user_wire: Wire) -> None:
    row = {
        "name": "stable/python",
        "tag": "3.9-ubuntu20.04",
        "registry": "cr.backend.ai",
        "architecture": "x86_64",
    }
    assert await gql(user_wire, "{ images { name tag registry architecture } }") == {
        "data": {"images": [row]}
    }
    body = await gql(user_wire, '{ image(reference: "python") { name tag registry } }')
    assert body == {
        "data": {
            "image": {
                "name": "stable/python",
                "tag": "3.9-ubuntu20.04",
                "registry": "cr.backend.ai",
            }
        }
    }
    body = await gql(
        user_wire, "{ images { aliases labels { key value } resource_limits { key min max } } }"
    )
    image = body["data"]["images"][0]
    assert image["aliases"] == ["python"]
    assert {"key": "ai.backend.runtime-type", "value": "python"} in image["labels"]
    assert image["resource_limits"] == [
        {"key": "cpu", "min": "1", "max": None},
        {"key": "mem", "min": "268435456", "max": None},
    ]


async def test_aliases_fragments_and_directives(user_wire: Wire) -> None:
    body = await gql(user_wire, "{ a: keypair { k: access_key } b: user { email } }")
    assert body == {"data": {"a": {"k": USER_ACCESS_KEY}, "b": {"email": "user@lablup.com"}}}
    body = await gql(user_wire, "{ user { ...F } } fragment F on User { email }")
    assert body == {"data": {"user": {"email": "user@lablup.com"}}}
    body = await gql(user_wire, "{ user { ... on User { email } role @skip(if: true) } }")
    assert body == {"data": {"user": {"email": "user@lablup.com"}}}


async def test_variables(admin_wire: Wire) -> None:
    query = "query($a: String) { keypair(access_key: $a) { access_key } }"
    body = await gql(admin_wire, query, variables={"a": USER_ACCESS_KEY})
    assert body == {"data": {"keypair": {"access_key": USER_ACCESS_KEY}}}
    query = "query A { user { email } } query B { keypair { access_key } }"
    body = await gql(admin_wire, query, operationName="B")
    assert body == {"data": {"keypair": {"access_key": DEFAULT_ACCESS_KEY}}}


# -- permissions: errors with data and a path -----------------------------------------------------


async def test_agents_are_for_superadmins(admin_wire: Wire, user_wire: Wire) -> None:
    assert await gql(admin_wire, "{ agents { id status } }") == {"data": {"agents": []}}
    assert await gql(user_wire, "{ agents { id status } }") == {
        "data": {"agents": None},
        "errors": [
            error("Forbidden operation. (superadmin privilege required)", (1, 3), path=["agents"])
        ],
    }


async def test_other_users_keypairs(admin_wire: Wire, user_wire: Wire) -> None:
    query = f'{{ keypair(access_key: "{DEFAULT_ACCESS_KEY}") {{ access_key }} }}'
    assert await gql(user_wire, query) == {
        "data": {"keypair": None},
        "errors": [error("Forbidden operation.", (1, 3), path=["keypair"])],
    }
    assert await gql(admin_wire, '{ keypair(access_key: "NOPE") { access_key } }') == {
        "data": {"keypair": None}
    }
    assert await gql(user_wire, "{ keypairs { access_key } }") == {
        "data": {"keypairs": [{"access_key": USER_ACCESS_KEY}]}
    }
    assert await gql(admin_wire, '{ user(email: "user@lablup.com") { email } }') == {
        "data": {"user": {"email": "user@lablup.com"}}
    }
    assert await gql(user_wire, '{ user(email: "admin@lablup.com") { email } }') == {
        "data": {"user": None},
        "errors": [error("Forbidden operation.", (1, 3), path=["user"])],
    }


async def test_unknown_image(user_wire: Wire) -> None:
    assert await gql(user_wire, '{ image(reference: "nosuch") { name } }') == {
        "data": {"image": None},
        "errors": [
            error(
                "No such environment image. (Unknown image references: "
                "ref:'index.docker.io/lablup/nosuch:latest', alias:'nosuch')",
                (1, 3),
                path=["image"],
            )
        ],
    }


# -- validation errors: data null -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("{ nosuchfield }", [error("Cannot query field 'nosuchfield' on type 'Queries'.", (1, 3))]),
        (
            "{ keypair { nosuch } }",
            [error("Cannot query field 'nosuch' on type 'KeyPair'.", (1, 13))],
        ),
        (
            "{ keypairx { access_key } }",
            [
                error(
                    "Cannot query field 'keypairx' on type 'Queries'. "
                    "Did you mean 'keypair' or 'keypairs'?",
                    (1, 3),
                )
            ],
        ),
        (
            "{ image { name } }",
            [
                error(
                    "Field 'image' argument 'reference' of type 'String!' is required, "
                    "but it was not provided.",
                    (1, 3),
                )
            ],
        ),
        (
            "{ keypair(foo: 1) { access_key } }",
            [error("Unknown argument 'foo' on field 'Queries.keypair'.", (1, 11))],
        ),
        (
            "{ keypair(access_key: 5) { access_key } }",
            [error("String cannot represent a non string value: 5", (1, 23))],
        ),
        (
            "query Q($a: String) { keypair(access_key: $b) { access_key } }",
            [
                error("Variable '$b' is not defined by operation 'Q'.", (1, 43), (1, 1)),
                error("Variable '$a' is never used in operation 'Q'.", (1, 9)),
            ],
        ),
        (
            "{ keypair }",
            [
                error(
                    "Field 'keypair' of type 'KeyPair' must have a selection of subfields. "
                    "Did you mean 'keypair { ... }'?",
                    (1, 3),
                )
            ],
        ),
        (
            "{ keypair { access_key { x } } }",
            [
                error(
                    "Field 'access_key' must not have a selection since type 'String' has no "
                    "subfields.",
                    (1, 24),
                )
            ],
        ),
        (
            "{ __typename }",
            [error("Cannot query '__typename': introspection is disabled.", (1, 3))],
        ),
        (
            "{ __schema { types { name } } }",
            [error("Cannot query '__schema': introspection is disabled.", (1, 3))],
        ),
        (
            "query A { user { email } } query B { keypair { access_key } }",
            [error("Must provide operation name if query contains multiple operations.")],
        ),
        (
            "subscription { x }",
            [error("Schema is not configured to execute subscription operation.", (1, 1))],
        ),
        (
            "query($a: String!) { keypair(access_key: $a) { access_key } }",
            [error("Variable '$a' of required type 'String!' was not provided.", (1, 7))],
        ),
        ("query { keypair { ...Missing } }", [error("Unknown fragment 'Missing'.", (1, 22))]),
    ],
)
async def test_validation_errors(user_wire: Wire, query: str, errors: list[Any]) -> None:
    assert await gql(user_wire, query) == {"data": None, "errors": errors}


async def test_fields_the_emulator_lacks(admin_wire: Wire) -> None:
    # The manager has these; the emulator says it does not implement them (HTTP 200 too).
    body = await gql(admin_wire, "{ user_list(limit: 10, offset: 0) { total_count } }")
    assert body == {
        "data": None,
        "errors": [
            error(
                "The emulator does not implement the GraphQL field 'Queries.user_list'.",
                (1, 3),
            )
        ],
    }
    body = await gql(admin_wire, 'mutation { create_keypair(user_id: "x") { ok } }')
    assert body["data"] is None
    assert body["errors"][0]["message"] == (
        "The emulator does not implement the GraphQL field 'Mutations.create_keypair'."
    )


async def test_not_graphql_at_all(admin_wire: Wire) -> None:
    # Real: the manager parses outside its error handling: 500 internal-server-error.
    for query in ("this is not graphql", "{ keypair { access_key"):
        status, problem = await admin_wire.call("POST", "/admin/gql", body={"query": query})
        assert (status, problem) == (
            500,
            {"type": PROBS + "internal-server-error", "title": "Internal server error."},
        )


@pytest.mark.parametrize(
    ("body", "data"),
    [
        ({}, {"query": "is required"}),
        ({"query": ""}, {"query": "blank value is not allowed"}),
        ({"query": 5}, {"query": "value is not a string"}),
        (
            {"query": "{ keypair { access_key } }", "variables": 5},
            {"variables": {"0": "value should be None", "1": "value is not a dict"}},
        ),
        ({"query": "{ keypair { access_key } }", "x": 1}, {"x": "x is not allowed key"}),
    ],
)
async def test_parameter_errors(admin_wire: Wire, body: dict[str, Any], data: Any) -> None:
    status, problem = await admin_wire.call("POST", "/admin/gql", body=body)
    assert (status, problem["msg"], problem["data"]) == (400, "Input validation error", data)


async def test_only_post(admin_wire: Wire) -> None:
    status, problem = await admin_wire.call("GET", "/admin/gql")
    assert (status, problem["type"]) == (405, PROBS + "method-not-allowed")


# -- variables: their types and where they go -----------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "errors"),
    [
        (
            "query($k: [String]) { keypair(access_key: $k) { access_key } }",
            {"k": ["AKIANABBDUSEREXAMPLE"]},
            [
                error(
                    "Variable '$k' of type '[String]' used in position expecting type 'String'.",
                    (1, 7),
                    (1, 43),
                )
            ],
        ),
        (
            "query($k: Foo) { keypair(access_key: $k) { access_key } }",
            {"k": {"a": 1}},
            [error("Unknown type 'Foo'.", (1, 11))],
        ),
        (
            "query($k: [Strin!]!) { keypair(access_key: $k) { access_key } }",
            {"k": ["x"]},
            [error("Unknown type 'Strin'. Did you mean 'String'?", (1, 12))],
        ),
        (
            "query($k: [KeyPair]) { keypair(access_key: $k) { access_key } }",
            {"k": [{"a": 1}]},
            [
                error("Variable '$k' cannot be non-input type '[KeyPair]'.", (1, 11)),
                # graphql-core (3.2.3 as on the 23.09 manager, and 3.2.14) also reports
                # the position, the variable's type not being the argument's.
                error(
                    "Variable '$k' of type '[KeyPair]' used in position expecting type 'String'.",
                    (1, 7),
                    (1, 44),
                ),
            ],
        ),
        (
            "query($k: String = [1]) { keypair(access_key: $k) { access_key } }",
            {},
            [error("String cannot represent a non string value: [1]", (1, 20))],
        ),
        (
            "query($f: Boolean) { keypair @include(if: $f) { access_key } }",
            {"f": True},
            [
                error(
                    "Variable '$f' of type 'Boolean' used in position expecting type 'Boolean!'.",
                    (1, 7),
                    (1, 43),
                )
            ],
        ),
    ],
)
async def test_variable_types_and_positions(
    admin_wire: Wire, query: str, variables: dict[str, Any], errors: list[Any]
) -> None:
    assert await gql(admin_wire, query, variables=variables) == {"data": None, "errors": errors}


async def test_variables_in_allowed_positions(admin_wire: Wire) -> None:
    query = "query($f: Boolean = true) { keypair @include(if: $f) { access_key } }"
    body = await gql(admin_wire, query)
    assert body == {"data": {"keypair": {"access_key": DEFAULT_ACCESS_KEY}}}
    query = "query($f: Boolean!) { keypair @skip(if: $f) { access_key } }"
    assert await gql(admin_wire, query, variables={"f": True}) == {"data": {}}
    query = "query($k: String!) { keypair(access_key: $k) { access_key } }"
    body = await gql(admin_wire, query, variables={"k": USER_ACCESS_KEY})
    assert body == {"data": {"keypair": {"access_key": USER_ACCESS_KEY}}}


# -- documents too large to answer ----------------------------------------------------------------


TOO_COMPLEX = (
    "The query is too complex: the emulator answers at most 1000 fields (fragments expanded) "
    "nested at most 50 levels deep."
)


def doubling_fragments(count: int) -> str:
    """A document whose fragments each spread the next one twice: 2**count fields."""
    fragments = [f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}" for i in range(count)]
    return " ".join(["{ user { ...F0 } }", *fragments, f"fragment F{count} on User {{ email }}"])


async def test_fragments_spread_again_are_answered_once(user_wire: Wire) -> None:
    body = await gql(user_wire, doubling_fragments(5))
    assert body == {"data": {"user": {"email": "user@lablup.com"}}}


@pytest.mark.parametrize(
    "query",
    [
        doubling_fragments(20),
        "{ user " + "{ a " * 60 + "}" * 61,
        "{ keypair(access_key: " + "[" * 200 + '"x"' + "]" * 200 + ") { access_key } }",
        "query($k: " + "[" * 200 + "String" + "]" * 200 + ") { keypair { access_key } }",
        "{ keypair @include(if: " + "[" * 60 + "true" + "]" * 60 + ") { access_key } }",
        "{ user { ...F0 } } "
        + " ".join(f"fragment F{i} on User {{ ...F{i + 1} }}" for i in range(80))
        + " fragment F80 on User { email }",
        "{ " + "user { email } " * 1001 + "}",
    ],
)
async def test_documents_past_the_bounds_are_refused_at_once(user_wire: Wire, query: str) -> None:
    assert len(doubling_fragments(20)) < 1000
    started = time.monotonic()
    assert await gql(user_wire, query) == {"data": None, "errors": [{"message": TOO_COMPLEX}]}
    assert time.monotonic() - started < 2
