"""Account calls: arguments refused before sending, a bare login refusal, odd GraphQL answers."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from backendai_aio import (
    AuthenticationError,
    Client,
    ClientConfig,
    GraphQLError,
    InvalidArgumentError,
    NotFoundError,
)
from tests.app_servers import app_server, root_app

SECRET = "SECRET-KEY-NEVER-SHOWN"
NOWHERE = "http://127.0.0.1:9"  # nothing listens: a call that sent anything would fail


@pytest.mark.parametrize(("username", "password"), [("", "pw"), ("user", "")])
async def test_login_needs_a_user_name_and_a_password(username: str, password: str) -> None:
    async with Client(ClientConfig(endpoint=NOWHERE, endpoint_type="session")) as client:
        with pytest.raises(InvalidArgumentError, match="needs a user name and a password"):
            await client.auth.login(username, password)


async def test_logout_needs_a_webserver_endpoint() -> None:
    async with Client(ClientConfig("AK", SECRET, NOWHERE)) as client:
        with pytest.raises(InvalidArgumentError, match="logout\\(\\) needs a ClientConfig"):
            await client.auth.logout()


@pytest.mark.parametrize("gql", ["", "   ", None])
async def test_a_query_needs_a_document(gql: Any) -> None:
    async with Client(ClientConfig("AK", SECRET, NOWHERE)) as client:
        with pytest.raises(InvalidArgumentError, match="needs a GraphQL document"):
            await client.query(gql)


async def test_a_login_refused_without_reasons() -> None:
    app = web.Application()

    async def login(request: web.Request) -> web.Response:
        return web.json_response({"authenticated": False, "data": {}})

    app.router.add_post("/server/login", login)
    async with (
        app_server(app) as url,
        Client(ClientConfig(endpoint=url, endpoint_type="session")) as client,
    ):
        with pytest.raises(AuthenticationError) as caught:
            await client.auth.login("user", "hunter2-password")
    assert str(caught.value).startswith("login refused")
    assert (caught.value.title, caught.value.msg) == (None, None)
    assert "hunter2-password" not in str(caught.value)


@pytest.mark.parametrize("answer", [["not", "an", "object"], "text"])
async def test_a_graphql_answer_that_is_not_an_object(answer: Any) -> None:
    app = root_app()

    async def gql(request: web.Request) -> web.Response:
        return web.json_response(answer)

    app.router.add_post("/admin/gql", gql)
    async with app_server(app) as url, Client(ClientConfig("AK", SECRET, url)) as client:
        with pytest.raises(GraphQLError, match="the GraphQL answer is not an object") as caught:
            await client.query("{ me { email } }")
    assert caught.value.body == answer


async def test_each_schema_posts_to_its_own_route() -> None:
    app = root_app()
    seen: list[tuple[str, Any]] = []

    async def strawberry(request: web.Request) -> web.Response:
        seen.append((request.path, await request.json()))
        return web.json_response({"data": {"schema": "strawberry"}})

    app.router.add_post("/admin/gql/strawberry", strawberry)
    async with app_server(app) as url, Client(ClientConfig("AK", SECRET, url)) as client:
        answer = await client.query(
            "query A { a } query B { b }", schema="strawberry", operation_name="B"
        )
        assert answer == {"schema": "strawberry"}
        # The graphene schema's route is another one, which this server does not serve.
        with pytest.raises(NotFoundError) as caught:
            await client.query("{ a }")
    assert seen == [
        (
            "/admin/gql/strawberry",
            {"query": "query A { a } query B { b }", "variables": {}, "operationName": "B"},
        )
    ]
    assert caught.value.url is not None and caught.value.url.endswith("/admin/gql")
