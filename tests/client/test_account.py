"""The account calls against the emulator: login and logout, auth, roles, presets, GraphQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backendai_aio import (
    AuthenticationError,
    BadRequestError,
    Client,
    ClientConfig,
    GraphQLError,
    InvalidArgumentError,
    NotFoundError,
)
from backendai_aio.emulator import USER_ACCESS_KEY, Emulator

DEFAULT_GROUP = "2de2b969-1d04-48a6-af16-0bc8adb3c831"


@pytest.fixture
async def web(emulator: Emulator) -> AsyncIterator[Client]:
    """A client of the emulated webserver (not logged in yet)."""
    config = ClientConfig(endpoint=emulator.endpoint, endpoint_type="session")
    async with Client(config) as opened:
        yield opened


# -- session mode -------------------------------------------------------------------------------


async def test_login_run_code_and_logout(web: Client) -> None:
    data = await web.auth.login("user@lablup.com", "C8qnIo29")
    assert data == {"access_key": USER_ACCESS_KEY, "role": "user", "status": "active"}
    # Every call now goes under /func/, authorised by the login cookie.
    assert (await web.get_server_version())["version"] == "v9.20250722"
    created = await web.create_if_not_exists("python", "web-run")
    assert created["status"] == "RUNNING"
    result = await web.sessions.run("web-run", "print(sum(range(10)))")
    assert (result.ok, result.stdout) == (True, "45\n")
    info = await web.get_info("web-run")
    assert info["userId"] == "dfa9da54-4b28-432f-be29-c0d680c7a412"
    assert await web.auth.check("through the webserver") == {
        "authorized": "yes",
        "echo": "through the webserver",
    }
    assert (await web.auth.role())["global_role"] == "user"
    assert await web.query("{ user { email } }") == {"user": {"email": "user@lablup.com"}}
    assert web.rate_limit is not None and web.rate_limit.limit == 30000
    await web.destroy("web-run")
    await web.auth.logout()
    with pytest.raises(AuthenticationError) as exc_info:
        await web.auth.role()
    assert exc_info.value.status == 401
    assert exc_info.value.title == "Unauthorized access"


async def test_refused_login_raises(web: Client) -> None:
    with pytest.raises(AuthenticationError) as exc_info:
        await web.auth.login("user@lablup.com", "not-the-password")
    error = exc_info.value
    assert error.status == 200
    assert error.problem_type == "https://api.backend.ai/probs/auth-failed"
    assert error.title == "Credential/signature mismatch."
    assert error.msg == "User credential mismatch."
    assert "not-the-password" not in str(error)
    # Logging in correctly afterwards works.
    assert (await web.auth.login("admin@lablup.com", "wJalrXUt"))["role"] == "superadmin"


async def test_second_login_is_a_bad_request(web: Client) -> None:
    await web.auth.login("user@lablup.com", "C8qnIo29")
    with pytest.raises(BadRequestError) as exc_info:
        await web.auth.login("user@lablup.com", "C8qnIo29")
    assert exc_info.value.title == "You have already logged in."


async def test_calls_before_login_are_refused(web: Client) -> None:
    with pytest.raises(AuthenticationError) as exc_info:
        await web.auth.check("too early")
    assert exc_info.value.status == 401


async def test_login_needs_session_mode(admin_client: Client) -> None:
    with pytest.raises(InvalidArgumentError):
        await admin_client.auth.login("user@lablup.com", "C8qnIo29")


# -- keypair mode -------------------------------------------------------------------------------


async def test_check_auth(admin_client: Client) -> None:
    assert await admin_client.auth.check("ping") == {"authorized": "yes", "echo": "ping"}


async def test_get_role(admin_client: Client, user_client: Client) -> None:
    assert await admin_client.auth.role() == {
        "global_role": "superadmin",
        "domain_role": "admin",
        "group_role": None,
    }
    assert await user_client.auth.role(DEFAULT_GROUP) == {
        "global_role": "user",
        "domain_role": "user",
        "group_role": "user",
    }
    with pytest.raises(NotFoundError):
        await user_client.auth.role("00000000-0000-0000-0000-000000000000")


async def test_list_presets(admin_client: Client) -> None:
    presets = await admin_client.resources.presets()
    assert [preset["name"] for preset in presets] == [
        "cpu01-small",
        "cpu02-medium",
        "cpu03-large",
        "cuda01-small",
        "cuda02-medium",
        "cuda03-large",
    ]
    assert presets[0] == {
        "name": "cpu01-small",
        "shared_memory": None,
        "resource_slots": {"cpu": "1", "mem": "1073741824"},
    }


async def test_check_presets(user_client: Client) -> None:
    answer = await user_client.resources.check_presets(group="default", scaling_group="default")
    assert answer["keypair_limits"] == {"cpu": "Infinity", "mem": "Infinity"}
    assert set(answer["scaling_groups"]) == {"default"}
    assert all(preset["allocatable"] is False for preset in answer["presets"])
    with pytest.raises(BadRequestError) as exc_info:
        await user_client.resources.check_presets(scaling_group="nosg")
    assert exc_info.value.msg == "Unknown scaling group"


async def test_query(admin_client: Client, user_client: Client) -> None:
    data = await admin_client.query("{ keypair { access_key is_admin } user { role } }")
    assert data == {
        "keypair": {"access_key": "AKIAIOSFODNN7EXAMPLE", "is_admin": True},
        "user": {"role": "superadmin"},
    }
    data = await user_client.query(
        "query($key: String) { keypair(access_key: $key) { user_id } }",
        {"key": USER_ACCESS_KEY},
    )
    assert data == {"keypair": {"user_id": "user@lablup.com"}}


async def test_query_errors_raise_graphql_error(admin_client: Client, user_client: Client) -> None:
    with pytest.raises(GraphQLError) as exc_info:
        await admin_client.query("{ nosuchfield }")
    error = exc_info.value
    assert error.status == 200
    # 26.9 calls its root type Query (23.09: Queries).
    assert error.msg == "Cannot query field 'nosuchfield' on type 'Query'."
    assert error.data == [
        {
            "message": "Cannot query field 'nosuchfield' on type 'Query'.",
            "locations": [{"line": 1, "column": 3}],
        }
    ]
    # A refused field: the answer has data too, and still raises.
    with pytest.raises(GraphQLError) as exc_info:
        await user_client.query("{ agents { id } }")
    assert exc_info.value.body == {
        "data": {"agents": None},
        "errors": [
            {
                "message": "Forbidden operation. (superadmin privilege required)",
                "locations": [{"line": 1, "column": 3}],
                "path": ["agents"],
            }
        ],
    }


async def test_query_picks_the_named_operation(user_client: Client) -> None:
    document = "query Mine { user { email } } query Role { user { role } }"
    assert await user_client.query(document, operation_name="Role") == {"user": {"role": "user"}}
    assert await user_client.query(document, operation_name="Mine") == {
        "user": {"email": "user@lablup.com"}
    }


async def test_query_on_the_strawberry_schema(user_client: Client) -> None:
    data = await user_client.query("{ user { email } }", schema="strawberry")
    assert data == {"user": {"email": "user@lablup.com"}}
    # Its errors name the strawberry route the call went to.
    with pytest.raises(GraphQLError) as exc_info:
        await user_client.query("{ nosuchfield }", schema="strawberry")
    assert (exc_info.value.method, exc_info.value.url) == ("POST", "/admin/gql/strawberry")


@pytest.mark.parametrize("schema", ["relay", "GRAPHENE", "", None])
async def test_query_refuses_an_unknown_schema(user_client: Client, schema: object) -> None:
    with pytest.raises(InvalidArgumentError, match="schema must be one of 'graphene'"):
        await user_client.query("{ user { email } }", schema=schema)  # type: ignore[arg-type]


def test_the_account_calls_left_the_client() -> None:
    for name in ("login", "logout", "check_auth", "get_role", "list_presets", "check_presets"):
        assert not hasattr(Client, name), name
    for name in ("session_events", "background_task_events"):
        assert not hasattr(Client, name), name
