"""Images, templates, auth and resource calls against a manager that records what it got."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from backendai_aio import (
    Client,
    ClientConfig,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    ResponseError,
)
from backendai_aio._images import image_entry
from backendai_aio._resources import day_text
from backendai_aio._service_types import service_body

from ..app_servers import app_server, root_app

Seen = list[tuple[str, str, dict[str, str], Any]]


@asynccontextmanager
async def recording(answers: dict[str, Any]) -> AsyncIterator[tuple[Client, Seen]]:
    """A manager answering ``answers[path]`` (GraphQL by the query's first field)."""
    app = root_app()
    seen: Seen = []

    async def any_call(request: web.Request) -> web.Response:
        raw = await request.read()
        body: Any = json.loads(raw) if raw else None
        seen.append((request.method, request.path, dict(request.query), body))
        key = request.path
        if key == "/admin/gql":
            key = next(
                name for name in answers if name.startswith("gql:") and name[4:] in body["query"]
            )
        return web.json_response(answers[key])

    app.router.add_route("*", "/{tail:.+}", any_call)
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        yield client, seen


IMAGE = {
    "name": "python",
    "architecture": "aarch64",
    "labels": [42, {"key": None, "value": "x"}, {"key": "k", "value": None}],
    "resource_limits": [{"key": "cpu", "min": "1", "max": None}, "junk"],
}


def test_an_image_entry_keeps_only_usable_labels_and_limits() -> None:
    entry = image_entry(IMAGE)
    assert entry["labels"] == {"k": ""}
    assert [limit["key"] for limit in entry["resource_limits"]] == ["cpu"]


async def test_images_list_and_get() -> None:
    answers = {
        "gql:images": {"data": {"images": [IMAGE, {**IMAGE, "architecture": "x86_64"}]}},
        "gql:image(": {"data": {"image": None}},
    }
    async with recording(answers) as (client, seen):
        assert repr(client.images).startswith("<Images of ")
        with pytest.raises(InvalidArgumentError, match="an architecture name, not 7"):
            await client.images.list(architecture=7)  # type: ignore[arg-type]
        only = await client.images.list(architecture="x86_64")
        assert [entry["architecture"] for entry in only] == ["x86_64"]
        with pytest.raises(NotFoundError, match="no image 'python'"):
            await client.images.get("python", architecture="aarch64")
    assert seen[-1][3]["variables"] == {"reference": "python", "architecture": "aarch64"}


async def test_an_images_answer_that_is_not_a_list() -> None:
    async with recording({"gql:images": {"data": {"images": {"a": 1}}}}) as (client, _):
        with pytest.raises(ResponseError, match="a GraphQL images answer that is not a list"):
            await client.images.list()


async def test_templates_send_their_scope() -> None:
    answers = {
        "/template/session": [{"id": "abc", "user": "u"}],
        "/template/session/" + "1" * 32: {"success": True},
    }
    async with recording(answers) as (client, seen):
        created = await client.templates.create(
            "a: 1", domain="default", owner_access_key="AKOTHER"
        )
        assert created == [{"id": "abc", "user": "u"}]
        await client.templates.list(all=True, group_id="g1")
        assert await client.templates.update("1" * 32, "a: 2", domain="d2") is True
    (_, _, _, create), (_, _, listed, _), (_, _, _, update) = seen
    assert (create["domain"], create["owner_access_key"]) == ("default", "AKOTHER")
    assert listed == {"all": "true", "group_id": "g1"}
    assert (update["group"], update["domain"]) == ("default", "d2")


async def test_update_full_name_looks_up_the_email() -> None:
    async with recording({"gql:user": {"data": {"user": {"email": ""}}}}) as (client, seen):
        assert repr(client.auth).startswith("<Auth of ")
        with pytest.raises(InvalidArgumentError, match="a full name must be a string"):
            await client.auth.update_full_name(42)  # type: ignore[arg-type]
        with pytest.raises(ResponseError, match="answered no e-mail for the caller"):
            await client.auth.update_full_name("Ada")
    assert [path for _, path, _, _ in seen] == ["/admin/gql"]


async def test_usage_per_period_by_project() -> None:
    async with recording({"/resource/usage/period": []}) as (client, seen):
        assert repr(client.resources).startswith("<Resources of ")
        assert repr(client.services).startswith("<Services of ")
        await client.resources.usage_per_period(dt.date(2026, 12, 1), "20261202", group_id="g1")
    assert seen[-1][2] == {"start_date": "20261201", "end_date": "20261202", "group_id": "g1"}


@pytest.mark.parametrize("day", ["2026-12-01", "2026120", 20261201])
def test_a_day_is_yyyymmdd_or_a_date(day: object) -> None:
    with pytest.raises(InvalidArgumentError, match="a day as 'YYYYMMDD' or a date"):
        day_text(day)  # type: ignore[arg-type]


@pytest.mark.parametrize("model", ["", 42])
def test_a_service_model_is_a_folder(model: object) -> None:
    with pytest.raises(InvalidArgumentError, match="model is a folder name or id"):
        service_body(model, name="svc1", replicas=1)  # type: ignore[arg-type]


async def test_a_failing_poll_before_the_deadline_is_raised_as_itself() -> None:
    app = root_app()

    async def info(request: web.Request) -> web.Response:
        return web.json_response({"title": "the database is down"}, status=500)

    app.router.add_get("/services/{id}", info)
    async with app_server(app) as url, Client(ClientConfig("AK", "SK", url)) as client:
        with pytest.raises(InternalServerError, match="the database is down") as caught:
            await asyncio.wait_for(
                client.services.wait_ready("12345678-1234-5678-1234-567812345678", timeout=30),
                10,
            )
    assert caught.value.status == 500
